"""Fixtures of the unit tier: the published FINALES 2 files, read in place (never copied)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import FINALES2_EXAMPLES, require_finales2_examples

Loader = Callable[[str], Any]


@pytest.fixture
def finales2() -> Loader:
    """Load one FINALES 2 file by its path relative to the examples folder."""
    require_finales2_examples()

    def load(relative: str) -> Any:
        return json.loads((FINALES2_EXAMPLES / relative).read_text(encoding="utf-8"))

    return load


@pytest.fixture
def request_schema_of(finales2: Loader) -> Callable[[str, str], dict[str, Any]]:
    """The request-parameter schema of a FINALES 2 capability file."""

    def schema(quantity: str, method: str) -> dict[str, Any]:
        data = finales2(f"serialized_quantities/{quantity}/{method}.json")
        assert (data["quantity"], data["method"]) == (quantity, method)
        return data["json_schema_specifications"]  # type: ignore[no-any-return]

    return schema
