"""``finales tenant add`` (the door for FINALES 2 tenant files) refuses limitations beyond the
size bounds, naming the field, and registers the demonstrator's file as it is."""

from __future__ import annotations

import json
from pathlib import Path

from finales.domain.limitations import MAX_LIST_ENTRIES
from tests.acceptance.cli import run
from tests.conftest import require_finales2_examples


def test_tenant_file_beyond_the_bounds_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    examples = require_finales2_examples()
    run(
        env,
        "capability",
        "add",
        str(examples / "serialized_quantities/transport/transport_service.json"),
    )
    original = examples / "examples/tenants/transport/Transportation_tenant_tenant.json"
    tenant = json.loads(original.read_text())
    origins = tenant["limitations"][0]["limitations"]["origin"]
    assert len(origins) < MAX_LIST_ENTRIES
    tenant["limitations"][0]["limitations"]["origin"] = (
        origins * (MAX_LIST_ENTRIES // len(origins) + 1)
    )[: MAX_LIST_ENTRIES + 1]
    inflated = tmp_path / "inflated.json"
    inflated.write_text(json.dumps(tenant))

    refused = run(env, "tenant", "add", str(inflated), ok=False)
    assert refused.returncode == 1
    assert "/0/limitations/origin" in refused.stderr and "MAX_LIST_ENTRIES" in refused.stderr
    assert json.loads(run(env, "tenant", "list", "--json").stdout) == []

    added = run(env, "tenant", "add", str(original))  # the real file, well inside the bounds
    assert len(added.stdout.strip()) == 36
