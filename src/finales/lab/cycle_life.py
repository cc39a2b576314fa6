"""Synthetic cycle-life ground truth of graphite || LiNiO2 coin cells over EC/EMC/LiPF6.

The whole model is **ours** (lab-science.md, "Synthetic cycle-life model"): no published
model gives cycle life as a function of this composition, so we invented one that lets a
campaign rediscover the demonstrator's trends (more LiPF6 up to an optimum and some EC raise
the end of life) without hard-coding answers. Equations are in ``docs/lab.md``.

End of life (EOL, the first cycle at which the discharge capacity is at most 80 % of the
initial one) of a cell:

    EOL = 300 · g_salt(m) · g_EC(w_EC) · exp(ε),   ε = ε_early + ε_late ~ N(0, 0.15²)
    g_salt(m) = max(0.1, exp(-((m - 1.1)/0.6)²))
    g_EC(w)   = w/(w + 0.08) · (1 - 0.3·max(0, w - 0.4))

The cell-to-cell scatter ε has two parts (the split is ours). ``ε_early`` (sigma 0.12) sets the
smooth SEI-like fade that early cycles show; ``ε_late`` (sigma 0.09) sets when a late *knee*
(plating-like, Attia et al., J. Electrochem. Soc. 169 (2022) 060517, on knees) turns the
fade down. Only a quarter of the knee's variance leaves a trace in the first 40 cycles (a
slow drift of the coulombic efficiency); the rest is invisible there. So EOL is *not* a
function of the early-cycle features: a model of those features cannot do better than the
hidden part of ε_late (about 6 % mean absolute error), whatever it learns.

Capacity (fraction of the initial capacity Q0 ≈ 1.5 mAh, 2 % cell-to-cell):

    Q_n / Q0 = 1 - a·√n - b·n - c·max(0, n - n_knee)²

with a·√L = b·L = 0.05 at the visible life L = EOL_composition · exp(ε_early) (10 % lost
to the smooth fade by then), the knee starting at n_knee = κ·EOL (κ uniform in 0.55-0.8)
and c chosen so that Q_EOL = 0.8·Q0 exactly. Each measured capacity has 0.3 % noise.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass

from finales.lab.composition import Composition

EOL_SCALE_CYCLES = 300.0
SIGMA_LOG_EOL = 0.15  # lab-science.md: total cell-to-cell scatter of ln EOL
SIGMA_LATE = 0.09  # ours: the part of it the knee decides
SIGMA_EARLY = math.sqrt(SIGMA_LOG_EOL**2 - SIGMA_LATE**2)  # 0.12
KNEE_HINT_SHARE = 0.5  # ours: correlation of the knee with its early trace (0.25 of variance)
SMOOTH_FADE_AT_LIFE = 0.10  # ours: fraction of Q0 lost to the smooth fade at the visible life
KNEE_ONSET = (0.55, 0.80)  # ours: the knee starts at this fraction of EOL
END_OF_LIFE_FRACTION = 0.8

Q0_MAH = 1.5
Q0_SCATTER = 0.02
CAPACITY_NOISE = 0.003  # lab-science.md: relative, per measured cycle
CE_NOISE = 2e-5  # ours: coulomb counting of a good cycler
CE_BASELINE_LOSS = 3e-4  # ours: shuttle and other reversible losses per cycle
CE_KNEE_HINT = 2e-4  # ours: extra inefficiency at cycle 40 per unit of the knee's trace
VOLTAGE_GAP_V = (0.10, 0.01)  # ours: mean and spread of the 1C charge/discharge gap
VOLTAGE_GAP_GROWTH = 1.5  # ours: relative gap growth per unit of smooth fade
VOLTAGE_GAP_NOISE_V = 5e-4
DQ_POINTS = 100  # voltage grid of ΔQ(V)
DQ_NOISE = 0.05  # ours: relative noise of the ΔQ(V) shape
DQ_FLOOR_MAH = 3e-4  # ours: noise floor of a ΔQ(V) point
FEATURE_CYCLES = (10, 40)  # features compare cycle 40 with cycle 10 (after formation)
FEATURE_NAMES = (
    "delta_coulombic_efficiency",
    "voltage_gap_charge_discharge",
    "capacity_vector_variance",
)


def g_salt(molality: float) -> float:
    """Salt factor: max(0.1, exp(-((m - 1.1)/0.6)²)), best at 1.1 mol/kg (ours)."""
    return max(0.1, math.exp(-(((molality - 1.1) / 0.6) ** 2)))


def g_ec(w_ec: float) -> float:
    """EC factor: w/(w + 0.08)·(1 - 0.3·max(0, w - 0.4)); no EC, no SEI, no life (ours)."""
    return w_ec / (w_ec + 0.08) * (1.0 - 0.3 * max(0.0, w_ec - 0.4))


def expected_eol(composition: Composition) -> float:
    """The median end of life (cycles) of cells of this electrolyte: 300·g_salt·g_EC."""
    return EOL_SCALE_CYCLES * g_salt(composition.molality) * g_ec(composition.w_ec)


@dataclass(frozen=True)
class CellTruth:
    """The hidden truth of one cell: what the cycler measures is drawn from it.

    ``visible_life`` is the life its smooth fade alone implies, ``knee_trace`` the part of
    the knee that early cycles show (in units of its standard deviation), ``eol`` the true
    end of life (cycles, real-valued; the measured one is the first whole cycle at or
    beyond it)."""

    composition: Composition
    q0_mah: float
    visible_life: float
    eol: float
    knee_trace: float
    knee_onset: float
    gap_v: float

    @property
    def a(self) -> float:
        return SMOOTH_FADE_AT_LIFE / 2 / math.sqrt(self.visible_life)

    @property
    def b(self) -> float:
        return SMOOTH_FADE_AT_LIFE / 2 / self.visible_life

    def smooth_fade(self, n: float) -> float:
        return self.a * math.sqrt(n) + self.b * n

    @property
    def knee_c(self) -> float:
        left = (1 - END_OF_LIFE_FRACTION) - self.smooth_fade(self.eol)
        return left / (self.eol - self.knee_onset) ** 2

    def capacity_fraction(self, n: float) -> float:
        """Q_n / Q0 without measurement noise."""
        knee = self.knee_c * max(0.0, n - self.knee_onset) ** 2
        return 1.0 - self.smooth_fade(n) - knee

    @property
    def cycle_life(self) -> int:
        """The end of life as a whole number of cycles."""
        return math.ceil(self.eol)


def draw_cell(
    composition: Composition,
    rng: random.Random,
    *,
    early: float | None = None,
    trace: float | None = None,
    hidden: float | None = None,
) -> CellTruth:
    """One cell of ``composition``. The three standard-normal draws (the smooth fade's
    scatter, the knee's early trace, its hidden part) may be fixed, e.g. to build two cells
    that look alike for 40 cycles and still die apart."""
    z_early = rng.gauss(0, 1) if early is None else early
    z_trace = rng.gauss(0, 1) if trace is None else trace
    z_hidden = rng.gauss(0, 1) if hidden is None else hidden
    visible = expected_eol(composition) * math.exp(SIGMA_EARLY * z_early)
    rho = KNEE_HINT_SHARE
    eps_late = SIGMA_LATE * (rho * z_trace + math.sqrt(1 - rho**2) * z_hidden)
    eol = visible * math.exp(eps_late)
    return CellTruth(
        composition=composition,
        q0_mah=Q0_MAH * (1 + rng.gauss(0, Q0_SCATTER)),
        visible_life=visible,
        eol=eol,
        knee_trace=z_trace,
        knee_onset=eol * rng.uniform(*KNEE_ONSET),
        gap_v=max(0.05, rng.gauss(*VOLTAGE_GAP_V)),
    )


@dataclass(frozen=True)
class CycleData:
    """What a cycler measures on one cell: per cycle (after formation) the charge and
    discharge capacities (mAh), the coulombic efficiency and the voltage gap (V)."""

    charge_mah: list[float]
    discharge_mah: list[float]
    coulombic_efficiency: list[float]
    voltage_gap_v: list[float]

    @property
    def cycles(self) -> int:
        return len(self.discharge_mah)


def cycle(
    cell: CellTruth, cycles: int, rng: random.Random, *, stop_at_end_of_life: bool = True
) -> CycleData:
    """Measure ``cycles`` cycles of ``cell`` (fewer when it reaches its end of life first
    and ``stop_at_end_of_life``, as the standard protocol does)."""
    data = CycleData([], [], [], [])
    first: float | None = None
    for n in range(1, cycles + 1):
        loss = cell.capacity_fraction(n - 1) - cell.capacity_fraction(n)
        ce_true = 1.0 - loss - CE_BASELINE_LOSS + CE_KNEE_HINT * cell.knee_trace * n / 40
        ce = min(1.0, ce_true + rng.gauss(0, CE_NOISE))
        discharge = cell.q0_mah * cell.capacity_fraction(n) * (1 + rng.gauss(0, CAPACITY_NOISE))
        discharge = max(0.0, discharge)
        gap = cell.gap_v * (1 + VOLTAGE_GAP_GROWTH * cell.smooth_fade(n))
        data.charge_mah.append(discharge / ce)
        data.discharge_mah.append(discharge)
        data.coulombic_efficiency.append(ce)
        data.voltage_gap_v.append(gap + rng.gauss(0, VOLTAGE_GAP_NOISE_V))
        first = discharge if first is None else first
        if stop_at_end_of_life and discharge <= END_OF_LIFE_FRACTION * first:
            break
    return data


def measured_cycle_life(data: CycleData) -> int | None:
    """The first cycle whose discharge capacity is at most 80 % of the first one, if any."""
    if not data.discharge_mah:
        return None
    threshold = END_OF_LIFE_FRACTION * data.discharge_mah[0]
    for n, q in enumerate(data.discharge_mah, start=1):
        if q <= threshold:
            return n
    return None


def _around(values: list[float], cycle_number: int) -> float:
    """The mean of the cycles cycle_number-2 .. cycle_number (1-based), smoothing noise."""
    return statistics.fmean(values[cycle_number - 3 : cycle_number])


def features(cell: CellTruth, data: CycleData, rng: random.Random) -> dict[str, float] | None:
    """The Severson-style features of cycle 40 against cycle 10 (Severson et al., Nature
    Energy 4 (2019) 383, there cycle 100 against 10): change of coulombic efficiency, change
    of the voltage gap, and ln var(ΔQ_40-10(V)). None before 40 cycles.

    The ΔQ(V) curve is simulated (ours): the capacity lost between the two cycles, spread
    over a 100-point voltage grid with a linear shape, 5 % shape noise and a noise floor."""
    early, late = FEATURE_CYCLES
    if data.cycles < late:
        return None
    delta_q = cell.q0_mah * (cell.capacity_fraction(early) - cell.capacity_fraction(late))
    curve = [
        delta_q * (i / DQ_POINTS) * (1 + rng.gauss(0, DQ_NOISE)) + rng.gauss(0, DQ_FLOOR_MAH)
        for i in range(DQ_POINTS)
    ]
    ce, gap = data.coulombic_efficiency, data.voltage_gap_v
    return {
        "delta_coulombic_efficiency": _around(ce, late) - _around(ce, early),
        "voltage_gap_charge_discharge": _around(gap, late) - _around(gap, early),
        "capacity_vector_variance": math.log(statistics.pvariance(curve)),
    }


@dataclass(frozen=True)
class SimulatedCell:
    """A cell cycled for its first 40 cycles: its truth, features and measured life."""

    truth: CellTruth
    features: dict[str, float]
    cycle_life: int


def simulate_early_cells(compositions: list[Composition], seed: int) -> list[SimulatedCell]:
    """Cells of the given compositions, cycled 40 times (features) with their true cycle
    life: the degradation model's training and test data. Reproducible from ``seed``."""
    rng = random.Random(f"cells:{seed}")
    out = []
    for composition in compositions:
        cell = draw_cell(composition, rng)
        data = cycle(cell, FEATURE_CYCLES[1], rng, stop_at_end_of_life=False)
        found = features(cell, data, rng)
        assert found is not None  # 40 cycles were run
        out.append(SimulatedCell(cell, found, cell.cycle_life))
    return out


def random_compositions(n: int, seed: int) -> list[Composition]:
    """``n`` electrolytes spread over the reachable space of ASAB's stocks (w_EC 0.05-0.55,
    0.4-1.9 mol/kg), as a campaign would explore it."""
    rng = random.Random(f"compositions:{seed}")
    return [
        Composition.from_molality(rng.uniform(0.4, 1.9), rng.uniform(0.05, 0.55)) for _ in range(n)
    ]
