"""The end-of-life campaign's report: read back from the broker, written as data, figures and a
summary (Markdown and self-contained HTML, as the conductivity report: :mod:`finales.demo.report`).

Everything here comes from the broker's records, read as the admin after the campaign: the
optimiser's ``degradation_workflow`` requests in the order it posted them, each one's tree of
sub-requests (with their labels, histories and results), and the answers. Because the lab is
simulated, each cell's true end of life (:func:`finales.lab.cycler.true_cell`, what the cycler
would have measured to the end) and each electrolyte's expected one
(:func:`finales.lab.cycle_life.expected_eol`) sit beside what the model predicted.

What was lost is counted from the same records: cells that failed assembly (``meta.success``
false in AutoBASS's results), cells lost to a channel fault (the cycler's result says so in the
cell's location), trips lost by the courier (``success`` false), predictions the broker
refused (the release message in the history of the prediction request), sub-requests that
ran out of time (retracted by the orchestrator), retries (attempts beyond the first) and
workflows answered partially or not at all.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from finales.client import FinalesClient
from finales.demo.report import announce, write_summary
from finales.lab import cycle_life, physics
from finales.lab.composition import Composition
from finales.lab.cycler import true_cell
from finales.lab.degradation import HeldOut

__all__ = ["EOLCampaign", "announce", "collect", "write"]

TITLE = "finales demo eol: the end-of-life campaign"
WORKFLOW = ("degradationEOL", "degradation_workflow")
CONDUCTIVITY_AT_K = 298.15  # the cells are cycled at room temperature
DATA_FILES = ("results.json", "results.csv", "compositions.csv", "summary.md", "summary.html")
OBSERVED_RATING = 5  # the degradation model's rating of a life it saw in the cycling data
CELL_FIELDS = [
    "order",
    "batch",
    "request_id",
    "cell_id",
    "x_EC",
    "x_EMC",
    "x_LiPF6",
    "molality_mol_per_kg",
    "ec_share",
    "assembled",
    "cycles_measured",
    "lost_on_channel",
    "predicted_eol",
    "predicted_eol_uncertainty",
    "observed",
    "true_eol",
    "expected_eol",
]
COMPOSITION_FIELDS = [
    "order",
    "batch",
    "request_id",
    "outcome",
    "x_EC",
    "x_EMC",
    "x_LiPF6",
    "molality_mol_per_kg",
    "ec_share",
    "cells_predicted",
    "eol",
    "true_eol",
    "expected_eol",
    "conductivity_S_per_m",
]


@dataclass(frozen=True)
class Node:
    """One request of the campaign as the broker recorded it."""

    id: str
    parent_id: str | None
    step: str  # the workflow step ("workflow" for a workflow request itself)
    index: int
    attempt: int
    quantity: str
    method: str
    status: str
    created_at: datetime
    events: list[dict[str, Any]]  # {at, to_status, tenant, message}, in order
    data: dict[str, Any] | None  # its latest result's data


ACQUISITIONS = {
    "botorch": "BoTorch qLogNoisyExpectedImprovement (joint batches)",
    "kriging-believer": "expected improvement under the kriging believer",
}


@dataclass
class EOLCampaign:
    """What the report is made of: the broker's records and how the run went."""

    seed: int
    budget: int
    reason: str
    elapsed_s: float
    started_at: datetime
    time_scale: float  # real seconds per lab second
    batch_size: int
    workflows: list[Node]  # in the order the optimiser posted them
    nodes: list[Node]  # their sub-requests
    held_out: HeldOut | None = None
    acquisition: str = "kriging-believer"  # how the optimiser chose its batches
    admin_key: str = field(default="", repr=False)  # for --keep-server; never written

    def lab_days(self, at: datetime) -> float:
        return (at - self.started_at).total_seconds() / self.time_scale / 86400

    def children(self, parent: Node, step: str) -> list[Node]:
        return [n for n in self.nodes if n.parent_id == parent.id and n.step == step]


# ------------------------------------------------------------------------------ reading


def collect(
    admin: FinalesClient,
    *,
    seed: int,
    budget: int,
    reason: str,
    elapsed_s: float,
    started_at: datetime,
    time_scale: float,
    batch_size: int,
    held_out: HeldOut | None = None,
    acquisition: str = "kriging-believer",
    admin_key: str = "",
) -> EOLCampaign:
    """Read the campaign back from the broker (as an admin)."""
    names = {t.id: t.name for t in admin.list_tenants()}
    roots = sorted(
        (
            r
            for r in admin.iter_requests(quantity=WORKFLOW[0], method=WORKFLOW[1])
            if r.parent_request_id is None
        ),
        key=lambda r: r.created_at,
    )
    workflows: list[Node] = []
    nodes: list[Node] = []
    for root in roots:
        for tree_node in admin.request_tree(root.id):
            node = _node(admin, tree_node, names)
            (workflows if tree_node.depth == 0 else nodes).append(node)
    return EOLCampaign(
        seed=seed,
        budget=budget,
        reason=reason,
        elapsed_s=elapsed_s,
        started_at=started_at,
        time_scale=time_scale,
        batch_size=batch_size,
        workflows=workflows,
        nodes=nodes,
        held_out=held_out,
        acquisition=acquisition,
        admin_key=admin_key,
    )


