"""Server configuration. Read from ``FINALES_*`` variables; no module-level instance."""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import Field, SecretStr, ValidationError, field_validator
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
    max_json_depth: int = Field(
        default=64,
        gt=0,
        le=200,
        description="deepest nesting of arrays and objects a JSON body may have; deeper "
        "answers 413 before any parsing (pydantic's own recursion limit, near 255, bounds it)",
    )
    max_json_nodes: int = Field(
        default=100_000,
        gt=0,
        description="most values (objects, arrays, strings, numbers, literals; keys not "
        "counted) a JSON body may hold; more answers 413 before any parsing",
    )
    page_max: int = Field(default=500, gt=0)
    sparql_timeout_s: float = Field(
        default=10.0, gt=0, le=600, description="time limit of a SPARQL query (it is killed)"
    )
    sparql_max_rows: int = Field(
        default=10_000, gt=0, description="rows (or triples) a SPARQL answer may hold"
    )
    sparql_concurrency: int = Field(default=2, gt=0, description="SPARQL queries run at once")
    public_docs: bool = Field(
        default=True,
        description="serve the OpenAPI document and the docs page without credentials; off: "
        "the document needs credentials and the page is not served",
    )
    login_rate_per_user: str = Field(
        default="5/minute;20/hour",
        description="failed logins allowed per user name, in moving windows ('limits' "
        "notation); beyond: 429 with Retry-After. Empty: no limit",
    )
    login_rate_per_address: str = Field(
        default="30/minute;300/hour",
        description="failed logins allowed per client address (same notation)",
    )
    password_hash_workers: int = Field(
        default=1, gt=0, description="threads that verify passwords (argon2), apart from the API"
    )
    login_queue_max: int = Field(
        default=8, gt=0, description="logins that may wait for those threads; beyond: 503"
    )
    login_failure_delay_s: float = Field(
        default=0.5,
        ge=0,
        le=10,
        description="a refused login (401, 429, 503) is answered after this pause",
    )
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)

    @field_validator("login_rate_per_user", "login_rate_per_address")
    @classmethod
    def _rate(cls, value: str) -> str:
        if value.strip():
            from limits import parse_many  # the server extra

            try:
                parse_many(value)
            except ValueError:
                raise ValueError(f"{value!r} is no rate: write e.g. '5/minute;20/hour'") from None
        return value

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
