"""``finales request``: the approval gate from the shell - list the requests awaiting
approval, approve or reject one. Acts on the broker's database like the other administration
commands (needs the server extra), as an admin; the history records the decision with the
command's user (``cli:<login>``) and the reason."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from finales.cli.context import emit_json, needs, out
from finales.domain.principals import Principal, Role
from finales.domain.statuses import RequestStatus

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from finales.domain.views import RequestView

request_app = typer.Typer(help="Requests: the approval gate.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _cli_principal() -> Principal:
    import getpass

    return Principal(id="cli", name=f"cli:{getpass.getuser()}", role=Role.ADMIN)


def _json(view: RequestView) -> dict[str, object]:
    return {
        "id": view.id,
        "quantity": view.quantity,
        "methods": list(view.methods),
        "status": view.status.value,
        "created_at": view.created_at.isoformat(),
    }


def _decide(request_id: str, message: str, *, approve: bool, as_json: bool) -> None:
    with needs("server", "'finales request'"):
        from finales.cli import store
        from finales.services import requests

    principal = _cli_principal()
    view = store.write(
        lambda uow: requests.decide(
            uow, principal=principal, request_id=request_id, approve=approve, message=message
        )
    )
    if as_json:
        emit_json(_json(view))
    else:
        out.print(f"request {view.id} {view.status.value}", highlight=False)


@request_app.command("approve")
def approve(
    request_id: Annotated[str, typer.Argument(help="the request's id")],
    message: Annotated[str, typer.Option("--message", "-m", help="why (kept)")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Approve a request awaiting approval: it becomes pending and can be claimed."""
    _decide(request_id, message, approve=True, as_json=as_json)


@request_app.command("reject")
def reject(
    request_id: Annotated[str, typer.Argument(help="the request's id")],
    message: Annotated[str, typer.Option("--message", "-m", help="why (required, kept)")],
    as_json: JsonOpt = False,
) -> None:
    """Reject a request awaiting approval, saying why: it is closed."""
    _decide(request_id, message, approve=False, as_json=as_json)


@request_app.command("list")
def list_waiting(
    status: Annotated[
        RequestStatus, typer.Option(help="which requests")
    ] = RequestStatus.AWAITING_APPROVAL,
    as_json: JsonOpt = False,
) -> None:
    """List requests by status (default: those awaiting approval), oldest first."""
    with needs("server", "'finales request list'"):
        from finales.cli import store
        from finales.services import requests

    def read(conn: Connection) -> list[RequestView]:
        views: list[RequestView] = []
        cursor = None
        while True:
            page, cursor = requests.list_requests(
                conn, status=status.value, cursor=cursor, limit=500
            )
            views += page
            if cursor is None:
                return views

    views = store.read(read)
    if as_json:
        emit_json([_json(v) for v in views])
        return
    # One plain line per request: the whole id, to copy into 'approve', in any terminal width.
    out.print(f"{len(views)} request(s) {status.value}", highlight=False)
    for v in views:
        created = v.created_at.isoformat(timespec="seconds")
        out.print(f"{v.id}  {v.quantity}/{'|'.join(v.methods)}  {created}", highlight=False)
