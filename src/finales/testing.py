"""Helpers for tenant authors and for our own tests: a real broker on a free local port.

with LocalBroker(tmp_path) as broker:
    key = broker.add_tenant_user("robot", tenant_name="asab")
    httpx.get(broker.url + "/healthz")
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import uvicorn

from finales.domain.leases import utcnow
from finales.domain.principals import Principal, Role
from finales.server.app import create_app
from finales.services import auth, capabilities, tenants
from finales.settings import Settings


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class LocalBroker:
    """A broker served by uvicorn in a background thread, on its own data directory.

    ``clock`` lets tests move time (lease expiry) without sleeping.
    """

    def __init__(
        self,
        home: Path,
        *,
        database_url: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        port: int | None = None,
        **settings: Any,
    ) -> None:
        self.settings = Settings(home=home, database_url=database_url, **settings)
        self.app = create_app(self.settings, clock=clock, migrate=True)
        self.state = self.app.state.finales
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    def start(self) -> LocalBroker:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="finales-broker", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the broker did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            # Release waiting long-polls first: uvicorn waits for open requests to finish.
            self.state.stopping = True
            self.state.notifier.notify()
            self._server.should_exit = True
            self._thread.join(timeout=20)
        self.state.db.dispose()

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- set-up shortcuts (direct to the database, as the CLI does)
    _ADMIN = Principal(id="testing", name="testing", role=Role.ADMIN)

    def add_user(
        self, name: str, *, role: Role, tenant_id: str | None = None, password: str | None = None
    ) -> str:
        """Create a principal and return a fresh API key for it."""
        with self.state.db.write() as s:
            auth.add_principal(
                s, name=name, role=role, tenant_id=tenant_id, password=password, now=utcnow()
            )
            return auth.create_api_key(s, principal_name=name, now=utcnow())[1]

    def add_tenant(self, name: str, offers: list[dict[str, Any]] | None = None) -> str:
        with self.state.db.write() as s:
            tid = tenants.add_tenant(s, principal=self._ADMIN, name=name, now=utcnow())["id"]
            if offers:
                tenants.set_offers(
                    s, principal=self._ADMIN, tenant_id=tid, offers=offers, now=utcnow()
                )
            return str(tid)

    def add_capability(
        self,
        quantity: str,
        method: str,
        request_schema: dict[str, Any],
        result_schema: dict[str, Any],
    ) -> None:
        with self.state.db.write() as s:
            capabilities.register_capability(
                s,
                principal=self._ADMIN,
                quantity=quantity,
                method=method,
                request_schema=request_schema,
                result_schema=result_schema,
                now=utcnow(),
            )
