"""The surrogate: a multi-fidelity Gaussian-process model and expected improvement.

Our own modelling choice (a simplified Kennedy-O'Hagan / AR(1) co-kriging), not taken from a
paper's code: every auxiliary source ``s`` (simulation, low-fidelity model) gets its own GP
``mu_s(x)`` with a Matérn kernel and a WhiteKernel that learns that source's noise. On the
reference points (the fidelity we optimise, e.g. the experiment) each source is calibrated by a
linear correction ``y_ref ≈ a_s + b_s * mu_s(x)`` (least squares, shrunk slightly towards
``a=0, b=1``), so ``b_s`` and ``a_s`` estimate the source's multiplicative and additive bias.
The calibrated sources are averaged with weights inversely proportional to their residual
variance to form a prior mean ``m(x)``, and a last GP (Matérn + WhiteKernel, the reference's own
noise) is fitted to the reference residual ``y_ref - m(x)``, the discrepancy. Its prior scale is
the spread of ``m`` over the sources' own points (or the residuals' spread, if larger), not the
residuals' alone: see :meth:`MultiFidelityModel.discrepancy_scale`. Prediction:
``m(x) + delta(x)`` with the residual GP's standard deviation. Without reference data the raw
auxiliary mean and its spread are used. Everything is scikit-learn/scipy.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import norm
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

Array = np.ndarray
MIN_POINTS = 3  # a source with fewer points is not modelled (nothing to learn a length scale on)
LENGTH_MIN = 0.08  # in feature units (see chemistry.features)
NOISE_MAX = 0.25  # share of the normalised variance
SHRINK = 0.1  # ridge weight pulling a calibration towards a=0, b=1 (few reference points)
# Below this many points the kernel keeps its default hyper-parameters (see fit_gp).
MIN_POINTS_TO_FIT = 8


def _kernel(n_features: int) -> object:
    # Bounds are priors in disguise: with a handful of points, maximum likelihood would
    # otherwise explain everything as noise (tiny length scales, large WhiteKernel).
    # Mole fractions vary by 0.01-0.5 over the region of interest, so length scales below
    # LENGTH_MIN are not credible; the noise is at most NOISE_MAX of the normalised variance.
    return ConstantKernel(1.0, (1e-2, 1e2)) * Matern(
        length_scale=np.full(n_features, 0.2), length_scale_bounds=(LENGTH_MIN, 1e2), nu=2.5
    ) + WhiteKernel(1e-2, (1e-6, NOISE_MAX))


def fit_gp(
    x: Array,
    y: Array,
    *,
    seed: int = 0,
    kernel: object | None = None,
    y_scale: float | None = None,
) -> GaussianProcessRegressor:
    """A GP with normalised targets; ``kernel`` given = keep its hyper-parameters fixed.

    ``y_scale`` given: the targets are not normalised by their own mean and spread but have a
    zero prior mean and the prior scale ``y_scale`` (the kernel's amplitude multiplies it).

    With fewer than MIN_POINTS_TO_FIT points the default kernel is kept as it is (unit
    amplitude on the normalised data, length scale 0.2 feature units, noise variance 0.01):
    maximum likelihood of five hyper-parameters on three to seven points lands on their
    bounds (length scales of 0.08 or 100, noise of 1e-6 or 0.25), and expected improvement
    then chases the edges of the space. ``benchmarks/optimizer_efficiency.py`` measured the gain
    (benchmarks/README.md, "Optimiser efficiency").
    """
    if kernel is None and len(y) < MIN_POINTS_TO_FIT:
        kernel = _kernel(x.shape[1])
    gp = GaussianProcessRegressor(
        kernel=kernel if kernel is not None else _kernel(x.shape[1]),
        normalize_y=y_scale is None,
        n_restarts_optimizer=2 if kernel is None else 0,
        optimizer="fmin_l_bfgs_b" if kernel is None else None,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gp.fit(x, y if y_scale is None else y / y_scale)
    if y_scale is not None:
        # predict() returns _y_train_std * (mean, std) + _y_train_mean (zero here).
        gp._y_train_std = y_scale
    return gp


def noise_std(gp: GaussianProcessRegressor) -> float:
    """The noise standard deviation a fitted GP learnt (in the units of y)."""
    level = float(gp.kernel_.k2.noise_level) if hasattr(gp.kernel_, "k2") else 0.0
    return float(np.sqrt(level)) * float(np.atleast_1d(gp._y_train_std)[0])


@dataclass
class Calibration:
    """How one auxiliary source relates to the reference: ``ref ≈ offset + scale * source``."""

    offset: float = 0.0
    scale: float = 1.0
    residual_var: float = 1.0
    noise_std: float = 0.0

    @property
    def bias_factor(self) -> float:
        """The source's multiplicative bias (source ≈ ref / scale when offset ≈ 0)."""
        return 1.0 / self.scale if self.scale else float("inf")


def calibrate(mu: Array, y: Array) -> tuple[float, float, float]:
    """Least squares ``y ≈ a + b*mu`` shrunk towards (0, 1); returns (a, b, residual variance)."""
    scale_y = max(float(np.std(y)), float(np.mean(np.abs(y))) * 0.1, 1e-12)
    design = np.column_stack([np.ones_like(mu), mu]) / scale_y
    target = y / scale_y
    prior = np.array([0.0, 1.0])
    lam = SHRINK * np.diag([1.0, float(np.mean(mu**2)) / scale_y**2 or 1.0])
    coef = np.linalg.solve(design.T @ design + lam, design.T @ target + lam @ prior)
    resid = y - (coef[0] + coef[1] * mu)
    dof = max(len(y) - 2, 1)
    return float(coef[0]), float(coef[1]), float(resid @ resid / dof) + 1e-12


@dataclass
class MultiFidelityModel:
    """Reference data plus any number of biased, noisy auxiliary sources (see the module doc)."""

    seed: int = 0
    sources: dict[str, GaussianProcessRegressor] = field(default_factory=dict)
    calibrations: dict[str, Calibration] = field(default_factory=dict)
    residual: GaussianProcessRegressor | None = None
    residual_scale: float | None = None  # the discrepancy's prior scale (None: normalised)
    x_ref: Array | None = None
    y_ref: Array | None = None

    def fit(
        self, x_ref: Array, y_ref: Array, aux: dict[str, tuple[Array, Array]]
    ) -> MultiFidelityModel:
        self.sources, self.calibrations = {}, {}
        for name, (x, y) in aux.items():
            if len(y) < MIN_POINTS:
                continue
            gp = fit_gp(x, y, seed=self.seed)
            self.sources[name] = gp
            cal = Calibration(noise_std=noise_std(gp), residual_var=float(np.var(y)) + 1e-12)
            if len(y_ref) >= MIN_POINTS:
                cal.offset, cal.scale, cal.residual_var = calibrate(gp.predict(x_ref), y_ref)
            self.calibrations[name] = cal
        self.x_ref, self.y_ref = x_ref, y_ref
        self.residual, self.residual_scale = None, None
        if len(y_ref) >= 2 or (len(y_ref) >= 1 and not self.sources):
            resid = y_ref - self.prior_mean(x_ref)
            if self.sources:
                self.residual_scale = self.discrepancy_scale(resid, aux)
            self.residual = fit_gp(x_ref, resid, seed=self.seed, y_scale=self.residual_scale)
        return self

    def discrepancy_scale(self, resid: Array, aux: dict[str, tuple[Array, Array]]) -> float:
        """The discrepancy GP's prior scale: the spread of the calibrated prior mean over the
        sources' own points, or the spread of the reference residuals if that is larger.

        Normalised by the residuals alone (as any GP with ``normalize_y``), the scale comes
        from the few reference points the calibration was fitted on: with two calibration
        coefficients and three to five points the residuals are small by construction, the
        model is confident away from them, and expected improvement sampled the low-fidelity
        model's optimum (on the LiPF6 limit, 0.89 x the true maximum) over and over. The
        sources' points are spread over the space (a sweep, a few MD runs), so their spread
        says how much the quantity varies, which is how wrong a source may be a priori.
        ``benchmarks/optimizer_efficiency.py`` measured the change (benchmarks/README.md).
        """
        xs = np.vstack([x for name, (x, _) in aux.items() if name in self.sources])
        spread = float(np.std(self.prior_mean(xs)))
        return max(spread, float(np.std(resid)) if len(resid) > 1 else 0.0, 1e-12)

    @property
    def fitted(self) -> bool:
        return self.residual is not None or bool(self.sources)

    def prior_mean(self, x: Array) -> Array:
        if not self.sources:
            return np.zeros(len(x))
        weights = np.array([1.0 / self.calibrations[n].residual_var for n in self.sources])
        means = np.array(
            [
                self.calibrations[n].offset + self.calibrations[n].scale * gp.predict(x)
                for n, gp in self.sources.items()
            ]
        )
        return np.asarray(weights @ means / weights.sum())

    def predict(self, x: Array, *, latent: bool = False) -> tuple[Array, Array]:
        """Mean and standard deviation of the reference quantity at ``x``; with ``latent``,
        of the noise-free quantity (the measurement noise the GP learnt taken out)."""
        prior = self.prior_mean(x)
        if self.residual is not None:
            mean, std = self.residual.predict(x, return_std=True)
            if latent:
                std = np.sqrt(np.maximum(std**2 - noise_std(self.residual) ** 2, 0.0))
            return prior + mean, np.maximum(std, 1e-12)
        stds = [gp.predict(x, return_std=True)[1] for gp in self.sources.values()]
        return prior, np.maximum(np.mean(stds, axis=0), 1e-12)

    def with_pending(self, x_pending: Array) -> MultiFidelityModel:
        """Kriging believer: pretend the pending points returned the current mean.

        The residual GP is refitted with its hyper-parameters fixed, so that EI no longer
        favours the places already asked about.
        """
        if self.residual is None or not len(x_pending) or self.x_ref is None or self.y_ref is None:
            return self
        mean, _ = self.predict(x_pending)
        x = np.vstack([self.x_ref, x_pending])
        y = np.concatenate([self.y_ref, mean])
        clone = MultiFidelityModel(
            seed=self.seed, sources=self.sources, calibrations=self.calibrations
        )
        clone.x_ref, clone.y_ref = x, y
        clone.residual_scale = self.residual_scale
        clone.residual = fit_gp(
            x, y - clone.prior_mean(x), kernel=self.residual.kernel_, y_scale=self.residual_scale
        )
        return clone


def expected_improvement(mean: Array, std: Array, best: float, *, xi: float = 0.0) -> Array:
    """EI for maximisation: E[max(f - best - xi, 0)] under N(mean, std²)."""
    std = np.maximum(std, 1e-12)
    z = (mean - best - xi) / std
    return np.asarray((mean - best - xi) * norm.cdf(z) + std * norm.pdf(z))
