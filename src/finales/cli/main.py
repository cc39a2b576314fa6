"""``finales``: serve the broker, administer it, and run tenants from the shell.

``finales --help`` and ``finales tenant run`` need only the tenant SDK (``pip install
finales``); the commands that act on the broker's database need the server extra and say so
when it is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from finales import __version__
from finales.cli import admin, requests, search
from finales.cli.archive import archive_app
from finales.cli.chat import chat
from finales.cli.context import Options
from finales.cli.export import export_app
from finales.cli.provenance import provenance
from finales.cli.tenant_run import tenant_run
from finales.cli.workflow import workflow_app

app = typer.Typer(
    help="finales: a broker for self-driving laboratories.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(admin.serve)
app.add_typer(admin.db_app, name="db")
app.add_typer(admin.user_app, name="user")
app.add_typer(admin.apikey_app, name="apikey")
app.add_typer(admin.cap_app, name="capability")
app.add_typer(admin.tenant_app, name="tenant")
app.add_typer(requests.request_app, name="request")
admin.tenant_app.command("run")(tenant_run)
app.add_typer(workflow_app, name="workflow")
app.add_typer(archive_app, name="archive")
app.add_typer(export_app, name="export")
app.add_typer(admin.demo_app, name="demo")
app.command()(provenance)
app.command()(chat)
app.command()(search.search)
app.command()(search.sparql)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="TOML file with settings (FINALES_* win)")
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"finales {__version__}")
        raise typer.Exit()


VersionOpt = Annotated[
    bool,
    typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit"),
]


@app.callback()
def _root(config: ConfigOpt = None, _version: VersionOpt = False) -> None:
    """Settings come from FINALES_* variables (FINALES_HOME, FINALES_DATABASE_URL, ...)."""
    Options.config = config


def main() -> None:
    app()
