"""When the broker is away: which answers say so, and how long to wait before trying again."""

from __future__ import annotations

import random

from finales.client import ServerError
from finales.errors import Unavailable

RECONNECT_MAX_S = 10.0
# Answers meaning "the broker is down or struggling": wait and try again, never give up.
TRANSIENT = (Unavailable, ServerError)


class Backoff:
    """Pauses between reconnection attempts: exponential with jitter, capped."""

    def __init__(self, base_s: float = 0.5, cap_s: float = RECONNECT_MAX_S) -> None:
        self.base_s, self.cap_s, self.n = base_s, cap_s, 0

    def next(self) -> float:
        ceiling = min(self.cap_s, self.base_s * 2**self.n)
        self.n += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.n = 0
