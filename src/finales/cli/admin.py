"""The administration commands: serve, db, user, apikey, capability, tenant add/list, demo.

They act on the broker's database (``FINALES_HOME`` / ``FINALES_DATABASE_URL``) and need the
server extra; each imports it only when it runs, so that ``finales --help`` and ``finales
tenant run`` work from the tenant SDK alone, and a missing extra is one line that says what to
install.
"""

from __future__ import annotations

import enum
import errno
import getpass
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from finales.cli.context import emit_json, err, errors, fail, needs
from finales.cli.context import out as console
from finales.cli.files import read_capabilities, read_tenant
from finales.domain.principals import Principal, Role
from finales.domain.views import CapabilityView, OfferView, TenantView, UserView
from finales.errors import FinalesError

if TYPE_CHECKING:
    from finales.services.unit_of_work import UnitOfWork

out = console
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(help="Users (principals) who log in.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys for tenants and scripts.", no_args_is_help=True)
cap_app = typer.Typer(help="Capabilities (quantity + method + schemas).", no_args_is_help=True)
tenant_app = typer.Typer(help="Tenants and their offers.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
SHUTDOWN_GRACE_S = 5


def _cli_principal() -> Principal:
    return Principal(id="cli", name=f"cli:{getpass.getuser()}", role=Role.ADMIN)


def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="server processes")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Run the broker (HTTP). On SQLite the schema is upgraded automatically."""
    with needs("server", "'finales serve'"):
        import uvicorn
        from sqlalchemy.engine import make_url

        from finales.cli import store
        from finales.services import auth

    if not 0 < port < 65536:
        fail(f"--port {port} is no TCP port: give 1 to 65535")
    settings = store.settings()
    where = settings.resolved_database_url()
    if workers > 1 and make_url(where).get_backend_name() == "sqlite":
        # Wake-ups of long-polls and the queue of writers live inside one process on SQLite.
        fail(
            "an SQLite database is served by one process: drop --workers, or use PostgreSQL "
            "(FINALES_DATABASE_URL) to run several"
        )
    with errors():
        settings.signing_secret()  # create it now, and refuse a weak one before binding
        with store.database() as db, db.read() as s:
            has_admin = any(p.role is Role.ADMIN for p in auth.list_principals(s))
    _check_port_free(host, port)
    err.print(f"finales: data directory {settings.home}", highlight=False)
    if not has_admin:
        err.print(
            "finales: no admin yet - create one with 'finales user add admin --role admin'",
            highlight=False,
        )
    uvicorn.run(
        # The broker, told of Ctrl-C / SIGTERM before uvicorn waits for open connections: its
        # waiting long-polls answer then (finales.cli.serving).
        "finales.cli.serving:app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        # The last resort for calls that are not long-polls and still run: after this grace
        # uvicorn cancels them.
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )


def _check_port_free(host: str, port: int) -> None:
    """Refuse in one line a port that is taken or an interface that does not exist, before
    uvicorn starts the app (it would fail only after "startup complete", with exit 3)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        fail(f"--host {host}: {exc.strerror or exc}")
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            what = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc})"
            fail(
                f"port {port} on {host} {what}: stop what listens there, or choose another "
                "with --port"
            )


# ------------------------------------------------------------------------------------ db


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending schema migrations (needed on PostgreSQL; automatic on SQLite)."""
    with needs("server", "'finales db upgrade'"):
        from finales.cli import store
        from finales.db.migrate import current_revision, upgrade

    with errors(), store.raw_database() as db:
        before = current_revision(db)
        upgrade(db)
        after = current_revision(db)
    out.print(f"database at revision {after} (was {before or 'empty'})")


# ------------------------------------------------------------------------------------ users


def _read_password(from_stdin: bool) -> str | None:
    if from_stdin:
        value = sys.stdin.readline().rstrip("\n")
        if not value:
            fail("no password on standard input")
        return value
    if sys.stdin.isatty():
        return str(typer.prompt("password", hide_input=True, confirmation_prompt=True))
    return None


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[Role, typer.Option(help="what the user may do")],
    tenant: Annotated[
        str | None, typer.Option(help="tenant name or id (role tenant; optional for archiver)")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a user. Without a password it can still use API keys (finales apikey create)."""
    with needs("server", "'finales user add'"):
        from finales.cli import store
        from finales.services import auth, tenants

    password = _read_password(password_stdin)
    actor = _cli_principal().name

    def op(uow: UnitOfWork) -> UserView:
        tenant_id = tenants.find_tenant(uow.conn, tenant).id if tenant is not None else None
        return auth.add_principal(
            uow, name=name, role=role, tenant_id=tenant_id, password=password, actor=actor
        )

    p = store.write(op)
    if as_json:
        emit_json({"id": p.id, "name": p.name, "role": p.role, "tenant_id": p.tenant_id})
    else:
        out.print(f"user {p.name} ({p.role.value}) created with id {p.id}", highlight=False)


