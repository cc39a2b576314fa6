"""The campaign report's figures (PNG), drawn with matplotlib's Agg canvas.

Each function takes the campaign's records (one mapping per result with a value: ``method``,
``x_EC``, ``x_EMC``, ``x_LiPF6``, ``molality_mol_per_kg``, ``conductivity_S_per_m``,
``lab_hours`` (lab time since the campaign started), ``created_at``) and the path to write.
Figures are built on :class:`matplotlib.figure.Figure` with an explicit Agg canvas, never
through pyplot: no global figure state and no GUI backend, so this works headless and from
any thread. The campaign imports this module only when it writes a report, so ``import
finales`` does not pull in matplotlib.

Ground truth is :func:`finales.lab.physics.conductivity` over what the simulated ASAB robot can
mix: the hull of its stock solutions (:mod:`finales.lab.stocks`), LiPF6 capped at its operating
limit.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from finales.lab import physics, stocks
from finales.lab.composition import M_EC_G_PER_MOL, M_EMC_G_PER_MOL, Composition

Record = Mapping[str, Any]
DPI = 120
FIGSIZE_IN = (7.5, 5.0)
WIDE_FIGSIZE_IN = (12.0, 6.0)  # two panels, the legend below them, clear of the data
# method -> (legend label, marker, colour); the order is the legend's
SOURCES = {
    "two_electrode": ("experiment (ASAB, two_electrode)", "o", "tab:blue"),
    "molecular_dynamics": ("molecular dynamics", "s", "tab:orange"),
    "polynomial_interpolation": ("low-fidelity model", "^", "tab:green"),
}
KAPPA_LABEL = "conductivity (S/m)"
SHARE_LABEL = "EC share of the solvent, x_EC / (x_EC + x_EMC) (mol/mol)"
MOLALITY_LABEL = "LiPF6 molality (mol/kg of solvent)"
# The points are experiments, simulations and model predictions alike.
COLOUR_LABEL = "conductivity reported by each source (S/m)"
# Half the size of a contour label plus a marker's radius, in axes fractions of a panel.
LABEL_HALF_W, LABEL_HALF_H = 0.06, 0.035


# ------------------------------------------------------------------------------ ground truth


@functools.cache
def asab_region() -> tuple[tuple[float, float], ...]:
    """What ASAB can mix, as a counter-clockwise polygon of (x_EC, x_LiPF6) points: the hull
    of its stocks, cut at the LiPF6 operating limit (the half-plane clip of Sutherland-Hodgman).
    """
    poly = stocks.hull()
    cap = stocks.LIPF6_OPERATING_MAX
    clipped: list[tuple[float, float]] = []
    for a, b in zip(poly, poly[1:] + poly[:1], strict=True):
        if a[1] <= cap:
            clipped.append(a)
        if (a[1] <= cap) != (b[1] <= cap):
            t = (cap - a[1]) / (b[1] - a[1])
            clipped.append((a[0] + t * (b[0] - a[0]), cap))
    return tuple(clipped)


def inside_region(x_ec: np.ndarray, x_li: np.ndarray) -> np.ndarray:
    poly = asab_region()
    ok = np.ones(np.shape(x_ec), dtype=bool)
    for a, b in zip(poly, poly[1:] + poly[:1], strict=True):
        ok &= (b[0] - a[0]) * (x_li - a[1]) - (b[1] - a[1]) * (x_ec - a[0]) >= -1e-12
    return ok


def region_grid(steps: int = 121) -> list[Composition]:
    """Compositions on a ``steps`` x ``steps`` grid of (x_EC, x_LiPF6) inside what ASAB can
    mix."""
    xs = np.linspace(0.0, max(p[0] for p in asab_region()), steps)
    ys = np.linspace(0.0, max(p[1] for p in asab_region()), steps)
    grid_ec, grid_li = np.meshgrid(xs, ys)
    inside = inside_region(grid_ec, grid_li)
    return [
        Composition.of(float(x_ec), float(1.0 - x_ec - x_li), float(x_li))
        for x_ec, x_li in zip(grid_ec[inside], grid_li[inside], strict=True)
    ]


@functools.cache
def true_optimum(temperature_k: float, steps: int = 121) -> tuple[float, Composition]:
    """The highest ground-truth conductivity (S/m) ASAB could measure, and where (a grid search:
    the surface is flat near its top, so a 0.5 % grid is within 0.1 % of the maximum)."""
    best, where = 0.0, Composition.of(0.3, 0.7, 0.0)
    for comp in region_grid(steps):
        kappa = physics.conductivity(comp, temperature_k)
        if kappa > best:
            best, where = kappa, comp
    return best, where


def mass_fraction(share: float) -> float:
    """EC mass fraction of the solvent from its EC mole share."""
    return share * M_EC_G_PER_MOL / (share * M_EC_G_PER_MOL + (1 - share) * M_EMC_G_PER_MOL)


def _truth(share: float, molality: float, temperature_k: float) -> float:
    comp = Composition.from_molality(molality, mass_fraction(share))
    return physics.conductivity(comp, temperature_k)


def _share(r: Record) -> float:
    return float(r["x_EC"]) / (float(r["x_EC"]) + float(r["x_EMC"]))


def _comp_share(c: Composition) -> float:
    return c.x_ec / (c.x_ec + c.x_emc)


# ------------------------------------------------------------------------------ figures


def new_figure(size_in: tuple[float, float] = FIGSIZE_IN) -> tuple[Figure, Axes]:
    fig = Figure(figsize=size_in, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _two_panels() -> tuple[Figure, Axes, Axes]:
    """All results on the left, a zoom on what ASAB can mix on the right: the low-fidelity
    model samples the whole simplex (up to ~10 mol/kg), the robot a corner of it."""
    fig = Figure(figsize=WIDE_FIGSIZE_IN, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    full, zoom = fig.subplots(1, 2)
    full.set_title("all results")
    zoom.set_title("zoom: what ASAB can mix")
    return fig, full, zoom


def _zoom_limits() -> tuple[float, float]:
    """(EC share, molality) upper bounds of the zoom: ASAB's region with a margin."""
    shares, molalities = region_outline()
    return min(1.0, max(shares) + 0.06), max(molalities) * 1.25


