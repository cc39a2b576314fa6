"""The conductivity campaign on a laptop: a local broker, the simulated ASAB robot, molecular
dynamics and low-fidelity model, and the Bayesian optimiser, talking only through the broker.

Writes a report folder (campaign data as JSON and CSV, a Markdown summary). Plots are the next
step of the demo issue.
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
from finales.domain.principals import Role
from finales.lab.asab import ASAB
from finales.lab.clock import LabClock
from finales.lab.composition import Composition
from finales.lab.low_fidelity import LowFidelityModel
from finales.lab.molecular_dynamics import MolecularDynamics
from finales.optimizer import Optimizer, OptimizerConfig
from finales.optimizer.chemistry import candidates, parameters
from finales.testing import LocalBroker

TEMPERATURE_K = 299.65
Q = "conductivity"
LAB_SECONDS_PER_REAL_SECOND = 3 * 3600.0  # three lab hours per second: ASAB ~15 s a sample


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
    points = candidates(rng, n=lf + md, temperature=TEMPERATURE_K, limitations=limitations)
    for i, (x_ec, x_li) in enumerate(points):
        method = "polynomial_interpolation" if i < lf else "molecular_dynamics"
        client.submit_request(Q, [method], {method: parameters(x_ec, x_li, TEMPERATURE_K)})


def run_campaign(
    *, budget: int = 15, seed: int = 0, out: Path | None = None, console: Console | None = None
) -> Path:
    """Run the campaign and return the report folder."""
    console = console or Console()
    out = out or Path(tempfile.mkdtemp(prefix="finales-campaign-"))
    out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="finales-demo-home-"))
    clock = LabClock(scale=1.0 / LAB_SECONDS_PER_REAL_SECOND)
    with LocalBroker(home) as broker:
        for cap in CAPABILITIES:
            broker.add_capability(
                cap.quantity, cap.method, request_schema(*cap.key), result_schema(*cap.key)
            )
        lab = []
        for cls in (ASAB, MolecularDynamics, LowFidelityModel):
            tid = broker.add_tenant(cls.NAME)
            key = broker.add_user(f"{cls.NAME}-bot", role=Role.TENANT, tenant_id=tid)
            lab.append(cls(seed=seed, clock=clock, server=broker.url, api_key=key))
        opt_tid = broker.add_tenant("optimizer")
        opt_key = broker.add_user("optimizer-bot", role=Role.TENANT, tenant_id=opt_tid)
        config = OptimizerConfig(
            request_methods=["two_electrode"],
            data=[
                {"quantity": Q, "method": "molecular_dynamics"},
                {"quantity": Q, "method": "polynomial_interpolation"},
            ],
            temperature=TEMPERATURE_K,
            budget=budget,
            max_outstanding=2,
            seed=seed,
            poll_s=0.2,
        )
        admin_key = broker.add_user("campaign-admin", role=Role.ADMIN)
        console.print(f"broker at {broker.url}; report in {out}")
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
        elapsed = time.monotonic() - started
    return _report(out, results, outcome.reason, elapsed, console)


def _report(
    out: Path, results: list[dict[str, Any]], reason: str, elapsed_s: float, console: Console
) -> Path:
    rows = []
    for r in results:
        comp = Composition.from_formulation(r["parameters"]["formulation"])
        values = r["data"]["conductivity"]["values"]
        if not values:  # a failed measurement reports no value
            continue
        rows.append(
            {
                "result_id": r["id"],
                "method": r["method"],
                "x_EC": round(comp.x_ec, 4),
                "molality_mol_per_kg": round(comp.molality, 4),
                "conductivity_S_per_m": float(np.mean(values)),
                "created_at": r["created_at"],
            }
        )
    (out / "results.json").write_text(json.dumps(results, indent=1))
    with (out / "results.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["result_id"])
        writer.writeheader()
        writer.writerows(rows)
    experiments = [r for r in rows if r["method"] == "two_electrode"]
    best = max(experiments, key=lambda r: r["conductivity_S_per_m"], default=None)
    lines = [
        "# finales demo: the conductivity campaign",
        "",
        f"- results: {len(rows)} ({len(experiments)} experiments); stopped: {reason}",
        f"- wall time: {elapsed_s:.0f} s",
    ]
    if best:
        lines.append(
            f"- best experiment: {best['conductivity_S_per_m']:.3f} S/m at "
            f"{best['molality_mol_per_kg']:.2f} mol/kg LiPF6"
        )
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    console.print("\n".join(lines))
    return out
