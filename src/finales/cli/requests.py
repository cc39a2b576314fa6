"""``finales request``: post and follow requests from the shell, and the approval gate.

Where each command acts:

- ``submit``, ``wait`` and ``retract`` act as a principal (the requester), so they talk to a
  broker: ``--server`` (else ``FINALES_SERVER_URL``, else ``server_url`` in the ``--config``
  TOML file) with an API key or a user and password, as ``finales tenant run``. They need
  only the SDK (``pip install finales``).
- ``list``, ``show``, ``history`` and ``results`` read from that broker when one is named, else
  from the local database (``FINALES_HOME`` / ``FINALES_DATABASE_URL``; the server extra)
  through the services the API uses, so ``--json`` prints what the API would answer.
- ``approve`` and ``reject`` decide on the local database as an admin, like the other
  administration commands; the history records the decision with the command's user
  (``cli:<login>``) and the reason.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from finales.cli.broker import Broker, ConfigOpt, KeyOpt, PasswordStdinOpt, ServerOpt, UserOpt
from finales.cli.context import emit_json, err, errors, fail, needs, out
from finales.cli.request_input import (
    broker_options,
    build_request,
    client_for,
    on_broker,
)
from finales.domain.principals import Principal, Role
from finales.domain.statuses import RequestStatus

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from finales import schemas
    from finales.client import FinalesClient

request_app = typer.Typer(
    help="Requests: submit and follow them (on a broker: --server or FINALES_SERVER_URL), "
    "read them (there, else in the local database), and the approval gate (local database).",
    no_args_is_help=True,
)
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
IdArg = Annotated[str, typer.Argument(metavar="ID", help="the request's id")]
NO_COVER_WARNING = "no tenant's offer covers this request: it will wait until one does"
WAIT_POLL_S = 2.0  # how often the live line learns the status (one long-poll, one read)


# ------------------------------------------------------------------------------ the broker


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json")


def _read(broker: Broker, remote: Callable[[FinalesClient], Any], local: Callable[..., Any]) -> Any:
    """JSON of what the broker answers (``remote``), else of what the local database holds
    (``local(conn, wire)``: the services' views shaped by the API's own wire module)."""
    if broker.url is not None:
        with errors(), client_for(broker) as client:
            return remote(client)
    with needs("server", "reading requests from the local database"):
        from finales.cli import store
        from finales.server import wire
    return store.read(lambda conn: local(conn, wire))


# ------------------------------------------------------------------------------ submit


@request_app.command("submit")
def submit(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="a request file: JSON or TOML, ours or FINALES 2's", show_default=False
        ),
    ] = None,
    quantity: Annotated[str | None, typer.Option("--quantity", help="the quantity")] = None,
    method: Annotated[
        list[str] | None,
        typer.Option("--method", help="an acceptable method (repeat for alternatives)"),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", "-p", help="NAME=VALUE, a JSON literal or else a string (repeatable)"
        ),
    ] = None,
    label: Annotated[
        list[str] | None, typer.Option("--label", help="KEY=VALUE to find it by (repeatable)")
    ] = None,
    parent: Annotated[
        str | None, typer.Option("--parent", help="the parent request (a workflow tree)")
    ] = None,
    input_: Annotated[
        list[str] | None,
        typer.Option("--input", help="id of a result the request uses (repeatable)"),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option("--idempotency-key", help="the same key again answers the same request"),
    ] = None,
    server: ServerOpt = None,
    api_key: KeyOpt = None,
    username: UserOpt = None,
    password_stdin: PasswordStdinOpt = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Post a request (broker): from a FILE, from flags, or both (flags win).

    Prints the new request's id on stdout (--json: the API's answer, with covering_offers)
    and, on stderr, how many current offers cover it - with a warning when none does, since
    such a request waits until a tenant offers to serve it.

    e.g. finales request submit -q conductivity -m two_electrode -p temperature=298.15
    """
    body = build_request(
        file,
        quantity=quantity,
        methods=method or [],
        params=param or [],
        labels=label or [],
        parent=parent,
        inputs=input_ or [],
    )
    broker = broker_options(server, api_key, username, password_stdin, config)
    with errors(), on_broker(broker, "submit") as client:
        created = client.submit_request(
            body["quantity"],
            body["methods"],
            body["parameters"],
            parent_request_id=body.get("parent_request_id"),
            labels=body.get("labels"),
            inputs=body.get("inputs"),
            idempotency_key=idempotency_key,
        )
    if as_json:
        emit_json(_dump(created))
    else:
        out.print(created.id, highlight=False, markup=False)
    covering = created.covering_offers
    if covering == 0:
        err.print(f"[yellow]warning:[/yellow] {NO_COVER_WARNING}", highlight=False)
    elif covering is not None:
        err.print(
            f"finales: request {created.id} is {created.status.value}; {covering} current "
            f"offer{'s' if covering != 1 else ''} cover{'s' if covering == 1 else ''} it",
            highlight=False,
            markup=False,
        )


