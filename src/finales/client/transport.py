"""The plumbing under FinalesClient: credentials and token refresh, retries with backoff,
Idempotency-Keys, and error answers turned into finales.errors classes."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Self, TypeVar

import httpx
from pydantic import TypeAdapter

from finales import __version__, schemas
from finales.client.errors import ServerUnreachable, error_from_response
from finales.client.retry import RetryPolicy, next_pause

API = "/api/v1"
DEFAULT_TIMEOUT_S = 30.0
# Refresh a token this long before it expires, or halfway through short lifetimes.
TOKEN_REFRESH_MARGIN_S = 60.0

log = logging.getLogger("finales.client")

T = TypeVar("T")

_adapters: dict[Any, TypeAdapter[Any]] = {}


def parse(tp: type[T], data: Any) -> T:
    """Validate ``data`` as ``tp`` (e.g. ``list[schemas.Result]``), adapters built once."""
    adapter: TypeAdapter[T] | None = _adapters.get(tp)
    if adapter is None:
        adapter = _adapters[tp] = TypeAdapter(tp)
    return adapter.validate_python(data)


def query(**params: Any) -> dict[str, Any]:
    """Drop unset filters and render values the way the server parses them."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, datetime):
            value = value.isoformat()
        out[name] = value
    return out


class BaseClient:
    """Credentials, retries and error mapping for one broker; FinalesClient adds the routes."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        username: str | None = None,
        password: str | None = None,
        http: httpx.Client | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
    ) -> None:
        if base_url is None:
            if http is None or not str(http.base_url):
                raise ValueError("give the server's base URL, e.g. http://127.0.0.1:8000")
            base_url = str(http.base_url)
        if api_key and username:
            raise ValueError("give either an API key or a username and password, not both")
        if (username is None) != (password is None):
            raise ValueError("a password login needs both username and password")
        self.base_url = str(base_url).rstrip("/").removesuffix(API)
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self._owns_http = http is None
        self.http = http or httpx.Client(
            timeout=timeout_s, headers={"User-Agent": f"finales-client/{__version__}"}
        )
        self._api_key = api_key
        self._username = username
        self._password = password
        self._token: str | None = None
        self._token_refresh_at = 0.0
        self._token_lock = threading.Lock()

    def close(self) -> None:
        """Close the HTTP client if this instance created it."""
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        how = "api key" if self._api_key else f"user {self._username}" if self._username else "anon"
        return f"<{type(self).__name__} {self.base_url} ({how})>"

    def _auth_headers(self) -> dict[str, str]:
        if self._api_key:
            return {"Authorization": f"Bearer {self._api_key}"}
        if self._username is None:
            return {}
        # One login at a time: threads that find an expiring token wait for the fresh one.
        with self._token_lock:
            if self._token is None or time.monotonic() >= self._token_refresh_at:
                self._login_locked()
            return {"Authorization": f"Bearer {self._token}"}

    def _login_locked(self) -> None:
        assert self._username is not None and self._password is not None
        asked_at = time.monotonic()  # the lifetime runs from issue, at or after this instant
        got = self._token_request(self._username, self._password)
        lifetime = float(got.expires_in)
        self._token = got.access_token
        self._token_refresh_at = asked_at + max(lifetime - TOKEN_REFRESH_MARGIN_S, lifetime / 2)
        log.debug("logged in as %s; token valid for %ss", self._username, got.expires_in)

    def _send(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        auth: bool = True,
        headers: Mapping[str, str] | None = None,
        wait_s: float = 0.0,
        **kwargs: Any,
    ) -> httpx.Response:
        """One logical call: its attempts share ``headers`` (and so one Idempotency-Key)."""
        started = self.retry.clock()
        attempt = 0
        relogged = False
        timeout = httpx.Timeout(self.timeout_s + wait_s)
        while True:
            sent = {**(headers or {}), **(self._auth_headers() if auth else {})}
            response: httpx.Response | None = None
            error: httpx.TransportError | None = None
            try:
                response = self.http.request(
                    method, self.base_url + path, headers=sent, timeout=timeout, **kwargs
                )
            except httpx.TransportError as exc:
                error = exc
            if response is not None and response.status_code < 400:
                return response
            if auth and not relogged and self._stale_token(response):
                relogged = True
                continue
            if error is not None and self.http.is_closed:
                # Closed under a call in flight (another thread shut the client down):
                # retrying cannot help and would only log noise at shutdown.
                raise self._failure(response, error)
            attempt += 1
            pause = next_pause(
                self.retry,
                attempt=attempt,
                started=started,
                response=response,
                error=error,
                idempotent=idempotent,
            )
            if pause is None:
                raise self._failure(response, error)
            why = error if response is None else f"HTTP {response.status_code}"
            # A broker that does not answer is worth a warning; a busy one is not.
            level = logging.WARNING if error is not None else logging.DEBUG
            log.log(level, "%s %s: %s; retry %d in %.2fs", method, path, why, attempt, pause)
            self.retry.sleep(pause)

    def _stale_token(self, response: httpx.Response | None) -> bool:
        """A 401 on a password login: the token may be stale (e.g. the server's secret
        changed), so drop it and let the next attempt log in again."""
        if response is None or response.status_code != 401 or self._password is None:
            return False
        with self._token_lock:
            self._token = None
        return True

    def _failure(self, response: httpx.Response | None, error: Exception | None) -> Exception:
        if error is not None:
            exc: Exception = ServerUnreachable(
                f"cannot reach the broker at {self.base_url} ({type(error).__name__}: {error})"
            )
            exc.__cause__ = error
            return exc
        assert response is not None
        return error_from_response(response)

    def _get(self, path: str, *, wait_s: float = 0.0, **params: Any) -> Any:
        r = self._send("GET", path, idempotent=True, params=query(**params), wait_s=wait_s)
        return r.json()

    def _create(self, path: str, body: Any, idempotency_key: str | None) -> Any:
        # Generated once per logical call: every retry of this call repeats the same key.
        key = idempotency_key or uuid.uuid4().hex
        r = self._send("POST", path, idempotent=True, json=body, headers={"Idempotency-Key": key})
        return r.json()

    def _action(self, path: str, body: Any, *, idempotent: bool = False) -> Any:
        return self._send("POST", path, idempotent=idempotent, json=body).json()

    def _token_request(self, username: str, password: str) -> schemas.Token:
        r = self._send(
            "POST",
            f"{API}/auth/token",
            idempotent=True,
            auth=False,
            data={"username": username, "password": password},
        )
        return schemas.Token.model_validate(r.json())
