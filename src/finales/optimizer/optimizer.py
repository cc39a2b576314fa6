"""The Bayesian optimiser as a broker client: it reads results, posts requests, nothing else.

Its state is derived from the broker at every step (its own requests, found with the
``tenant`` and ``status`` filters, and all results of the configured pairs), so a new
``Optimizer`` with the same credentials carries on where a stopped one left off.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from finales.client import FinalesClient
from finales.errors import FinalesError

from . import chemistry
from .config import OptimizerConfig, Pair
from .model import Array, MultiFidelityModel, expected_improvement

log = logging.getLogger("finales.optimizer")
OUTSTANDING = frozenset({"pending", "reserved"})
MIN_SPACING = 0.01  # in feature units: closer proposals count as duplicates


@dataclass
class Observation:
    source: Pair
    x_ec: float
    x_li: float
    temperature: float
    value: float
    request_id: str
    created_at: Any = None


@dataclass
class State:
    """What the broker says about this optimiser's campaign."""

    posted: int = 0  # own requests, retracted excluded (they count against no budget)
    outstanding: list[Any] = field(default_factory=list)  # own pending/reserved requests
    observations: list[Observation] = field(default_factory=list)
    own_values: list[float] = field(default_factory=list)  # own reference values, in order

    @property
    def best(self) -> float | None:
        return max(self.own_values) if self.own_values else None


@dataclass
class StepOutcome:
    posted: list[str]
    outstanding: int
    done: bool
    reason: str = ""
    best: float | None = None