def _node(admin: FinalesClient, n: Any, names: dict[str, str]) -> Node:
    events = [
        {
            "at": e.at,
            "to_status": e.to_status,
            "tenant": names.get(e.tenant_id or "", e.actor),
            "message": e.message,
        }
        for e in admin.request_history(n.id)
    ]
    data = admin.get_result(n.result_ids[-1]).data if n.result_ids else None
    labels = n.labels or {}
    return Node(
        id=n.id,
        parent_id=n.parent_request_id if n.depth else None,
        step=labels.get("workflow_step", "workflow"),
        index=int(labels.get("index", 0)),
        attempt=int(labels.get("attempt", 1)),
        quantity=n.quantity,
        method=n.methods[0],
        status=str(n.status),
        created_at=n.created_at,
        events=events,
        data=data,
    )


# ------------------------------------------------------------------------------ records


def _composition(formulation: Any) -> Composition | None:
    try:
        return Composition.from_formulation(formulation)
    except (ValueError, KeyError, TypeError):
        return None


def _share(c: Composition) -> float:
    return c.x_ec / (c.x_ec + c.x_emc)


def _mixed(c: EOLCampaign, wf: Node) -> Composition | None:
    """The electrolyte actually prepared (the answer's run_info), else the one asked for."""
    reported = ((wf.data or {}).get("run_info") or {}).get("formulation")
    if reported:
        return _composition(reported)
    flows = [n for n in c.children(wf, "electrolyte") if n.data]
    if flows:
        return _composition(flows[-1].data["electrolyte"]["formulation"])  # type: ignore[index]
    return None


def _assembled(c: EOLCampaign, wf: Node) -> list[dict[str, Any]]:
    """The cells of the workflow's assembled batch (the attempt whose result was used)."""
    batches = [n for n in c.children(wf, "assemble") if n.status == "resolved" and n.data]
    return list(batches[-1].data["batch_output"]) if batches else []  # type: ignore[index]


def _lost(data: dict[str, Any]) -> bool:
    where = (data.get("cell_info") or {}).get("cell_location") or {}
    return str(where.get("detail_2") or "").startswith("lost")


def cell_records(c: EOLCampaign) -> list[dict[str, Any]]:
    """One row per cell built, in the order the optimiser asked for its electrolyte, with its
    prediction (if any), its true end of life and its electrolyte's expected one."""
    rows = []
    for order, wf in enumerate(c.workflows):
        predicted = {
            p["cell_info"].get("uuid"): p for p in (wf.data or {}).get("degradationEOL", [])
        }
        cycled = {
            (n.data.get("cell_info") or {}).get("uuid"): n.data
            for n in c.children(wf, "cycle")
            if n.data
        }
        for cell in _assembled(c, wf):
            uuid = cell["cell_info"]["uuid"]
            comp = _composition(cell["cell"]["battery_chemistry"]["electrolyte"])
            if comp is None:
                continue
            cycle = cycled.get(uuid)
            p = predicted.get(uuid)
            rows.append(
                {
                    "order": order,
                    "batch": order // c.batch_size,
                    "request_id": wf.id,
                    "cell_id": uuid,
                    **_fractions(comp),
                    "assembled": bool(cell["meta"]["success"]),
                    "cycles_measured": len(cycle["capacity_list"]) // 2 if cycle else 0,
                    "lost_on_channel": bool(cycle and _lost(cycle)),
                    "predicted_eol": p["end_of_life"] if p else None,
                    "predicted_eol_uncertainty": p["end_of_life_uncertainty"] if p else None,
                    "observed": bool(p and p["meta"]["rating"] == OBSERVED_RATING),
                    "true_eol": round(true_cell(c.seed, uuid, comp).eol, 1),
                    "expected_eol": round(cycle_life.expected_eol(comp), 1),
                }
            )
    return rows


def _fractions(comp: Composition) -> dict[str, float]:
    return {
        "x_EC": round(comp.x_ec, 4),
        "x_EMC": round(comp.x_emc, 4),
        "x_LiPF6": round(comp.x_lipf6, 4),
        "molality_mol_per_kg": round(comp.molality, 4),
        "ec_share": round(_share(comp), 4),
    }