def save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    return path


def _by_source(records: Sequence[Record]) -> dict[str, list[Record]]:
    """Records per known method, each list in arrival order."""
    ordered = sorted(records, key=lambda r: str(r["created_at"]))
    return {m: [r for r in ordered if r["method"] == m] for m in SOURCES}


def best_vs_time(records: Sequence[Record], path: Path, *, temperature_k: float) -> Path:
    """The running best conductivity of each source against lab time, against the best ASAB
    could measure. One clock for every source (a count of results per source would put a
    model's hundredth minute next to the robot's tenth day), so they compare on one axis."""
    fig, ax = new_figure()
    for method, rows in _by_source(records).items():
        if not rows:
            continue
        label, marker, colour = SOURCES[method]
        rows = sorted(rows, key=lambda r: float(r["lab_hours"]))
        best = np.maximum.accumulate([float(r["conductivity_S_per_m"]) for r in rows])
        hours = [float(r["lab_hours"]) for r in rows]
        ax.step(hours, best, where="post", color=colour, label=f"{label} ({len(rows)})")
        ax.plot(hours, best, marker, color=colour, markersize=4)
    kappa, where = true_optimum(temperature_k)
    ax.axhline(
        kappa,
        color="black",
        linestyle="--",
        linewidth=1,
        label=f"ground-truth optimum {kappa:.3f} S/m ({where.molality:.2f} mol/kg, "
        f"EC share {_comp_share(where):.2f})",
    )
    ax.set_xlabel("lab time since the campaign started (h, simulated)")
    ax.set_ylabel(f"best {KAPPA_LABEL} so far")
    ax.set_title(f"Best conductivity found per source over time ({temperature_k:.2f} K)")
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    return save(fig, path)


