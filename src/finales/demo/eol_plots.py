"""The end-of-life report's figures (PNG), drawn like the conductivity report's
(:mod:`finales.demo.plots`: explicit Agg canvas, no pyplot, loaded only when a report is
drawn), from the campaign read back from the broker and its records
(:mod:`finales.demo.eol_report`).

Ground truth is :func:`finales.lab.cycle_life.expected_eol` (an electrolyte's median end of
life) over what the simulated ASAB robot can mix, and each cell's own true life
(:func:`finales.lab.cycler.true_cell`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from finales.demo import plots
from finales.demo.eol_report import CONDUCTIVITY_AT_K, EOLCampaign, Node
from finales.lab import cycle_life, physics
from finales.lab.composition import Composition
from finales.lab.cycler import true_cell
from finales.lab.degradation import Q_REFERENCE_MAH

Row = dict[str, Any]
EOL_LABEL = "end of life (cycles to 80 % capacity)"
FADE_CELLS = 5
# Lanes of the timeline, top to bottom: the order work flows through the lab.
LANES = ("orchestrator", "cycler", "ASAB", "transport", "AutoBASS", "degradation_model")
STEP_COLOURS = {
    "workflow": "tab:gray",
    "channels": "tab:brown",
    "electrolyte": "tab:blue",
    "carry_electrolyte": "tab:olive",
    "assemble": "tab:purple",
    "carry_cells": "tab:cyan",
    "cycle": "tab:green",
    "predict": "tab:red",
}
WAITING_COLOUR = "0.75"


@functools.cache
def true_optimum() -> tuple[float, Composition]:
    """The highest expected end of life over what ASAB can mix, and where (a grid search)."""
    return max(((cycle_life.expected_eol(c), c) for c in plots.region_grid()), key=lambda t: t[0])


def _share(c: Composition) -> float:
    return c.x_ec / (c.x_ec + c.x_emc)


def _two_panels(title: str) -> tuple[Figure, Axes, Axes]:
    fig = Figure(figsize=plots.WIDE_FIGSIZE_IN, dpi=plots.DPI, layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2, sharey=True)
    fig.suptitle(title)
    return fig, left, right


# ------------------------------------------------------------------------------ EOL vs composition


def eol_vs_composition(comps: Sequence[Row], path: Path) -> Path:
    """Each electrolyte's end of life (geometric mean of its cells' predictions) against its
    LiPF6 molality and its EC share, beside the ground truth through the best one found."""
    fig, by_salt, by_ec = _two_panels("End of life vs electrolyte composition")
    measured = [r for r in comps if r["eol"] is not None]
    best = max(measured, key=lambda r: r["eol"], default=None)
    eol_max, where = true_optimum()
    share = float(best["ec_share"]) if best else _share(where)
    molality = float(best["molality_mol_per_kg"]) if best else where.molality
    m_max = max([where.molality * 1.6, *(float(r["molality_mol_per_kg"]) * 1.1 for r in measured)])
    salts = np.linspace(0.05, m_max, 200)
    shares = np.linspace(0.02, 0.98, 200)
    truth_salt = [_expected(share, m) for m in salts]
    truth_ec = [_expected(s, molality) for s in shares]
    by_salt.plot(salts, truth_salt, color="black", label=f"ground truth at EC share {share:.2f}")
    by_ec.plot(shares, truth_ec, color="black", label=f"ground truth at {molality:.2f} mol/kg")
    for ax, key in ((by_salt, "molality_mol_per_kg"), (by_ec, "ec_share")):
        ax.scatter(
            [float(r[key]) for r in measured],
            [float(r["eol"]) for r in measured],
            c=[int(r["batch"]) for r in measured],
            cmap="viridis",
            s=55,
            edgecolors="black",
            linewidths=0.6,
            zorder=3,
            label="tested electrolyte (colour: batch)",
        )
        ax.scatter(
            [float(r[key]) for r in measured],
            [float(r["true_eol"]) for r in measured],
            marker="_",
            s=160,
            color="tab:red",
            zorder=3,
            label="its cells' true lives (geometric mean)",
        )
        x_opt = where.molality if key == "molality_mol_per_kg" else _share(where)
        ax.plot(
            x_opt,
            eol_max,
            "*",
            color="red",
            markersize=15,
            markeredgecolor="black",
            label=f"ground-truth optimum {eol_max:.0f} cycles",
            zorder=4,
        )
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    by_salt.set_xlabel(plots.MOLALITY_LABEL)
    by_ec.set_xlabel(plots.SHARE_LABEL)
    by_salt.set_ylabel(EOL_LABEL)
    by_salt.legend(fontsize="small", loc="lower right")
    by_ec.legend(fontsize="small", loc="lower center")
    return plots.save(fig, path)


def _expected(share: float, molality: float) -> float:
    return cycle_life.expected_eol(Composition.from_molality(molality, plots.mass_fraction(share)))


# ------------------------------------------------------------------------------ capacity fade


def _cycled(c: EOLCampaign) -> dict[str, dict[str, Any]]:
    return {
        str((n.data.get("cell_info") or {}).get("uuid")): n.data
        for n in c.nodes
        if n.step == "cycle" and n.data
    }


def _predictions(c: EOLCampaign) -> dict[str, dict[str, Any]]:
    return {
        str(p["cell_info"].get("uuid")): p
        for wf in c.workflows
        for p in (wf.data or {}).get("degradationEOL", [])
    }


def fade_cells(cells: Sequence[Row], n: int = FADE_CELLS) -> list[Row]:
    """``n`` predicted cells spread over the range of true lives (shortest to longest)."""
    predicted = sorted(
        (r for r in cells if r["predicted_eol"] is not None),
        key=lambda r: (float(r["true_eol"]), str(r["cell_id"])),
    )
    if len(predicted) <= n:
        return predicted
    picks = np.linspace(0, len(predicted) - 1, n).round().astype(int)
    return [predicted[i] for i in sorted(set(picks))]


def capacity_fade(c: EOLCampaign, cells: Sequence[Row], path: Path) -> Path:
    """A few cells' measured capacity (the cycler's first cycles), the degradation model's
    predicted fade from cycle 40 on, and the cell's true fade to its end of life."""
    fig, ax = plots.new_figure(plots.WIDE_FIGSIZE_IN)
    cycled, predictions = _cycled(c), _predictions(c)
    colours = [f"C{i}" for i in range(10)]
    for colour, row in zip(colours, fade_cells(cells), strict=False):
        data, p = cycled.get(row["cell_id"]), predictions.get(row["cell_id"])
        if data is None or p is None:
            continue
        discharge = [1000 * q for q in data["capacity_list"][1::2]]
        first = discharge[0]
        ax.plot(
            range(1, len(discharge) + 1),
            [q / first for q in discharge],
            ".",
            color=colour,
            markersize=2.5,
        )
        truth = true_cell(c.seed, row["cell_id"], _composition(row))
        n = np.arange(1, math.ceil(truth.eol) + 1)
        ax.plot(
            n,
            [truth.capacity_fraction(float(k)) for k in n],
            "-",
            color=colour,
            linewidth=0.9,
            alpha=0.6,
        )
        trajectory = p.get("capacity_trajectory") or []
        start = cycle_life.FEATURE_CYCLES[1]
        if trajectory:  # from the model's reference capacity: the workflow sends no cycles
            ax.plot(
                range(start + 1, start + 1 + len(trajectory)),
                [q / Q_REFERENCE_MAH for q in trajectory],
                "--",
                color=colour,
                linewidth=1.2,
            )
        ax.axvline(truth.eol, color=colour, linestyle=":", linewidth=0.8)
        ax.plot(
            [],
            [],
            color=colour,
            label=f"cell {row['cell_id'][:8]}: {row['molality_mol_per_kg']:.2f} mol/kg, "
            f"share {row['ec_share']:.2f}; predicted {row['predicted_eol']}, "
            f"true {row['true_eol']:.0f}",
        )
    ax.axhline(cycle_life.END_OF_LIFE_FRACTION, color="black", linewidth=0.8)
    handles, _labels = ax.get_legend_handles_labels()
    handles += [
        Line2D([], [], marker=".", linestyle="", color="0.3", label="measured (cycler)"),
        Line2D([], [], linestyle="--", color="0.3", label="predicted from cycle 40 (model)"),
        Line2D([], [], linestyle="-", color="0.3", alpha=0.6, label="true fade (simulator)"),
        Line2D([], [], linestyle=":", color="0.3", label="true end of life"),
    ]
    ax.legend(handles=handles, fontsize="x-small", loc="lower left")
    ax.set_xlabel("cycle (after formation)")
    ax.set_ylabel("discharge capacity / first cycle's")
    ax.set_title("Capacity fade of a few cells: measured, predicted and true")
    ax.set_ylim(0.7, 1.02)
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    return plots.save(fig, path)


