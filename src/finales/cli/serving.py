"""The app ``finales serve`` hands uvicorn: the broker, told of a shutdown as soon as it begins.

Why. A long-poll (``GET /work?wait=``, ``GET /requests/{id}/results?wait=``) waits up to a
minute. On Ctrl-C (SIGINT) or SIGTERM uvicorn stops accepting connections and then waits for
the open ones to finish - for ``--timeout-graceful-shutdown`` at most - before it runs the
app's lifespan shutdown. So the lifespan learns of the shutdown only after the waiting polls
have been cancelled, which uvicorn answers with a plain-text 500 and a ``CancelledError``
traceback in the log. ASGI has no message for "the server is stopping"; the signal is the
first thing that knows.

How. Each server process builds its app here (uvicorn calls this factory in the process, in
its main thread, once its own signal handlers are installed - with ``--workers N`` too, in
every worker). For the signals uvicorn handles, a handler is put in front of uvicorn's own: it
marks the app stopping and wakes this process's waiting long-polls (``Notifier.wake_all_here``,
which only schedules the wake-up on the event loop), then calls uvicorn's handler, which
shuts down as before. The woken polls answer normally - what they have, usually an empty list,
with ``Connection: close`` - and uvicorn's wait for open connections ends at once.

Not a ``uvicorn.Server`` subclass (its ``shutdown`` would be the exact hook): uvicorn's
multi-process supervisor builds plain ``Server`` objects in the workers, so ``--workers N``
would keep the 500s. Not in ``create_app``: an app embedded elsewhere (tests, a user's own
server) should not take over the process's signal handlers; only ``finales serve`` does.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from fastapi import FastAPI

from finales.server.app import create_app
from finales.server.state import AppState
from finales.settings import load_settings

# The signals uvicorn shuts down on (uvicorn.server.HANDLED_SIGNALS on POSIX).
SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM)
SignalHandler = Callable[[int, FrameType | None], Any]


def app() -> FastAPI:
    """The ASGI factory of ``finales serve`` (``uvicorn --factory finales.cli.serving:app``)."""
    broker = create_app(load_settings())
    answer_long_polls_on_shutdown(broker.state.finales)
    return broker


def answer_long_polls_on_shutdown(state: AppState) -> None:
    """Chain a handler in front of the server's for each shutdown signal (see the module
    docstring). Only where a server installed a handler of its own: a default or ignored
    signal is left as it is, and signals can only be handled in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in SHUTDOWN_SIGNALS:
        previous = signal.getsignal(sig)
        if callable(previous):
            signal.signal(sig, _chained(state, previous))


def _chained(state: AppState, previous: SignalHandler) -> SignalHandler:
    def handler(signum: int, frame: FrameType | None) -> None:
        state.stopping = True  # a poll woken now answers instead of waiting again
        state.notifier.wake_all_here()
        previous(signum, frame)

    return handler