@functools.cache
def region_outline() -> tuple[tuple[float, ...], tuple[float, ...]]:
    """ASAB's region in the (EC share, molality) plane; its straight edges in mole fractions
    are curves there, so each edge is sampled."""
    poly = asab_region()
    shares: list[float] = []
    molalities: list[float] = []
    for a, b in itertools.pairwise((*poly, poly[0])):
        for t in np.linspace(0.0, 1.0, 30):
            x_ec, x_li = a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])
            comp = Composition.of(x_ec, 1.0 - x_ec - x_li, x_li)
            shares.append(_comp_share(comp))
            molalities.append(comp.molality)
    return tuple(shares), tuple(molalities)


def compositions(records: Sequence[Record], path: Path, *, temperature_k: float) -> Path:
    """Where each source sampled, in the (EC share, molality) plane, coloured by the value it
    reported, over ground-truth contours and the region ASAB can mix."""
    return save(composition_figure(records, temperature_k=temperature_k), path)


def composition_figure(records: Sequence[Record], *, temperature_k: float) -> Figure:
    """The figure of :func:`compositions`, not yet saved (its parts can be inspected)."""
    fig, full, zoom = _two_panels()
    values = [float(r["conductivity_S_per_m"]) for r in records]
    colour_range = (min(values), max(values)) if values else (0.0, 1.0)
    m_top = max([2.0, *(float(r["molality_mol_per_kg"]) * 1.05 for r in records)])
    share_zoom, m_zoom = _zoom_limits()
    points = None
    for ax, (share_max, m_max) in ((full, (1.0, m_top)), (zoom, (share_zoom, m_zoom))):
        points = _composition_panel(
            ax,
            records,
            share_max=share_max,
            m_max=m_max,
            colour_range=colour_range,
            temperature_k=temperature_k,
        )
        # The zoom clips what lies outside it; a small margin keeps points on an axis whole.
        ax.set_xlim(-0.01 * share_max, share_max)
        ax.set_ylim(-0.02 * m_max, m_max)
        ax.set_xlabel(SHARE_LABEL)
        ax.set_ylabel(MOLALITY_LABEL)
    if points is not None:
        fig.colorbar(points, ax=[full, zoom], label=COLOUR_LABEL)
    kappa, _where = true_optimum(temperature_k)
    handles = [
        _marker(marker, f"{label} ({n})", face="0.85")
        for method, (label, marker, _colour) in SOURCES.items()
        if (n := sum(r["method"] == method for r in records))
    ]
    handles += [
        _marker("*", f"ground-truth optimum ({kappa:.3f} S/m)", face="red", size=14),
        Line2D([], [], color="black", linewidth=1.2, label="what ASAB can mix"),
        Line2D([], [], color="0.6", linewidth=0.7, label=f"ground truth (S/m, {temperature_k} K)"),
    ]
    fig.suptitle("Explored compositions (EC / EMC / LiPF6 as solvent EC share and salt molality)")
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize="small")
    return fig


