"""Password logins that cannot starve the server: their own bounded pool, and failed logins
rate-limited per user and per client address.

Why: a password check is an argon2 verification (~50-150 ms of CPU by design). Run in the
thread pool every other route shares, 40 concurrent wrong-password logins held its threads
and an authenticated cheap GET waited seconds. Here:

- verifications run in a pool of their own (``password_hash_workers`` threads, default 1), so
  the rest of the API keeps its threads; on Linux those threads run at a lower CPU priority
  (nice +10), so that on a small machine the API's threads are served first;
- at most ``login_queue_max`` logins wait for that pool; one more is answered 503 with
  ``Retry-After`` at once, without hashing;
- a login from an address over its limit, or while the queue is full, is refused by an ASGI
  gate (:class:`LoginGate`) before the form is even read: a flood costs the server little more
  than parsing its HTTP requests;
- every refused login (wrong password, 429, 503) is answered after ``login_failure_delay_s``
  (0.5 s): a client that tries again as soon as it hears back - the usual brute-force loop -
  cannot go faster than that per connection, and a flood costs the server that much less
  (waiting costs an open connection, no thread and no CPU);
- failed logins are counted per user name and per client address in moving windows
  (``login_rate_per_user``, ``login_rate_per_address``: the ``limits`` library's notation,
  e.g. ``5/minute;20/hour``). A name or address over a limit is answered 429 with
  ``Retry-After`` - again without hashing, so a flood costs almost nothing. The windows grow
  (a minute, then an hour): the backoff lengthens as failures go on. A successful login
  clears its user's count.

The counts live in each server process's memory: with several processes an attacker gets
each limit once per process, which is still a bounded rate. Behind a reverse proxy, run
uvicorn with ``--proxy-headers`` and ``--forwarded-allow-ips`` so that the client address is
the caller's and not the proxy's.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.responses import JSONResponse

from finales.errors import TooManyRequests, Unauthorized, Unavailable

T = TypeVar("T")
USER = "login-user"
ADDRESS = "login-address"


class LoginGuard:
    """See the module docstring. ``attempt`` runs one login; thread-safe counts."""

    def __init__(
        self,
        *,
        per_user: str,
        per_address: str,
        workers: int = 1,
        queue_max: int = 8,
        failure_delay_s: float = 0.5,
    ) -> None:
        self.failure_delay_s = failure_delay_s
        self.per_user: list[RateLimitItem] = parse_many(per_user) if per_user else []
        self.per_address: list[RateLimitItem] = parse_many(per_address) if per_address else []
        self.queue_max = queue_max
        self._pool = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="finales-login", initializer=_yield_cpu
        )
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._in_flight = 0  # logins waiting for or inside the pool (event loop only)
        self._pending: collections.Counter[tuple[str, str]] = collections.Counter()

    def admit(self, address: str) -> None:
        """Refuse at once (429 or 503) a login that would be refused anyway, whoever it
        names: its address is over its limit, or the queue is full."""
        self._refuse_if_limited(None, address)
        if self._in_flight >= self.queue_max:
            raise Unavailable("too many logins at once; retry in a second")

    async def attempt(self, name: str, address: str, check: Callable[[], T]) -> T:
        """Run ``check`` (which verifies the password and raises ``Unauthorized`` when it
        is wrong) in the login pool, unless ``name`` or ``address`` is over its limit.
        Logins in flight count as failures until they end: a burst cannot slip more
        attempts past a limit than it allows, however slow the hashing."""
        try:
            self._refuse_if_limited(name, address)
            if self._in_flight >= self.queue_max:
                raise Unavailable("too many logins at once; retry in a second")
        except (TooManyRequests, Unavailable):
            await asyncio.sleep(self.failure_delay_s)
            raise
        keys = ((USER, name), (ADDRESS, address))
        self._in_flight += 1
        self._pending.update(keys)
        try:
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self._pool, check)
        except Unauthorized:
            self._failed(name, address)
            self._leave(keys)
            await asyncio.sleep(self.failure_delay_s)
            raise
        except BaseException:
            self._leave(keys)
            raise
        self._leave(keys)
        for item in self.per_user:
            self._limiter.clear(item, USER, name)
        return result

    def _leave(self, keys: tuple[tuple[str, str], ...]) -> None:
        self._in_flight -= 1
        self._pending.subtract(keys)
        for key in keys:
            if self._pending[key] <= 0:
                del self._pending[key]

    def _refuse_if_limited(self, name: str | None, address: str) -> None:
        scopes = [(ADDRESS, address, self.per_address)]
        if name is not None:
            scopes.append((USER, name, self.per_user))
        over = [
            (item, scope, key)
            for scope, key, items in scopes
            for item in items
            if not self._limiter.test(item, scope, key, cost=1 + self._pending[(scope, key)])
        ]
        if over:
            now = time.time()
            wait_s = max(self._limiter.get_window_stats(*o).reset_time - now for o in over)
            retry = max(1, math.ceil(wait_s))
            raise TooManyRequests(
                f"too many failed logins for this user or from this address; retry in {retry} s",
                retry_after_s=retry,
            )

    def _failed(self, name: str, address: str) -> None:
        for item in self.per_user:
            self._limiter.hit(item, USER, name)
        for item in self.per_address:
            self._limiter.hit(item, ADDRESS, address)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _yield_cpu() -> None:
    """Lower this thread's CPU priority (Linux schedules threads one by one; lowering is
    always allowed). Elsewhere the pool simply runs at the process's priority."""
    if hasattr(os, "setpriority") and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOGIN_NICENESS)


LOGIN_NICENESS = 10
LOGIN_PATHS = frozenset(
    {"/api/v1/auth/token", "/user_management/authenticate", "/user_management/authenticate/"}
)


class LoginGate:
    """Pure ASGI: answers a login that :meth:`LoginGuard.admit` refuses before any of the
    application runs (no routing, no form parsing)."""

    def __init__(self, app: Any, guard: LoginGuard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in LOGIN_PATHS:
            client = scope.get("client")
            try:
                self.guard.admit(client[0] if client else "unknown")
            except (TooManyRequests, Unavailable) as refused:
                retry = refused.retry_after_s if isinstance(refused, TooManyRequests) else 1
                await asyncio.sleep(self.guard.failure_delay_s)
                answer = JSONResponse(
                    refused.to_body(),
                    status_code=refused.status_code,
                    headers={"Retry-After": str(retry)},
                )
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)
