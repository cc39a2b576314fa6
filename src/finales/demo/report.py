"""The campaign's report folder: the data (JSON, CSV), the figures (PNG, :mod:`finales.demo.plots`)
and one summary written twice, as Markdown and as a self-contained HTML page.

The HTML page carries its figures inside it (base64 ``data:`` URLs) and loads nothing else, so it
opens from the file system, offline, and survives being mailed or copied on its own.

Every record keeps the composition actually measured and, because the lab is simulated, the
ground truth there: a noisy best measurement is shown next to what it should have read.
"""

from __future__ import annotations

import base64
import csv
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from finales.lab import physics
from finales.lab.composition import Composition

EXPERIMENT = "two_electrode"
DATA_FILES = ("results.json", "results.csv", "summary.md", "summary.html")
RECORD_FIELDS = [
    "result_id",
    "method",
    "x_EC",
    "x_EMC",
    "x_LiPF6",
    "molality_mol_per_kg",
    "conductivity_S_per_m",
    "true_conductivity_S_per_m",
    "lab_hours",
    "created_at",
]


@dataclass(frozen=True)
class Failure:
    """An experiment that came back without a value (every repeat's fit failed)."""

    request_id: str
    result_id: str
    share: float
    molality: float
    rating: Any


@dataclass(frozen=True)
class Campaign:
    """What the report is made of: the broker's results and how the run went."""

    results: list[dict[str, Any]]
    reason: str
    elapsed_s: float
    started_at: datetime
    temperature_k: float
    lab_seconds_per_real_second: float


def _composition(result: dict[str, Any]) -> Composition:
    """The composition actually measured: ASAB mixes the nearest one its stocks reach, a little
    off, and reports it in ``run_info`` (the optimiser reads it the same way)."""
    reported = (result["data"].get("run_info") or {}).get("formulation")
    return Composition.from_formulation(reported or result["parameters"]["formulation"])


def _share(comp: Composition) -> float:
    return comp.x_ec / (comp.x_ec + comp.x_emc)


def records(c: Campaign) -> list[dict[str, Any]]:
    """One flat record per result with a value (a failed measurement reports none), with the
    ground truth at its composition and the lab time (h since the campaign started) it
    arrived at: the common clock on which the sources can be compared."""
    rows = []
    for r in c.results:
        values = r["data"]["conductivity"]["values"]
        if not values:
            continue
        comp = _composition(r)
        real_s = (datetime.fromisoformat(r["created_at"]) - c.started_at).total_seconds()
        rows.append(
            {
                "result_id": r["id"],
                "method": r["method"],
                "x_EC": round(comp.x_ec, 4),
                "x_EMC": round(comp.x_emc, 4),
                "x_LiPF6": round(comp.x_lipf6, 4),
                "molality_mol_per_kg": round(comp.molality, 4),
                "conductivity_S_per_m": float(np.mean(values)),
                "true_conductivity_S_per_m": round(physics.conductivity(comp, c.temperature_k), 6),
                "lab_hours": round(max(0.0, real_s) * c.lab_seconds_per_real_second / 3600, 3),
                "created_at": r["created_at"],
            }
        )
    return rows


def failures(results: Sequence[dict[str, Any]]) -> list[Failure]:
    """The experiments that came back without a value, in arrival order."""
    failed = []
    for r in sorted(results, key=lambda r: str(r["created_at"])):
        block = r["data"]["conductivity"]
        if r["method"] != EXPERIMENT or block["values"]:
            continue
        comp = _composition(r)
        rating = (block.get("meta") or {}).get("rating")
        failed.append(Failure(r["request_id"], r["id"], _share(comp), comp.molality, rating))
    return failed


