"""JSON Schema (2020-12) checks with errors named by JSON pointer, and a validator cache.

Validators are compiled once per capability version: the cache key is the version's id, which
never changes meaning because capability rows are immutable.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError

from finales.errors import InvalidPayload, pointer

MAX_ERRORS = 20


def check_schema(schema: Any, where: str) -> None:
    """Raise InvalidPayload unless ``schema`` is a valid JSON Schema (2020-12) object."""
    if not isinstance(schema, dict):
        raise InvalidPayload(
            f"{where}: must be a JSON Schema object",
            errors=[{"pointer": where, "message": "must be a JSON Schema object"}],
        )
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        ptr = where + pointer(*exc.absolute_path)
        raise InvalidPayload(
            f"{ptr}: not a valid JSON Schema: {exc.message}",
            errors=[{"pointer": ptr, "message": f"not a valid JSON Schema: {exc.message}"}],
        ) from None
    if schema.get("type", "object") != "object":
        raise InvalidPayload(
            f"{where}/type: a capability schema must describe an object",
            errors=[{"pointer": f"{where}/type", "message": "must describe an object"}],
        )


def _extra_keys(err: ValidationError, instance: dict[str, Any]) -> list[str]:
    """Keys of ``instance`` that ``additionalProperties: false`` refused (not those
    patternProperties allow)."""
    schema = err.schema if isinstance(err.schema, dict) else {}
    allowed = set(schema.get("properties", {}))
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    return sorted(
        k for k in instance if k not in allowed and not any(p.search(k) for p in patterns)
    )


def _entries(base: str, err: ValidationError) -> list[dict[str, str]]:
    if err.validator in ("anyOf", "oneOf") and err.context:
        # pydantic's Optional fields are anyOf [X, null]: report the best-matching branch's
        # own error (the exact field inside X), not "not valid under any of the schemas".
        branches = [
            e for e in err.context if not (e.validator == "type" and e.validator_value == "null")
        ]
        if branches:
            return _entries(base, max(branches, key=lambda e: len(e.absolute_path)))
    parts: list[str | int] = list(err.absolute_path)
    instance = err.instance
    # For "required"/"additionalProperties" jsonschema points at the parent object; name the
    # field itself so that the client sees which key is missing or unknown.
    # ``required`` is always a list: capability schemas pass check_schema before use.
    if (
        err.validator == "required"
        and isinstance(instance, dict)
        and isinstance(err.validator_value, list)
    ):
        missing = [k for k in err.validator_value if k not in instance and repr(k) in err.message]
        if missing:
            parts.append(missing[0])
    elif err.validator == "additionalProperties" and isinstance(instance, dict):
        extra = _extra_keys(err, instance)
        if extra:
            return [
                {
                    "pointer": base + pointer(*parts, key),
                    "message": f"unexpected field {key!r} (additional properties are not allowed)",
                }
                for key in extra
            ]
    return [{"pointer": base + pointer(*parts), "message": err.message}]


def errors_of(validator: Draft202012Validator, instance: Any, base: str) -> list[dict[str, str]]:
    errs = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    out = [entry for e in errs for entry in _entries(base, e)]
    return out[:MAX_ERRORS]


def non_finite_numbers(instance: Any, base: str) -> list[dict[str, str]]:
    """NaN and infinities parse from JSON in Python but are not JSON numbers: name them."""
    found: list[dict[str, str]] = []

    def walk(value: Any, parts: tuple[str | int, ...]) -> None:
        if isinstance(value, float) and not math.isfinite(value):
            found.append(
                {"pointer": base + pointer(*parts), "message": f"{value} is not a finite number"}
            )
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, (*parts, k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, (*parts, i))

    walk(instance, ())
    return found[:MAX_ERRORS]


def raise_if_invalid(errors: Iterable[dict[str, str]], what: str) -> None:
    errors = list(errors)
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InvalidPayload(
            f"{what} invalid at {first['pointer'] or '/'}: {first['message']}{more}",
            errors=errors,
        )


class ValidatorCache:
    """A small thread-safe LRU of compiled validators keyed by capability version."""

    def __init__(self, maxsize: int = 512) -> None:
        self._items: OrderedDict[Hashable, Draft202012Validator] = OrderedDict()
        self._lock = threading.Lock()
        self._maxsize = maxsize

    def get(self, key: Hashable, schema: dict[str, Any]) -> Draft202012Validator:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        validator = Draft202012Validator(schema)
        with self._lock:
            self._items[key] = validator
            if len(self._items) > self._maxsize:
                self._items.popitem(last=False)
        return validator

    def validate(
        self, key: Hashable, schema: dict[str, Any], instance: Any, *, base: str, what: str
    ) -> None:
        """Raise InvalidPayload naming every offending field (JSON pointer under ``base``)."""
        raise_if_invalid(non_finite_numbers(instance, base), what)
        raise_if_invalid(errors_of(self.get(key, schema), instance, base), what)
