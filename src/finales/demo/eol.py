"""The end-of-life campaign of the second demonstrator on a laptop (``finales demo eol``).

A local broker on SQLite in a temporary home; the simulated cell lab (ASAB mixing the
electrolyte, the courier, AutoBASS building coin cells, the 64-channel cycler, the degradation
model) and the orchestrator running ``eol.yaml``, all in threads of this process on one scaled
lab clock; the Bayesian optimiser asking ``degradationEOL / degradation_workflow`` for batches of
electrolytes. Every tenant talks only to the broker. Afterwards the broker's records (requests,
their histories and results) are read back and written as a report
(:mod:`finales.demo.eol_report`) next to the conductivity campaign's.

Time. The lab runs at ``LAB_HOUR_REAL_S`` real seconds per lab hour: a 21-day cycling run
takes about ten seconds. The workflow's timeouts are lab durations too (``timeout: 25d`` for
cycling), but the orchestrator measures them on the wall clock, so the demo rescales the file
before it runs it (:func:`at_time_scale`): each timeout becomes its lab duration at the lab's
scale plus ``TIMEOUT_ALLOWANCE_S`` real seconds, for what does not scale (the model's fits,
HTTP round trips, a busy machine); backoffs are scaled alone. Without the allowance the
degradation model's ten-minute timeout would be 3 ms; without the scaling the cycling timeout
would be 25 real days.

Determinism. The same ``--seed`` gives the same campaign: the lab's random draws are keyed by
a request's place in the campaign, not by the broker's random ids (:meth:`finales.lab.base.
SimulatedTenant.request_key`); the optimiser posts whole batches and waits for a batch's
results before it chooses the next (``batch_size`` = the outstanding limit), so what it knows
at each choice does not depend on which result came first; the degradation model fits each
prediction on the data posted before the campaign asked for it. The report lists results in
the order the optimiser asked for them.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress

from finales.capabilities import CAPABILITIES, to_finales
from finales.client import FinalesClient
from finales.demo import eol_report
from finales.demo.campaign import DEFAULT_REPORTS, default_out
from finales.demo.serving import keep_serving, running
from finales.domain.principals import Role
from finales.errors import ConfigurationError, FinalesError
from finales.lab import ASAB, AutoBASS, Courier, Cycler, LabClock
from finales.lab.clock import LAB_HOUR_S
from finales.lab.degradation import DegradationModel, held_out_error
from finales.optimizer import Optimizer, OptimizerConfig, Pair, botorch_batch
from finales.optimizer.config import Acquisition
from finales.testing import LocalBroker
from finales.workflows import Orchestrator, Workflow, compile_workflow, parse, read_yaml
from finales.workflows.model import Backoff

CAMPAIGN = "eol"
QUANTITY, METHOD = "degradationEOL", "degradation_workflow"
ADMIN = "campaign-admin"
LAB_HOUR_REAL_S = 0.02  # a lab hour in 20 ms: 200 cycles (~21 lab days) in about 10 s
TIME_SCALE = LAB_HOUR_REAL_S / LAB_HOUR_S  # real seconds per lab second
TIMEOUT_ALLOWANCE_S = 20.0
BATCH_SIZE = 3  # three electrolytes of 8 cells fill the cycler's 24 usable channels
DEFAULT_BUDGET = 12
# Faults of the simulated lab beside those on by default (assembly failures, channel faults):
TRANSPORT_LOSS_RATE = 0.03  # a courier loses one trip in about 33
INVALID_PREDICTION_RATE = 0.01  # one prediction in 100 comes out corrupted
POLL_S = 0.2
TENANT_POLL_S = 0.5
LAB_TENANTS = ("ASAB", "transport", "AutoBASS", "cycler", "degradation_model")
ORCHESTRATOR, OPTIMISER = "orchestrator", "optimizer"
WORKFLOW_FILE = "eol.yaml"
LOG_FILE = "lab.log"


def workflow_text() -> str:
    """``eol.yaml``: shipped inside the package (wheel), or the repository's
    ``examples/workflows/eol.yaml`` in a source checkout."""
    shipped = resources.files("finales.workflows").joinpath(WORKFLOW_FILE)
    if shipped.is_file():
        return shipped.read_text()
    source = Path(__file__).resolve().parents[3] / "examples" / "workflows" / WORKFLOW_FILE
    return source.read_text()


def at_time_scale(workflow: Workflow, *, time_scale: float, allowance_s: float) -> Workflow:
    """The workflow with its lab durations as real ones: every timeout ``t`` becomes ``t ·
    time_scale + allowance_s``, every backoff ``b`` becomes ``b · time_scale``."""

    def timeout(t: float | None) -> float | None:
        return None if t is None else t * time_scale + allowance_s

    def backoff(b: Backoff | None) -> Backoff | None:
        if b is None:
            return None
        return b.model_copy(update={"initial": b.initial * time_scale, "max": b.max * time_scale})

    steps = {
        name: s.model_copy(update={"timeout": timeout(s.timeout), "backoff": backoff(s.backoff)})
        for name, s in workflow.steps.items()
    }
    d = workflow.defaults
    defaults = d.model_copy(update={"timeout": timeout(d.timeout), "backoff": backoff(d.backoff)})
    return workflow.model_copy(update={"steps": steps, "defaults": defaults})


@dataclass(frozen=True)
class Keys:
    """The campaign admin's API key and each tenant's (by tenant name)."""

    admin: str
    tenants: dict[str, str] = field(default_factory=dict)


def run_eol_campaign(
    *,
    budget: int = DEFAULT_BUDGET,
    seed: int = 0,
    out: Path | None = None,
    console: Console | None = None,
    keep_server: bool = False,
    acquisition: str = "auto",
) -> Path:
    """Run the campaign, write the report and return its folder; with ``keep_server``, keep
    the broker up after the report until Ctrl-C or SIGTERM (main thread only).

    ``acquisition``: ``botorch``, ``kriging-believer``, or ``auto``: BoTorch where the extra
    ``finales[botorch]`` is installed (it needed fewer cells: docs/optimizer.md), else the
    believer; the report says which."""
    chosen = resolve_acquisition(acquisition)  # a missing extra: said before anything
    console = console or Console()
    out = out or default_out(DEFAULT_REPORTS, campaign=CAMPAIGN)
    out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="finales-demo-home-") as home,
        LocalBroker(Path(home)) as broker,
    ):
        with _logging_to(out / LOG_FILE):
            campaign = run_on(
                broker,
                budget=budget,
                seed=seed,
                console=console,
                acquisition=chosen,
            )
        lines, files = eol_report.write(out, campaign)
        eol_report.announce(console, out, lines, [*files, LOG_FILE])
        if keep_server:
            keep_serving(broker, console, admin=ADMIN, api_key=campaign.admin_key)
    return out


@contextmanager
def _logging_to(path: Path) -> Iterator[None]:
    """The tenants' logs (a lost cell, a retried step, ...) into a file of the report rather
    than between the progress lines."""
    logger = logging.getLogger("finales")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        handler.close()


def resolve_acquisition(acquisition: str) -> Acquisition:
    """``auto`` -> ``botorch`` where its extra is installed, else ``kriging-believer``;
    ``botorch`` without the extra is a ConfigurationError that says what to install."""
    if acquisition == "kriging-believer":
        return "kriging-believer"
    missing = botorch_batch.missing()
    if acquisition == "botorch" and missing:
        raise ConfigurationError(f"--acquisition botorch {missing}")
    return "kriging-believer" if missing else "botorch"


def run_on(
    broker: LocalBroker,
    *,
    budget: int,
    seed: int,
    console: Console,
    acquisition: Acquisition = "kriging-believer",
) -> eol_report.EOLCampaign:
    """Set the lab up on ``broker``, run the optimiser to the end of its budget, read the
    campaign back from the broker."""
    keys = _register(broker)
    console.print(f"broker at {broker.url}", highlight=False)
    config = _config(budget, seed, acquisition)  # before the lab starts: a missing extra
    console.print(f"batches chosen by {eol_report.ACQUISITIONS[acquisition]}", highlight=False)
    tenants = _tenants(broker, keys, seed=seed)
    model = next(t for t in tenants if isinstance(t, DegradationModel)).model  # trained now
    held_out = held_out_error(model)
    started_at = datetime.now(UTC)  # lab time counts from here
    started = time.monotonic()
    with running(tenants), FinalesClient(broker.url, api_key=keys.tenants[OPTIMISER]) as client:
        optimiser = Optimizer(config, client)
        _wait_for_offers(optimiser)
        reason = _optimise(optimiser, budget=budget, console=console, since=started_at)
    elapsed = time.monotonic() - started
    with FinalesClient(broker.url, api_key=keys.admin) as admin:
        return eol_report.collect(
            admin,
            seed=seed,
            budget=budget,
            reason=reason,
            elapsed_s=elapsed,
            started_at=started_at,
            time_scale=TIME_SCALE,
            batch_size=BATCH_SIZE,
            held_out=held_out,
            acquisition=acquisition,
            admin_key=keys.admin,
        )


def _config(budget: int, seed: int, acquisition: Acquisition) -> OptimizerConfig:
    return OptimizerConfig(
        acquisition=acquisition,
        quantity=QUANTITY,
        request_methods=[METHOD],
        request_shape="battery_chemistry",
        value_field="end_of_life",
        transform="log",
        limits_from=[Pair(quantity="electrolyte", method="flow")],
        batch_size=BATCH_SIZE,
        max_outstanding=BATCH_SIZE,  # a batch's results are all in before the next is chosen
        budget=budget,
        seed=seed,
        poll_s=POLL_S,
    )


def _register(broker: LocalBroker) -> Keys:
    for cap in CAPABILITIES:
        c = to_finales(cap)
        broker.add_capability(c["quantity"], c["method"], c["request_schema"], c["result_schema"])
    keys = Keys(admin=broker.add_user(ADMIN, role=Role.ADMIN))
    for name in (*LAB_TENANTS, ORCHESTRATOR, OPTIMISER):
        tenant_id = broker.add_tenant(name)
        keys.tenants[name] = broker.add_user(f"{name}-bot", role=Role.TENANT, tenant_id=tenant_id)
    return keys


def _tenants(broker: LocalBroker, keys: Keys, *, seed: int) -> list[Any]:
    """The simulated lab on one clock, and the orchestrator running the rescaled eol.yaml."""
    clock = LabClock(scale=TIME_SCALE)

    def opts(name: str) -> dict[str, Any]:
        return {
            "seed": seed,
            "clock": clock,
            "server": broker.url,
            "api_key": keys.tenants[name],
            "poll_s": TENANT_POLL_S,
        }

    workflow = at_time_scale(
        parse(read_yaml(workflow_text())),
        time_scale=TIME_SCALE,
        allowance_s=TIMEOUT_ALLOWANCE_S,
    )
    orchestrator = Orchestrator(
        [compile_workflow(workflow)],
        server=broker.url,
        api_key=keys.tenants[ORCHESTRATOR],
        concurrency=BATCH_SIZE + 1,
        lease_s=10.0,
        poll_s=0.5,
    )
    return [
        ASAB(**opts("ASAB")),
        Courier(loss_rate=TRANSPORT_LOSS_RATE, **opts("transport")),
        AutoBASS(**opts("AutoBASS")),
        Cycler(**opts("cycler")),
        DegradationModel(invalid_rate=INVALID_PREDICTION_RATE, **opts("degradation_model")),
        orchestrator,
    ]


def _wait_for_offers(optimiser: Optimizer, timeout_s: float = 30.0) -> None:
    """Until ASAB has published what it can mix (the optimiser's bounds)."""
    deadline = time.monotonic() + timeout_s
    while not optimiser.limitations():
        if time.monotonic() > deadline:
            raise FinalesError(f"the simulated lab published no offers within {timeout_s:.0f} s")
        time.sleep(0.1)


def _optimise(optimiser: Optimizer, *, budget: int, console: Console, since: datetime) -> str:
    """Step the optimiser until its budget is spent, with a live progress line: compositions
    finished, the best end of life so far (geometric mean over a composition's cells) and
    the lab day."""
    with Progress(console=console, transient=False) as progress:
        task = progress.add_task("compositions", total=budget)
        while True:
            outcome = optimiser.step()
            state = optimiser.last_state
            done = state.posted - len(state.outstanding)
            lab_day = (datetime.now(UTC) - since).total_seconds() / TIME_SCALE / 86400
            best = f"{outcome.best:.0f} cycles" if outcome.best is not None else "-"
            progress.update(
                task,
                completed=done,
                description=f"compositions (best EOL {best}, lab day {lab_day:.0f})",
            )
            if outcome.done:
                progress.update(task, total=max(done, 1), completed=max(done, 1))
                return outcome.reason
            time.sleep(POLL_S)
