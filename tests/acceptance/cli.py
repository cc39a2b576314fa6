"""Running the `finales` command in tests: in-process (fast) or as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from finales.cli import app

ROOT = Path(__file__).resolve().parents[2]
FINALES = [sys.executable, "-m", "finales.cli"]


def _env(home: Path, database_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINALES_")}
    env["FINALES_HOME"] = str(home)
    if database_url:
        env["FINALES_DATABASE_URL"] = database_url
    return env


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str


def run(env: dict[str, str], *args: str, stdin: str | None = None, ok: bool = True) -> Outcome:
    """Run the real CLI in-process (fast): the same Typer app, real files, real database."""
    overrides = {k: v for k, v in env.items() if k.startswith("FINALES_")}
    result = CliRunner().invoke(app, list(args), input=stdin, env=overrides)
    out = Outcome(result.exit_code, result.stdout, result.stderr)
    if ok:
        assert out.returncode == 0, (out.stderr, result.exception)
    return out


def run_process(
    env: dict[str, str], *args: str, ok: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*FINALES, *args], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc
