"""``finales chat``: a person serves a capability from a terminal (``finales.people``).

The connection comes as for ``finales tenant run``: flags, else the environment
(``FINALES_SERVER_URL``, ``FINALES_API_KEY``, ``FINALES_USERNAME`` / ``FINALES_PASSWORD``),
else a TOML file; a username without a password asks for it at the terminal.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer

from finales.cli.broker import ConfigOpt, KeyOpt, ServerOpt, resolve
from finales.cli.context import fail, needs
from finales.errors import FinalesError


def _person(given: str | None, tenant: str) -> str:
    if given:
        return given
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (a container without a passwd entry)
        return tenant


def chat(
    file: Annotated[
        Path,
        typer.Option(
            "--file", "-f", help="the person's tenant file (YAML): offers and task templates"
        ),
    ],
    tenant: Annotated[
        str | None,
        typer.Option("--tenant", "-t", help="the tenant's name (default: the file's tenant)"),
    ] = None,
    server: ServerOpt = None,
    api_key: KeyOpt = None,
    username: Annotated[
        str | None,
        typer.Option("--username", help="login name; password in FINALES_PASSWORD or asked"),
    ] = None,
    config: ConfigOpt = None,
    person: Annotated[
        str | None,
        typer.Option("--person", help="who answers, for the templates (default: login name)"),
    ] = None,
    publish: Annotated[
        bool,
        typer.Option(
            "--publish/--no-publish",
            help="set the tenant's offers to the file's (PUT /tenants/{id}/offers) or keep "
            "the broker's",
        ),
    ] = True,
    lease: Annotated[
        float, typer.Option(min=1, help="lease in seconds, renewed while the person works")
    ] = 60.0,
    poll: Annotated[float, typer.Option(min=0, help="long-poll wait for work, seconds")] = 20.0,
    log_level: Annotated[
        str, typer.Option(help="runtime log lines on stderr: debug, info, warning, error")
    ] = "warning",
) -> None:
    """Serve tasks from a terminal: each task in plain words, one at a time.

    Answers: done NOTE, failed REASON, release REASON, show, help, quit (NOTE and the
    release's REASON may be left out). done and failed build the result from the file's
    templates and check it against the capability's result schema before posting.
    quit, Ctrl-C and the end of input release a task you hold.
    The file's offers become the tenant's offers unless --no-publish.
    """
    with needs("workflows", "finales chat"):
        from finales.people import Chat, ChatClient, load_task_file
    from rich.console import Console

    from finales.tenant import configure_logging
    from finales.tenant.lease import Cadence

    try:
        task_file = load_task_file(file)
        name = tenant or task_file.tenant
        if not name:
            fail(f"{file} names no tenant: add 'tenant: NAME' or pass --tenant NAME")
        broker = resolve(server, api_key, username, config=config)
        url, key, user, password = broker.url, broker.api_key, broker.username, broker.password
        if not url:
            fail("no broker URL: pass --server URL or set FINALES_SERVER_URL")
        if not key and not user:
            fail("no credentials: pass --api-key (or FINALES_API_KEY) or --username")
        if user and not key and not password:
            password = getpass.getpass(f"password of {user}: ")
        configure_logging("kv", log_level, force=True)
        client = ChatClient(
            url,
            api_key=key or None,
            username=None if key else user,
            password=None if key else password,
            retry=Cadence(lease).client_retry(),
        )
        session = Chat(
            task_file,
            tenant=name,
            person=_person(person, name),
            client=client,
            console=Console(highlight=False),
            stdin=sys.stdin,
            lease_s=lease,
            poll_s=poll,
            publish_offers=publish,
        )
        try:
            code = session.run()
        finally:
            client.close()
    except FinalesError as exc:
        fail(exc.detail)
    if code:
        raise typer.Exit(code)
