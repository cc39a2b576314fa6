"""Shared fixtures: a fresh database per test on SQLite and on PostgreSQL, a real broker on a
free port, a controllable clock, and a populated "lab" of principals and capabilities."""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from finales.db.engine import Database
from finales.db.migrate import upgrade
from finales.domain.principals import Principal, Role
from finales.domain.views import OfferView
from finales.services import auth, capabilities, tenants
from finales.services.unit_of_work import Transactions
from finales.testing import LocalBroker

# The demonstrator's files sit beside the repository (../shared), read in place, never copied.
FINALES2_EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "finales2-examples"


def require_finales2_examples() -> Path:
    """Skip where the FINALES 2 files are absent (a user's laptop); in CI that is a failure."""
    if not FINALES2_EXAMPLES.is_dir():
        message = f"the FINALES 2 example files are not available at {FINALES2_EXAMPLES}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI has them beside the clone)")
        pytest.skip(message)
    return FINALES2_EXAMPLES


def require_botorch() -> None:
    """Skip where the optional BoTorch extra is absent (a laptop without PyTorch); in CI, which
    installs it (`make install-botorch`), that is a failure."""
    from finales.optimizer.botorch_batch import missing

    if (reason := missing()) is None:
        return
    message = f"the BoTorch strategy {reason}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI installs it: make install-botorch)")
    pytest.skip(message)


PG_ADMIN_URL = os.environ.get("FINALES_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


# Long tests first: a long test collected last keeps one worker busy while the others idle.
# Seconds per test on a 2-core machine (pytest --durations=0), roughly.
LONG_FIRST = {
    "test_schemathesis.py": 40,
    "test_crash_recovery.py": 20,
    "test_demo_eol.py": 60,
    "test_demo_campaign.py": 40,
    "test_race.py": 8,
    "test_tenant_runtime.py": 4,
    "test_workflow_cli.py": 8,
    "test_workflow_orchestrator.py": 2,
    "test_lab_tenants.py": 3,
    "test_bare_install.py": 3,
    "test_readme.py": 7,
    "test_cross_process_wakeup.py": 3,
    "test_request_cli.py": 5,
    "test_eol_workflow.py": 12,
    "test_cell_lab_tenants.py": 3,
    "test_chat.py": 3,
    "test_shutdown_long_poll.py": 4,
    "test_archive_cli.py": 2,
    "test_archive.py": 2,
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: -LONG_FIRST.get(item.path.name, 0))


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI, run in process, configures the root logger onto its runner's stderr, which is
    closed afterwards: put the root logger back so that a later test logs nowhere closed."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FINALES_") and name != "FINALES_TEST_PG":
            monkeypatch.delenv(name)


# ------------------------------------------------------------------------------ databases


def _pg_available() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]


def _require_pg() -> None:
    problem = _pg_available()
    if problem is None:
        return
    message = f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {problem}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must run the PostgreSQL tests)")
    pytest.skip(message)