def summary_lines(c: Campaign, rows: list[dict[str, Any]], failed: list[Failure]) -> list[str]:
    """The summary's facts, one line each (the console, Markdown and HTML show the same)."""
    from finales.demo import plots  # matplotlib is loaded only when a report is drawn

    measured = [r for r in rows if r["method"] == EXPERIMENT]
    n_experiments = len(measured) + len(failed)
    lines = [
        f"results: {len(rows) + len(failed)} ({n_experiments} experiments: {len(measured)} "
        f"with a value, {len(failed)} failed); stopped: {c.reason}",
        f"wall time: {c.elapsed_s:.0f} s "
        f"({c.elapsed_s * c.lab_seconds_per_real_second / 3600:.0f} h of lab time)",
    ]
    best = max(measured, key=lambda r: r["conductivity_S_per_m"], default=None)
    if best:
        lines.append(
            f"best experiment: {best['conductivity_S_per_m']:.3f} S/m measured "
            f"(true value there {best['true_conductivity_S_per_m']:.3f} S/m) at "
            f"{best['molality_mol_per_kg']:.2f} mol/kg LiPF6, "
            f"EC share {best['x_EC'] / (best['x_EC'] + best['x_EMC']):.2f}"
        )
    kappa, where = plots.true_optimum(c.temperature_k)
    lines.append(
        f"ground-truth optimum of what ASAB can mix: {kappa:.3f} S/m at "
        f"{where.molality:.2f} mol/kg LiPF6, EC share {_share(where):.2f}"
        f" ({c.temperature_k} K; EC share = x_EC / (x_EC + x_EMC))"
    )
    for f in failed:
        lines.append(
            f"failed experiment: request {f.request_id} at {f.molality:.2f} mol/kg LiPF6, "
            f"EC share {f.share:.2f}: no value (rating {f.rating})"
        )
    return lines


def write(out: Path, c: Campaign) -> tuple[list[str], list[str]]:
    """Write the whole report into ``out``; return the summary lines and the files written."""
    from finales.demo import plots

    rows = records(c)
    failed = failures(c.results)
    (out / "results.json").write_text(json.dumps(c.results, indent=1))
    with (out / "results.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=RECORD_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    figures = [p.name for p in plots.write_plots(rows, out, temperature_k=c.temperature_k)]
    lines = summary_lines(c, rows, failed)
    write_summary(out, TITLE, lines, figures, plots.CAPTIONS)
    return lines, [*DATA_FILES, *figures]


TITLE = "finales demo: the conductivity campaign"


def write_summary(
    out: Path, title: str, lines: list[str], figures: list[str], captions: Mapping[str, str]
) -> None:
    """``summary.md`` and ``summary.html`` in ``out``: the summary lines, then the figures
    (PNG files already in ``out``) with their captions."""
    (out / "summary.md").write_text(_markdown(title, lines, figures, captions))
    pages = [(name, out / name) for name in figures]
    (out / "summary.html").write_text(_html(title, lines, pages, captions))


def announce(console: Console, out: Path, lines: list[str], files: list[str]) -> None:
    """Print the summary and where the report is: the folder, its files and a URL to open."""
    console.print("\n".join(lines), highlight=False, soft_wrap=True)
    listing = [f"report in {out.resolve()}:"] + [f"  {name}" for name in files]
    listing.append(f"open {(out / 'summary.html').resolve().as_uri()}")
    console.print("\n".join(listing), highlight=False, soft_wrap=True)


def _markdown(title: str, lines: list[str], figures: list[str], captions: Mapping[str, str]) -> str:
    text = [f"# {title}", "", *(f"- {line}" for line in lines), "", "## Figures", ""]
    for name in figures:
        text += [f"![{captions[name]}]({name})", ""]
    return "\n".join(text)


def _html(
    title: str,
    lines: list[str],
    figures: list[tuple[str, Path]],
    captions: Mapping[str, str],
) -> str:
    """One page, figures inlined as base64 PNG: nothing is fetched when it opens."""
    esc = html.escape
    items = "\n".join(f"<li>{esc(line)}</li>" for line in lines)
    blocks = []
    for name, path in figures:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        blocks.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{esc(captions[name])}">'
            f"<figcaption>{esc(captions[name])} ({esc(name)})</figcaption></figure>"
        )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{esc(title)}</title>",
            "<style>body{font-family:sans-serif;max-width:75rem;margin:1rem auto;padding:0 1rem}"
            "img{max-width:100%;height:auto}figure{margin:1.5rem 0}"
            "figcaption{color:#444}</style>",
            "</head><body>",
            f"<h1>{esc(title)}</h1>",
            f"<ul>\n{items}\n</ul>",
            "<h2>Figures</h2>",
            *blocks,
            "</body></html>",
            "",
        ]
    )