def _composition_panel(
    ax: Axes,
    records: Sequence[Record],
    *,
    share_max: float,
    m_max: float,
    colour_range: tuple[float, float],
    temperature_k: float,
) -> PathCollection | None:
    shares, molalities = np.linspace(0.0, share_max, 81), np.linspace(0.0, m_max, 81)
    truth = np.array([[_truth(s, m, temperature_k) for s in shares] for m in molalities])
    levels = np.arange(0.15, truth.max(), 0.15)
    lines = ax.contour(shares, molalities, truth, levels=levels, colors="0.6", linewidths=0.7)
    _kappa, where = true_optimum(temperature_k)
    avoid = [(_share(r), float(r["molality_mol_per_kg"])) for r in records]
    avoid += [(_comp_share(where), where.molality), *zip(*region_outline(), strict=True)]
    placed = _label_positions(shares, molalities, truth, levels, avoid)
    if placed:
        ax.clabel(
            lines,
            [lv for lv, _ in placed],
            fontsize="x-small",
            fmt="%.2f",
            manual=[p for _, p in placed],
        )
    ax.plot(*region_outline(), color="black", linewidth=1.2)
    points = None
    for method, rows in _by_source(records).items():
        if not rows:
            continue
        points = ax.scatter(
            [_share(r) for r in rows],
            [float(r["molality_mol_per_kg"]) for r in rows],
            c=[float(r["conductivity_S_per_m"]) for r in rows],
            cmap="viridis",
            vmin=colour_range[0],
            vmax=colour_range[1],
            marker=SOURCES[method][1],
            s=55,
            edgecolors="black",
            linewidths=0.6,
            zorder=3,
        )
    ax.plot(_comp_share(where), where.molality, "*", color="red", markersize=16, zorder=4)
    return points


def _label_positions(
    shares: np.ndarray,
    molalities: np.ndarray,
    truth: np.ndarray,
    levels: np.ndarray,
    avoid: Sequence[tuple[float, float]],
) -> list[tuple[float, tuple[float, float]]]:
    """Where to label each contour level: on the contour, clear of the points in ``avoid``
    (data, the optimum, ASAB's outline) and of the other labels; a level with no such place
    stays unlabelled.

    Left to itself, matplotlib labels each contour where it is longest; over the whole simplex
    the rising flank (0-1 mol/kg) squeezes the contours into the bottom of the panel, where
    the data are, and the labels land on points and on each other. Distances are in axes
    fractions scaled by a label's half size, so 1 means "just touching".
    """
    scale = np.array([float(shares[-1]) or 1.0, float(molalities[-1]) or 1.0])
    half = np.array([LABEL_HALF_W, LABEL_HALF_H])
    obstacles = np.array(avoid, dtype=float).reshape(-1, 2) / scale / half
    placed: list[tuple[float, tuple[float, float]]] = []
    taken = np.empty((0, 2))
    for level in levels:
        best, best_clear = None, 1.0
        for x, y in _crossings(shares, molalities, truth, float(level)):
            at = np.array([x, y]) / scale
            if not (0.06 <= at[0] <= 0.94 and 0.04 <= at[1] <= 0.96):
                continue  # a label cut by the frame
            here = at / half
            clear = min(
                _clearance(obstacles, here),
                _clearance(taken, here) / 2.0,  # two labels: twice a half size apart
            )
            if clear > best_clear:
                best, best_clear = (x, y), clear
        if best is not None:
            placed.append((float(level), best))
            taken = np.vstack([taken, np.array(best) / scale / half])
    return placed


def _clearance(points: np.ndarray, here: np.ndarray) -> float:
    """The Chebyshev distance to the nearest point (inf when there is none)."""
    if not len(points):
        return float("inf")
    return float(np.min(np.max(np.abs(points - here), axis=1)))


def _crossings(
    shares: np.ndarray, molalities: np.ndarray, truth: np.ndarray, level: float
) -> list[tuple[float, float]]:
    """Where the contour at ``level`` crosses every fourth vertical of the grid."""
    found = []
    for j in range(2, len(shares) - 2, 4):
        col = truth[:, j]
        for i in np.nonzero((col[:-1] - level) * (col[1:] - level) < 0)[0]:
            t = (col[i] - level) / (col[i] - col[i + 1])
            found.append(
                (float(shares[j]), float(molalities[i] + t * (molalities[i + 1] - molalities[i])))
            )
    return found


def _marker(marker: str, label: str, *, face: str, size: float = 8) -> Line2D:
    return Line2D(
        [],
        [],
        marker=marker,
        linestyle="",
        markerfacecolor=face,
        markeredgecolor="black",
        markersize=size,
        label=label,
    )


