"""What the demos share to run: the tenants in threads of this process (:func:`running`) and,
with ``--keep-server``, the broker left up for a look around until Ctrl-C or SIGTERM
(:func:`keep_serving`), then stopped cleanly by the caller."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console

from finales.lab.base import SimulatedTenant
from finales.server.app import API_PREFIX
from finales.testing import LocalBroker

KEY_FILE = "admin-api-key"
POLL_S = 0.5
JOIN_TIMEOUT_S = 30


@contextmanager
def running(tenants: list[Any]) -> Iterator[None]:
    """Run each tenant (a simulated tenant, an orchestrator: ``run(handle_signals=,
    configure_logging=)`` and ``stop()``) in a thread of its own; stop them all on the way
    out, simulated jobs at once (their requests are released, the broker goes next)."""
    threads = [
        threading.Thread(
            target=t.run,
            kwargs={"handle_signals": False, "configure_logging": False},
            daemon=True,
            name=type(t).__name__,
        )
        for t in tenants
    ]
    for th in threads:
        th.start()
    try:
        yield
    finally:
        for t in tenants:
            if isinstance(t, SimulatedTenant):
                t.stop(force=True)
            else:
                t.stop()
        for th in threads:
            th.join(timeout=JOIN_TIMEOUT_S)


def write_key_file(home: Path, api_key: str) -> Path:
    """The admin's API key in a file only its owner can read (never printed or logged)."""
    path = home / KEY_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(api_key + "\n")
    return path


def keep_serving(broker: LocalBroker, console: Console, *, admin: str, api_key: str) -> None:
    """Say where the broker is and how to get in, then block until Ctrl-C or SIGTERM.

    Must run on the main thread (signal handlers); the previous handlers are restored on the
    way out, and the caller's ``with LocalBroker(...)`` then stops the server.
    """
    key_file = write_key_file(broker.settings.home, api_key)
    api = broker.url + API_PREFIX
    lines = [
        f"The broker stays up at {broker.url} until Ctrl-C or SIGTERM.",
        f"  data:       {broker.settings.home}",
        f"  admin user: {admin}; API key in the file {key_file}",
        f'  browse:     curl -H "Authorization: Bearer $(cat {key_file})" {api}/requests',
        f"  API docs:   {api}/docs",
    ]
    console.print("\n".join(lines), highlight=False, soft_wrap=True)
    _wait_for_stop()
    console.print("stopping the broker", highlight=False)


def _wait_for_stop() -> None:
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(POLL_S):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
