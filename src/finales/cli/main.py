"""``finales``: serve the broker and administer it from the shell."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from finales.db.engine import Database
from finales.db.migrate import current_revision, head_revision, upgrade
from finales.domain.principals import Principal, Role
from finales.domain.views import CapabilityView, OfferView, TenantView, UserView
from finales.errors import FinalesError
from finales.services import auth, capabilities, tenants
from finales.services.unit_of_work import Transactions, UnitOfWork
from finales.settings import Settings, load_settings

from .files import read_capabilities, read_tenant

app = typer.Typer(
    help="finales: a broker for self-driving laboratories.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(help="Users (principals) who log in.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys for tenants and scripts.", no_args_is_help=True)
cap_app = typer.Typer(help="Capabilities (quantity + method + schemas).", no_args_is_help=True)
tenant_app = typer.Typer(help="Tenants and their offers.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(apikey_app, name="apikey")
app.add_typer(cap_app, name="capability")
app.add_typer(tenant_app, name="tenant")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="TOML file with settings (FINALES_* win)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


SHUTDOWN_GRACE_S = 5


class _State:
    config: Path | None = None


@app.callback()
def _root(config: ConfigOpt = None) -> None:
    """Settings come from FINALES_* variables (FINALES_HOME, FINALES_DATABASE_URL, ...)."""
    _State.config = config


def _settings() -> Settings:
    try:
        return load_settings(_State.config)
    except FinalesError as exc:
        _fail(exc.detail)
        raise  # unreachable: _fail exits


def _cli_principal() -> Principal:
    return Principal(id="cli", name=f"cli:{getpass.getuser()}", role=Role.ADMIN)


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(1)


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except FinalesError as exc:
        _fail(exc.detail)


@contextmanager
def _db(*, migrate_sqlite: bool = True) -> Iterator[Database]:
    settings = _settings()
    db = Database(settings.resolved_database_url(), busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        if db.dialect == "sqlite" and migrate_sqlite:
            upgrade(db)
        elif current_revision(db) != head_revision():
            _fail("the database schema is not up to date: run 'finales db upgrade'")
        yield db
    finally:
        db.dispose()


def _write(fn: Callable[[UnitOfWork], T]) -> T:
    # No publisher: a server running on this database notices the change by itself.
    with _errors(), _db() as db, Transactions(db).write() as uow:
        return fn(uow)


def _read(fn: Callable[[Connection], T]) -> T:
    with _errors(), _db() as db, db.read() as s:
        return fn(s)


def _emit_json(data: Any) -> None:
    out.print_json(json.dumps(data, default=str))


# ------------------------------------------------------------------------------------ serve


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="server processes")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Run the broker (HTTP). On SQLite the schema is upgraded automatically."""
    import uvicorn

    settings = _settings()
    where = settings.resolved_database_url()
    if workers > 1 and make_url(where).get_backend_name() == "sqlite":
        # Wake-ups of long-polls and the queue of writers live inside one process on SQLite.
        _fail(
            "an SQLite database is served by one process: drop --workers, or use PostgreSQL "
            "(FINALES_DATABASE_URL) to run several"
        )
    with _errors():
        settings.signing_secret()  # create it now, and refuse a weak one before binding
        with _db() as db, db.read() as s:
            has_admin = any(p.role is Role.ADMIN for p in auth.list_principals(s))
    # No password: libpq URLs may carry one in the user part or in the query string.
    shown = make_url(where).set(query={}).render_as_string(hide_password=True)
    err.print(f"finales: database {shown}; data directory {settings.home}", highlight=False)
    if not has_admin:
        err.print(
            "finales: no admin yet - create one with 'finales user add admin --role admin'",
            highlight=False,
        )
    uvicorn.run(
        "finales.server.asgi:app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        # Long-polls (up to FINALES_LONG_POLL_MAX_S) would hold a shutdown that long; after
        # this grace their connections are closed and clients simply poll again.
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )


# ------------------------------------------------------------------------------------ db


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending schema migrations (needed on PostgreSQL; automatic on SQLite)."""
    with _errors(), _raw_db() as db:
        before = current_revision(db)
        upgrade(db)
        after = current_revision(db)
    out.print(f"database at revision {after} (was {before or 'empty'})")


@contextmanager
def _raw_db() -> Iterator[Database]:
    settings = _settings()
    db = Database(settings.resolved_database_url(), busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        yield db
    finally:
        db.dispose()


# ------------------------------------------------------------------------------------ users


def _read_password(from_stdin: bool) -> str | None:
    if from_stdin:
        value = sys.stdin.readline().rstrip("\n")
        if not value:
            _fail("no password on standard input")
        return value
    if sys.stdin.isatty():
        return str(typer.prompt("password", hide_input=True, confirmation_prompt=True))
    return None


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[Role, typer.Option(help="what the user may do")],
    tenant: Annotated[str | None, typer.Option(help="tenant name or id (role tenant)")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a user. Without a password it can still use API keys (finales apikey create)."""
    password = _read_password(password_stdin)
    if password is not None and len(password) < 8:
        _fail("the password must have at least 8 characters")

    def op(uow: UnitOfWork) -> UserView:
        tenant_id = tenants.find_tenant(uow.conn, tenant).id if tenant is not None else None
        return auth.add_principal(uow, name=name, role=role, tenant_id=tenant_id, password=password)

    p = _write(op)
    if as_json:
        _emit_json({"id": p.id, "name": p.name, "role": p.role, "tenant_id": p.tenant_id})
    else:
        out.print(f"user {p.name} ({p.role.value}) created with id {p.id}", highlight=False)


@user_app.command("list")
def user_list(as_json: JsonOpt = False) -> None:
    """List users and their roles."""
    rows = _read(auth.list_principals)
    if as_json:
        _emit_json([asdict(r) for r in rows])
        return
    table = Table("name", "role", "tenant", "id")
    for r in rows:
        table.add_row(r.name, r.role.value, r.tenant_id or "", r.id)
    out.print(table)


@apikey_app.command("create")
def apikey_create(
    name: Annotated[str, typer.Argument(help="the user the key authenticates as")],
    as_json: JsonOpt = False,
) -> None:
    """Create an API key for a user and print it once (only its hash is stored)."""
    made = _write(lambda uow: auth.create_api_key(uow, principal_name=name))
    if as_json:
        _emit_json(asdict(made))
    else:
        # The key goes to stdout alone so that scripts can capture it; the note to stderr.
        err.print(f"API key {made.id} for {name} (shown once; store it safely):", highlight=False)
        print(made.key)  # noqa: T201


# ------------------------------------------------------------------------------------ capabilities