def concentration_trend(records: Sequence[Record], path: Path, *, temperature_k: float) -> Path:
    """Conductivity against LiPF6 molality: every source's values, and the ground-truth curve
    at the EC share of the best experiment (the optimum's share if there is none)."""
    fig, full, zoom = _two_panels()
    m_top = max([2.0, *(float(r["molality_mol_per_kg"]) * 1.05 for r in records)])
    _share_zoom, m_zoom = _zoom_limits()
    experiments = [r for r in records if r["method"] == "two_electrode"]
    best = max(experiments, key=lambda r: float(r["conductivity_S_per_m"]), default=None)
    for ax, m_max in ((full, m_top), (zoom, m_zoom)):
        _trend_panel(ax, records, best, m_max=m_max, temperature_k=temperature_k)
        ax.set_xlim(-0.01 * m_max, m_max)
        ax.set_ylim(bottom=-0.01)
        ax.set_xlabel(MOLALITY_LABEL)
        ax.set_ylabel(KAPPA_LABEL)
        ax.grid(alpha=0.3)
    fig.suptitle(f"Conductivity vs LiPF6 concentration ({temperature_k:.2f} K)")
    fig.legend(*full.get_legend_handles_labels(), loc="outside lower center", ncols=2)
    return save(fig, path)


def _trend_panel(
    ax: Axes, records: Sequence[Record], best: Record | None, *, m_max: float, temperature_k: float
) -> None:
    grid = np.linspace(0.0, m_max, 200)
    kappa, where = true_optimum(temperature_k)
    share = _share(best) if best is not None else _comp_share(where)
    curve = [_truth(share, m, temperature_k) for m in grid]
    ax.plot(grid, curve, color="black", label=f"ground truth at EC share {share:.2f}")
    if abs(share - _comp_share(where)) > 0.02:
        optimum_curve = [_truth(_comp_share(where), m, temperature_k) for m in grid]
        ax.plot(
            grid,
            optimum_curve,
            color="black",
            linestyle=":",
            label=f"ground truth at the optimum's EC share {_comp_share(where):.2f}",
        )
    for method, rows in _by_source(records).items():
        label, marker, colour = SOURCES[method]
        if rows:
            ax.plot(
                [float(r["molality_mol_per_kg"]) for r in rows],
                [float(r["conductivity_S_per_m"]) for r in rows],
                marker,
                color=colour,
                markeredgecolor="black",
                markeredgewidth=0.5,
                alpha=0.85,
                label=f"{label} ({len(rows)})",
            )
    ax.plot(
        where.molality,
        kappa,
        "*",
        color="red",
        markersize=16,
        markeredgecolor="black",
        label=f"ground-truth optimum {kappa:.3f} S/m at {where.molality:.2f} mol/kg",
        zorder=4,
    )
    if best is not None:
        ax.plot(
            float(best["molality_mol_per_kg"]),
            float(best["conductivity_S_per_m"]),
            "o",
            markersize=15,
            markerfacecolor="none",
            markeredgecolor="red",
            markeredgewidth=2,
            label=f"best experiment {float(best['conductivity_S_per_m']):.3f} S/m at "
            f"{float(best['molality_mol_per_kg']):.2f} mol/kg",
            zorder=4,
        )


PLOTS = {
    "best_vs_time.png": best_vs_time,
    "compositions.png": compositions,
    "concentration_trend.png": concentration_trend,
}
CAPTIONS = {
    "best_vs_time.png": "Best conductivity found per source, against lab time",
    "compositions.png": "Explored compositions, coloured by the conductivity each source reported",
    "concentration_trend.png": "Conductivity vs LiPF6 concentration against the ground truth",
}


def write_plots(records: Sequence[Record], folder: Path, *, temperature_k: float) -> list[Path]:
    """All three figures into ``folder``; returns their paths."""
    return [
        plot(records, folder / name, temperature_k=temperature_k) for name, plot in PLOTS.items()
    ]