class Optimizer:
    """GP + expected improvement over the compositions the serving tenants accept.

    ``Optimizer(config, client).step()`` posts as many requests as the outstanding limit and the
    budget allow and returns; ``run()`` steps until the budget is spent (and its results are in)
    or improvement stalls.
    """

    def __init__(self, config: OptimizerConfig, client: FinalesClient) -> None:
        self.config = config
        self.client = client
        self._tenant_id: str | None = None
        self.model: MultiFidelityModel | None = None
        self.last_state = State()

    # -- broker reads
    @property
    def tenant_id(self) -> str:
        if self._tenant_id is None:
            me = self.client.me()
            if me.tenant_id is None:
                raise FinalesError("the optimiser's credentials must be bound to a tenant")
            self._tenant_id = me.tenant_id
        return self._tenant_id

    def limitations(self) -> list[Any]:
        """Limitations of every offer serving one of the requested methods, or with
        ``limits_from`` the formulation limits of the offers serving those pairs (a cell test
        names its electrolyte deep inside; the robot that mixes it bounds what can be made)."""
        cfg = self.config
        if cfg.limits_from is not None:
            wanted = {(p.quantity, p.method) for p in cfg.limits_from}
        else:
            wanted = {(cfg.quantity, m) for m in cfg.request_methods}
        offered = [
            offer.limitations
            for tenant in self.client.list_tenants()
            for offer in tenant.offers
            if (offer.quantity, offer.method) in wanted
        ]
        if cfg.limits_from is None:
            return offered
        # An offer without a formulation limit takes any composition.
        return [lim for o in offered for lim in (chemistry.formulation_limits(o) or [{}])]

    def read_state(self) -> State:
        cfg = self.config
        state = State()
        own: dict[str, Any] = {}
        for req in self.client.iter_requests(tenant=self.tenant_id, quantity=cfg.quantity):
            if req.status in ("retracted", "unsolicited"):  # no budget used; nothing to wait for
                continue
            own[req.id] = req
            state.posted += 1
            if req.status in OUTSTANDING:
                state.outstanding.append(req)
        own_value: dict[str, float] = {}
        for pair in cfg.data:
            for result in self.client.iter_results(quantity=pair.quantity, method=pair.method):
                obs = _observation(pair, result, cfg)
                if obs is None:
                    continue
                state.observations.append(obs)
                if pair == cfg.reference and obs.request_id in own:
                    own_value[obs.request_id] = max(
                        obs.value, own_value.get(obs.request_id, -np.inf)
                    )
        ordered = sorted(own_value, key=lambda rid: own[rid].created_at)
        state.own_values = [own_value[rid] for rid in ordered]
        self.last_state = state
        return state

    # -- decisions
    def stop_reason(self, state: State) -> str:
        cfg = self.config
        if state.posted >= cfg.budget and not state.outstanding:
            return "budget"
        k = cfg.patience
        values = state.own_values
        if k is not None and len(values) > k:
            before = max(values[:-k])
            if max(values[-k:]) <= before + cfg.min_improvement:
                return "stalled"
        return ""

    def step(self) -> StepOutcome:
        """Read the broker, then post what the limits allow (possibly nothing)."""
        state = self.read_state()
        reason = self.stop_reason(state)
        best = _untransform(self.config, state.best)
        if reason:
            return StepOutcome([], len(state.outstanding), True, reason, best)
        n = batch_to_post(self.config, outstanding=len(state.outstanding), posted=state.posted)
        if n <= 0:
            return StepOutcome([], len(state.outstanding), False, "waiting", best)
        posted = []
        for x_ec, x_li in self.propose(state, n):
            params = request_parameters(self.config, x_ec, x_li)
            req = self.client.submit_request(
                self.config.quantity,
                list(self.config.request_methods),
                dict.fromkeys(self.config.request_methods, params),
            )
            posted.append(req.id)
            log.info("posted %s x_EC=%.4f x_LiPF6=%.4f", req.id, x_ec, x_li)
        return StepOutcome(posted, len(state.outstanding) + len(posted), False, "", best)

    def propose(self, state: State, n: int) -> list[tuple[float, float]]:
        """``n`` compositions (x_EC, x_LiPF6) inside the served limitations: :func:`propose`."""
        chosen, model = propose(self.config, state, n, limitations=self.limitations())
        if model is not None:
            self.model = model
        return chosen

    def fit(self, state: State) -> MultiFidelityModel | None:
        """The surrogate on the state's observations; None while it has nothing to learn from."""
        self.model = fit_model(self.config, state.observations)
        return self.model if self.model.fitted else None

    def run(self, *, max_steps: int | None = None) -> StepOutcome:
        """Step until done; between steps wait for a result of the oldest outstanding request."""
        steps = 0
        while True:
            outcome = self.step()
            steps += 1
            if outcome.done or (max_steps is not None and steps >= max_steps):
                return outcome
            if not outcome.posted:
                self._wait()

    def _wait(self) -> None:
        outstanding = self.last_state.outstanding
        if not outstanding:
            time.sleep(self.config.poll_s)
            return
        try:
            self.client.wait_for_results(
                outstanding[0].id, timeout_s=self.config.poll_s, poll_s=self.config.poll_s
            )
        except FinalesError:  # WaitTimeout, RequestRetracted: the next step re-reads anyway
            pass


# -- the proposal step as pure functions (no broker): the optimiser and benchmarks share them


def batch_to_post(config: OptimizerConfig, *, outstanding: int, posted: int) -> int:
    """How many proposals to post now: whole batches of ``batch_size`` (cells are built and
    cycled in batches), the budget's remainder at its end, nothing while a batch cannot go."""
    left = config.budget - posted
    free = min(config.max_outstanding - outstanding, left)
    if free <= 0 or free < min(config.batch_size, left):
        return 0
    return free if free == left else free - free % config.batch_size


def request_parameters(config: OptimizerConfig, x_ec: float, x_li: float) -> dict[str, Any]:
    """One method's parameter block for the composition, in the configured shape."""
    if config.request_shape == "battery_chemistry":
        return chemistry.cell_parameters(x_ec, x_li, config.battery_chemistry)
    return chemistry.parameters(x_ec, x_li, config.temperature)


def transform(config: OptimizerConfig, values: list[float]) -> float | None:
    """The value the model sees for one result: the mean of its values, of their logarithm
    with ``transform = "log"`` (a cycle life scatters by a factor, not by cycles); None when
    nothing usable is left."""
    if config.transform == "log":
        values = [float(np.log(v)) for v in values if v > 0]
    return float(np.mean(values)) if values else None