@user_app.command("list")
def user_list(as_json: JsonOpt = False) -> None:
    """List users, their roles and whether they are disabled."""
    with needs("server", "'finales user list'"):
        from finales.cli import store
        from finales.services import auth

    rows = store.read(auth.list_principals)
    if as_json:
        emit_json([_user_json(r) for r in rows])
        return
    table = Table("name", "role", "tenant", "id", "disabled")
    for r in rows:
        disabled = r.disabled_at.isoformat(timespec="seconds") if r.disabled_at else ""
        table.add_row(r.name, r.role.value, r.tenant_id or "", r.id, disabled)
    out.print(table)


def _user_json(view: UserView) -> dict[str, Any]:
    return {
        "id": view.id,
        "name": view.name,
        "role": view.role.value,
        "tenant_id": view.tenant_id,
        "created_at": view.created_at.isoformat(),
        "disabled_at": view.disabled_at.isoformat() if view.disabled_at else None,
    }


def _change_user(name: str, as_json: bool, done: str, **change: Any) -> None:
    """Apply one change to a user through the service the API uses (same rules, same audit)."""
    with needs("server", "'finales user'"):
        from finales.cli import store
        from finales.services import auth, tenants

    principal = _cli_principal()

    def op(uow: UnitOfWork) -> UserView:
        tenant = change.pop("tenant", None)
        if tenant is not None:
            change["tenant_id"] = tenants.find_tenant(uow.conn, tenant).id
        return auth.update_user(
            uow, principal=principal, name=name, change=auth.UserChange(**change)
        )

    view = store.write(op)
    if as_json:
        emit_json(_user_json(view))
    else:
        out.print(f"user {view.name}: {done}", highlight=False)


@user_app.command("disable")
def user_disable(
    name: Annotated[str, typer.Argument(help="login name")], as_json: JsonOpt = False
) -> None:
    """Disable a user: its API keys and tokens are refused from the next call on (every server
    process). Nothing it did is deleted; 'finales user enable' undoes it."""
    _change_user(name, as_json, "disabled (keys and tokens refused)", disabled=True)


@user_app.command("enable")
def user_enable(
    name: Annotated[str, typer.Argument(help="login name")], as_json: JsonOpt = False
) -> None:
    """Re-enable a disabled user (its tokens stay ended: it logs in again; keys work again)."""
    _change_user(name, as_json, "enabled", disabled=False)


