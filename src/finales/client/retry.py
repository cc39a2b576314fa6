"""When and how long the SDK retries: exponential backoff with jitter, bounded in total time."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

# 429 and every 5xx are worth another try: the server sends 503 when the database is busy.
RETRY_STATUSES = frozenset({429, *range(500, 600)})
# Answers that prove the server did nothing: safe to retry even for calls that are not
# idempotent (429 is refused before any work; 503 is a rolled-back transaction).
SAFE_RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded by ``max_attempts`` and ``total_s``.

    The n-th wait is drawn from ``[d/2, d]`` with ``d = min(max_backoff_s, base_s * 2**n)``
    ("equal jitter": clients that failed together do not retry together, yet every wait is
    a real pause). A ``Retry-After`` header raises the wait, never past ``max_backoff_s``.
    ``clock``/``sleep``/``rand`` are injectable for tests.
    """

    max_attempts: int = 8
    total_s: float = 30.0
    base_s: float = 0.2
    max_backoff_s: float = 5.0
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    rand: Callable[[float, float], float] = field(default=random.uniform, repr=False)

    def backoff_s(self, attempt: int, retry_after_s: float | None = None) -> float:
        """The pause before retry number ``attempt`` (0 for the first retry)."""
        ceiling = min(self.max_backoff_s, self.base_s * (2**attempt))
        wait = self.rand(ceiling / 2, ceiling)
        if retry_after_s is not None:
            wait = max(wait, min(retry_after_s, self.max_backoff_s))
        return wait


NO_RETRY = RetryPolicy(max_attempts=1, total_s=0.0)


def retry_after_s(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds (the date form is ignored)."""
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def should_retry(
    *, response: httpx.Response | None, error: Exception | None, idempotent: bool
) -> bool:
    """Whether one failed attempt is worth repeating.

    Idempotent calls (reads, creating POSTs with an Idempotency-Key, heartbeats) are retried
    after any transport error, 429 or 5xx. Other calls only when the server certainly did
    nothing: the connection was never made, or it answered 429/503.
    """
    if error is not None:
        if idempotent:
            return isinstance(error, httpx.TransportError)
        return isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)
    assert response is not None
    statuses = RETRY_STATUSES if idempotent else SAFE_RETRY_STATUSES
    return response.status_code in statuses


def next_pause(
    policy: RetryPolicy,
    *,
    attempt: int,
    started: float,
    response: httpx.Response | None,
    error: Exception | None,
    idempotent: bool,
    retry_after_beyond_cap: bool = False,
) -> float | None:
    """The pause before attempt ``attempt + 1`` of a call begun at ``started`` (the policy's
    clock), or None when this failure is final: not worth repeating, attempts spent, or the
    pause would overrun the policy's total time. With ``retry_after_beyond_cap`` a
    ``Retry-After`` longer than the backoff cap is waited out in full (the archive's rule:
    the server's word, wait that long or give up) instead of capped (the broker client's)."""
    if not should_retry(response=response, error=error, idempotent=idempotent):
        return None
    if attempt >= policy.max_attempts:
        return None
    hint = retry_after_s(response) if response is not None else None
    pause = policy.backoff_s(attempt - 1, hint)
    if retry_after_beyond_cap and hint is not None and hint > pause:
        pause = hint
    if policy.clock() - started + pause > policy.total_s:
        return None
    return pause