def _geomean(values: Sequence[float]) -> float | None:
    return round(math.exp(sum(map(math.log, values)) / len(values)), 1) if values else None


def composition_records(c: EOLCampaign, cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per electrolyte asked for: the geometric mean of its cells' predicted lives
    (what the optimiser reads), of their true lives, the expected life there and the
    conductivity of the mixed electrolyte."""
    rows = []
    for order, wf in enumerate(c.workflows):
        comp = _mixed(c, wf)
        mine = [r for r in cells if r["request_id"] == wf.id]
        predicted = [float(r["predicted_eol"]) for r in mine if r["predicted_eol"] is not None]
        truth = [float(r["true_eol"]) for r in mine if r["predicted_eol"] is not None]
        rows.append(
            {
                "order": order,
                "batch": order // c.batch_size,
                "request_id": wf.id,
                "outcome": _outcome(wf),
                **(_fractions(comp) if comp else {}),
                "cells_predicted": len(predicted),
                "eol": _geomean(predicted),
                "true_eol": _geomean(truth),
                "expected_eol": round(cycle_life.expected_eol(comp), 1) if comp else None,
                "conductivity_S_per_m": round(physics.conductivity(comp, CONDUCTIVITY_AT_K), 4)
                if comp
                else None,
            }
        )
    return rows


def _outcome(wf: Node) -> str:
    if wf.data is None:
        return f"no answer ({wf.status})"
    reference = str((wf.data.get("run_info") or {}).get("internal_reference") or "")
    if " failed: " in reference:
        return "failed"
    return "partial" if " partial: " in reference else "complete"


# ------------------------------------------------------------------------------ losses


def losses(c: EOLCampaign) -> dict[str, Any]:
    """What the campaign lost, counted from the broker's records (see the module docstring)."""
    resolved = [n for n in c.nodes if n.status == "resolved" and n.data is not None]
    assembly = [
        cell
        for n in resolved
        if n.step == "assemble"
        for cell in n.data["batch_output"]  # type: ignore[index]
        if not cell["meta"]["success"]
    ]
    refused = [
        e
        for n in c.nodes
        if n.step == "predict"
        for e in n.events
        if "the broker refused the result" in (e["message"] or "")
    ]
    timed_out = [
        n
        for n in c.nodes
        if n.status == "retracted"
        and any((e["message"] or "").startswith("no result within") for e in n.events)
    ]
    retries = Counter(n.step for n in c.nodes if n.attempt > 1)
    outcomes = Counter(_outcome(wf) for wf in c.workflows)
    return {
        "cells_ordered": sum(len(_assembled(c, wf)) for wf in c.workflows),
        "assembly_failures": len(assembly),
        "channel_faults": sum(1 for n in resolved if n.step == "cycle" and _lost(n.data or {})),
        "lost_transports": sum(
            1 for n in resolved if n.step.startswith("carry") and not (n.data or {})["success"]
        ),
        "invalid_predictions": len(refused),
        "timeouts": len(timed_out),
        "retries": sum(retries.values()),
        "retries_by_step": dict(sorted(retries.items())),
        "workflows": dict(sorted(outcomes.items())),
    }


# ------------------------------------------------------------------------------ the report


def accuracy(cells: list[dict[str, Any]]) -> float | None:
    """Mean absolute percentage error of the predictions from early cycles against the
    cells' true lives (lives the cycler already saw end are left out)."""
    pairs = [
        (float(r["predicted_eol"]), float(r["true_eol"]))
        for r in cells
        if r["predicted_eol"] is not None and not r["observed"]
    ]
    return sum(abs(p - t) / t for p, t in pairs) / len(pairs) if pairs else None


def summary_lines(
    c: EOLCampaign, cells: list[dict[str, Any]], comps: list[dict[str, Any]], lost: dict[str, Any]
) -> list[str]:
    """The summary's facts, one line each (the console, Markdown and HTML show the same)."""
    predicted = [r for r in cells if r["predicted_eol"] is not None]
    end = max((e["at"] for n in c.nodes for e in n.events), default=c.started_at)
    lines = [
        f"electrolytes: {len(c.workflows)} asked for in batches of {c.batch_size} "
        f"(budget {c.budget}, seed {c.seed}); stopped: {c.reason}",
        f"batches chosen by: {ACQUISITIONS.get(c.acquisition, c.acquisition)}",
        f"cells: {lost['cells_ordered']} built, {len(predicted)} predicted; "
        f"sub-requests: {len(c.nodes)}",
        f"wall time: {c.elapsed_s:.0f} s ({c.lab_days(end):.0f} days of lab time, "
        f"a lab hour in {c.time_scale * 3600 * 1000:.0f} ms)",
    ]
    best = max((r for r in comps if r["eol"] is not None), key=lambda r: r["eol"], default=None)
    if best:
        lines.append(
            f"best electrolyte: EOL {best['eol']:.0f} cycles predicted (its cells' true lives "
            f"{best['true_eol']:.0f}, expected there {best['expected_eol']:.0f}) at "
            f"{best['molality_mol_per_kg']:.2f} mol/kg LiPF6, EC share {best['ec_share']:.2f}"
        )
    from finales.demo import eol_plots

    eol, where = eol_plots.true_optimum()
    lines.append(
        f"ground-truth optimum of what ASAB can mix: expected EOL {eol:.0f} cycles at "
        f"{where.molality:.2f} mol/kg LiPF6, EC share {_share(where):.2f}"
    )
    mape = accuracy(cells)
    observed = sum(1 for r in predicted if r["observed"])
    if mape is not None:
        lines.append(
            f"degradation model: {100 * mape:.1f} % mean absolute error against the true lives "
            f"of the {len(predicted) - observed} cells it predicted from 40 cycles "
            f"({observed} more died within their cycling: observed, not predicted)"
        )
    if c.held_out is not None:
        h = c.held_out
        lines.append(
            f"degradation model held out: {100 * h.mape:.1f} % on {h.cells} simulated cells "
            f"(seed {h.seed}; trained on {h.train_cells} cells of seed {h.train_seed}); "
            f"Severson et al. 2019: 9.1 % from 100 cycles"
        )
    r = correlation(comps)
    if r is not None:
        lines.append(
            f"conductivity vs EOL of the tested electrolytes: Pearson r = {r:.2f} "
            f"(conductivity at {CONDUCTIVITY_AT_K} K of what ASAB mixed)"
        )
    lines.append(
        f"lost: cells failed in assembly {lost['assembly_failures']}, cells lost to a channel "
        f"fault {lost['channel_faults']}, transports lost {lost['lost_transports']}, "
        f"predictions refused as invalid {lost['invalid_predictions']}, sub-requests timed "
        f"out {lost['timeouts']}; retries {lost['retries']} "
        f"({', '.join(f'{k} {v}' for k, v in lost['retries_by_step'].items()) or 'none'})"
    )
    lines.append("workflows: " + ", ".join(f"{v} {k}" for k, v in lost["workflows"].items()))
    return lines


def correlation(comps: list[dict[str, Any]]) -> float | None:
    pairs = [
        (float(r["conductivity_S_per_m"]), math.log(float(r["eol"])))
        for r in comps
        if r["eol"] is not None and r["conductivity_S_per_m"] is not None
    ]
    if len(pairs) < 3:
        return None
    xs, ys = zip(*pairs, strict=True)
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxy = sum((x - mx) * (y - my) for x, y in pairs)
    sxx, syy = sum((x - mx) ** 2 for x in xs), sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else None


def write(out: Path, c: EOLCampaign) -> tuple[list[str], list[str]]:
    """Write the whole report into ``out``; return the summary lines and the files written."""
    from finales.demo import eol_plots

    cells = cell_records(c)
    comps = composition_records(c, cells)
    lost = losses(c)
    (out / "results.json").write_text(json.dumps(_document(c, cells, comps, lost), indent=1))
    for name, fields, rows in (
        ("results.csv", CELL_FIELDS, cells),
        ("compositions.csv", COMPOSITION_FIELDS, comps),
    ):
        with (out / name).open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
    figures = [p.name for p in eol_plots.write_plots(c, cells, comps, out)]
    lines = summary_lines(c, cells, comps, lost)
    write_summary(out, TITLE, lines, figures, eol_plots.CAPTIONS)
    return lines, [*DATA_FILES, *figures]


def _document(
    c: EOLCampaign, cells: list[dict[str, Any]], comps: list[dict[str, Any]], lost: dict[str, Any]
) -> dict[str, Any]:
    """results.json: the campaign's settings, its electrolytes and cells, what was lost, and
    the answers as the broker holds them."""
    return {
        "campaign": {
            "seed": c.seed,
            "budget": c.budget,
            "acquisition": c.acquisition,
            "stopped": c.reason,
            "wall_time_s": round(c.elapsed_s, 1),
            "lab_hour_real_s": c.time_scale * 3600,
            "started_at": c.started_at.isoformat(),
            "held_out": asdict(c.held_out) if c.held_out else None,
        },
        "compositions": comps,
        "cells": cells,
        "lost": lost,
        "workflows": [
            {"request_id": wf.id, "created_at": wf.created_at.isoformat(), "answer": wf.data}
            for wf in c.workflows
        ],
    }