def _untransform(config: OptimizerConfig, value: float | None) -> float | None:
    if value is None or config.transform == "none":
        return value
    return float(np.exp(value))


def fit_model(config: OptimizerConfig, observations: list[Observation]) -> MultiFidelityModel:
    """The multi-fidelity surrogate on ``observations`` (reference + auxiliary sources)."""
    groups: dict[Pair, list[Observation]] = {}
    for obs in observations:
        groups.setdefault(obs.source, []).append(obs)

    def arrays(items: list[Observation]) -> tuple[np.ndarray, np.ndarray]:
        x = chemistry.features(
            np.array([o.x_ec for o in items]),
            np.array([o.x_li for o in items]),
            np.array([o.temperature for o in items]),
        )
        return x, np.array([o.value for o in items])

    ref = groups.pop(config.reference, [])
    x_ref, y_ref = arrays(ref) if ref else (np.empty((0, 3)), np.empty(0))
    aux = {f"{p.quantity}/{p.method}": arrays(items) for p, items in groups.items()}
    return MultiFidelityModel(seed=config.seed).fit(x_ref, y_ref, aux)


def propose(
    config: OptimizerConfig, state: State, n: int, *, limitations: list[Any]
) -> tuple[list[tuple[float, float]], MultiFidelityModel | None]:
    """``n`` compositions (x_EC, x_LiPF6) to measure next, and the model they came from.

    Candidates are sampled inside ``limitations`` (those of the offers serving the requested
    methods); picks are random until there are ``n_initial`` reference values, then EI
    maxima, one after the other (kriging believer over ``state.outstanding`` and the picks so
    far). Deterministic for a given ``config.seed`` and ``state.posted``.

    EI is noise-aware: the incumbent is the best posterior mean at the measured compositions
    (not the best measured value, which a lucky measurement inflates) and the improvement is
    that of the noise-free quantity (the learnt noise taken out of the standard deviation), so
    a noisy point is not re-proposed for its noise.

    The random start holds even when auxiliary data exist: a biased source is calibrated on the
    reference points, and points chosen by the uncalibrated source cluster where it peaks (for
    the simulated lab's model sweep: on the LiPF6 limit, away from the true optimum), so the
    calibration only confirms its shape (benchmarks/README.md, "Optimiser efficiency").
    """
    cfg = config
    rng = np.random.default_rng([cfg.seed, state.posted])
    cands = chemistry.candidates(
        rng, n=cfg.n_candidates, temperature=cfg.temperature, limitations=limitations
    )
    if not cands:
        log.warning("no composition inside the served limitations; nothing to propose")
        return [], None
    pts = np.array(cands)
    x_cand = chemistry.features(pts[:, 0], pts[:, 1], cfg.temperature)
    fitted = fit_model(cfg, state.observations)
    model = fitted if fitted.fitted else None
    n_ref = sum(o.source == cfg.reference for o in state.observations)
    if model is None or n_ref < cfg.n_initial:
        idx = rng.choice(len(pts), size=min(n, len(pts)), replace=False)
        return [(float(pts[i, 0]), float(pts[i, 1])) for i in idx], fitted
    pending = [_composition(r.parameters, cfg) for r in state.outstanding]
    pending_x = [chemistry.features(p[0], p[1], cfg.temperature)[0] for p in pending if p]
    if cfg.acquisition == "botorch":
        return _botorch_picks(cfg, state, model, pts, x_cand, pending_x, n), fitted
    chosen: list[tuple[float, float]] = []
    for _ in range(n):
        believer = model.with_pending(np.array(pending_x)) if pending_x else model
        mean, std = believer.predict(x_cand, latent=True)
        ref = [o.value for o in state.observations if o.source == cfg.reference]
        best = incumbent(model, mean)
        spread = float(np.std(ref)) if len(ref) > 1 else float(np.std(mean)) or 1.0
        ei = expected_improvement(mean, std, best, xi=cfg.xi * spread)
        # Never ask twice for (nearly) the same composition, even where the believer
        # cannot help (no reference data yet).
        for p in pending_x:
            ei[np.linalg.norm(x_cand - p, axis=1) < MIN_SPACING] = -np.inf
        i = int(np.argmax(ei))
        chosen.append((float(pts[i, 0]), float(pts[i, 1])))
        pending_x.append(x_cand[i])
    return chosen, fitted


