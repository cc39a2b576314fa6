"""``finales search`` and ``finales sparql``: the broker's semantic search from the shell.

Both talk to a broker (``--server`` or ``FINALES_SERVER_URL``, an API key or a user), as
any role may: the graph lives in the server processes (``docs/search.md``). They need only
the SDK (``pip install finales``).
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from finales.cli.broker import Broker, ConfigOpt, KeyOpt, PasswordStdinOpt, ServerOpt, UserOpt
from finales.cli.context import emit_json, errors, fail, out
from finales.cli.request_input import broker_options, client_for

if TYPE_CHECKING:
    from finales.client import FinalesClient

JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _client(broker: Broker, command: str) -> FinalesClient:
    if broker.url is None:
        fail(
            f"'finales {command}' asks a broker: --server URL or FINALES_SERVER_URL "
            "(with --api-key or FINALES_API_KEY)"
        )
    return client_for(broker)


def _when(text: str | None, flag: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{flag}: not an ISO 8601 date-time: {text!r}")
    if moment.tzinfo is None:
        fail(f"{flag}: give a UTC offset, e.g. {text}Z or {text}+02:00")
    return moment


def search(
    concept: Annotated[
        str | None,
        typer.Argument(
            metavar="[CONCEPT]",
            help="an ontology class as you would say it ('ionic conductivity'), an IRI or a "
            "prefixed name; its sub-classes count too",
        ),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            "--where",
            "-w",
            help="a value range, repeatable: 'CONCEPT[ of CHEMICAL]:LOW..HIGH[ UNIT]', e.g. "
            "'amount fraction of LiPF6:0.05..0.15 mol/mol' or 'temperature:..30 degC'",
        ),
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="posting tenant (name or id)")] = None,
    method: Annotated[str | None, typer.Option(help="the method that made the result")] = None,
    quantity: Annotated[str | None, typer.Option(help="the result's quantity")] = None,
    since: Annotated[
        str | None, typer.Option(help="posted at or after (ISO 8601 with offset)")
    ] = None,
    until: Annotated[str | None, typer.Option(help="posted before (ISO 8601 with offset)")] = None,
    include_amended: Annotated[
        bool, typer.Option("--include-amended", help="also results superseded by an amendment")
    ] = False,
    limit: Annotated[
        int, typer.Option(min=1, max=500, help="at most this many, newest first")
    ] = 50,
    server: ServerOpt = None,
    api_key: KeyOpt = None,
    username: UserOpt = None,
    password_stdin: PasswordStdinOpt = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Find results by ontology concept, value ranges, tenant, method and time (on a broker).

    Examples: finales search 'ionic conductivity' -w 'amount fraction of LiPF6:0.05..0.15';
    finales search 'electrochemical quantity' --tenant asab --since 2026-01-01T00:00Z.
    """
    broker = broker_options(server, api_key, username, password_stdin, config)
    client = _client(broker, "search")
    with errors(), client:
        page = client.search(
            concept=concept,
            where=where or [],
            tenant=tenant,
            method=method,
            quantity=quantity,
            since=_when(since, "--since"),
            until=_when(until, "--until"),
            include_amended=include_amended,
            limit=limit,
        )
    if as_json:
        emit_json(page.model_dump(mode="json"))
        return
    _print(page)


def _print(page: Any) -> None:
    understood = "; ".join(
        f"{c.asked!r} = {', '.join(c.labels) or '?'} ({c.classes} classes)" for c in page.concepts
    )
    if understood:
        out.print(f"[dim]{understood}[/dim]", highlight=False)
    if not page.items:
        out.print("no result found")
        return
    table = Table(show_lines=False)
    for column in ("result", "quantity / method", "tenant", "posted (UTC)", "values"):
        table.add_column(column)
    for hit in page.items:
        values = "\n".join(
            f"{v.label} {v.value:g} {v.unit or ''}".rstrip()
            + (f" ({v.chemical[:14]})" if v.chemical else "")
            for v in hit.values[:6]
        )
        if len(hit.values) > 6:
            values += f"\n… {len(hit.values) - 6} more"
        status = "" if hit.status == "original" else f" [{hit.status}]"
        table.add_row(
            hit.id + status,
            f"{hit.quantity} / {hit.method}",
            hit.tenant,
            hit.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            values,
        )
    out.print(table)
    if page.next_cursor:
        out.print("[dim]more: raise --limit (at most 500) or narrow the search[/dim]")


def sparql(
    query: Annotated[
        str,
        typer.Argument(
            metavar="QUERY", help="the SPARQL query, or @FILE to read it, or - for stdin"
        ),
    ],
    timeout_s: Annotated[
        float | None, typer.Option("--timeout", help="seconds (below the server's limit)")
    ] = None,
    server: ServerOpt = None,
    api_key: KeyOpt = None,
    username: UserOpt = None,
    password_stdin: PasswordStdinOpt = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a read-only SPARQL query over the broker's results and ontology (on a broker).

    SELECT answers print as a table (--json: the SPARQL JSON results), CONSTRUCT and
    DESCRIBE as N-Triples. Updates are refused; a query past the time limit is stopped.
    """
    text = _query_text(query)
    broker = broker_options(server, api_key, username, password_stdin, config)
    client = _client(broker, "sparql")
    with errors(), client:
        answer = client.sparql(text, timeout_s=timeout_s)
    if isinstance(answer, str):
        sys.stdout.write(answer)
    elif as_json or "boolean" in answer:
        emit_json(answer)
    else:
        names = answer["head"]["vars"]
        table = Table(*names)
        for row in answer["results"]["bindings"]:
            table.add_row(*(row.get(n, {}).get("value", "") for n in names))
        out.print(table)


def _query_text(query: str) -> str:
    if query == "-":
        return sys.stdin.read()
    if query.startswith("@"):
        try:
            return Path(query[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"cannot read {query[1:]}: {exc.strerror or exc}")
    return query
