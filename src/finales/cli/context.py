"""What every ``finales`` command shares: the consoles, one-line failures, the root
``--config``, and the extras a command needs (``pip install finales`` is the tenant SDK; the
broker and the simulated lab come with extras)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from finales.errors import FinalesError

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

# The top-level package a missing import belongs to -> the extra that installs it.
EXTRA_OF_PACKAGE = {
    "fastapi": "server",
    "starlette": "server",
    "uvicorn": "server",
    "multipart": "server",
    "pydantic_settings": "server",
    "sqlalchemy": "server",
    "alembic": "server",
    "pwdlib": "server",
    "argon2": "server",
    "jwt": "server",
    "platformdirs": "server",
    "pyoxigraph": "server",
    "psycopg": "postgres",
    "numpy": "lab",
    "scipy": "lab",
    "sklearn": "lab",
    "matplotlib": "demo",
    "jinja2": "workflows",
    "yaml": "workflows",
    "pyld": "semantics",
    "rdflib": "semantics",
}


class Options:
    """The root options, read by subcommands (set once per invocation)."""

    config: Path | None = None


def fail(message: str) -> NoReturn:
    """Print ``error: message`` on stderr and exit with status 1."""
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(1)


@contextmanager
def errors() -> Iterator[None]:
    """Turn finales errors into one line and a non-zero exit."""
    try:
        yield
    except FinalesError as exc:
        fail(exc.detail)
    except OSError as exc:  # a data directory that cannot be made or written, a missing file
        where = f" ({exc.filename})" if exc.filename else ""
        fail(f"{exc.strerror or exc}{where}: check FINALES_HOME and the paths given")


def missing_extra(exc: ImportError) -> str | None:
    """The extra that installs the module an ImportError is about (None: not one of ours)."""
    top = (exc.name or "").split(".")[0]
    return EXTRA_OF_PACKAGE.get(top)


@contextmanager
def needs(extra: str, what: str) -> Iterator[None]:
    """Imports inside this block belong to ``extra``: a missing one is a one-line error that
    says what to install, not a traceback."""
    try:
        yield
    except ImportError as exc:
        wanted = missing_extra(exc)
        if wanted is None:
            raise
        # A PostgreSQL driver is its own extra; anything else comes with the one asked for.
        install = wanted if wanted == "postgres" else extra
        fail(
            f"{what} needs the {install} extra, which is not installed (no module "
            f"{exc.name!r}): pip install 'finales[{install}]'"
        )


def emit_json(data: Any) -> None:
    out.print_json(json.dumps(data, default=str))