def _botorch_picks(
    cfg: OptimizerConfig,
    state: State,
    model: MultiFidelityModel,
    pts: Array,
    x_cand: Array,
    pending_x: list[Array],
    n: int,
) -> list[tuple[float, float]]:
    """The batch BoTorch's qLogNEI chooses jointly among the candidates (:mod:`.botorch_batch`),
    nothing within MIN_SPACING of a pending request; seeded by ``seed`` and ``posted``."""
    from . import botorch_batch

    keep = np.ones(len(x_cand), dtype=bool)
    for p in pending_x:
        keep &= np.linalg.norm(x_cand - p, axis=1) >= MIN_SPACING
    rows = np.flatnonzero(keep)
    assert model.x_ref is not None and model.y_ref is not None  # n_initial reference points
    picked = botorch_batch.choose(
        model.x_ref,
        model.y_ref,
        x_cand[rows],
        n,
        x_pending=np.array(pending_x) if pending_x else None,
        prior=model.prior_mean if model.sources else None,
        y_scale=model.residual_scale,
        seed=cfg.seed * 100_003 + state.posted,
    )
    return [(float(pts[rows[i], 0]), float(pts[rows[i], 1])) for i in picked]


def incumbent(model: MultiFidelityModel, mean: Array) -> float:
    """The best posterior mean at the measured reference compositions (noise-aware EI's
    incumbent); the best mean over the candidates while there are none."""
    if model.x_ref is None or not len(model.x_ref):
        return float(np.max(mean))
    return float(np.max(model.predict(model.x_ref)[0]))


def _composition(parameters: dict[str, Any], cfg: OptimizerConfig) -> tuple[float, float] | None:
    block = parameters.get(cfg.reference_method or "", parameters)
    if chemistry.formulation_of(block) is None and parameters:
        block = next(iter(parameters.values()))
    fr = chemistry.fractions(chemistry.formulation_of(block) or [])
    return (fr["EC"], fr["LiPF6"]) if fr else None


def _values(block: Any, field: str) -> list[float] | None:
    """A measurement's values (``{field: [...], meta}``), or one value per item of a list
    (a cell test's result: ``[{field: ..., meta}, ...]``, failed items skipped)."""
    if isinstance(block, dict):
        if not block.get("meta", {}).get("success", True):
            return None
        values = block.get(field)
        return [float(v) for v in values] if isinstance(values, list) else None
    if isinstance(block, list):
        return [
            float(item[field])
            for item in block
            if isinstance(item, dict)
            and isinstance(item.get(field), int | float)
            and item.get("meta", {}).get("success", True)
        ]
    return None


def _observation(pair: Pair, result: Any, cfg: OptimizerConfig) -> Observation | None:
    """One data point from a result, or None (failed, superseded, other chemicals)."""
    if result.superseded_by is not None:
        return None
    data = result.data
    block = data.get(pair.quantity)
    values = _values(block, cfg.value_field)
    value = transform(cfg, values) if values else None
    if value is None:
        return None
    # Prefer the formulation actually prepared (reported) over the one requested.
    formulation = (data.get("run_info") or {}).get("formulation") or chemistry.formulation_of(
        result.parameters
    )
    fr = chemistry.fractions(formulation or [])
    if fr is None:
        return None
    measured_t = block.get("temperature") if isinstance(block, dict) else None
    temperature = measured_t or result.parameters.get("temperature") or cfg.temperature
    return Observation(
        source=pair,
        x_ec=fr["EC"],
        x_li=fr["LiPF6"],
        temperature=float(temperature),
        value=value,
        request_id=result.request_id,
        created_at=result.created_at,
    )