# ------------------------------------------------------------------------------ reads


def _request_line(r: dict[str, Any]) -> str:
    created = str(r["created_at"])[:19]
    return f"{r['id']}  {r['status']}  {r['quantity']}/{'|'.join(r['methods'])}  {created}"


@request_app.command("list")
def list_requests(
    status: Annotated[
        RequestStatus | None, typer.Option(help="only requests with this status")
    ] = None,
    quantity: Annotated[str | None, typer.Option(help="only this quantity")] = None,
    method: Annotated[str | None, typer.Option(help="only requests accepting this method")] = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many, oldest first")] = 100,
    server: ServerOpt = None,
    api_key: KeyOpt = None,
    username: UserOpt = None,
    password_stdin: PasswordStdinOpt = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List requests, oldest first (broker, else local database).

    From the broker named (--server, FINALES_SERVER_URL or the file), else from the local
    database. --status awaiting_approval lists those to approve.
    """
    broker = broker_options(server, api_key, username, password_stdin, config)
    filters = {"status": status.value if status else None, "quantity": quantity, "method": method}

    def remote(client: FinalesClient) -> list[Any]:
        found = []
        for r in client.iter_requests(page_size=min(limit, 500), **filters):
            found.append(_dump(r))
            if len(found) == limit:
                break
        return found

    def local(conn: Connection, wire: Any) -> list[Any]:
        from finales.services import requests

        found: list[Any] = []
        cursor = None
        while len(found) < limit:
            views, cursor = requests.list_requests(
                conn,
                status=filters["status"],
                quantity=quantity,
                method=method,
                cursor=cursor,
                limit=min(limit - len(found), 500),
            )
            found += [wire.request(v) for v in views]
            if cursor is None:
                break
        return found

    items: list[dict[str, Any]] = _read(broker, remote, local)
    if as_json:
        emit_json(items)
        return
    # One plain line per request: the whole id, to copy into other commands, in any width.
    what = f" {status.value}" if status else ""
    out.print(f"{len(items)} request(s){what}", highlight=False)
    for r in items:
        out.print(_request_line(r), highlight=False, markup=False)
    if len(items) == limit:
        err.print(f"finales: the first {limit} shown; --limit shows more", highlight=False)


def _release_text(last: dict[str, Any] | None) -> str:
    if not last:
        return "never"
    return f"{str(last['at'])[:19]} by {last['actor']}: {last['message']!r}"


def _show_text(r: dict[str, Any]) -> None:
    rows = [
        ("id", r["id"]),
        ("status", r["status"]),
        ("quantity", r["quantity"]),
        ("methods", ", ".join(r["methods"])),
        ("parameters", json.dumps(r["parameters"], separators=(", ", ": "))),
        ("requester", r["requester"]),
        ("reserved by", r["reserved_by"] or "-"),
        ("lease until", r["lease_expires_at"] or "-"),
        ("parent", r["parent_request_id"] or "-"),
        ("labels", ", ".join(f"{k}={v}" for k, v in r["labels"].items()) or "-"),
        ("created", r["created_at"]),
        ("updated", r["updated_at"]),
        ("last release", _release_text(r.get("last_release"))),
    ]
    for name, value in rows:
        out.print(f"{name + ':':<14}{value}", highlight=False, markup=False)


@request_app.command("show")
def show(
    request_id: IdArg,
    server: ServerOpt = None,
    api_key: KeyOpt = None,
    username: UserOpt = None,
    password_stdin: PasswordStdinOpt = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one request and its last release (broker, else local database).

    Its status, who holds it, and the last time it was given back (a tenant's release and
    its reason, or an expired lease): why a pending request still waits.
    """
    broker = broker_options(server, api_key, username, password_stdin, config)

    def local(conn: Connection, wire: Any) -> Any:
        from finales.services import requests

        return wire.request_detail(requests.get_request_detail(conn, request_id))

    found = _read(broker, lambda c: _dump(c.get_request(request_id)), local)
    if as_json:
        emit_json(found)
    else:
        _show_text(found)


@request_app.command("history")
def history(
    request_id: IdArg,
    server: ServerOpt = None,
    api_key: KeyOpt = None,
    username: UserOpt = None,
    password_stdin: PasswordStdinOpt = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A request's status changes: when, who, from, to, why (broker, else local database)."""
    broker = broker_options(server, api_key, username, password_stdin, config)

    def local(conn: Connection, wire: Any) -> Any:
        from finales.services import requests

        return wire.events(requests.history(conn, request_id))

    events = _read(broker, lambda c: [_dump(e) for e in c.request_history(request_id)], local)
    if as_json:
        emit_json(events)
        return
    for e in events:
        change = f"{e['from_status'] or '-'} -> {e['to_status']}"
        line = f"{str(e['at'])[:19]}  {e['actor']}  {change}"
        out.print(
            f"{line}  {e['message']}" if e["message"] else line, highlight=False, markup=False
        )


def _print_results(results: list[dict[str, Any]]) -> None:
    for r in results:
        data = json.dumps(r["data"], separators=(", ", ": "))
        line = f"{r['id']}  {r['method']}  {r['status']}  tenant {r['tenant_id']}  {data}"
        out.print(line, highlight=False, markup=False)


@request_app.command("results")
def results(
    request_id: IdArg,
    include_deleted: Annotated[
        bool, typer.Option("--include-deleted", help="deleted results too")
    ] = False,
    server: ServerOpt = None,
    api_key: KeyOpt = None,
    username: UserOpt = None,
    password_stdin: PasswordStdinOpt = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A request's results, oldest first (broker, else local database).

    None yet: nothing is printed ('finales request wait' waits for them).
    """
    broker = broker_options(server, api_key, username, password_stdin, config)

    def remote(client: FinalesClient) -> Any:
        return [
            _dump(r) for r in client.request_results(request_id, include_deleted=include_deleted)
        ]

    def local(conn: Connection, wire: Any) -> Any:
        from finales.services import results as result_svc

        found = result_svc.results_of_request(conn, request_id, include_deleted=include_deleted)
        return [wire.result(r) for r in found]

    found = _read(broker, remote, local)
    if as_json:
        emit_json(found)
    else:
        _print_results(found)


# ------------------------------------------------------------------------------ wait, retract


@dataclass
class _StatusLine:
    """The live line ``wait`` shows: rendered on every refresh, so the elapsed time ticks
    while the long-poll waits."""

    request_id: str
    started: float
    request: schemas.RequestDetail | None = None

    def text(self) -> str:
        elapsed = int(time.monotonic() - self.started)
        parts = [f"request {self.request_id}"]
        if self.request is not None:
            r = self.request
            parts.append(r.status.value)
            parts.append(f"reserved by {r.reserved_by}" if r.reserved_by else "not reserved")
        parts.append(f"{elapsed // 60:d}:{elapsed % 60:02d} waited")
        if self.request is not None and self.request.last_release is not None:
            last = self.request.last_release
            parts.append(f"last released by {last.actor}: {last.message!r}")
        return " · ".join(parts)

    def __rich__(self) -> Text:
        return Text(self.text())


def _wait(client: FinalesClient, request_id: str, timeout_s: float) -> list[schemas.Result]:
    from rich.live import Live

    line = _StatusLine(request_id, time.monotonic())
    line.request = client.get_request(request_id)  # an unknown id fails here, at once
    if not err.is_terminal:
        # No terminal to redraw on (a log, a pipe): one line per change of where it stands.
        seen: list[tuple[Any, ...]] = []

        def log(r: schemas.RequestDetail) -> None:
            line.request = r
            state = (r.status, r.reserved_by, r.last_release and r.last_release.seq)
            if not seen or seen[-1] != state:
                seen.append(state)
                err.print(f"finales: {line.text()}", highlight=False, markup=False)

        log(line.request)
        return client.wait_for_results(
            request_id, timeout_s=timeout_s, poll_s=WAIT_POLL_S, on_status=log
        )

    def update(r: schemas.RequestDetail) -> None:
        line.request = r

    with Live(line, console=err, refresh_per_second=4, transient=True):
        return client.wait_for_results(
            request_id, timeout_s=timeout_s, poll_s=WAIT_POLL_S, on_status=update
        )


@request_app.command("wait")
def wait(
    request_id: IdArg,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=0, help="give up after this many seconds (default: never)"),
    ] = None,
    server: ServerOpt = None,
    api_key: KeyOpt = None,
    username: UserOpt = None,
    password_stdin: PasswordStdinOpt = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Wait until a request has a result, with a live status line (broker).

    The line, on stderr, shows the status, the reserving tenant, the time waited and the
    last release. Prints the results and exits 0; exits 1 with one line when the request
    is retracted or rejected, or at --timeout.
    """
    from finales.client import RequestRetracted, WaitTimeout

    broker = broker_options(server, api_key, username, password_stdin, config)
    with errors(), on_broker(broker, "wait") as client:
        try:
            found = _wait(client, request_id, float("inf") if timeout is None else timeout)
        except (RequestRetracted, WaitTimeout) as exc:
            fail(exc.detail)
    if not found:
        fail(f"request {request_id} is resolved, but its results were deleted")
    items = [_dump(r) for r in found]
    if as_json:
        emit_json(items)
    else:
        _print_results(items)


@request_app.command("retract")
def retract(
    request_id: IdArg,
    message: Annotated[str, typer.Option("--message", "-m", help="why (kept)")] = "",
    server: ServerOpt = None,
    api_key: KeyOpt = None,
    username: UserOpt = None,
    password_stdin: PasswordStdinOpt = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Withdraw a pending or reserved request (broker; its requester or an admin).

    The requests below it in its workflow tree are withdrawn too.
    """
    broker = broker_options(server, api_key, username, password_stdin, config)
    with errors(), on_broker(broker, "retract") as client:
        done = client.retract(request_id, message=message)
    if as_json:
        emit_json(_dump(done))
    else:
        out.print(f"request {done.id} {done.status.value}", highlight=False, markup=False)


# ------------------------------------------------------------------------------ approval


def _cli_principal() -> Principal:
    import getpass

    return Principal(id="cli", name=f"cli:{getpass.getuser()}", role=Role.ADMIN)


def _decide(request_id: str, message: str, *, approve: bool, as_json: bool) -> None:
    with needs("server", "'finales request'"):
        from finales.cli import store
        from finales.server import wire
        from finales.services import requests

    principal = _cli_principal()
    view = store.write(
        lambda uow: requests.decide(
            uow, principal=principal, request_id=request_id, approve=approve, message=message
        )
    )
    if as_json:
        emit_json(wire.request(view))
    else:
        out.print(f"request {view.id} {view.status.value}", highlight=False)


@request_app.command("approve")
def approve(
    request_id: IdArg,
    message: Annotated[str, typer.Option("--message", "-m", help="why (kept)")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Approve a request awaiting approval (local database, as an admin).

    It becomes pending and can be claimed.
    """
    _decide(request_id, message, approve=True, as_json=as_json)


@request_app.command("reject")
def reject(
    request_id: IdArg,
    message: Annotated[str, typer.Option("--message", "-m", help="why (required, kept)")],
    as_json: JsonOpt = False,
) -> None:
    """Reject a request awaiting approval, saying why (local database, as an admin).

    It is closed.
    """
    _decide(request_id, message, approve=False, as_json=as_json)
