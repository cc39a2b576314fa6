"""Which broker a client-side command talks to, and as whom: the one rule shared by
``finales tenant run``, ``finales chat``, ``finales workflow`` and ``finales request``.

A value comes from its flag, else the environment (``FINALES_SERVER_URL``,
``FINALES_API_KEY``, ``FINALES_USERNAME`` / ``FINALES_PASSWORD``), else a TOML file (``--config``,
the root ``--config`` or ``FINALES_CONFIG``). Each command then says in its own words what is
missing for what it does. Tenant side only: works from ``pip install finales``.
"""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from finales.cli.context import Options
from finales.errors import FinalesError

CONFIG_KEYS = {
    "server_url": str,
    "api_key": str,
    "username": str,
    "password": str,
    "concurrency": int,
    "lease_s": float,
    "poll_s": float,
    "grace_s": float,
}
ENV = {
    "server_url": "FINALES_SERVER_URL",
    "api_key": "FINALES_API_KEY",
    "username": "FINALES_USERNAME",
    "password": "FINALES_PASSWORD",
}

ServerOpt = Annotated[
    str | None, typer.Option("--server", help="broker URL (env FINALES_SERVER_URL)")
]
KeyOpt = Annotated[str | None, typer.Option("--api-key", help="API key (env FINALES_API_KEY)")]
UserOpt = Annotated[
    str | None,
    typer.Option("--username", help="login name; password in FINALES_PASSWORD or stdin"),
]
PasswordStdinOpt = Annotated[
    bool, typer.Option("--password-stdin", help="read the password from stdin")
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="TOML file with server_url, api_key, ...")
]


def read_config(path: Path) -> dict[str, Any]:
    """Tenant settings from a TOML file: top level, ``[finales]`` or ``[tenant]`` (the most
    specific wins). Unknown keys (e.g. the server's own settings) are ignored."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise FinalesError(f"cannot read the configuration file {path}: {exc}") from None
    merged: dict[str, Any] = {}
    for section in (data, data.get("finales", {}), data.get("tenant", {})):
        if isinstance(section, dict):
            if "server" in section:
                merged["server_url"] = section["server"]
            merged.update({k: v for k, v in section.items() if k in CONFIG_KEYS})
    for key, kind in CONFIG_KEYS.items():
        allowed = (int, float) if kind is float else (kind,)
        if key in merged and (
            isinstance(merged[key], bool) or not isinstance(merged[key], allowed)
        ):
            raise FinalesError(f"{path}: {key} must be a {kind.__name__}")
    return merged


def config_path(config: Path | None) -> Path | None:
    """The TOML file to read: the command's ``--config``, the root one, or FINALES_CONFIG."""
    if config is not None:
        return config
    if Options.config is not None:
        return Options.config
    return Path(os.environ["FINALES_CONFIG"]) if os.environ.get("FINALES_CONFIG") else None


@dataclass(frozen=True, slots=True)
class Broker:
    """Where a command goes (``url`` None: nowhere named) and its credentials; ``file`` holds
    every value the TOML file gave (a tenant's concurrency, lease, ...)."""

    url: str | None
    api_key: str | None = None
    username: str | None = None
    password: str | None = None
    file: dict[str, Any] = field(default_factory=dict)


def resolve(
    server: str | None = None,
    api_key: str | None = None,
    username: str | None = None,
    password_stdin: bool = False,
    config: Path | None = None,
) -> Broker:
    """The broker and credentials the flags, the environment and the file name (in that
    order); ``password_stdin`` reads the password from the first line of stdin. A file that
    cannot be read raises FinalesError."""
    path = config_path(config)
    from_file = read_config(path) if path is not None else {}

    def pick(key: str, flag: str | None) -> str | None:
        value = flag or os.environ.get(ENV[key]) or from_file.get(key)
        return str(value) if value else None

    password = pick("password", None)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n") or None
    return Broker(
        url=pick("server_url", server),
        api_key=pick("api_key", api_key),
        username=pick("username", username),
        password=password,
        file=from_file,
    )
