"""The conductivity campaign on a laptop: a local broker, the simulated ASAB robot, molecular
dynamics and low-fidelity model, and the Bayesian optimiser, talking only through the broker.

Writes a report folder: the campaign data as JSON and CSV, three figures (PNG, drawn by
:mod:`finales.demo.plots`) and a Markdown summary that shows them. With ``keep_server`` the
broker stays up afterwards, for a look around, until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import csv
import json
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress

from finales.capabilities import CAPABILITIES, request_schema, result_schema
from finales.client import FinalesClient
from finales.demo.serving import keep_serving
from finales.domain.principals import Role
from finales.lab.asab import ASAB
from finales.lab.clock import LabClock
from finales.lab.composition import Composition
from finales.lab.low_fidelity import LowFidelityModel
from finales.lab.molecular_dynamics import MolecularDynamics
from finales.optimizer import Optimizer, OptimizerConfig, Pair
from finales.optimizer.chemistry import candidates, parameters
from finales.testing import LocalBroker

TEMPERATURE_K = 299.65
Q = "conductivity"
LAB_SECONDS_PER_REAL_SECOND = 3 * 3600.0  # three lab hours per second: ASAB ~15 s a sample
ADMIN = "campaign-admin"
DATA_FILES = ("results.json", "results.csv", "summary.md")


@contextmanager
def _serving(tenants: list[Any]) -> Iterator[None]:
    threads = [
        threading.Thread(
            target=t.run,
            kwargs={"handle_signals": False, "configure_logging": False},
            daemon=True,
            name=t.tenant.name,
        )
        for t in tenants
    ]
    for th in threads:
        th.start()
    try:
        yield
    finally:
        for t in tenants:
            t.tenant.stop(force=True)
        for th in threads:
            th.join(timeout=30)


def _seed_models(
    client: FinalesClient, *, lf: int, md: int, seed: int, limitations: list[Any]
) -> None:
    """Ask the cheap sources first, as the demonstrator did: a model sweep and a few MD runs."""
    rng = np.random.default_rng(seed + 1)

    def draw(n: int) -> list[tuple[float, float]]:
        # candidates() may return fewer than asked (it stops once a quarter is inside the
        # limitations): draw until each source gets its share.
        points: list[tuple[float, float]] = []
        for _ in range(10):
            if len(points) >= n:
                break
            points += candidates(
                rng, n=n - len(points), temperature=TEMPERATURE_K, limitations=limitations
            )
        return points[:n]

    for method, n in (("polynomial_interpolation", lf), ("molecular_dynamics", md)):
        for x_ec, x_li in draw(n):
            client.submit_request(Q, [method], {method: parameters(x_ec, x_li, TEMPERATURE_K)})


def run_campaign(
    *,
    budget: int = 15,
    seed: int = 0,
    out: Path | None = None,
    console: Console | None = None,
    keep_server: bool = False,
) -> Path:
    """Run the campaign, write the report and return its folder; with ``keep_server``, keep
    the broker up after the report until Ctrl-C or SIGTERM (main thread only)."""
    console = console or Console()
    out = out or Path(tempfile.mkdtemp(prefix="finales-campaign-"))
    out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="finales-demo-home-") as home,
        LocalBroker(Path(home)) as broker,
    ):
        admin_key = broker.add_user(ADMIN, role=Role.ADMIN)
        results, reason, elapsed = _campaign(
            broker, admin_key, budget=budget, seed=seed, console=console
        )
        _report(out, results, reason, elapsed, console)
        if keep_server:
            keep_serving(broker, console, admin=ADMIN, api_key=admin_key)
    return out


def _campaign(
    broker: LocalBroker, admin_key: str, *, budget: int, seed: int, console: Console
) -> tuple[list[dict[str, Any]], str, float]:
    """Set up the lab on ``broker``, run the optimiser to the end of its budget and return the
    conductivity results, why it stopped and the wall time (s)."""
    lab, opt_key = _lab(broker, seed=seed)
    config = OptimizerConfig(
        request_methods=["two_electrode"],
        data=[
            Pair(quantity=Q, method="molecular_dynamics"),
            Pair(quantity=Q, method="polynomial_interpolation"),
        ],
        temperature=TEMPERATURE_K,
        budget=budget,
        max_outstanding=2,
        seed=seed,
        poll_s=0.2,
    )
    console.print(f"broker at {broker.url}", highlight=False)
    with _serving(lab), FinalesClient(broker.url, api_key=opt_key) as client:
        time.sleep(1.0)  # let the tenants publish their offers
        offers = [
            o.limitations
            for t in client.list_tenants()
            for o in t.offers
            if o.quantity == Q and o.method == "polynomial_interpolation"
        ]
        with FinalesClient(broker.url, api_key=admin_key) as admin:
            _seed_models(admin, lf=20, md=4, seed=seed, limitations=offers or [{}])
        optimizer = Optimizer(config, client)
        started = time.monotonic()
        with Progress(console=console, transient=False) as progress:
            task = progress.add_task("experiments", total=budget)
            while True:
                outcome = optimizer.step()
                done = len(optimizer.last_state.own_values)
                best = f"{outcome.best:.3f} S/m" if outcome.best is not None else "-"
                progress.update(
                    task, completed=min(done, budget), description=f"experiments (best {best})"
                )
                if outcome.done:
                    break
                time.sleep(0.2)
        results = [r.model_dump(mode="json") for r in client.iter_results(quantity=Q)]
    return results, outcome.reason, time.monotonic() - started


def _lab(broker: LocalBroker, *, seed: int) -> tuple[list[Any], str]:
    """Register the capabilities, the simulated tenants and the optimiser; return the tenants
    (not yet running) and the optimiser's API key."""
    for cap in CAPABILITIES:
        broker.add_capability(
            cap.quantity, cap.method, request_schema(*cap.key), result_schema(*cap.key)
        )
    clock = LabClock(scale=1.0 / LAB_SECONDS_PER_REAL_SECOND)
    lab = []
    for cls in (ASAB, MolecularDynamics, LowFidelityModel):
        tid = broker.add_tenant(cls.NAME)
        key = broker.add_user(f"{cls.NAME}-bot", role=Role.TENANT, tenant_id=tid)
        lab.append(cls(seed=seed, clock=clock, server=broker.url, api_key=key))
    opt_tid = broker.add_tenant("optimizer")
    return lab, broker.add_user("optimizer-bot", role=Role.TENANT, tenant_id=opt_tid)