@cap_app.command("add")
def capability_add(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="capability files (ours or FINALES 2)", show_default=False),
    ] = None,
    builtin: Annotated[
        bool,
        typer.Option("--builtin", help="register the 14 built-in battery capabilities"),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Register capabilities from files and/or the built-in library (--builtin).

    An existing pair gets a new version only if its schemas or description changed, so running
    this twice adds nothing the second time.
    """
    if not files and not builtin:
        _fail("nothing to add: give capability files, or --builtin for the built-in library")
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

    rows = _write(op)
    if as_json:
        _emit_json(
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
    as_json: JsonOpt = False,
) -> None:
    """Write the built-in capabilities as files, one per capability.

    --format finales (default): DIR/<quantity>/<method>.json in our format
    {quantity, method, request_schema, result_schema, description}.

    --format finales2: DIR/<quantity>/<method>.json in the FINALES 2 format
    {quantity, method, json_schema_specifications, json_schema_result_output, is_active},
    the layout of FINALES 2's serialized_quantities folder.

    --format both: DIR/finales/<quantity>/<method>.json and DIR/finales2/<quantity>/<method>.json.

    'finales capability add' reads both formats. Existing files are overwritten;
    no database is needed.
    """
    from finales.capabilities import CAPABILITIES, to_finales, to_finales2

    if fmt not in EXPORT_FORMATS:
        _fail(f"unknown --format {fmt!r}: choose finales, finales2 or both")
    render = {"finales": to_finales, "finales2": to_finales2}
    chosen = list(render) if fmt == "both" else [fmt]
    written = []
    try:
        for name in chosen:
            base = directory / name if fmt == "both" else directory
            for cap in CAPABILITIES:
                path = base / cap.quantity / f"{cap.method}.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                text = json.dumps(render[name](cap), indent=2, ensure_ascii=False)
                path.write_text(text + "\n", encoding="utf-8")
                where = {"format": name, "path": str(path)}
                written.append({"quantity": cap.quantity, "method": cap.method, **where})
    except OSError as exc:
        _fail(f"cannot write to {directory}: {exc.strerror or exc}")
    if as_json:
        _emit_json(written)
    else:
        out.print(
            f"wrote {len(written)} capability file(s) to {directory} ({fmt} format)",
            highlight=False,
        )


@cap_app.command("list")
def capability_list(as_json: JsonOpt = False) -> None:
    """List capabilities with their versions and state."""
    rows = _read(lambda conn: capabilities.list_capabilities(conn))
    keys = ("quantity", "method", "version", "versions", "active", "description")
    if as_json:
        _emit_json([{k: getattr(r, k) for k in keys} for r in rows])
        return
    table = Table("quantity", "method", "version", "active")
    for r in rows:
        table.add_row(r.quantity, r.method, str(r.version), "yes" if r.active else "no")
    out.print(table)


def _set_active(quantity: str, method: str, active: bool) -> None:
    row = _write(
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
    """Register a tenant and its offers from a file; prints the tenant id."""
    spec = read_tenant_or_fail(file)
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

    row = _write(op)
    if as_json:
        _emit_json({"id": row.id, "name": row.name, "offers": len(row.offers)})
    else:
        err.print(f"tenant {row.name} with {len(row.offers)} offer(s):", highlight=False)
        print(row.id)  # noqa: T201


def read_tenant_or_fail(file: Path) -> dict[str, Any]:
    with _errors():
        return read_tenant(file)
    raise AssertionError  # pragma: no cover - _errors exits


@tenant_app.command("list")
def tenant_list(as_json: JsonOpt = False) -> None:
    """List tenants and what they offer."""
    rows = _read(tenants.list_tenants)
    if as_json:
        _emit_json([asdict(r) for r in rows])
        return
    table = Table("name", "id", "offers")
    for r in rows:
        offers = ", ".join(f"{o.quantity}/{o.method}" for o in r.offers)
        table.add_row(r.name, r.id, offers)
    out.print(table)


from .tenant_run import tenant_run  # noqa: E402  (kept beside the other tenant commands)

tenant_app.command("run")(tenant_run)


@app.command()
def demo(
    budget: Annotated[int, typer.Option(min=1, help="experiments the optimiser may request")] = 15,
    seed: Annotated[int, typer.Option(help="seed of the simulated lab and the optimiser")] = 0,
    out: Annotated[
        Path | None, typer.Option(help="report folder (default: a new temp dir)")
    ] = None,
    cycle: Annotated[
        bool, typer.Option("--cycle", help="only walk one request through a local broker")
    ] = False,
    keep_server: Annotated[
        bool,
        typer.Option(
            "--keep-server",
            help="afterwards keep the broker up (prints its URL, the admin user and the file "
            "with its API key) until Ctrl-C or SIGTERM",
        ),
    ] = False,
) -> None:
    """Run the conductivity campaign: simulated lab + Bayesian optimiser on a local broker.

    Writes a report folder: results.json, results.csv, summary.md and three PNG figures.

    The figures: best_vs_experiments.png, compositions.png, concentration_trend.png.
    """
    if cycle:
        from finales.demo import run_demo

        run_demo(keep_server=keep_server)
        return
    from finales.demo.campaign import run_campaign

    run_campaign(budget=budget, seed=seed, out=out, console=out_console(), keep_server=keep_server)


def out_console() -> Console:
    return out


def main() -> None:
    app()
