"""The archiver's dataset and configuration, without a broker: files that stay unchanged when
new data arrive, events cut by their own time, deterministic bytes, the archiver's own
deposits left out, configuration errors naming the key, private token files."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from finales.archive import build_dataset
from finales.archive.config import ConfigError, Secret, parse, read_secret_file
from finales.archive.dataset import period_name, time_period

CAP = {
    "id": "cap-1",
    "quantity": "conductivity",
    "method": "two_electrode",
    "version": 1,
    "request_schema": {"type": "object"},
    "result_schema": {"type": "object"},
    "description": "",
    "created_at": "2026-01-01T00:00:00+00:00",
    "created_by": "admin",
    "requires_approval": False,
}
DEPOSIT_CAP = {**CAP, "id": "cap-2", "quantity": "archive", "method": "deposit"}
TENANT = {
    "id": "t-1",
    "name": "robot",
    "description": "",
    "contact": "",
    "created_at": "2026-01-01T00:00:00+00:00",
    "created_by": "admin",
}


def _snapshot() -> dict[str, Any]:
    return {
        "format": "finales-export",
        "version": 1,
        "tables": {
            "principals": [{"id": "p-1", "name": "secretive-login", "role": "tenant"}],
            "capabilities": [CAP, DEPOSIT_CAP],
            "capability_events": [],
            "tenants": [TENANT],
            "offer_sets": [],
            "offers": [],
            "requests": [],
            "request_methods": [],
            "request_labels": [],
            "request_events": [],
            "request_state": [],
            "results": [],
            "result_events": [],
            "result_state": [],
        },
    }


def _add(snap: dict[str, Any], at: str, *, cap: str = "cap-1", labels: Any = None) -> int:
    """A request resolved by a result at ``at``; returns the request's seq."""
    tables = snap["tables"]
    seq = len(tables["requests"]) + 1
    tables["requests"].append(
        {
            "seq": seq,
            "id": f"req-{seq}",
            "quantity": "conductivity",
            "methods": ["two_electrode"],
            "parameters": {"two_electrode": {"temperature": 298.15}},
            "capability_ids": {"two_electrode": cap},
            "requester_principal_id": "p-1",
            "requester_tenant_id": "t-1",
            "parent_request_id": None,
            "created_at": at,
            "labels": labels,
            "inputs": None,
        }
    )
    tables["request_events"].append(
        {
            "seq": len(tables["request_events"]) + 1,
            "request_seq": seq,
            "at": at,
            "actor": "robot",
            "tenant_id": "t-1",
            "from_status": None,
            "to_status": "unsolicited",
            "message": "",
            "lease_expires_at": None,
        }
    )
    tables["request_state"].append(
        {"request_seq": seq, "quantity": "conductivity", "status": "unsolicited"}
    )
    rseq = len(tables["results"]) + 1
    tables["results"].append(
        {
            "seq": rseq,
            "id": f"res-{rseq}",
            "request_seq": seq,
            "quantity": "conductivity",
            "method": "two_electrode",
            "parameters": {"temperature": 298.15},
            "data": {"conductivity": 0.8},
            "capability_id": cap,
            "tenant_id": "t-1",
            "principal_id": "p-1",
            "supersedes": None,
            "created_at": at,
            "inputs": None,
        }
    )
    tables["result_events"].append(
        {
            "seq": len(tables["result_events"]) + 1,
            "result_seq": rseq,
            "at": at,
            "actor": "robot",
            "from_status": None,
            "to_status": "original",
            "message": "",
        }
    )
    return seq


def _config(tmp_path: Path, **files: Any) -> Any:
    return parse(
        {
            "id": "unit",
            "target": {"kind": "rocrate", "folder": str(tmp_path)},
            "record": {
                "title": "Unit test",
                "description": "d",
                "creators": [{"family_name": "Curie"}],
            },
            "files": files,
        },
        "unit.yaml",
    )


def _lines(dataset: Any, key: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in dataset.by_key()[key].content.decode().splitlines()]


def test_old_months_keep_their_bytes_when_new_data_arrive(tmp_path: Path) -> None:
    config = _config(tmp_path)
    snap = _snapshot()
    _add(snap, "2026-10-03T10:00:00+00:00")
    _add(snap, "2026-11-20T10:00:00+00:00")
    before = build_dataset(snap, config).checksums()
    _add(snap, "2026-12-01T10:00:00+00:00")
    after = build_dataset(snap, config).checksums()
    changed = {k for k in after if before.get(k) != after[k]}
    assert changed == {
        "requests-2026-12.jsonl",
        "results-2026-12.jsonl",
        "events-2026-12.jsonl",
        "graph-2026-12.jsonld",
        "checksums.md5",
        "ro-crate-metadata.json",
    }
    assert build_dataset(snap, config).checksums() == after  # same data, same bytes


def test_an_event_goes_to_the_month_it_happened_in(tmp_path: Path) -> None:
    config = _config(tmp_path)
    snap = _snapshot()
    seq = _add(snap, "2026-10-03T10:00:00+00:00")
    before = build_dataset(snap, config).checksums()
    snap["tables"]["result_events"].append(
        {
            "seq": 9,
            "result_seq": seq,
            "at": "2026-12-02T08:00:00+00:00",
            "actor": "admin",
            "from_status": "original",
            "to_status": "deleted",
            "message": "bad cell",
        }
    )
    dataset = build_dataset(snap, config)
    for key in ("events-2026-10.jsonl", "results-2026-10.jsonl", "graph-2026-10.jsonld"):
        assert dataset.checksums()[key] == before[key], key
    (event,) = _lines(dataset, "events-2026-12.jsonl")
    assert event == {
        "kind": "result",
        "result_id": "res-1",
        "at": "2026-12-02T08:00:00+00:00",
        "actor": "admin",
        "from_status": "original",
        "to_status": "deleted",
        "message": "bad cell",
    }
    # The October graph does not carry the later deletion either (checked above): the
    # deletion is in December's events, and December has no results, so no graph.
    assert "graph-2026-12.jsonld" not in dataset.checksums()


