"""The conductivity campaign on a laptop: a local broker, the simulated ASAB robot, molecular
dynamics and low-fidelity model, and the Bayesian optimiser, talking only through the broker.

Writes a report folder (:mod:`finales.demo.report`), by default under ``./finales-demo/`` in a
folder named after the campaign and the time, so that runs neither pile up in ``/tmp`` nor
overwrite each other. With ``keep_server`` the broker stays up afterwards, for a look around,
until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress

from finales.capabilities import CAPABILITIES, request_schema, result_schema
from finales.client import FinalesClient
from finales.demo import report
from finales.demo.serving import keep_serving, running
from finales.domain.principals import Role
from finales.lab.asab import ASAB
from finales.lab.clock import LabClock
from finales.lab.low_fidelity import LowFidelityModel
from finales.lab.molecular_dynamics import MolecularDynamics
from finales.optimizer import Optimizer, OptimizerConfig, Pair
from finales.optimizer.chemistry import candidates, parameters
from finales.testing import LocalBroker

TEMPERATURE_K = 299.65
Q = "conductivity"
LAB_SECONDS_PER_REAL_SECOND = 3 * 3600.0  # three lab hours per second: ASAB ~15 s a sample
ADMIN = "campaign-admin"
CAMPAIGN = "conductivity"
DEFAULT_REPORTS = Path("finales-demo")


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
    out = out or default_out()
    out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="finales-demo-home-") as home,
        LocalBroker(Path(home)) as broker,
    ):
        admin_key = broker.add_user(ADMIN, role=Role.ADMIN)
        campaign = _campaign(broker, admin_key, budget=budget, seed=seed, console=console)
        _report(out, campaign, console)
        if keep_server:
            keep_serving(broker, console, admin=ADMIN, api_key=admin_key)
    return out


def default_out(
    base: Path = DEFAULT_REPORTS, *, now: datetime | None = None, campaign: str = CAMPAIGN
) -> Path:
    """``base/<campaign>-<local time>``, with a counter when that folder already exists."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    candidate = base / f"{campaign}-{stamp}"
    n = 2
    while candidate.exists():
        candidate, n = base / f"{campaign}-{stamp}-{n}", n + 1
    return candidate


def _campaign(
    broker: LocalBroker, admin_key: str, *, budget: int, seed: int, console: Console
) -> report.Campaign:
    """Set up the lab on ``broker``, run the optimiser to the end of its budget and return the
    conductivity results with how the run went."""
    started_at = datetime.now(UTC)  # the lab clock starts now: lab time counts from here
    lab, opt_key = _lab(broker, seed=seed)
    config = OptimizerConfig(
        request_methods=["two_electrode"],
        data=[
            Pair(quantity=Q, method="molecular_dynamics"),
            Pair(quantity=Q, method="polynomial_interpolation"),
        ],
        temperature=TEMPERATURE_K,
        budget=budget,
        # Pairs of experiments, the next pair chosen once both are in: what the optimiser
        # knows at each choice is then the same in every run with this seed.
        max_outstanding=2,
        batch_size=2,
        seed=seed,
        poll_s=0.2,
    )
    console.print(f"broker at {broker.url}", highlight=False)
    with running(lab), FinalesClient(broker.url, api_key=opt_key) as client:
        time.sleep(1.0)  # let the tenants publish their offers
        offers = [
            o.limitations
            for t in client.list_tenants()
            for o in t.offers
            if o.quantity == Q and o.method == "polynomial_interpolation"
        ]
        with FinalesClient(broker.url, api_key=admin_key) as admin:
            _seed_models(admin, lf=20, md=4, seed=seed, limitations=offers or [{}])
            _wait_until_served(admin)
        optimizer = Optimizer(config, client)
        started = time.monotonic()
        with Progress(console=console, transient=False) as progress:
            task = progress.add_task("experiments", total=budget)
            while True:
                outcome = optimizer.step()
                state = optimizer.last_state
                # Finished experiments, failed ones included: a failure spends budget too.
                done = state.posted - len(state.outstanding)
                best = f"{outcome.best:.3f} S/m" if outcome.best is not None else "-"
                progress.update(task, completed=done, description=f"experiments (best {best})")
                if outcome.done:
                    # A campaign that stalls before its budget is still complete: end at 100 %.
                    progress.update(task, total=max(done, 1), completed=max(done, 1))
                    break
                time.sleep(0.2)
        results = in_campaign_order(client)
    return report.Campaign(
        results=results,
        reason=outcome.reason,
        elapsed_s=time.monotonic() - started,
        started_at=started_at,
        temperature_k=TEMPERATURE_K,
        lab_seconds_per_real_second=LAB_SECONDS_PER_REAL_SECOND,
    )


def _wait_until_served(client: FinalesClient, poll_s: float = 0.2) -> None:
    """Until no request is pending or reserved: the seeded sources are all in before the
    optimiser first looks (else what it sees would depend on how fast they ran)."""
    while any(True for _ in client.iter_requests(status="pending")) or any(
        True for _ in client.iter_requests(status="reserved")
    ):
        time.sleep(poll_s)


def in_campaign_order(client: FinalesClient) -> list[dict[str, Any]]:
    """The campaign's results in the order their requests were posted (one thread posts
    them all, so this order is the same in every run with the same seed)."""
    posted = {
        r.id: i
        for i, r in enumerate(sorted(client.iter_requests(quantity=Q), key=lambda r: r.created_at))
    }
    results = sorted(
        client.iter_results(quantity=Q),
        key=lambda r: (posted.get(r.request_id or "", len(posted)), r.created_at),
    )
    return [r.model_dump(mode="json") for r in results]


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


def _report(out: Path, campaign: report.Campaign, console: Console) -> None:
    """Write the report and say where it is: the folder, its files and a URL to open."""
    lines, files = report.write(out, campaign)
    report.announce(console, out, lines, files)
