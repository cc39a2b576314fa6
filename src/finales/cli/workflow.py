"""``finales workflow validate|run|show``: the workflow orchestrator from the shell.

Needs the workflows extra (jinja2, pyyaml), imported when a command runs. The broker URL and
credentials come as for ``finales tenant run``: flags, else ``FINALES_SERVER_URL`` /
``FINALES_API_KEY`` / ``FINALES_USERNAME`` + ``FINALES_PASSWORD``, else the TOML file.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from finales.cli.broker import Broker, ConfigOpt, KeyOpt, ServerOpt, resolve
from finales.cli.context import emit_json, err, errors, fail, needs, out
from finales.errors import FinalesError

if TYPE_CHECKING:
    from finales.client import FinalesClient
    from finales.workflows import CompiledWorkflow

workflow_app = typer.Typer(
    help="Workflows: validate a workflow file, run its orchestrator, show a request's tree.",
    no_args_is_help=True,
)

FilesArg = Annotated[list[Path], typer.Argument(metavar="FILE...", help="workflow YAML files")]


def _settings(server: str | None, api_key: str | None, config: Path | None) -> Broker:
    with errors():
        return resolve(server, api_key, config=config)
    raise AssertionError("unreachable: errors() exits")  # pragma: no cover


def _client(broker: Broker) -> FinalesClient:
    from finales.client import FinalesClient

    if not broker.url:
        fail("no broker URL: --server, FINALES_SERVER_URL or server_url in the file")
    if not broker.api_key and not broker.username:
        fail("no credentials: --api-key, FINALES_API_KEY or FINALES_USERNAME/FINALES_PASSWORD")
    return FinalesClient(
        broker.url,
        api_key=broker.api_key,
        username=None if broker.api_key else broker.username,
        password=None if broker.api_key else broker.password,
    )


def _compile(path: Path) -> tuple[CompiledWorkflow | None, list[str]]:
    from finales.workflows import WorkflowInvalid, compile_workflow, load

    try:
        return compile_workflow(load(path)), []
    except WorkflowInvalid as exc:
        return None, [f"{path}: {p}" for p in exc.problems]


def validate(
    files: FilesArg,
    server: ServerOpt = None,
    api_key: KeyOpt = None,
    config: ConfigOpt = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="check against the built-in library only")
    ] = False,
) -> None:
    """Check workflow files before they run: one line per error, naming step and field.

    Checks the structure, the needs graph (unknown steps, cycles), the expressions (syntax,
    names, steps read without being needed), and the capabilities: against the broker's
    catalogue with --server (or FINALES_SERVER_URL), else the built-in library, where
    constant parameters are checked against each request schema. Exit 1 on any error.
    """
    with needs("workflows", "finales workflow validate"):
        from finales.workflows import Catalogue, builtin_catalogue, check_capabilities

    values = Broker(None) if offline else _settings(server, api_key, config)
    catalogue = builtin_catalogue()
    if values.url:
        client = _client(values)
        try:
            caps = client.list_capabilities()
        except FinalesError as exc:
            fail(f"cannot read the broker's catalogue: {exc.detail}")
        finally:
            client.close()
        entries = {
            (c.quantity, c.method): (c.request_schema, c.result_schema, c.active) for c in caps
        }
        catalogue = Catalogue(
            entries, authoritative=True, source=f"not in the catalogue of {values.url}"
        )
    problems: list[str] = []
    for path in files:
        compiled, found = _compile(path)
        problems += found
        if compiled is not None:
            problems += [f"{path}: {p}" for p in check_capabilities(compiled, catalogue)]
            if not found:
                steps = len(compiled.workflow.steps)
                serves = compiled.workflow.serves
                note = f"{path}: {compiled.name} serves {serves.quantity}/{serves.method}"
                out.print(f"{note}, {steps} steps ({catalogue.source.removeprefix('not in ')})")
    for pair in sorted(set(catalogue.unknown)):
        err.print(f"note: {pair} is not in the built-in library: not checked (use --server)")
    if problems:
        for line in problems:
            err.print(line, highlight=False, markup=False)
        raise typer.Exit(1)


def run(
    files: FilesArg,
    server: ServerOpt = None,
    api_key: KeyOpt = None,
    config: ConfigOpt = None,
    concurrency: Annotated[int, typer.Option(min=1, help="workflows at once")] = 64,
    lease: Annotated[float, typer.Option(min=0.5, help="parent lease in seconds")] = 30.0,
    poll: Annotated[
        float, typer.Option(min=0.1, help="longest wait before re-reading a tree (s)")
    ] = 10.0,
    log_format: Annotated[str, typer.Option(help="kv (key=value) or json")] = "kv",
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error")] = "info",
) -> None:
    """Run the orchestrator of workflow files until SIGINT/SIGTERM.

    Publishes an offer for each file's served capability (use a tenant of its own), claims
    parent requests, posts their sub-requests, waits on their results and answers the
    parents. All state is in the broker: a restarted orchestrator, or a second one with the
    same credentials, continues every workflow where it was. A signal releases the parents
    it holds (their sub-requests go on); the next claim continues them.
    """
    with needs("workflows", "finales workflow run"):
        from finales.tenant import TenantSetupError, configure_logging
        from finales.workflows import Orchestrator

    if log_format not in ("kv", "json"):
        fail(f"unknown log format {log_format!r}: choose kv or json")
    compiled = []
    problems: list[str] = []
    for path in files:
        one, found = _compile(path)
        problems += found
        if one is not None:
            compiled.append(one)
    if problems:
        for line in problems:
            err.print(line, highlight=False, markup=False)
        raise typer.Exit(1)
    values = _settings(server, api_key, config)
    client = _client(values)
    configure_logging("json" if log_format == "json" else "kv", log_level, force=True)
    try:
        orchestrator = Orchestrator(
            compiled, client=client, concurrency=concurrency, lease_s=lease, poll_s=poll
        )
        orchestrator.run(configure_logging=False)
    except (TenantSetupError, FinalesError, ValueError) as exc:
        fail(exc.detail if isinstance(exc, FinalesError) else str(exc))
    finally:
        client.close()


def show(
    request_id: Annotated[str, typer.Argument(metavar="ID", help="the (parent) request id")],
    server: ServerOpt = None,
    api_key: KeyOpt = None,
    config: ConfigOpt = None,
    watch: Annotated[bool, typer.Option("--watch", help="refresh until interrupted")] = False,
    every: Annotated[float, typer.Option(min=0.2, help="seconds between refreshes")] = 2.0,
    as_json: Annotated[bool, typer.Option("--json", help="the tree's nodes as JSON")] = False,
) -> None:
    """Print the live tree of a request: status, step, tenant and elapsed time per node."""
    from rich.live import Live

    from finales.workflows.show import render_tree

    client = _client(_settings(server, api_key, config))
    try:
        with errors():
            nodes = client.request_tree(request_id)
            if as_json:
                emit_json([n.model_dump(mode="json") for n in nodes])
                return
            tenants = {t.id: t.name for t in client.list_tenants()}
            tree = render_tree(nodes, tenants, datetime.now(UTC))
            if not watch:
                out.print(tree)
                return
            with Live(tree, console=out, refresh_per_second=4) as live:
                while True:
                    time.sleep(every)
                    nodes = client.request_tree(request_id)
                    missing = {n.reserved_by for n in nodes if n.reserved_by} - tenants.keys()
                    if missing:
                        tenants = {t.id: t.name for t in client.list_tenants()}
                    live.update(render_tree(nodes, tenants, datetime.now(UTC)))
    except KeyboardInterrupt:
        sys.stderr.write("\n")
    finally:
        client.close()


workflow_app.command("validate")(validate)
workflow_app.command("run")(run)
workflow_app.command("show")(show)
