"""``finales demo --keep-server``: leave a demo's broker up for a look around, until Ctrl-C or
SIGTERM, then let the caller stop it cleanly."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from types import FrameType

from rich.console import Console

from finales.server.app import API_PREFIX
from finales.testing import LocalBroker

KEY_FILE = "admin-api-key"
POLL_S = 0.5


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
