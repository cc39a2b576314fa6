"""The README's per-file outcome table says what finales really does with each file."""

from __future__ import annotations

import json
import re
from pathlib import Path

from finales.capabilities.finales2_limitations import translate_offer
from finales.domain.limitations import check_limitations
from tests.conftest import require_finales2_examples

README = Path(__file__).resolve().parents[2] / "README.md"


def _rows() -> dict[str, str]:
    text = README.read_text()
    table = text.split("<!-- finales2-files:start -->")[1].split("<!-- finales2-files:end -->")[0]
    rows = re.findall(r"^\| `([^`]+)` \| (.+) \|$", table, re.M)
    return dict(rows)


def _offers(data: object) -> list[dict]:
    if isinstance(data, dict) and "name" in data:
        return list(data["limitations"])
    return list(data) if isinstance(data, list) else [data]  # type: ignore[list-item]


def test_every_tenant_and_limitations_file_is_listed_with_its_real_outcome() -> None:
    base = require_finales2_examples()
    rows = _rows()
    caps = {}
    for f in (base / "serialized_quantities").glob("*/*.json"):
        cap = json.loads(f.read_text())
        caps[(cap["quantity"], cap["method"])] = cap["json_schema_specifications"]
    files = sorted(
        [*base.glob("examples/tenants/*/*.json"), *base.glob("examples/limitations/*/*.json")]
    )
    assert files
    for path in files:
        rel = str(path.relative_to(base))
        assert rel in rows, f"{rel} is missing from the README table"
        first_error = None
        translated = False
        for i, offer in enumerate(_offers(json.loads(path.read_text()))):
            done = translate_offer(offer, f"/{i}")  # as `finales tenant add` does
            translated = translated or bool(done.notes)
            errors = check_limitations(
                done.offer["limitations"], caps[(offer["quantity"], offer["method"])]
            )
            if errors and first_error is None:
                first_error = f"/{i}/limitations{errors[0]['pointer']}"
        outcome = rows[rel]
        if first_error is None:
            assert outcome.startswith(("imports", "valid")), (rel, outcome)
            assert ("translated" in outcome) == translated, (rel, outcome)
        else:
            assert outcome.startswith("refused"), (rel, outcome)
            assert f"`{first_error}`" in outcome, (rel, first_error, outcome)
    assert len(list(base.glob("serialized_quantities/*/*.json"))) == 13
