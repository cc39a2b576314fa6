"""A demo (`finales demo ...`) run as a person runs it: the CLI as a subprocess, with
--keep-server so that the report is written and the broker still up when the tests look."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.acceptance.cli import FINALES, ROOT

STARTUP_TIMEOUT_S = 300  # the whole campaign runs before the broker is announced
STOP_TIMEOUT_S = 30


@dataclass
class Demo:
    proc: subprocess.Popen[str]
    out: Path
    url: str
    key_file: Path
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "".join(self.lines)


def _drain(proc: subprocess.Popen[str], lines: list[str], seen: queue.Queue[str]) -> None:
    """Read the demo's output to its end, so that a full pipe never blocks it."""
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        seen.put(line)


def demo_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINALES_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextmanager
def kept_demo(args: list[str], out: Path) -> Iterator[Demo]:
    """``finales <args> --keep-server --out <out>`` until its broker is announced; stopped
    (SIGTERM) on the way out if a test has not stopped it."""
    proc = subprocess.Popen(
        [*FINALES, *args, "--keep-server", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env=demo_env(),
    )
    lines: list[str] = []
    seen: queue.Queue[str] = queue.Queue()
    drainer = threading.Thread(target=_drain, args=(proc, lines, seen), daemon=True)
    drainer.start()
    url = key_file = None
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    try:
        while (url is None or key_file is None) and time.monotonic() < deadline:
            try:
                line = seen.get(timeout=1)
            except queue.Empty:
                assert proc.poll() is None, "".join(lines)
                continue
            if m := re.search(r"stays up at (http://\S+) ", line):
                url = m.group(1)
            if m := re.search(r"API key in the file (\S+)$", line.rstrip()):
                key_file = Path(m.group(1))
        assert url and key_file, "".join(lines)
        yield Demo(proc, out, url, key_file, lines)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        drainer.join(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()


def start_demo(args: list[str], out: Path) -> subprocess.Popen[str]:
    """``finales <args> --out <out>`` started, not waited for (see :func:`finished`)."""
    return subprocess.Popen(
        [*FINALES, *args, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env=demo_env(),
    )


def finished(proc: subprocess.Popen[str]) -> str:
    """A started demo's output once it ended well (a failure shows the output)."""
    try:
        output, _ = proc.communicate(timeout=STARTUP_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
    return output