@user_app.command("set-role")
def user_set_role(
    name: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[Role, typer.Option(help="the new role")],
    tenant: Annotated[
        str | None, typer.Option(help="tenant name or id (role tenant; optional for archiver)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Give a user another role (effective on its next call)."""
    _change_user(name, as_json, f"role {role.value}", role=role, tenant=tenant)


@user_app.command("set-password")
def user_set_password(
    name: Annotated[str, typer.Argument(help="login name")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Set a user's password (prompted, or from stdin); its earlier tokens end."""
    password = _read_password(password_stdin)
    if password is None:
        fail("no password: run in a terminal, or pass --password-stdin")
    _change_user(name, as_json, "password set; earlier tokens ended", password=password)


@user_app.command("logout")
def user_logout(
    name: Annotated[str, typer.Argument(help="login name")], as_json: JsonOpt = False
) -> None:
    """Log a user out everywhere: every token issued so far is refused (keys stay valid)."""
    with needs("server", "'finales user logout'"):
        from finales.cli import store
        from finales.services import auth

    principal = _cli_principal()
    view = store.write(lambda uow: auth.end_tokens(uow, principal=principal, name=name))
    if as_json:
        emit_json(_user_json(view))
    else:
        out.print(f"user {view.name}: every token issued so far ended", highlight=False)


@user_app.command("history")
def user_history(
    name: Annotated[str, typer.Argument(help="login name")], as_json: JsonOpt = False
) -> None:
    """A user's audit history: creation, keys, roles, passwords, disabling, logouts."""
    with needs("server", "'finales user history'"):
        from finales.cli import store
        from finales.services import auth

    events = store.read(lambda conn: auth.principal_history(conn, None, name))
    if as_json:
        emit_json([{**asdict(e), "at": e.at.isoformat()} for e in events])
        return
    table = Table("at", "action", "by", "note")
    for e in events:
        table.add_row(e.at.isoformat(timespec="seconds"), e.action, e.actor, e.message)
    out.print(table)


@apikey_app.command("create")
def apikey_create(
    name: Annotated[str, typer.Argument(help="the user the key authenticates as")],
    as_json: JsonOpt = False,
) -> None:
    """Create an API key for a user and print it once (only its hash is stored)."""
    with needs("server", "'finales apikey create'"):
        from finales.cli import store
        from finales.services import auth

    actor = _cli_principal().name
    made = store.write(lambda uow: auth.create_api_key(uow, principal_name=name, actor=actor))
    if as_json:
        emit_json(asdict(made))
    else:
        # The key goes to stdout alone so that scripts can capture it; the note to stderr.
        err.print(f"API key {made.id} for {name} (shown once; store it safely):", highlight=False)
        print(made.key)  # noqa: T201


@apikey_app.command("list")
def apikey_list(
    user: Annotated[str | None, typer.Option("--user", help="only this user's keys")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List API keys (ids, owners, when created and revoked; never the keys)."""
    with needs("server", "'finales apikey list'"):
        from finales.cli import store
        from finales.services import auth

    keys = store.read(lambda conn: auth.list_api_keys(conn, owner=user))
    if as_json:
        emit_json(
            [
                {
                    "id": k.id,
                    "principal": k.principal,
                    "created_at": k.created_at.isoformat(),
                    "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
                }
                for k in keys
            ]
        )
        return
    table = Table("id", "user", "created", "revoked")
    for k in keys:
        revoked = k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else ""
        table.add_row(k.id, k.principal, k.created_at.isoformat(timespec="seconds"), revoked)
    out.print(table)


@apikey_app.command("revoke")
def apikey_revoke(
    key_id: Annotated[str, typer.Argument(help="the key's id ('finales apikey list')")],
    as_json: JsonOpt = False,
) -> None:
    """Revoke an API key: refused from the next call on, on every server process."""
    with needs("server", "'finales apikey revoke'"):
        from finales.cli import store
        from finales.services import auth

    principal = _cli_principal()
    key = store.write(lambda uow: auth.revoke_api_key(uow, principal=principal, key_id=key_id))
    if as_json:
        emit_json({"id": key.id, "principal": key.principal, "revoked": True})
    else:
        out.print(f"API key {key.id} of {key.principal} revoked", highlight=False)


# ------------------------------------------------------------------------------------ capabilities


@cap_app.command("add")
def capability_add(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="capability files (ours or FINALES 2)", show_default=False),
    ] = None,
    builtin: Annotated[
        bool,
        typer.Option("--builtin", help="register the 15 built-in capabilities"),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Register capabilities from files and/or the built-in library (--builtin).

    An existing pair gets a new version only if its schemas or description changed, so running
    this twice adds nothing the second time.
    """
    if not files and not builtin:
        fail("nothing to add: give capability files, or --builtin for the built-in library")
    with needs("server", "'finales capability add'"):
        from finales.cli import store
        from finales.services import capabilities
    principal = _cli_principal()

    def register(uow: UnitOfWork, source: str, cap: dict[str, Any]) -> CapabilityView:
        try:
            return capabilities.register_capability(uow, principal=principal, **cap)
        except FinalesError as exc:
            exc.detail = f"{source}: {exc.detail}"
            raise

    def op(uow: UnitOfWork) -> list[CapabilityView]:
        done = [register(uow, "built-in", c) for c in _builtin_capabilities()] if builtin else []
        for path in files or []:
            done += [register(uow, str(path), cap) for cap in read_capabilities(path)]
        return done

    rows = store.write(op)
    if as_json:
        emit_json(
            [
                {
                    "quantity": r.quantity,
                    "method": r.method,
                    "version": r.version,
                    "active": r.active,
                }
                for r in rows
            ]
        )
        return
    for r in rows:
        state = "active" if r.active else "inactive"
        out.print(f"{r.quantity}/{r.method} version {r.version} ({state})", highlight=False)


def _builtin_capabilities() -> list[dict[str, Any]]:
    from finales.capabilities import CAPABILITIES, to_finales

    return [{**to_finales(cap), "active": True} for cap in CAPABILITIES]


EXPORT_FORMATS = ("finales", "finales2", "both")


@cap_app.command("export")
def capability_export(
    directory: Annotated[
        Path, typer.Argument(help="where to write the files (created if missing)")
    ],
    fmt: Annotated[
        str,
        typer.Option("--format", help="finales (our format), finales2 (FINALES 2 format) or both"),
    ] = "finales",
    force: Annotated[
        bool, typer.Option("--force", help="overwrite files that differ from the export")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write the built-in capabilities as files, one per capability.

    --format finales (default): DIR/<quantity>/<method>.json in our format
    {quantity, method, request_schema, result_schema, description}.

    --format finales2: DIR/<quantity>/<method>.json in the FINALES 2 format
    {quantity, method, json_schema_specifications, json_schema_result_output, is_active},
    the layout of FINALES 2's serialized_quantities folder.

    --format both: DIR/finales/<quantity>/<method>.json and DIR/finales2/<quantity>/<method>.json.

    'finales capability add' reads both formats. A file that exists with other content is
    not overwritten without --force (the same content is rewritten: exporting twice is
    fine); no database is needed.
    """
    from finales.capabilities import CAPABILITIES, to_finales, to_finales2

    if fmt not in EXPORT_FORMATS:
        fail(f"unknown --format {fmt!r}: choose finales, finales2 or both")
    render = {"finales": to_finales, "finales2": to_finales2}
    chosen = list(render) if fmt == "both" else [fmt]
    planned = []
    for name in chosen:
        base = directory / name if fmt == "both" else directory
        for cap in CAPABILITIES:
            path = base / cap.quantity / f"{cap.method}.json"
            text = json.dumps(render[name](cap), indent=2, ensure_ascii=False) + "\n"
            planned.append((name, cap, path, text))
    clashes = [
        p for _, _, p, text in planned if p.is_file() and p.read_text(encoding="utf-8") != text
    ]
    if clashes and not force:
        fail(
            f"{len(clashes)} file(s) in {directory} would be overwritten (e.g. {clashes[0]}): "
            "pass --force to overwrite them, or export into another folder"
        )
    written = []
    try:
        for name, cap, path, text in planned:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            where = {"format": name, "path": str(path)}
            written.append({"quantity": cap.quantity, "method": cap.method, **where})
    except OSError as exc:
        fail(f"cannot write to {directory}: {exc.strerror or exc}")
    if as_json:
        emit_json(written)
    else:
        out.print(
            f"wrote {len(written)} capability file(s) to {directory} ({fmt} format)",
            highlight=False,
        )


@cap_app.command("list")
def capability_list(as_json: JsonOpt = False) -> None:
    """List capabilities with their versions and state."""
    with needs("server", "'finales capability list'"):
        from finales.cli import store
        from finales.services import capabilities

    rows = store.read(lambda conn: capabilities.list_capabilities(conn))
    keys = ("quantity", "method", "version", "versions", "active", "description")
    if as_json:
        emit_json([{k: getattr(r, k) for k in keys} for r in rows])
        return
    table = Table("quantity", "method", "version", "active")
    for r in rows:
        table.add_row(r.quantity, r.method, str(r.version), "yes" if r.active else "no")
    out.print(table)


def _set_active(quantity: str, method: str, active: bool) -> None:
    with needs("server", "'finales capability activate/deactivate'"):
        from finales.cli import store
        from finales.services import capabilities

    row = store.write(
        lambda uow: capabilities.set_active(
            uow,
            principal=_cli_principal(),
            quantity=quantity,
            method=method,
            active=active,
            message="from the command line",
        )
    )
    state = "active" if row.active else "inactive"
    out.print(f"{quantity}/{method} is {state}", highlight=False)


@cap_app.command("activate")
def capability_activate(quantity: str, method: str) -> None:
    """Accept requests for a capability again."""
    _set_active(quantity, method, True)


@cap_app.command("deactivate")
def capability_deactivate(quantity: str, method: str) -> None:
    """Stop accepting new requests for a capability."""
    _set_active(quantity, method, False)


# ------------------------------------------------------------------------------------ tenants


@tenant_app.command("add")
def tenant_add(
    file: Annotated[Path, typer.Argument(help="tenant file (ours or FINALES 2)")],
    tenant_id: Annotated[
        str | None,
        typer.Option(
            "--id", help="keep this tenant id (e.g. the tenant_uuid a FINALES 2 tenant uses)"
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a tenant and its offers from a file; prints the tenant id.

    A FINALES 2 tenant file's limitation idioms (an anyOf wrapper, the published field names of
    electrolyte/flow and cell_assembly/autobass_assembly) are translated, each with a note on
    stderr; what cannot be translated is refused with the JSON pointer of the defect.
    """
    spec = read_tenant_or_fail(file)
    for note in spec["notes"]:
        err.print(f"translated from FINALES 2: {note}", highlight=False)
    with needs("server", "'finales tenant add'"):
        from finales.cli import store
        from finales.services import tenants
    principal = _cli_principal()

    def op(uow: UnitOfWork) -> TenantView:
        row = tenants.add_tenant(
            uow,
            principal=principal,
            name=spec["name"],
            description=spec["description"],
            contact=spec["contact"],
            tenant_id=tenant_id,
        )
        if spec["offers"]:
            offers = [
                OfferView(o["quantity"], o["method"], o["limitations"]) for o in spec["offers"]
            ]
            try:
                row = tenants.set_offers(uow, principal=principal, tenant_id=row.id, offers=offers)
            except FinalesError as exc:
                exc.detail = f"{file}: {exc.detail} (pointers are into the list of offers)"
                raise
        return row

    row = store.write(op)
    if as_json:
        emit_json({"id": row.id, "name": row.name, "offers": len(row.offers)})
    else:
        err.print(f"tenant {row.name} with {len(row.offers)} offer(s):", highlight=False)
        print(row.id)  # noqa: T201


def read_tenant_or_fail(file: Path) -> dict[str, Any]:
    with errors():
        return read_tenant(file)
    raise AssertionError  # pragma: no cover - _errors exits


@tenant_app.command("list")
def tenant_list(as_json: JsonOpt = False) -> None:
    """List tenants and what they offer."""
    with needs("server", "'finales tenant list'"):
        from finales.cli import store
        from finales.services import tenants

    rows = store.read(tenants.list_tenants)
    if as_json:
        emit_json([asdict(r) for r in rows])
        return
    table = Table("name", "id", "offers")
    for r in rows:
        offers = ", ".join(f"{o.quantity}/{o.method}" for o in r.offers)
        table.add_row(r.name, r.id, offers)
    out.print(table)


demo_app = typer.Typer(
    help="Run a demonstrator campaign on a local broker, every tenant simulated. Without a "
    "command: the conductivity campaign, with the options below (report: results.json, "
    "results.csv, summary.md, summary.html, best_vs_time.png, compositions.png, "
    "concentration_trend.png); `finales demo eol`: the end-of-life campaign.",
)
OutOpt = Annotated[
    Path | None,
    typer.Option(
        metavar="DIR", help="report folder (default: ./finales-demo/<campaign>-<date>-<time>)"
    ),
]
SeedOpt = Annotated[int, typer.Option(help="seed of the simulated lab and the optimiser")]
KeepServerOpt = Annotated[
    bool,
    typer.Option(
        "--keep-server",
        help="afterwards keep the broker up (prints its URL, the admin user and the file "
        "with its API key) until Ctrl-C or SIGTERM",
    ),
]
ConductivityBudgetOpt = Annotated[
    int, typer.Option(min=1, help="experiments the optimiser may request")
]


@demo_app.callback(invoke_without_command=True)
def demo(
    ctx: typer.Context,
    budget: ConductivityBudgetOpt = 15,
    seed: SeedOpt = 0,
    out: OutOpt = None,
    cycle: Annotated[
        bool, typer.Option("--cycle", help="only walk one request through a local broker")
    ] = False,
    keep_server: KeepServerOpt = False,
) -> None:
    """Run the conductivity campaign: simulated lab + Bayesian optimiser on a local broker.

    Writes a report folder: results.json, results.csv, summary.md, summary.html (the
    summary with its figures inside, to open in a browser) and three PNG figures:
    best_vs_time.png, compositions.png, concentration_trend.png. `finales demo eol` runs
    the end-of-life campaign instead.
    """
    if ctx.invoked_subcommand is not None:
        given = [p for p in ("budget", "seed", "out", "cycle", "keep_server") if _given(ctx, p)]
        if given:
            fail(
                f"options before '{ctx.invoked_subcommand}' belong to the conductivity "
                f"campaign: give them after it (finales demo {ctx.invoked_subcommand} --help)"
            )
        return
    _conductivity(budget=budget, seed=seed, out=out, cycle=cycle, keep_server=keep_server)


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether the option was set (on the command line or from the environment)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name != "DEFAULT"


@demo_app.command("conductivity")
def demo_conductivity(
    budget: ConductivityBudgetOpt = 15,
    seed: SeedOpt = 0,
    out: OutOpt = None,
    keep_server: KeepServerOpt = False,
) -> None:
    """The conductivity campaign, by name (what `finales demo` runs)."""
    _conductivity(budget=budget, seed=seed, out=out, cycle=False, keep_server=keep_server)


def _conductivity(
    *, budget: int, seed: int, out: Path | None, cycle: bool, keep_server: bool
) -> None:
    if cycle:
        with needs("server", "'finales demo --cycle'"):
            from finales.demo import run_demo
        run_demo(keep_server=keep_server)
        return
    with needs("demo", "'finales demo'"):
        from finales.demo.campaign import run_campaign
    with errors():
        run_campaign(budget=budget, seed=seed, out=out, console=console, keep_server=keep_server)


class Acquisition(enum.StrEnum):
    auto = "auto"
    botorch = "botorch"
    kriging_believer = "kriging-believer"


@demo_app.command("eol")
def demo_eol(
    budget: Annotated[
        int, typer.Option(min=1, help="electrolytes the optimiser may ask for (8 cells each)")
    ] = 12,
    seed: SeedOpt = 0,
    out: OutOpt = None,
    keep_server: KeepServerOpt = False,
    acquisition: Annotated[
        Acquisition,
        typer.Option(
            help="how the optimiser chooses a batch: botorch (BoTorch's qLogNEI; needs the "
            "botorch extra), kriging-believer, or auto: botorch where it is installed",
        ),
    ] = Acquisition.auto,
) -> None:
    """Run the end-of-life campaign: the simulated cell lab, the workflow and the optimiser.

    ASAB mixes each electrolyte, a courier carries it, AutoBASS builds 8 coin cells, the
    cycler runs them, a degradation model predicts each cell's end of life from 40 cycles;
    the orchestrator runs examples/workflows/eol.yaml over them and the optimiser asks for
    electrolytes in batches of 3, on a scaled lab clock (about two minutes for 12). Writes a
    report folder: results.json, results.csv (cells), compositions.csv, summary.md,
    summary.html and five PNG figures: eol_vs_composition.png, capacity_fade.png,
    predicted_vs_true.png, timeline.png, conductivity_vs_eol.png.
    """
    with needs("demo", "'finales demo eol'"):
        from finales.demo.eol import run_eol_campaign
    with errors():
        run_eol_campaign(
            budget=budget,
            seed=seed,
            out=out,
            console=console,
            keep_server=keep_server,
            acquisition=acquisition.value,
        )
