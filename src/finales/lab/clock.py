"""A shared, scaled clock for the simulated laboratory.

Real durations span minutes (models) to weeks (cycling). Simulated tenants ask this clock
to let *lab* time pass; it sleeps ``scale`` real seconds per lab second, so that with
``LabClock(scale=0.1 / 3600)`` an hour of lab work takes 0.1 s and a whole campaign runs in
minutes while jobs keep their real order and overlap.
"""

from __future__ import annotations

import os
import threading
import time

LAB_HOUR_S = 3600.0
DEFAULT_SCALE = 1.0 / LAB_HOUR_S  # one lab hour per real second
SCALE_ENV = "FINALES_LAB_TIME_SCALE"


class Interrupted(RuntimeError):
    """A simulated job was told to stop (shutdown, or its lease was lost)."""


class LabClock:
    """Lab time = ``(real time since start) / scale``; ``sleep(lab_s)`` waits
    ``lab_s · scale`` real seconds, or until ``stop`` is set (then raises ``Interrupted``)."""

    def __init__(self, scale: float = DEFAULT_SCALE) -> None:
        if scale < 0:
            raise ValueError("the time scale cannot be negative")
        self.scale = scale
        self._start = time.monotonic()

    @classmethod
    def from_env(cls) -> LabClock:
        """The scale from ``FINALES_LAB_TIME_SCALE`` (real seconds per lab second)."""
        value = os.environ.get(SCALE_ENV)
        return cls(float(value)) if value else cls()

    def now(self) -> float:
        """Lab seconds since the clock was made."""
        if self.scale == 0:
            return 0.0
        return (time.monotonic() - self._start) / self.scale

    def sleep(self, lab_s: float, stop: threading.Event | None = None) -> None:
        """Let ``lab_s`` seconds of lab time pass."""
        real_s = max(0.0, lab_s * self.scale)
        if stop is None:
            time.sleep(real_s)
        elif stop.wait(real_s):
            raise Interrupted("stopped while working")