def _pg_url(dbname: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{dbname}"


def _pg_exec(sql: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def worker_id_safe(request: pytest.FixtureRequest) -> str:
    wid = getattr(request.config, "workerinput", {}).get("workerid", "main")
    return f"{wid}_{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once into a template file; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "finales.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    return path


@pytest.fixture(scope="session")
def pg_template(worker_id_safe: str) -> Iterator[str]:
    _require_pg()
    name = f"finales_tpl_{worker_id_safe}"
    _pg_exec(f'CREATE DATABASE "{name}"')
    db = Database(_pg_url(name))
    upgrade(db)
    db.dispose()
    yield name
    _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class LabSeed:
    """What a seeded lab database holds: its two tenants and one API key per principal."""

    tenant_a: str
    tenant_b: str
    keys: dict[str, str]


def seed_lab(url: str) -> LabSeed:
    """Capabilities, two tenants with offers and one principal per role, through the
    services (as the CLI would), into the database at ``url``."""
    setup = Principal(id="conftest", name="conftest", role=Role.ADMIN)
    db = Database(url)
    try:
        with Transactions(db).write() as uow:
            for method in ("two_electrode", "molecular_dynamics"):
                capabilities.register_capability(
                    uow,
                    principal=setup,
                    quantity="conductivity",
                    method=method,
                    request_schema=REQUEST_SCHEMA,
                    result_schema=RESULT_SCHEMA,
                )
            tenant_ids = []
            for name, offers in (("tenant-a", LAB_OFFERS_A), ("tenant-b", LAB_OFFERS_B)):
                tid = tenants.add_tenant(uow, principal=setup, name=name).id
                tenants.set_offers(uow, principal=setup, tenant_id=tid, offers=offers)
                tenant_ids.append(tid)
            tenant_a, tenant_b = tenant_ids
            keys = {}
            for who, name, role, tenant_id, password in (
                ("admin", "admin", Role.ADMIN, None, "admin-password"),
                ("reader", "reader", Role.READER, None, None),
                ("archiver", "archiver", Role.ARCHIVER, None, None),
                ("a", "bot-a", Role.TENANT, tenant_a, "bot-a-password"),
                ("a2", "bot-a2", Role.TENANT, tenant_a, None),
                ("b", "bot-b", Role.TENANT, tenant_b, None),
            ):
                auth.add_principal(
                    uow, name=name, role=role, tenant_id=tenant_id, password=password
                )
                keys[who] = auth.create_api_key(uow, principal_name=name).key
        if db.dialect == "sqlite":
            with db.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.dispose()
    return LabSeed(tenant_a=tenant_a, tenant_b=tenant_b, keys=keys)


@pytest.fixture(scope="session")
def sqlite_lab_template(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, LabSeed]:
    """A migrated and seeded SQLite file: each lab test gets a copy (seeding once per worker
    instead of once per test, argon2 hashes included)."""
    path = tmp_path_factory.mktemp("lab-template") / "finales.db"
    shutil.copy(sqlite_template, path)
    return path, seed_lab(f"sqlite:///{path}")


@pytest.fixture(scope="session")
def pg_lab_template(pg_template: str, worker_id_safe: str) -> Iterator[tuple[str, LabSeed]]:
    name = f"finales_lab_{worker_id_safe}"
    _pg_exec(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    seed = seed_lab(_pg_url(name))
    yield name, seed
    _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


SEEDED_FIXTURES = ("lab", "served_lab")
_counter = itertools.count()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        _require_pg()
    return str(request.param)


class PgCopies:
    """Copies of template databases, each made one test ahead in a background thread (and
    dropped in it): a test gets a copy that was made while the previous one ran, since
    CREATE DATABASE mostly waits on the disk."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-copies")
        self.ahead: dict[str, Future[str]] = {}

    def _create(self, template: str) -> str:
        name = f"{self.prefix}_{next(_counter)}"
        _pg_exec(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name

    def take(self, template: str) -> str:
        made = self.ahead.pop(template, None)
        name = made.result() if made is not None else self._create(template)
        self.ahead[template] = self.pool.submit(self._create, template)
        return name

    def drop(self, name: str) -> None:
        self.pool.submit(_pg_exec, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        for made in self.ahead.values():
            self.drop(made.result())
        self.pool.shutdown(wait=True)


@pytest.fixture(scope="session")
def pg_copies(
    pg_template: str, pg_lab_template: tuple[str, LabSeed], worker_id_safe: str
) -> Iterator[PgCopies]:
    """Set up after both templates, so torn down (copies in flight finished) before them."""
    copies = PgCopies(f"finales_t_{worker_id_safe}")
    yield copies
    copies.close()


@pytest.fixture
def database_url(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, worker_id_safe: str
) -> Iterator[str]:
    """A fresh, migrated database for this test; seeded with the lab when the test uses it."""
    seeded = any(f in request.fixturenames for f in SEEDED_FIXTURES)
    if backend == "sqlite":
        target = tmp_path / "finales.db"
        source = request.getfixturevalue("sqlite_lab_template")[0] if seeded else None
        shutil.copy(source or request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite:///{target}"
        return
    template = request.getfixturevalue("pg_lab_template" if seeded else "pg_template")
    if seeded:
        template = template[0]
    copies: PgCopies = request.getfixturevalue("pg_copies")
    name = copies.take(template)
    yield _pg_url(name)
    copies.drop(name)


# ------------------------------------------------------------------------------ time


@dataclass
class Clock:
    """Real time plus an offset that tests move forward (leases expire without sleeping)."""

    offset: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


# ------------------------------------------------------------------------------ broker


def local_broker(database_url: str, tmp_path: Path, clock: Clock, **settings: Any) -> LocalBroker:
    home = tmp_path / "home"
    url = None if database_url.startswith("sqlite") else database_url
    if url is None:
        home.mkdir(exist_ok=True)
        shutil.copy(database_url.removeprefix("sqlite:///"), home / "finales.db")
    options: dict[str, Any] = {"lease_sweep_s": 0.2, "long_poll_recheck_s": 0.5, **settings}
    return LocalBroker(home, database_url=url, clock=clock, **options)


@pytest.fixture
def broker(database_url: str, tmp_path: Path, clock: Clock) -> Iterator[LocalBroker]:
    """A broker in this process, reached without a socket (``broker.http()``,
    ``broker.client()``): the integration tier's default."""
    with local_broker(database_url, tmp_path, clock).start_in_process() as b:
        yield b


@pytest.fixture
def served_broker(database_url: str, tmp_path: Path, clock: Clock) -> Iterator[LocalBroker]:
    """A broker served by uvicorn on a free port: for what needs a real socket (other
    processes, chunked bodies, connection errors, access logs)."""
    with local_broker(database_url, tmp_path, clock) as b:
        yield b


REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "temperature": {"type": "number", "description": "Unit: kelvin"},
        "fraction": {"type": "number", "minimum": 0, "maximum": 1},
        "solvent": {"type": "string"},
    },
    "required": ["temperature", "fraction"],
    "additionalProperties": False,
}
RESULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "conductivity": {"type": "number", "description": "Unit: S/m"},
        "success": {"type": "boolean"},
    },
    "required": ["conductivity"],
    "additionalProperties": False,
}
LIMITS_A = {"temperature": [{"min": 273.15, "max": 313.15}], "fraction": [{"min": 0, "max": 0.5}]}
LIMITS_B = {"temperature": [{"min": 273.15, "max": 373.15}], "fraction": [{"min": 0, "max": 1}]}