def test_public_columns_only_and_the_archivers_own_deposits_left_out(tmp_path: Path) -> None:
    config = _config(tmp_path)
    snap = _snapshot()
    _add(snap, "2026-10-03T10:00:00+00:00")
    _add(snap, "2026-10-04T10:00:00+00:00", cap="cap-2")  # an archive/deposit result
    dataset = build_dataset(snap, config)
    (result,) = _lines(dataset, "results-2026-10.jsonl")
    assert result["id"] == "res-1" and result["request_id"] == "req-1"
    assert "principal_id" not in result and "seq" not in result
    (request,) = _lines(dataset, "requests-2026-10.jsonl")
    assert "requester_principal_id" not in request
    assert [
        e["request_id"] for e in _lines(dataset, "events-2026-10.jsonl") if "request_id" in e
    ] == ["req-1"]
    assert dataset.results == 1
    blob = b"".join(f.content for f in dataset.files)
    assert b"secretive-login" not in blob  # principals are not archived


def test_week_and_campaign_cuts(tmp_path: Path) -> None:
    snap = _snapshot()
    _add(snap, "2026-11-30T23:00:00+00:00", labels={"campaign": "LiPF6 sweep #1"})
    _add(snap, "2026-12-01T01:00:00+00:00")
    weeks = build_dataset(snap, _config(tmp_path, cut="week")).checksums()
    assert {"results-2026-W49.jsonl", "events-2026-W49.jsonl"} <= set(weeks)  # Mon 30 Nov
    campaigns = build_dataset(snap, _config(tmp_path, cut="campaign")).checksums()
    sweep = period_name("LiPF6 sweep #1")
    assert sweep.startswith("LiPF6_sweep__1-") and f"results-{sweep}.jsonl" in campaigns
    assert "results-_unlabelled.jsonl" in campaigns
    assert time_period("2026-01-01T00:00:00+00:00", "week") == "2026-W01"
    assert time_period("2027-01-01T00:00:00+00:00", "week") == "2026-W53"


def test_checksums_file_and_deterministic_gzip(tmp_path: Path) -> None:
    snap = _snapshot()
    _add(snap, "2026-10-03T10:00:00+00:00")
    one = build_dataset(snap, _config(tmp_path, compress=True))
    two = build_dataset(snap, _config(tmp_path, compress=True))
    assert one.checksums() == two.checksums()
    assert "graph-2026-10.jsonld.gz" in one.checksums()  # the graphs too
    packed = one.by_key()["results-2026-10.jsonl.gz"]
    assert gzip.decompress(packed.content).startswith(b'{"capability_id":"cap-1"')
    listed = dict(
        reversed(line.split("  ", 1))
        for line in one.by_key()["checksums.md5"].content.decode().splitlines()
    )
    for f in one.files:
        if f.key not in ("checksums.md5", "ro-crate-metadata.json"):
            assert listed.pop(f.key) == hashlib.md5(f.content, usedforsecurity=False).hexdigest()
    assert listed == {}
    crate = json.loads(one.by_key()["ro-crate-metadata.json"].content)
    root = next(e for e in crate["@graph"] if e["@id"] == "./")
    assert (
        root["datePublished"] == "2026-10-03" and root["identifier"] == "urn:finales:archive:unit"
    )


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"record": None}, "record: Input should be a valid dictionary"),
        ({"files": {"cut": "year"}}, "files.cut: Input should be 'month', 'week' or 'campaign'"),
        ({"broker": {"api_key": {}}}, "broker.api_key: give exactly one"),
        ({"target": {"kind": "rocrate"}}, "target.folder: missing (required)"),
    ],
)
def test_configuration_errors_name_the_key(
    tmp_path: Path, data: dict[str, Any], named: str
) -> None:
    base = {
        "id": "unit",
        "target": {"kind": "rocrate", "folder": str(tmp_path)},
        "record": {"title": "Unit test", "description": "d", "creators": [{"family_name": "C"}]},
    }
    with pytest.raises(ConfigError) as caught:
        parse({**base, **data}, "unit.yaml")
    assert str(caught.value).startswith("unit.yaml: ") and named in str(caught.value)


def test_secrets_from_private_files_and_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "token"
    path.write_text("  s3cret\n")
    path.chmod(0o600)
    assert read_secret_file(path, "target.token.file") == "s3cret"
    for mode in (0o640, 0o604, 0o660):
        path.chmod(mode)
        with pytest.raises(ConfigError, match=f"mode {mode:04o}.*chmod 600") as caught:
            Secret(file=path).read("target.token")
        assert "s3cret" not in str(caught.value)
    monkeypatch.setenv("ARCHIVE_TOKEN", "from-env")
    assert Secret(env="ARCHIVE_TOKEN").read("target.token") == "from-env"
    monkeypatch.delenv("ARCHIVE_TOKEN")
    with pytest.raises(ConfigError, match=r"target\.token\.env: the environment variable"):
        Secret(env="ARCHIVE_TOKEN").read("target.token")