def _report(
    out: Path, results: list[dict[str, Any]], reason: str, elapsed_s: float, console: Console
) -> Path:
    """Write the data, the figures and the summary into ``out`` and list them on the console."""
    from finales.demo import plots  # matplotlib is loaded only when a report is drawn

    rows = _records(results)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    with (out / "results.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=RECORD_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    figure_files = [p.name for p in plots.write_plots(rows, out, temperature_k=TEMPERATURE_K)]
    experiments = [r for r in rows if r["method"] == "two_electrode"]
    best = max(experiments, key=lambda r: r["conductivity_S_per_m"], default=None)
    kappa, where = plots.true_optimum(TEMPERATURE_K)
    lines = [
        "# finales demo: the conductivity campaign",
        "",
        f"- results: {len(rows)} ({len(experiments)} experiments); stopped: {reason}",
        f"- wall time: {elapsed_s:.0f} s",
    ]
    if best:
        lines.append(
            f"- best experiment: {best['conductivity_S_per_m']:.3f} S/m at "
            f"{best['molality_mol_per_kg']:.2f} mol/kg LiPF6, "
            f"EC share {best['x_EC'] / (best['x_EC'] + best['x_EMC']):.2f}"
        )
    lines.append(
        f"- ground-truth optimum of what ASAB can mix: {kappa:.3f} S/m at "
        f"{where.molality:.2f} mol/kg LiPF6, EC share {where.x_ec / (where.x_ec + where.x_emc):.2f}"
        f" ({TEMPERATURE_K} K; EC share = x_EC / (x_EC + x_EMC))"
    )
    figures = ["", "## Figures", ""]
    for name in figure_files:
        figures += [f"![{plots.CAPTIONS[name]}]({name})", ""]
    (out / "summary.md").write_text("\n".join(lines + figures))
    console.print("\n".join(lines), highlight=False, soft_wrap=True)
    listing = [f"report in {out}:"] + [f"  {name}" for name in (*DATA_FILES, *figure_files)]
    console.print("\n".join(listing), highlight=False, soft_wrap=True)
    return out


RECORD_FIELDS = [
    "result_id",
    "method",
    "x_EC",
    "x_EMC",
    "x_LiPF6",
    "molality_mol_per_kg",
    "conductivity_S_per_m",
    "created_at",
]


def _records(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One flat record per result with a value (a failed measurement reports none), at the
    composition actually measured: ASAB mixes the nearest one its stocks reach, a little off,
    and reports it in ``run_info`` (the optimiser reads it the same way)."""
    rows = []
    for r in results:
        reported = (r["data"].get("run_info") or {}).get("formulation")
        comp = Composition.from_formulation(reported or r["parameters"]["formulation"])
        values = r["data"]["conductivity"]["values"]
        if not values:
            continue
        rows.append(
            {
                "result_id": r["id"],
                "method": r["method"],
                "x_EC": round(comp.x_ec, 4),
                "x_EMC": round(comp.x_emc, 4),
                "x_LiPF6": round(comp.x_lipf6, 4),
                "molality_mol_per_kg": round(comp.molality, 4),
                "conductivity_S_per_m": float(np.mean(values)),
                "created_at": r["created_at"],
            }
        )
    return rows
