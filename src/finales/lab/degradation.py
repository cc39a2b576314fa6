"""The degradation model: ``degradationEOL / degradation_model``.

A real fitted model, not an inversion of the simulator: an elastic net (scikit-learn
``ElasticNetCV``, as Severson et al., Nature Energy 4 (2019) 383) from the three early-cycle
features to ln(cycle life). Its inputs are transformed as Severson's were (ours in detail):
ln var ΔQ(V) as given, ln of the voltage-gap change, the coulombic-efficiency change in
units of 1e-4. Inputs are clipped to the range seen in training, so a cell unlike any
training cell gets the edge of what the model knows rather than a wild extrapolation.

* Trained at first use on ``TRAIN_CELLS`` simulated cells (:func:`finales.lab.cycle_life.
  simulate_early_cells`, compositions and cells from ``TRAIN_SEED``); cells that died within
  the 40 cycles are left out (their life is observed, not predicted). The held-out cells
  of the benchmark come from other seeds.
* Uncertainty: the cross-validated RMS error of ln(life) at the chosen regularisation, sigma;
  the reported ``end_of_life_uncertainty`` is EOL·sigma (one standard deviation, to first order).
* A request missing some features is answered by a model of the features it has (fitted
  when first needed; with none, the training cells' median, rating 1); rating 3 with all.
* When the input capacities (``input_cycles``, discharge, mAh) already reach 80 % of the
  first one, the end of life is observed: reported with uncertainty 0 and rating 5. A
  request without input capacities (``eol.yaml`` sends the features only) is checked
  against the cell's own ``capacity / cycling`` result in the broker (``cell_info.uuid``):
  a cell that died within the cycles it was cycled for is reported as observed too, not
  predicted from features that describe a cell dying later (or, dead within 40 cycles,
  from none at all).
* Retraining: before each prediction the model reads the ``capacity / cycling`` results
  posted since it last looked; each that carries the features and reaches its end of life
  (full-life data) joins the training set (``version`` grows). A prediction is fitted on the
  cells posted before the campaign asked for it (the creation of the request's root: the
  workflow request of a workflow's prediction), in an order of their own (by life and
  features), not on whatever happened to arrive first: the same request gets the same
  model whenever, and in whichever run, it is served. ``version`` in the run reference is
  the number of training additions that prediction's fit used.
* The capacity trajectory (ours): Q(n) = Q_first·(1 - 0.2·(n/EOL)^1.5) for the cycles after
  the input up to the predicted end of life, with its uncertainty from that of EOL.
* Fault drill (ours): ``invalid_rate`` (default 0) makes that share of predictions come out
  corrupted, drawn from the request's random stream; ``invalid_next=n`` corrupts the next n
  whatever the rate. A corrupted prediction carries a NUL character in its run reference,
  as a garbled write would: it passes the result schema, so the tenant runtime sends it, and
  the broker refuses it (422, no database column holds NUL). The runtime then does what it
  does with any refused result: no result, the request released with the broker's reason.
  (A prediction breaking the schema would be stopped by the runtime's own check before
  sending, with the same release.)

Run it with ``finales tenant run finales.lab.degradation:tenant``.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNetCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from finales.errors import FinalesError
from finales.lab import cycle_life
from finales.lab.base import SimulatedTenant, env_seed

TRAIN_CELLS = 100
TRAIN_SEED = 2019
L1_RATIOS = (0.1, 0.5, 0.9, 1.0)
CV_FOLDS = 5
Q_REFERENCE_MAH = cycle_life.Q0_MAH
TRAJECTORY_POWER = 1.5
MAX_TRAJECTORY_POINTS = 3000
FULL_RATING, PARTIAL_RATING, PRIOR_RATING, OBSERVED_RATING = 3, 2, 1, 5

Features = Mapping[str, float | None]


def transform(name: str, value: float) -> float:
    """One feature as the model sees it."""
    if name == "voltage_gap_charge_discharge":
        return math.log(max(value, 1e-4))
    if name == "delta_coulombic_efficiency":
        return value * 1e4
    return value


@dataclass(frozen=True)
class Prediction:
    """A predicted cycle life: the median ``eol`` (cycles), sigma of ln(life), the features
    used, and the model version (training additions) it came from."""

    eol: float
    sigma_log: float
    used: tuple[str, ...]
    version: int = 0

    @property
    def uncertainty(self) -> float:
        return self.eol * self.sigma_log


@dataclass(frozen=True)
class _Fit:
    pipeline: Pipeline | None
    low: np.ndarray
    high: np.ndarray
    sigma_log: float
    median_log: float


@dataclass(frozen=True)
class _Addition:
    """Cells added to the training set together; ``posted_at`` None: known from the start."""

    cells: tuple[tuple[tuple[tuple[str, float], ...], int], ...]
    posted_at: datetime | None = field(default=None)


class EOLModel:
    """An elastic net from early-cycle features to ln(cycle life), one fit per feature
    subset and training set; ``add`` grows the training set (refitted when next used)."""

    def __init__(self, cells: Sequence[tuple[Features, int]]) -> None:
        self._additions: list[_Addition] = []
        self._fits: dict[tuple[tuple[str, ...], tuple[int, ...]], _Fit] = {}
        self._lock = threading.Lock()
        self.add(cells)

    @classmethod
    def trained(cls, *, seed: int = TRAIN_SEED, cells: int = TRAIN_CELLS) -> EOLModel:
        """The model trained on ``cells`` simulated cells drawn from ``seed``."""
        simulated = cycle_life.simulate_early_cells(
            cycle_life.random_compositions(cells, seed), seed
        )
        return cls([(c.features, c.cycle_life) for c in simulated])

    @property
    def version(self) -> int:
        """Training additions so far (the cells it started with are the first)."""
        with self._lock:
            return len(self._additions)

    @property
    def training_cells(self) -> int:
        with self._lock:
            return sum(len(a.cells) for a in self._additions)

    def add(
        self, cells: Sequence[tuple[Features, int]], *, posted_at: datetime | None = None
    ) -> int:
        """Add cells (features, cycle life) with all features and a life beyond the feature
        cycles; returns how many were added. With ``posted_at``, predictions asked for
        before that time do not use them."""
        usable = tuple(
            (tuple(sorted((k, float(v)) for k, v in f.items() if v is not None)), life)
            for f, life in cells
            if life > cycle_life.FEATURE_CYCLES[1]
            and all(f.get(k) is not None for k in cycle_life.FEATURE_NAMES)
        )
        if usable:
            with self._lock:
                self._additions.append(_Addition(usable, posted_at))
        return len(usable)

    def predict(self, features: Features, *, asked_at: datetime | None = None) -> Prediction:
        """The prediction from what was known when it was asked for (``asked_at``; None: all)."""
        used = tuple(k for k in cycle_life.FEATURE_NAMES if features.get(k) is not None)
        fit, version = self._fit(used, asked_at)
        if fit.pipeline is None:
            return Prediction(math.exp(fit.median_log), fit.sigma_log, used, version)
        row = np.array([[transform(k, float(features[k] or 0.0)) for k in used]])
        row = np.clip(row, fit.low, fit.high)
        found = math.exp(float(fit.pipeline.predict(row)[0]))
        return Prediction(found, fit.sigma_log, used, version)

    def _fit(self, used: tuple[str, ...], asked_at: datetime | None) -> tuple[_Fit, int]:
        with self._lock:
            included = tuple(
                i
                for i, a in enumerate(self._additions)
                if a.posted_at is None or asked_at is None or a.posted_at < asked_at
            )
            fit = self._fits.get((used, included))
            if fit is None:
                fit = self._fits[used, included] = self._train(used, included)
            return fit, len(included)

    def _train(self, used: tuple[str, ...], included: tuple[int, ...]) -> _Fit:
        # The cells known from the start in their order, then the learnt ones by content:
        # the order they arrived in (a race between tenants) must not change the fit (the
        # cross-validation folds follow the row order).
        first = [
            c
            for i in included
            if self._additions[i].posted_at is None
            for c in self._additions[i].cells
        ]
        learnt = sorted(
            c
            for i in included
            if self._additions[i].posted_at is not None
            for c in self._additions[i].cells
        )
        cells = [(dict(f), life) for f, life in first + learnt]
        y = np.log([life for _, life in cells])
        median = float(np.median(y))
        if not used:
            return _Fit(None, np.empty(0), np.empty(0), float(np.std(y)), median)
        x = np.array([[transform(k, f[k]) for k in used] for f, _ in cells])
        net = ElasticNetCV(l1_ratio=list(L1_RATIOS), cv=CV_FOLDS)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            pipeline = make_pipeline(StandardScaler(), net).fit(x, y)
        sigma = float(np.sqrt(net.mse_path_.mean(axis=-1).min()))
        return _Fit(pipeline, x.min(axis=0), x.max(axis=0), sigma, median)


HELD_OUT_SEED_OFFSET = 10_000  # held-out cells come from TRAIN_SEED + this: none shared


@dataclass(frozen=True)
class HeldOut:
    """The model's error on simulated cells it never saw: the mean absolute percentage error
    of the predicted life over ``cells`` cells drawn from ``seed``."""

    mape: float
    cells: int
    seed: int
    train_seed: int
    train_cells: int


def held_out_error(
    model: EOLModel,
    *,
    train_seed: int = TRAIN_SEED,
    cells: int = 200,
    asked_at: datetime | None = None,
) -> HeldOut:
    """``model``'s error on ``cells`` cells of other compositions, drawn from ``train_seed +
    HELD_OUT_SEED_OFFSET`` (cells that die within the feature cycles are left out: their
    life is observed, not predicted); with ``asked_at``, of the model as it was then."""
    seed = train_seed + HELD_OUT_SEED_OFFSET
    drawn = cycle_life.simulate_early_cells(cycle_life.random_compositions(cells, seed), seed)
    kept = [c for c in drawn if c.cycle_life > cycle_life.FEATURE_CYCLES[1]]
    errors = [
        abs(model.predict(c.features, asked_at=asked_at).eol - c.cycle_life) / c.cycle_life
        for c in kept
    ]
    return HeldOut(float(np.mean(errors)), len(kept), seed, train_seed, model.training_cells)


def trajectory(
    eol: float, uncertainty: float, *, start: int, q_first_mah: float
) -> tuple[list[float], list[float]]:
    """Predicted capacities (mAh) of cycles start+1 .. EOL, and their uncertainties (ours)."""
    values, errors = [], []
    last = min(math.ceil(eol), start + MAX_TRAJECTORY_POINTS)
    for n in range(start + 1, last + 1):
        x = n / eol
        values.append(round(q_first_mah * (1 - 0.2 * x**TRAJECTORY_POWER), 6))
        slope = q_first_mah * 0.2 * TRAJECTORY_POWER * x**TRAJECTORY_POWER / eol
        errors.append(round(slope * uncertainty, 6))
    return values, errors


def observed_life(capacities: Sequence[float]) -> int | None:
    """The first cycle at or below 80 % of the first capacity, if the list reaches it."""
    if not capacities:
        return None
    threshold = cycle_life.END_OF_LIFE_FRACTION * capacities[0]
    return next((n for n, q in enumerate(capacities, start=1) if q <= threshold), None)


def full_life_cell(data: Mapping[str, Any]) -> tuple[dict[str, float], int] | None:
    """(features, cycle life) of a ``capacity / cycling`` result that ran to end of life."""
    discharges = list(data.get("capacity_list", []))[1::2]
    life = observed_life(discharges)
    found = {k: data.get(k) for k in cycle_life.FEATURE_NAMES}
    if life is None or any(v is None for v in found.values()):
        return None
    return {k: float(v) for k, v in found.items() if v is not None}, life


class DegradationModel(SimulatedTenant):
    """The degradation-model tenant (see the module docstring)."""

    NAME = "degradation_model"

    def __init__(
        self,
        *,
        model: EOLModel | None = None,
        invalid_rate: float = 0.0,
        invalid_next: int = 0,
        **options: Any,
    ) -> None:
        if not 0.0 <= invalid_rate <= 1.0:
            raise ValueError(f"invalid_rate must be within 0 and 1, not {invalid_rate}")
        self._model = model
        self._model_lock = threading.Lock()
        self._seen: set[str] = set()
        self._roots: dict[str, datetime] = {}  # parent request id -> its root's creation
        self._cycled: dict[str, list[float]] = {}  # cell uuid -> its discharge capacities (mAh)
        self.invalid_rate = invalid_rate
        self._invalid_next = invalid_next
        self._drill_lock = threading.Lock()
        self.corrupted = 0  # predictions corrupted so far (for a report)
        super().__init__(**options)

    def _corrupts(self, request: Any) -> bool:
        """Whether this prediction comes out corrupted: the drill's count first, then the rate."""
        draw = self.rng(request).random()
        with self._drill_lock:
            bad = self._invalid_next > 0 or draw < self.invalid_rate
            self._invalid_next = max(0, self._invalid_next - 1)
            self.corrupted += bad
            return bad

    @property
    def model(self) -> EOLModel:
        """The fitted model (trained on first use)."""
        with self._model_lock:
            if self._model is None:
                self._model = EOLModel.trained()
            return self._model

    def register(self) -> None:
        serves = self.tenant.serves
        serves("degradationEOL", "degradation_model")(self.predict)

    def learn_from_broker(self) -> int:
        """Add the full-life cycling results posted since the last look (each with the time
        it was posted); how many."""
        client = self.broker()
        if client is None:
            return 0
        learnt = 0
        for result in client.iter_results(quantity="capacity", method="cycling"):
            if result.id not in self._seen:
                self._seen.add(result.id)
                uuid = (result.data.get("cell_info") or {}).get("uuid")
                if uuid:
                    discharge = list(result.data.get("capacity_list", []))[1::2]
                    self._cycled[uuid] = [1000.0 * q for q in discharge]  # Ah -> mAh
                cell = full_life_cell(result.data)
                if cell is not None:
                    learnt += self.model.add([cell], posted_at=result.created_at)
        return learnt

    def asked_at(self, request: Any) -> datetime:
        """When the campaign asked for this prediction: the creation of the request's root
        (a workflow's prediction: the workflow request), or of the request itself."""
        client, current = self.broker(), request
        while client is not None and current.parent_request_id:
            parent = current.parent_request_id
            with self._model_lock:
                known = self._roots.get(parent)
            if known is not None:
                return known
            try:
                current = client.get_request(parent)
            except FinalesError:
                break  # the broker cannot say: the furthest ancestor reached
        asked: datetime = current.created_at
        with self._model_lock:
            self._roots[request.parent_request_id or request.id] = asked
        return asked

    def predict(self, request: Any, ctx: Any) -> dict[str, Any]:
        p = ctx.parameters
        learnt = self.learn_from_broker()
        if learnt:
            ctx.log.info("retrained on %d new full-life cells", learnt)
        model = self.model
        inputs = list(p.get("input_cycles") or [])
        q_first = inputs[0] if inputs else Q_REFERENCE_MAH
        seen = observed_life(inputs or self._cycled.get(p["cell_info"].get("uuid") or "", []))
        version = model.version
        if seen is not None:
            eol, uncertainty, rating = float(seen), 0.0, OBSERVED_RATING
            points: tuple[list[float], list[float]] = ([], [])
        else:
            found = model.predict(p, asked_at=self.asked_at(request))
            version = found.version
            eol, uncertainty = found.eol, found.uncertainty
            rating = {3: FULL_RATING, 0: PRIOR_RATING}.get(len(found.used), PARTIAL_RATING)
            start = len(inputs) or cycle_life.FEATURE_CYCLES[1]
            points = trajectory(eol, uncertainty, start=start, q_first_mah=q_first)
        reference = f"eol-model-v{version}-{request.id}"
        if self._corrupts(request):
            ctx.log.warning("fault drill: this prediction comes out corrupted")
            reference += "\x00"  # refused by the broker (422), see the module docstring
        return {
            "run_info": {
                "formulation": p["battery_chemistry"]["electrolyte"],
                "internal_reference": reference,
                "formulation_info": {
                    "name": f"elastic net v{version}",
                    "uuid": reference,
                },
            },
            "degradationEOL": {
                "end_of_life": round(eol),
                "end_of_life_uncertainty": round(uncertainty, 2),
                "capacity_trajectory": points[0],
                "capacity_trajectory_uncertainty": points[1],
                "meta": {"success": True, "rating": rating},
                "cell_info": p["cell_info"],
            },
        }


tenant = DegradationModel(seed=env_seed()).tenant
