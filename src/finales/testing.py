"""Helpers for tenant authors and for our own tests: a real broker, in process or on a port.

    with LocalBroker(tmp_path).start_in_process() as broker:   # no socket
        key = broker.add_user("robot", role=Role.TENANT, tenant_id=broker.add_tenant("asab"))
        client = broker.client(api_key=key)                     # a FinalesClient
        client.healthz()

    with LocalBroker(tmp_path) as broker:                      # uvicorn on a free port
        httpx.get(broker.url + "/healthz")

In process, the app runs as under a server - its lifespan (lease sweeper, change watcher),
long-polls, background tasks - on an event loop of its own in a background thread, reached
through an httpx transport instead of a socket. Use the served mode where sockets matter:
other processes (subprocess tenants, the CLI), chunked uploads, connection errors.

Needs the server extra (``pip install 'finales[server]'``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from fastapi import FastAPI

from finales.client import FinalesClient, RetryPolicy
from finales.domain.leases import utcnow
from finales.domain.principals import Principal, Role
from finales.domain.views import OfferView
from finales.server.app import API_PREFIX, create_app
from finales.server.state import AppState
from finales.services import auth, capabilities, tenants
from finales.settings import Settings

IN_PROCESS_URL = "http://finales.local"
T = TypeVar("T")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class InProcessTransport(httpx.BaseTransport):
    """An httpx transport that calls an ASGI app in this process, without a socket.

    The app runs on an event loop of its own, in a background thread, with its lifespan
    entered for as long as the transport is open; calls may come from any thread, and a
    long-poll blocks only its caller. The read timeout of a call is honoured.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._asgi = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="finales-in-process", daemon=True
        )
        self._lifespan: contextlib.AbstractAsyncContextManager[Any] | None = None

    def _run(self, coro: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout_s)
        except TimeoutError:
            future.cancel()
            raise

    def open(self) -> InProcessTransport:
        self._thread.start()
        self._lifespan = self.app.router.lifespan_context(self.app)
        self._run(self._lifespan.__aenter__())
        return self

    def close(self) -> None:
        """Nothing: the clients sharing this transport close it when they close; the app
        stays up until ``shutdown``."""

    def shutdown(self) -> None:
        """Leave the lifespan (stops the sweeper and watcher) and stop the loop."""
        if self._lifespan is not None:
            lifespan, self._lifespan = self._lifespan, None
            self._run(lifespan.__aexit__(None, None, None), 30)
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def call() -> tuple[int, httpx.Headers, bytes]:
            forwarded = httpx.Request(
                request.method, request.url, headers=request.headers, content=body
            )
            response = await self._asgi.handle_async_request(forwarded)
            content = await response.aread()
            return response.status_code, response.headers, content

        timeout = request.extensions.get("timeout", {}).get("read")
        try:
            status, headers, content = self._run(call(), timeout)
        except TimeoutError:
            raise httpx.ReadTimeout("no answer in time", request=request) from None
        return httpx.Response(status, headers=headers, content=content, request=request)


class LocalBroker:
    """A broker on its own data directory, in process (``start_in_process``) or served by
    uvicorn on a free port in a background thread (``start``, or ``with LocalBroker(...)``).

    ``clock`` lets tests move time (lease expiry, token expiry) without sleeping.
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
        self.state: AppState = self.app.state.finales
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._transport: InProcessTransport | None = None
        self._clients: list[httpx.Client] = []

    # -- lifecycle
    def start(self) -> LocalBroker:
        """Serve on ``url`` with uvicorn (for other processes and real sockets)."""
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

    def start_in_process(self) -> LocalBroker:
        """Run the app in this process, reached through ``http()`` and ``client()`` only."""
        self._transport = InProcessTransport(self.app).open()
        self.url = IN_PROCESS_URL
        return self

    def stop(self) -> None:
        for c in self._clients:
            c.close()
        # Release waiting long-polls first: servers wait for open requests to finish.
        self.state.stopping = True
        self.state.notifier.wake_all()
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=20)
        if self._transport is not None:
            self._transport.shutdown()
        self.state.db.dispose()

    def __enter__(self) -> LocalBroker:
        return self if self._transport is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- clients
    def http(
        self,
        headers: dict[str, str] | None = None,
        *,
        prefix: str = API_PREFIX,
        timeout_s: float = 30,
    ) -> httpx.Client:
        """An httpx client on ``url + prefix`` (closed with the broker)."""
        client = httpx.Client(
            base_url=self.url + prefix,
            headers=headers,
            timeout=timeout_s,
            transport=self._transport,
        )
        self._clients.append(client)
        return client

    def client(
        self,
        *,
        api_key: str | None = None,
        username: str | None = None,
        password: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> FinalesClient:
        """A ``FinalesClient`` of this broker (over the in-process transport when there is
        one; its httpx client is closed with the broker)."""
        return FinalesClient(
            api_key=api_key,
            username=username,
            password=password,
            http=self.http(prefix=""),
            retry=retry,
        )

    # -- set-up shortcuts (direct to the database, as the CLI does)
    _ADMIN = Principal(id="testing", name="testing", role=Role.ADMIN)

    def add_user(
        self, name: str, *, role: Role, tenant_id: str | None = None, password: str | None = None
    ) -> str:
        """Create a principal and return a fresh API key for it."""
        with self.state.tx.write() as uow:
            auth.add_principal(uow, name=name, role=role, tenant_id=tenant_id, password=password)
            return auth.create_api_key(uow, principal_name=name).key

    def add_tenant(self, name: str, offers: list[dict[str, Any]] | None = None) -> str:
        with self.state.tx.write() as uow:
            tid = tenants.add_tenant(uow, principal=self._ADMIN, name=name).id
            if offers:
                tenants.set_offers(
                    uow,
                    principal=self._ADMIN,
                    tenant_id=tid,
                    offers=[
                        OfferView(o["quantity"], o["method"], o.get("limitations", {}))
                        for o in offers
                    ],
                )
            return tid

    def add_capability(
        self,
        quantity: str,
        method: str,
        request_schema: dict[str, Any],
        result_schema: dict[str, Any],
    ) -> None:
        with self.state.tx.write() as uow:
            capabilities.register_capability(
                uow,
                principal=self._ADMIN,
                quantity=quantity,
                method=method,
                request_schema=request_schema,
                result_schema=result_schema,
            )
