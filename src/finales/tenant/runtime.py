"""The tenant runtime: declare what you serve, call ``run()``; it speaks the broker protocol.

    lab = Tenant("asab", server="http://127.0.0.1:8000", api_key=KEY)

    @lab.serves("conductivity", "two_electrode", limitations={"temperature": [{"max": 333}]})
    def measure(request, ctx):
        return {"conductivity": 0.9}

    lab.run()

On start it finds its tenant (``GET /auth/me``) and publishes its offers; then it long-polls
for work, claims (a lost race is normal), runs the handler in a thread while a heartbeat
thread extends the lease, validates the returned data against the capability's result
schema and posts it. A handler that raises, or returns data that break the schema, gets its
request released with the error as the reason (see ``Tenant`` for the policy).

The ``Tenant`` holds the registration (what it serves, its settings) and the signals; each
``run()`` hands a frozen ``TenantSpec`` to a ``Worker`` (``worker.py``: polling, claiming,
concurrency, shutdown), whose ``LeaseKeeper`` (``lease.py``) owns every lease.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from finales.client import FinalesClient
from finales.tenant import logs
from finales.tenant.job import RunStats, Service, TenantSetupError, TenantSpec
from finales.tenant.lease import Cadence
from finales.tenant.worker import Worker

DEFAULT_LEASE_S = 60.0
DEFAULT_POLL_S = 20.0
DEFAULT_GRACE_S = 30.0
RETRY_FAILED_AFTER_S = 60.0

log = logging.getLogger("finales.tenant")
F = TypeVar("F", bound=Callable[..., Any])


class Tenant:
    """A tenant: the capabilities it serves and the loop that serves them.

    ``concurrency`` jobs run at once (one thread each; async handlers get their own event
    loop). Each claim takes a lease of ``lease_s``, renewed every ``lease_s / 3``. On SIGINT
    or SIGTERM the runtime stops taking work and gives in-flight jobs ``grace_s`` to finish;
    those still running are released; a second signal releases them at once.

    Failure policy: a handler that raises, or returns data that do not fit the result
    schema, never produces a result. Its request is *released* with the error as the
    reason (visible in the request's history) so that another tenant, or this one after
    ``retry_failed_after_s``, may try again. This holds also for capabilities whose result
    schema has a success flag: the runtime does not invent a "failed" result (it could not
    fill the schema's other required fields, and resolving the request would stop others
    from trying). A handler that wants to report a failed experiment as data returns it,
    e.g. ``{"success": False, ...}``, and that result is validated and posted like any other.
    """

    def __init__(
        self,
        name: str,
        *,
        server: str | None = None,
        api_key: str | None = None,
        username: str | None = None,
        password: str | None = None,
        client: FinalesClient | None = None,
        concurrency: int = 1,
        lease_s: float = DEFAULT_LEASE_S,
        poll_s: float = DEFAULT_POLL_S,
        grace_s: float = DEFAULT_GRACE_S,
        retry_failed_after_s: float = RETRY_FAILED_AFTER_S,
        publish_offers: bool = True,
    ) -> None:
        self.name = name
        self.server = server
        self.api_key = api_key
        self.username = username
        self.password = password
        self.client = client
        self.concurrency = concurrency
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.grace_s = grace_s
        self.retry_failed_after_s = retry_failed_after_s
        self.publish_offers = publish_offers
        self.stats = RunStats()
        self._tenant_id: str | None = None
        self._services: dict[tuple[str, str], Service] = {}
        self._worker: Worker | None = None
        self._signals_seen = 0

    def __repr__(self) -> str:
        served = ", ".join(f"{q}/{m}" for q, m in self._services)
        return f"<Tenant {self.name} serving {served or 'nothing'}>"

    # ------------------------------------------------------------------ declaration

    def serves(self, quantity: str, method: str, *, limitations: Any = None) -> Callable[[F], F]:
        """Decorator: ``handler(request, ctx) -> dict`` serves ``quantity``/``method``.

        ``limitations`` (the FINALES syntax, see the README) restrict the requests the broker
        hands this tenant; none means everything the request schema allows. The handler gets
        the request (``finales.schemas.WorkItem``) and a ``JobContext``, and returns the
        result data. It may be ``async def``.
        """

        def register(handler: F) -> F:
            key = (quantity, method)
            if key in self._services:
                raise ValueError(f"{self.name} already serves {quantity}/{method}")
            limits = limitations if limitations is not None else {}
            self._services[key] = Service(quantity, method, limits, handler)
            return handler

        return register

    @property
    def services(self) -> list[Service]:
        """What this tenant serves, in declaration order."""
        return list(self._services.values())

    @property
    def tenant_id(self) -> str | None:
        """The broker's id of this tenant, once a run has found it (None before)."""
        worker = self._worker
        if worker is not None and worker.tenant_id is not None:
            return worker.tenant_id
        return self._tenant_id

    def configure(
        self,
        *,
        server: str | None = None,
        api_key: str | None = None,
        username: str | None = None,
        password: str | None = None,
        concurrency: int | None = None,
        lease_s: float | None = None,
        poll_s: float | None = None,
        grace_s: float | None = None,
    ) -> Tenant:
        """Override settings (what is given wins; used by ``finales tenant run``).

        Credentials are replaced as a whole: an API key drops a configured password and
        the other way round.
        """
        if server:
            self.server = server
        if api_key:
            self.api_key, self.username, self.password = api_key, None, None
        elif username:
            self.api_key, self.username, self.password = None, username, password
        for attr, value in (
            ("concurrency", concurrency),
            ("lease_s", lease_s),
            ("poll_s", poll_s),
            ("grace_s", grace_s),
        ):
            if value is not None:
                setattr(self, attr, value)
        return self

    # ------------------------------------------------------------------ running

    def run(
        self,
        *,
        until_idle: bool = False,
        handle_signals: bool = True,
        configure_logging: bool = True,
    ) -> RunStats:
        """Serve until stopped (a signal, ``stop()``), and return what was done.

        ``until_idle``: serve the matching work there is, wait for the jobs, and return when
        none is left (requests that failed are not retried in this mode) — for tests and
        batch use. Signals are handled only when called from the main thread. Raises
        ``TenantSetupError`` (or the broker's error) when the tenant cannot start or the
        broker refuses it later.
        """
        if not self._services:
            raise TenantSetupError(
                f"tenant {self.name} serves nothing: decorate a handler with "
                "@tenant.serves(quantity, method)"
            )
        if self._worker is not None:
            raise RuntimeError(f"tenant {self.name} is already running")
        if configure_logging:
            logs.configure_logging()
        api = self.client or self._make_client()
        worker = self._worker = Worker(self._spec(), api, until_idle=until_idle)
        self.stats = worker.stats
        self._signals_seen = 0
        restore = self._install_signals() if handle_signals else None
        try:
            worker.run()
        finally:
            if restore is not None:
                restore()
            if self.client is None:
                api.close()
            self._tenant_id = worker.tenant_id or self._tenant_id
            self._worker = None
        return self.stats

    def run_once(self) -> RunStats:
        """Serve the work there is now, then return (``run(until_idle=True)``)."""
        return self.run(until_idle=True, handle_signals=False)

    def stop(self, *, force: bool = False) -> None:
        """Ask a running tenant to stop (thread- and signal-safe). ``force`` releases
        in-flight jobs at once instead of waiting ``grace_s`` for them."""
        worker = self._worker
        if worker is not None:
            worker.stop(force=force)

    # ------------------------------------------------------------------ helpers

    def _spec(self) -> TenantSpec:
        """This tenant as one run sees it: frozen, so that the run never reads it again."""
        return TenantSpec(
            name=self.name,
            services=tuple(self._services.values()),
            concurrency=self.concurrency,
            lease_s=self.lease_s,
            poll_s=self.poll_s,
            grace_s=self.grace_s,
            retry_failed_after_s=self.retry_failed_after_s,
            publish_offers=self.publish_offers,
        )

    def _make_client(self) -> FinalesClient:
        if not self.server:
            raise TenantSetupError(
                f"tenant {self.name} has no broker URL: pass server='http://host:8000' or "
                "use 'finales tenant run --server' (or FINALES_SERVER_URL)"
            )
        if not self.api_key and not (self.username and self.password):
            raise TenantSetupError(
                f"tenant {self.name} has no credentials: pass api_key= (or username= and "
                "password=), or set FINALES_API_KEY for 'finales tenant run'"
            )
        return FinalesClient(
            self.server,
            api_key=self.api_key or None,
            username=None if self.api_key else self.username,
            password=None if self.api_key else self.password,
            retry=Cadence(self.lease_s).client_retry(),
        )

    def _install_signals(self) -> Callable[[], None] | None:
        if threading.current_thread() is not threading.main_thread():
            return None

        def on_signal(signum: int, _frame: Any) -> None:
            self._signals_seen += 1
            name = signal.Signals(signum).name
            if self._signals_seen == 1:
                _log(
                    logging.INFO,
                    "stopping: no new work; finishing in-flight jobs",
                    tenant=self.name,
                    signal=name,
                    grace_s=self.grace_s,
                )
                self.stop()
            else:
                _log(logging.WARNING, "stopping now: releasing jobs", tenant=self.name, signal=name)
                self.stop(force=True)

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

        def restore() -> None:
            for sig, old in previous.items():
                signal.signal(sig, old)

        return restore


def _log(level: int, msg: str, **fields: Any) -> None:
    logs.event(log, level, msg, **fields)
