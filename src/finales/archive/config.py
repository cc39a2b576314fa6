"""The archiver's YAML configuration, validated with pydantic.

Every problem is reported as ``FILE: key.path: what is wrong`` (``ConfigError``), so a typo in
a cron job's configuration is found by its name. Secrets never sit in the file: the broker's
API key and the archive's token come from an environment variable or from a file that only
its owner may read (mode 0600); a group- or world-readable token file is refused.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

# The archive's name becomes part of a URN carried by the record (``urn:finales:archive:<id>``)
ARCHIVE_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
URN_PREFIX = "urn:finales:archive:"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


class ConfigError(Exception):
    """A configuration that cannot be used; the message names the file and the key."""


def parse_duration(value: object) -> object:
    """Seconds from a number or a string such as ``"90"``, ``"30m"``, ``"6h"``, ``"1d"``."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError("a duration is a number of seconds or e.g. '30s', '30m', '6h', '1d'")
        return float(match.group(1)) * _UNIT_S[match.group(2)]
    return value


Duration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Secret(_Strict):
    """Where a secret is read from: an environment variable or an owner-only file."""

    env: str | None = Field(None, description="name of the environment variable")
    file: Path | None = Field(None, description="a file readable by its owner only (0600)")

    @model_validator(mode="after")
    def _one_source(self) -> Secret:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env (a variable name) or file (a 0600 file)")
        return self

    def read(self, key: str) -> str:
        """The secret; ``key`` names its place in the configuration for error messages."""
        if self.env is not None:
            value = os.environ.get(self.env, "").strip()
            if not value:
                raise ConfigError(f"{key}.env: the environment variable {self.env} is not set")
            return value
        assert self.file is not None
        return read_secret_file(self.file, f"{key}.file")


def read_secret_file(path: Path, key: str) -> str:
    """A secret from a file that only its owner can read; refuses group/world permissions."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{key}: {path} is readable by others (mode {stat.S_IMODE(mode):04o}); "
            f"a token file must be private: chmod 600 {path}"
        )
    value = path.read_text(encoding="utf-8").strip()
    if not value:
        raise ConfigError(f"{key}: {path} is empty")
    return value


class BrokerConfig(_Strict):
    """The broker the snapshot comes from and the deposits are recorded in."""

    url: str | None = Field(None, description="broker URL (else FINALES_SERVER_URL)")
    api_key: Secret = Field(
        default_factory=lambda: Secret(env="FINALES_API_KEY"),
        description="the archiver's API key (role archiver, bound to the archiver tenant)",
    )


class InvenioTarget(_Strict):
    """An InvenioRDM instance (Zenodo, the BIG-MAP Archive, a test double)."""

    kind: Literal["invenio"]
    url: str = Field(description="base URL, e.g. https://archive.big-map.eu")
    token: Secret = Field(description="personal access token (deposit:write, deposit:actions)")
    verify_tls: bool = True


class RoCrateTarget(_Strict):
    """A folder that holds the dataset as an RO-Crate (a copy kept on disk, or for a
    repository without an API)."""

    kind: Literal["rocrate"]
    folder: Path


class Affiliation(_Strict):
    name: str = Field(min_length=1)
    ror: str | None = Field(None, description="ROR id of the organisation, e.g. 04q78tk20")


class Creator(_Strict):
    family_name: str = Field(min_length=1)
    given_name: str = ""
    orcid: str | None = Field(None, pattern=r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$")
    affiliations: list[Affiliation] = Field(default_factory=list)


class RecordMetadata(_Strict):
    """What the archive shows about the dataset (DataCite-like, as InvenioRDM asks)."""

    title: str = Field(min_length=3)
    description: str = Field(min_length=1)
    creators: list[Creator] = Field(min_length=1)
    license: str = Field("cc-by-4.0", description="SPDX id, e.g. cc-by-4.0")
    keywords: list[str] = Field(default_factory=list)
    community: str | None = Field(None, description="community the record is submitted to")
    publisher: str = "finales"
    resource_type: str = "dataset"
    access: Literal["public", "restricted"] = "public"


class Schedule(_Strict):
    every: Duration | None = Field(None, description="run again after this long, e.g. 6h")


class FileCut(_Strict):
    """How the dataset is cut into files so that old files stay unchanged when data arrive."""

    cut: Literal["month", "week", "campaign"] = "month"
    campaign_label: str = Field(
        "campaign", min_length=1, description="with cut: campaign, the request label naming it"
    )
    compress: bool = Field(
        False, description="gzip the data and graph files (deterministic: no time stamp)"
    )


class ArchiveConfig(_Strict):
    """One archive: where its data come from, where they go, and how they are described."""

    id: str = Field(description="stable name of this archive on its target")
    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    target: Annotated[InvenioTarget | RoCrateTarget, Field(discriminator="kind")]
    record: RecordMetadata
    schedule: Schedule = Field(default_factory=Schedule)
    files: FileCut = Field(default_factory=FileCut)

    @model_validator(mode="after")
    def _check_id(self) -> ArchiveConfig:
        if not ARCHIVE_ID.match(self.id):
            raise ValueError(
                "id: lowercase letters, digits, '.', '_' or '-', at most 64 (e.g. bigmap-lab-1)"
            )
        return self

    @property
    def identifier(self) -> str:
        """The finales-specific identifier the record carries (how a re-run finds it)."""
        return URN_PREFIX + self.id


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a key given twice (the second would win silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _where(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if not (isinstance(p, str) and p in ("invenio", "rocrate"))]
    return ".".join(parts) or "(top level)"


def parse(data: Any, source: str) -> ArchiveConfig:
    """Validate a loaded document; every problem becomes ``source: key: message``."""
    try:
        return ArchiveConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key"
            elif error["type"] == "missing":
                message = "missing (required)"
            problems.append(f"{_where(error['loc'])}: {message}")
        raise ConfigError(f"{source}: " + "; ".join(problems)) from None


def load(path: Path) -> ArchiveConfig:
    """Read and validate the YAML file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration: {exc.strerror}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the configuration must be a mapping of keys to values")
    return parse(data, str(path))