def _composition(row: Row) -> Composition:
    return Composition.of(float(row["x_EC"]), float(row["x_EMC"]), float(row["x_LiPF6"]))


# ------------------------------------------------------------------------------ accuracy


def predicted_vs_true(c: EOLCampaign, cells: Sequence[Row], path: Path) -> Path:
    """Every predicted cell: the model's end of life (with its uncertainty) against the
    cell's true one."""
    from finales.demo.eol_report import accuracy

    fig, ax = plots.new_figure()
    every = [r for r in cells if r["predicted_eol"] is not None]
    rows = [r for r in every if not r["observed"]]
    seen = [r for r in every if r["observed"]]
    truth = [float(r["true_eol"]) for r in every]
    predicted = [float(r["predicted_eol"]) for r in every]
    ax.errorbar(
        [float(r["true_eol"]) for r in rows],
        [float(r["predicted_eol"]) for r in rows],
        yerr=[float(r["predicted_eol_uncertainty"]) for r in rows],
        fmt="none",
        ecolor="0.7",
        elinewidth=0.8,
        zorder=1,
    )
    points = ax.scatter(
        [float(r["true_eol"]) for r in rows],
        [float(r["predicted_eol"]) for r in rows],
        c=[int(r["batch"]) for r in rows],
        cmap="viridis",
        s=22,
        edgecolors="black",
        linewidths=0.4,
        zorder=2,
        label="predicted from 40 cycles (colour: batch)",
    )
    if seen:
        ax.scatter(
            [float(r["true_eol"]) for r in seen],
            [float(r["predicted_eol"]) for r in seen],
            marker="s",
            facecolors="none",
            edgecolors="tab:red",
            s=28,
            zorder=2,
            label="died while cycled: observed",
        )
    top = max([1.0, *truth, *predicted]) * 1.08
    ax.plot([0, top], [0, top], color="black", linewidth=1, label="predicted = true")
    mape = accuracy(list(cells))
    title = "Degradation model: predicted vs true end of life"
    if mape is not None:
        title += f"\n{100 * mape:.1f} % mean absolute error on these {len(rows)} cells"
    if c.held_out is not None:
        title += f"; {100 * c.held_out.mape:.1f} % held out ({c.held_out.cells} cells)"
    ax.set_title(title, fontsize="medium")
    ax.set_xlabel("true end of life of the cell (cycles, simulator)")
    ax.set_ylabel("predicted from 40 cycles (cycles)")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    fig.colorbar(points, ax=ax, label="batch")
    ax.legend(loc="upper left", fontsize="small")
    return plots.save(fig, path)