def params(temperature: float = 298.15, fraction: float = 0.1, **extra: Any) -> dict[str, Any]:
    return {"temperature": temperature, "fraction": fraction, **extra}


@dataclass
class Lab:
    """A broker populated with capabilities, two tenants and one principal per role."""

    broker: LocalBroker
    clock: Clock
    tenant_a: str
    tenant_b: str
    keys: dict[str, str]
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    def client(self, who: str | None) -> httpx.Client:
        """An httpx client on /api/v1 with the credentials of ``who`` (None: anonymous)."""
        name = who or ""
        if name not in self.clients:
            headers = {"Authorization": f"Bearer {self.keys[name]}"} if name else {}
            self.clients[name] = self.broker.http(headers)
        return self.clients[name]

    def root(self, who: str | None = None) -> httpx.Client:
        """An httpx client on the server's root (the FINALES 2 door, /healthz)."""
        headers = {"Authorization": f"Bearer {self.keys[who]}"} if who else {}
        return self.broker.http(headers, prefix="")

    def __getattr__(self, name: str) -> httpx.Client:
        if name in ("admin", "reader", "archiver", "a", "b", "a2", "anon"):
            return self.client(None if name == "anon" else name)
        raise AttributeError(name)

    def post_request(
        self,
        *,
        who: str = "admin",
        methods: tuple[str, ...] = ("two_electrode",),
        p: dict[str, Any] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        body = {
            "quantity": "conductivity",
            "methods": list(methods),
            "parameters": {m: p or params() for m in methods},
            **extra,
        }
        r = self.client(who).post("/requests", json=body)
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    def claim(self, request_id: str, who: str = "a", lease: float = 60) -> httpx.Response:
        return self.client(who).post(f"/requests/{request_id}/claim", json={"lease_seconds": lease})

    def post_result(
        self,
        request_id: str | None,
        who: str = "a",
        method: str = "two_electrode",
        data: dict[str, Any] | None = None,
        p: dict[str, Any] | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {
            "quantity": "conductivity",
            "method": method,
            "parameters": p or params(),
            "data": data if data is not None else {"conductivity": 0.9},
        }
        if request_id is not None:
            body["request_id"] = request_id
        return self.client(who).post("/results", json=body)


LAB_OFFERS_A = [OfferView("conductivity", "two_electrode", LIMITS_A)]
LAB_OFFERS_B = [
    OfferView("conductivity", "two_electrode", LIMITS_B),
    OfferView("conductivity", "molecular_dynamics", {}),
]


def populate(broker: LocalBroker, clock: Clock) -> Lab:
    """The lab, seeded into ``broker``'s own database (for brokers with special settings)."""
    seed = seed_lab(broker.state.db.url)
    return Lab(broker=broker, clock=clock, **asdict(seed))


def _seed_of(request: pytest.FixtureRequest, backend: str) -> LabSeed:
    name = "sqlite_lab_template" if backend == "sqlite" else "pg_lab_template"
    return request.getfixturevalue(name)[1]  # type: ignore[no-any-return]


@pytest.fixture
def lab(broker: LocalBroker, clock: Clock, backend: str, request: pytest.FixtureRequest) -> Lab:
    """A broker on a database seeded with capabilities, two tenants and one principal per
    role (a copy of the seeded template)."""
    return Lab(broker=broker, clock=clock, **asdict(_seed_of(request, backend)))


@pytest.fixture
def served_lab(
    served_broker: LocalBroker, clock: Clock, backend: str, request: pytest.FixtureRequest
) -> Lab:
    """The lab on a served broker (real sockets)."""
    return Lab(broker=served_broker, clock=clock, **asdict(_seed_of(request, backend)))


ErrorCheck = Callable[..., dict[str, Any]]


@pytest.fixture
def expect_error() -> ErrorCheck:
    """Assert an error response: status, stable code, and (optionally) the field named."""

    def check(
        response: httpx.Response,
        status: int,
        *,
        code: str | None = None,
        pointer: str | None = None,
    ) -> dict[str, Any]:
        assert response.status_code == status, response.text
        body = response.json()
        assert isinstance(body.get("detail"), str) and body["detail"], body
        if code is not None:
            assert body["code"] == code, body
        if pointer is not None:
            pointers = [e["pointer"] for e in body.get("errors", [])]
            assert pointer in pointers, body
        return body  # type: ignore[no-any-return]

    return check
