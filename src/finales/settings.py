"""Server configuration. Read from ``FINALES_*`` variables; no module-level instance."""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from finales.errors import ConfigurationError

MIN_SECRET_CHARS = 32
SECRET_FILE = "secret.key"


def default_home() -> Path:
    """The user's data directory for finales (never inside the package)."""
    return Path(platformdirs.user_data_dir("finales", appauthor=False))


class Settings(BaseSettings):
    """Everything the broker needs to start. Tests build their own instance."""

    model_config = SettingsConfigDict(env_prefix="FINALES_", extra="ignore")

    home: Path = Field(default_factory=default_home, description="data directory")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file in home"
    )
    secret_key: SecretStr | None = Field(
        default=None, description="token signing secret; generated in home when unset"
    )
    token_ttl_s: int = Field(default=3600, gt=0, le=30 * 24 * 3600)
    default_lease_s: float = Field(default=300.0, gt=0)
    max_lease_s: float = Field(default=24 * 3600.0, gt=0)
    compat_lease_s: float | None = Field(
        default=None, description="lease of FINALES 2 reservations; None never expires"
    )
    dump_key: SecretStr | None = Field(
        default=None,
        description="access key of the FINALES 2 GET /database_dump route; unset: disabled",
    )
    long_poll_max_s: float = Field(default=60.0, ge=0)
    long_poll_recheck_s: float = Field(
        default=2.0,
        gt=0,
        description="how often a server process looks for changes made by other processes "
        "(or the CLI) to wake long-polls",
    )
    lease_sweep_s: float = Field(default=5.0, gt=0)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    page_max: int = Field(default=500, gt=0)
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'finales.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url().startswith("sqlite")

    def signing_secret(self) -> str:
        """The token secret: from the environment, else from ``home/secret.key`` (0600).

        A missing file is created with a fresh random secret; a short or empty secret is
        refused, whichever source it comes from.
        """
        if self.secret_key is not None:
            value = self.secret_key.get_secret_value()
            source = "FINALES_SECRET_KEY"
        else:
            path = self.home / SECRET_FILE
            if not path.exists():
                self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_urlsafe(48))
            value = path.read_text().strip()
            source = f"{SECRET_FILE} in the data directory"
        if len(value) < MIN_SECRET_CHARS:
            raise ConfigurationError(
                f"the signing secret from {source} is too short "
                f"(at least {MIN_SECRET_CHARS} characters are required)"
            )
        return value


CONFIG_ENV = "FINALES_CONFIG"


def load_settings(config: Path | None = None) -> Settings:
    """Settings from ``FINALES_*`` variables, then an optional TOML file (``config`` or the
    file named by ``FINALES_CONFIG``); the variables win. The TOML keys are the field names,
    at top level or under a ``[finales]`` table."""
    path = config or (Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None)
    values: dict[str, Any] = {}
    if path is not None:
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationError(f"cannot read the configuration file {path}: {exc}") from None
        section = data.get("finales", data)
        values = {k: v for k, v in section.items() if f"FINALES_{k.upper()}" not in os.environ}
    try:
        return Settings(**values)
    except ValidationError as exc:
        where = f" (environment or {path})" if path else " (environment)"
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigurationError(f"invalid settings{where}: {problems}") from None