# ------------------------------------------------------------------------------ timeline


def intervals(node: Node) -> list[tuple[str, str | None, Any, Any]]:
    """A request's history as (kind, tenant, start, end): ``waiting`` from its creation (or a
    release, a lease run out) to a claim, ``working`` from a claim to the next change (lease
    renewals do not end it)."""
    out: list[tuple[str, str | None, Any, Any]] = []
    since, working, tenant = node.created_at, False, None
    for e in node.events:
        status = e["to_status"]
        if status == "reserved" and not working:
            out.append(("waiting", None, since, e["at"]))
            since, working, tenant = e["at"], True, e["tenant"]
        elif status == "pending" and working:
            out.append(("working", tenant, since, e["at"]))
            since, working = e["at"], False
        elif status in ("resolved", "retracted"):
            out.append(("working" if working else "waiting", tenant, since, e["at"]))
            break
    return out


def timeline(c: EOLCampaign, path: Path) -> Path:
    """Every request of the campaign by the tenant that served it: waiting to be claimed in
    grey, worked on in the colour of its workflow step, against lab time."""
    fig = Figure(figsize=(12.0, 7.0), dpi=plots.DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    bars: dict[str, list[tuple[float, float, str]]] = {lane: [] for lane in LANES}
    waited: dict[str, float] = dict.fromkeys(LANES, 0.0)
    for node in [*c.workflows, *c.nodes]:
        spans = intervals(node)
        served_by = next((t for k, t, _, _ in spans if k == "working" and t), None)
        lane = served_by if served_by in bars else None
        for kind, _tenant, start, end in spans:
            a, b = c.lab_days(start), c.lab_days(end)
            if lane is None:
                continue
            colour = WAITING_COLOUR if kind == "waiting" else STEP_COLOURS.get(node.step, "k")
            bars[lane].append((a, b, colour))
            if kind == "waiting":
                waited[lane] += b - a
    ticks, labels = [], []
    for row, lane in enumerate(LANES):
        _draw_lane(ax, bars[lane], base=len(LANES) - 1 - row)
        ticks.append(len(LANES) - 1 - row + 0.4)
        labels.append(f"{lane}\n(waited {waited[lane]:.1f} d)")
    for wf in c.workflows[:: max(1, c.batch_size)]:
        ax.axvline(c.lab_days(wf.created_at), color="black", linestyle="--", linewidth=0.7)
    ax.set_yticks(ticks, labels, fontsize="small")
    ax.set_xlabel("lab time since the campaign started (days, simulated)")
    ax.set_xlim(left=0)
    ax.set_title("Every request by the tenant that served it (dashed: a batch asked for)")
    handles = [Patch(color=WAITING_COLOUR, label="waiting to be claimed")]
    handles += [Patch(color=col, label=step) for step, col in STEP_COLOURS.items()]
    fig.legend(handles=handles, loc="outside lower center", ncols=5, fontsize="small")
    ax.grid(axis="x", alpha=0.3)
    return plots.save(fig, path)


def _draw_lane(ax: Axes, bars: list[tuple[float, float, str]], *, base: float) -> None:
    """Overlapping bars stacked into sub-rows of one lane (first free sub-row)."""
    ends: list[float] = []
    placed = []
    for a, b, colour in sorted(bars):
        row = next((i for i, end in enumerate(ends) if end <= a), None)
        if row is None:
            ends.append(b)
            row = len(ends) - 1
        ends[row] = b
        placed.append((a, b, colour, row))
    height = 0.8 / max(1, len(ends))
    for a, b, colour, row in placed:
        ax.barh(
            base + row * height,
            max(b - a, 0.02),
            left=a,
            height=height * 0.9,
            color=colour,
            align="edge",
            linewidth=0,
        )


# ------------------------------------------------------------------------------ conductivity


def conductivity_vs_eol(comps: Sequence[Row], path: Path) -> Path:
    """The tested electrolytes' conductivity (of what ASAB mixed) against their end of life,
    over the ground-truth relation of every electrolyte ASAB can mix."""
    from finales.demo.eol_report import correlation

    fig, ax = plots.new_figure()
    grid = plots.region_grid(41)
    ax.scatter(
        [physics.conductivity(g, CONDUCTIVITY_AT_K) for g in grid],
        [cycle_life.expected_eol(g) for g in grid],
        s=6,
        color="0.8",
        label="ground truth over what ASAB can mix",
        zorder=1,
    )
    rows = [r for r in comps if r["eol"] is not None]
    ax.scatter(
        [float(r["conductivity_S_per_m"]) for r in rows],
        [float(r["eol"]) for r in rows],
        c=[int(r["batch"]) for r in rows],
        cmap="viridis",
        s=55,
        edgecolors="black",
        linewidths=0.6,
        zorder=3,
        label="tested electrolyte (predicted EOL; colour: batch)",
    )
    r = correlation(list(comps))
    title = "Conductivity vs end of life of the tested electrolytes"
    if r is not None:
        title += f"\nPearson r = {r:.2f} (conductivity vs ln EOL)"
    ax.set_title(title, fontsize="medium")
    ax.set_xlabel(f"conductivity at {CONDUCTIVITY_AT_K} K (S/m, of the electrolyte mixed)")
    ax.set_ylabel(EOL_LABEL)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="upper left")
    return plots.save(fig, path)


CAPTIONS = {
    "eol_vs_composition.png": "End of life vs LiPF6 molality and EC share against the ground truth",
    "capacity_fade.png": "Capacity fade of a few cells: measured, predicted and true",
    "predicted_vs_true.png": "The degradation model's predicted vs true end of life of every cell",
    "timeline.png": "Timeline of every request by tenant: where the campaign waited",
    "conductivity_vs_eol.png": "Conductivity vs end of life of the tested electrolytes",
}


def write_plots(
    c: EOLCampaign, cells: Sequence[Row], comps: Sequence[Row], folder: Path
) -> list[Path]:
    """All five figures into ``folder``; returns their paths."""
    return [
        eol_vs_composition(comps, folder / "eol_vs_composition.png"),
        capacity_fade(c, cells, folder / "capacity_fade.png"),
        predicted_vs_true(c, cells, folder / "predicted_vs_true.png"),
        timeline(c, folder / "timeline.png"),
        conductivity_vs_eol(comps, folder / "conductivity_vs_eol.png"),
    ]
