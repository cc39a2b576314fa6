"""Password logins that cannot starve the server: their own bounded pool, and failed logins
rate-limited per user and per client address.

Why: a password check is an argon2 verification (~50-150 ms of CPU by design). Run in the
thread pool every other route shares, 40 concurrent wrong-password logins held its threads
and an authenticated cheap GET waited seconds. Here:

- verifications run in a pool of their own (``password_hash_workers`` threads, default 1), so
  the rest of the API keeps its threads and, on a small machine, a core;
- at most ``login_queue_max`` logins wait for that pool; one more is answered 503 with
  ``Retry-After`` at once, without hashing;
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
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from finales.errors import TooManyRequests, Unauthorized, Unavailable

T = TypeVar("T")
USER = "login-user"
ADDRESS = "login-address"


class LoginGuard:
    """See the module docstring. ``attempt`` runs one login; thread-safe counts."""

    def __init__(
        self, *, per_user: str, per_address: str, workers: int = 1, queue_max: int = 8
    ) -> None:
        self.per_user: list[RateLimitItem] = parse_many(per_user) if per_user else []
        self.per_address: list[RateLimitItem] = parse_many(per_address) if per_address else []
        self.queue_max = queue_max
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="finales-login")
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._in_flight = 0  # logins waiting for or inside the pool (event loop only)

    async def attempt(self, name: str, address: str, check: Callable[[], T]) -> T:
        """Run ``check`` (which verifies the password and raises ``Unauthorized`` when it
        is wrong) in the login pool, unless ``name`` or ``address`` is over its limit."""
        self._refuse_if_limited(name, address)
        if self._in_flight >= self.queue_max:
            raise Unavailable("too many logins at once; retry in a second")
        self._in_flight += 1
        try:
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self._pool, check)
        except Unauthorized:
            self._failed(name, address)
            raise
        finally:
            self._in_flight -= 1
        for item in self.per_user:
            self._limiter.clear(item, USER, name)
        return result

    def _refuse_if_limited(self, name: str, address: str) -> None:
        scopes = ((USER, name, self.per_user), (ADDRESS, address, self.per_address))
        over = [
            (item, scope, key)
            for scope, key, items in scopes
            for item in items
            if not self._limiter.test(item, scope, key)
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
