"""Batch proposals with BoTorch: ``acquisition = "botorch"`` (the optional extra
``finales[botorch]``, which pulls PyTorch).

BoTorch's ``qLogNoisyExpectedImprovement`` chooses the q compositions of a batch jointly: the
expected improvement of the batch over the noisy incumbent is integrated by quasi-Monte-Carlo
over the GP's joint posterior of the batch, the measured points and the *pending* requests
(``X_pending``), so a batch neither repeats itself nor what is already being measured. The
kriging believer of :func:`finales.optimizer.optimizer.propose` approximates that greedily;
``benchmarks/optimizer_eol.py`` measured BoTorch about one composition better per end-of-life
campaign (docs/optimizer.md, "Batch strategy").

What stays ours: the candidates (sampled inside the served limitations, as for the believer:
``optimize_acqf_discrete`` picks among them, so every proposal is one the lab can make) and,
when auxiliary sources exist (MD, a low-fidelity model), their calibrated prior mean, which
the GP's samples are added to through the MC objective: BoTorch then models the reference's
discrepancy from it, as our own residual GP does. Without sources the GP models the reference
values themselves (BoTorch's ``SingleTaskGP`` with its default priors, inputs normalised,
outputs standardised).

Deterministic for a given seed: PyTorch's generator is forked and seeded for the fit, and
the QMC sampler has its own seed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

Array = np.ndarray
EXTRA = "pip install 'finales[botorch]'"
MC_SAMPLES = 256  # QMC samples of the joint posterior per evaluation


def missing() -> str | None:
    """Why BoTorch cannot run here (a one-line reason with the install command), or None.

    Imports the packages (about two seconds for PyTorch), so that a broken install is caught
    when the configuration is read, not at the first batch the model chooses."""
    try:
        import botorch  # noqa: F401
        import gpytorch  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        return f"needs the botorch extra, which is not installed (no module {exc.name!r}): {EXTRA}"
    return None


def choose(
    x_train: Array,
    y_train: Array,
    x_cand: Array,
    n: int,
    *,
    x_pending: Array | None = None,
    prior: Callable[[Array], Array] | None = None,
    y_scale: float | None = None,
    seed: int = 0,
) -> list[int]:
    """Indices of ``n`` distinct rows of ``x_cand`` chosen jointly by qLogNEI.

    ``x_train``/``y_train``: the reference observations (model features, transformed values);
    ``x_pending``: compositions asked for and not yet measured; ``prior``: the auxiliary
    sources' calibrated mean (None: no sources); ``y_scale``: the discrepancy's prior scale
    (:meth:`~finales.optimizer.model.MultiFidelityModel.discrepancy_scale`). With a scale the
    residuals are divided by it instead of standardised: standardised by their own spread,
    three to five residuals of a two-coefficient calibration are small by construction and the
    GP is confident everywhere (the failure the scale was made for; benchmarks/README.md).
    """
    import torch
    from botorch.acquisition.logei import qLogNoisyExpectedImprovement
    from botorch.acquisition.objective import GenericMCObjective
    from botorch.exceptions.warnings import InputDataWarning
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Normalize, Standardize
    from botorch.optim import optimize_acqf_discrete
    from botorch.sampling import SobolQMCNormalSampler
    from gpytorch.mlls import ExactMarginalLogLikelihood

    n = min(n, len(x_cand))
    if n <= 0:
        return []
    d = x_cand.shape[1]
    everything = np.vstack([x_cand, x_train] + ([x_pending] if x_pending is not None else []))
    lo, hi = everything.min(axis=0), everything.max(axis=0)
    hi = np.where(hi - lo > 1e-12, hi, lo + 1.0)  # a constant column (one temperature)
    offset = prior(x_train) if prior is not None else np.zeros(len(y_train))

    def tensor(a: Array) -> Any:
        return torch.as_tensor(np.asarray(a, dtype=float), dtype=torch.double)

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        scale = 1.0 if y_scale is None else y_scale
        with warnings.catch_warnings():
            # Not standardised on purpose when scaled (see the docstring): BoTorch's advice
            # to standardise is the failure the scale avoids.
            warnings.simplefilter("ignore", InputDataWarning)
            model = SingleTaskGP(
                tensor(x_train),
                tensor((y_train - offset) / scale).unsqueeze(-1),
                input_transform=Normalize(d=d, bounds=tensor(np.vstack([lo, hi]))),
                outcome_transform=Standardize(m=1) if y_scale is None else None,
            )
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        objective = None
        if prior is not None or y_scale is not None:
            prior_fn = prior

            def with_prior(samples: Any, X: Any) -> Any:  # BoTorch passes X=...
                value = samples[..., 0] * scale
                if prior_fn is None:
                    return value
                flat = X.detach().reshape(-1, d).numpy()
                return value + tensor(prior_fn(flat)).reshape(X.shape[:-1])

            objective = GenericMCObjective(with_prior)
        acq = qLogNoisyExpectedImprovement(
            model,
            X_baseline=tensor(x_train),
            sampler=SobolQMCNormalSampler(sample_shape=torch.Size([MC_SAMPLES]), seed=seed),
            objective=objective,
            X_pending=tensor(x_pending) if x_pending is not None and len(x_pending) else None,
            prune_baseline=True,
        )
        chosen, _ = optimize_acqf_discrete(acq, q=n, choices=tensor(x_cand), max_batch_size=512)
    picked = chosen.detach().numpy()
    return [int(np.argmin(np.linalg.norm(x_cand - row, axis=1))) for row in picked]
