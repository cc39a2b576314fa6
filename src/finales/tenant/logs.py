"""Structured log lines for tenants: ``key=value`` (default) or one JSON object per line.

Runtime events carry their fields in ``record.kv`` (``extra={"kv": {...}}``); the formatters
put them after the standard ones, so every line of a job carries its ``request_id``.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["kv", "json"]


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    at = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
    fields: dict[str, Any] = {
        "ts": at.replace("+00:00", "Z"),
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    fields.update(getattr(record, "kv", {}) or {})
    return fields


def _quote(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if text and not any(c in text for c in ' "=\n\t\\'):
        return text
    return json.dumps(text)


class KeyValueFormatter(logging.Formatter):
    """``ts=... level=info logger=finales.tenant msg="job started" request_id=...``"""

    def format(self, record: logging.LogRecord) -> str:
        line = " ".join(f"{k}={_quote(v)}" for k, v in _fields(record).items())
        if record.exc_info:
            line += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the traceback (if any) under ``exc``."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        if record.exc_info:
            fields["exc"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(fields, default=str)


class KeyValueAdapter(logging.LoggerAdapter[logging.Logger]):
    """A logger that adds fixed fields (e.g. the request id) to every line, merged with the
    ``extra={"kv": ...}`` of the call."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        extra = dict(kwargs.get("extra") or {})
        extra["kv"] = {**(self.extra or {}), **extra.get("kv", {})}
        kwargs["extra"] = extra
        return msg, kwargs


def configure_logging(
    fmt: LogFormat = "kv", level: int | str = logging.INFO, *, force: bool = False
) -> None:
    """Send log lines to stderr in ``fmt``; does nothing if logging is already set up,
    unless ``force``."""
    root = logging.getLogger()
    if root.handlers and not force:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    if force:
        for old in list(root.handlers):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # One line per HTTP call drowns the tenant's own lines; the SDK logs what matters.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def event(
    logger: logging.Logger | logging.LoggerAdapter[Any],
    level: int,
    msg: str,
    fields: Mapping[str, Any] | None = None,
    *,
    exc_info: bool = False,
    **kv: Any,
) -> None:
    """Log ``msg`` with structured fields."""
    logger.log(level, msg, exc_info=exc_info, extra={"kv": {**(fields or {}), **kv}})
