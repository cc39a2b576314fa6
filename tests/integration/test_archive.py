"""The archiver against a real broker (both databases) and the InvenioRDM test double on a
real port: first run, a second run that uploads only what changed, an idle run, the RO-Crate
folder, dry runs, refused tokens, an unreachable archive, retries and the refusal to publish
an incomplete draft."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from finales.archive import ArchiveError, make_target, run_once
from finales.archive.config import parse
from finales.archive.invenio import InvenioClient
from finales.archive.invenio import InvenioTarget as Depositor
from finales.archive.invenio_double import InvenioDouble
from finales.client import RetryPolicy
from finales.semantics import VOCAB, result_iri, to_graph
from finales.testing import LocalBroker, free_port
from tests.archive_support import (
    TOKEN,
    TOKEN_ENV,
    ArchiveLab,
    config_dict,
    folder_config,
    invenio_config,
    make_lab,
    served_double,
)
from tests.conftest import Clock


@pytest.fixture
def lab(broker: LocalBroker, clock: Clock) -> ArchiveLab:
    return make_lab(broker, clock)


@pytest.fixture
def double(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[InvenioDouble, str]]:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    d = InvenioDouble({TOKEN: "user-1", "read-only-token": "read-only:user-2"})
    with served_double(d) as url:
        yield d, url


def run(lab: ArchiveLab, config: Any, **kwargs: Any) -> Any:
    target, close = make_target(config, **kwargs)
    try:
        return run_once(config, client=lab.archiver, target=target)
    finally:
        close()


def published_files(d: InvenioDouble, record_id: str) -> dict[str, str]:
    record = d.records[record_id]
    return {
        k: hashlib.md5(f.content or b"", usedforsecurity=False).hexdigest()
        for k, f in record.files.items()
    }


def content_puts(d: InvenioDouble) -> list[str]:
    return [
        path.split("/draft/files/")[1].removesuffix("/content")
        for m, path, s in d.log
        if m == "PUT" and path.endswith("/content") and s == 200
    ]


def test_first_run_creates_the_record_and_records_the_deposit(
    lab: ArchiveLab, double: tuple[InvenioDouble, str]
) -> None:
    d, url = double
    config = invenio_config(url)
    report = run(lab, config)
    dep = report.deposit
    assert report.plan.action == "create record" and dep.version == 1
    (record,) = d.records.values()
    assert not d.drafts and record.id == dep.record_id
    assert dep.doi == f"10.5072/finales-double.{record.id}"
    expected = lab.dataset(config).checksums()
    assert published_files(d, record.id) == expected == dep.files
    # The record carries the archive's identifier; the metadata is InvenioRDM's shape.
    meta = record.body["metadata"]
    assert {"identifier": "urn:finales:archive:test-lab", "scheme": "urn"} in meta["identifiers"]
    assert meta["creators"][0]["affiliations"] == [{"id": "04q78tk20", "name": "Test Lab"}]
    # The months are files of their own; the broker holds the deposit as a result.
    assert {"results-" + m for m in _months(expected)} <= {k.rsplit(".", 1)[0] for k in expected}
    (result,) = lab.deposits()
    assert result.id == report.recorded and result.tenant_id == lab.archiver_tenant
    assert result.data["record_id"] == record.id and result.data["version"] == 1
    assert result.data["doi"] == dep.doi and result.data["snapshot_results"] == 7
    assert {f["key"]: f["md5"] for f in result.data["files"]} == expected
    assert sorted(result.data["uploaded"]) == sorted(expected)
    assert result.data["bytes_uploaded"] == d.bytes_received


def _months(keys: dict[str, str]) -> set[str]:
    return {
        k.removeprefix("results-").removesuffix(".jsonl") for k in keys if k.startswith("results-")
    }


def test_second_run_uploads_only_changed_and_new_files(
    lab: ArchiveLab, double: tuple[InvenioDouble, str]
) -> None:
    d, url = double
    config = invenio_config(url)
    first = run(lab, config).deposit
    d.log.clear()
    sent_before = d.bytes_received
    lab.post_results(3, temperature=310.0)
    second = run(lab, config)
    dep = second.deposit
    assert second.plan.action == "new version" and dep.version == 2
    versions = d.versions_of(d.records[first.record_id].parent)
    assert [v.index for v in versions] == [1, 2] and not d.drafts
    now = lab.dataset(config).checksums()
    assert published_files(d, dep.record_id) == now
    changed = {k for k, md5 in now.items() if first.files.get(k) != md5}
    # Only this month's files, the checksums and the crate changed; only they were sent.
    assert changed == set(dep.uploaded) == set(content_puts(d))
    months = sorted(_months(now))
    assert {k for k in changed if k.endswith((".jsonl", ".jsonld"))} == {
        f"{kind}-{months[-1]}.jsonl" for kind in ("requests", "results", "events")
    } | {f"graph-{months[-1]}.jsonld"}
    assert "checksums.md5" in changed and "ro-crate-metadata.json" in changed
    assert (
        dep.bytes_uploaded
        == d.bytes_received - sent_before
        < sum(len(f.content or b"") for f in d.records[dep.record_id].files.values())
    )
    # The previous version's files came by files-import, not by upload.
    assert ("POST", f"/api/records/{dep.record_id}/draft/actions/files-import", 201) in d.log
    assert [r.data["version"] for r in lab.deposits()] == [1, 2]


def test_each_months_graph_holds_its_results_as_rdf(
    lab: ArchiveLab, double: tuple[InvenioDouble, str]
) -> None:
    import rdflib

    d, url = double
    config = invenio_config(url)
    dep = run(lab, config).deposit
    files = d.records[dep.record_id].files
    graphs = sorted(k for k in files if k.startswith("graph-"))
    assert graphs and len(graphs) == len([k for k in files if k.startswith("results-")])
    result_class = rdflib.URIRef(VOCAB + "Result")
    for key in graphs:
        month = key.removeprefix("graph-").removesuffix(".jsonld")
        rows = (files[f"results-{month}.jsonl"].content or b"").decode().splitlines()
        expected = {rdflib.URIRef(result_iri(json.loads(row)["id"])) for row in rows}
        graph = to_graph(json.loads(files[key].content or b""))  # offline, vendored contexts
        assert set(graph.subjects(rdflib.RDF.type, result_class)) == expected, key


def test_a_run_with_nothing_new_changes_nothing(
    lab: ArchiveLab, double: tuple[InvenioDouble, str]
) -> None:
    d, url = double
    config = invenio_config(url)
    run(lab, config)
    again = run(lab, config)
    assert again.plan.action == "up to date" and again.deposit is None
    assert again.recorded is None and len(d.records) == 1 and not d.drafts
    assert len(lab.deposits()) == 1  # its own deposit result is not new data


def test_rocrate_folder_target(lab: ArchiveLab, tmp_path: Path) -> None:
    from rocrate.rocrate import ROCrate

    folder = tmp_path / "crate"
    config = folder_config(folder)
    first = run(lab, config).deposit
    assert first.version == 1 and first.record_id == "urn:finales:archive:test-lab@1"
    crate = ROCrate(folder)
    assert crate.name == "Electrolyte conductivity, test lab"
    files = {e.id: e for e in crate.get_entities() if "File" in e.type}
    on_disk = {p.name for p in folder.iterdir() if not p.name.startswith(".")}
    assert set(files) == on_disk - {"ro-crate-metadata.json"}
    for key, entity in files.items():
        body = (folder / key).read_bytes()
        assert entity["md5"] == hashlib.md5(body, usedforsecurity=False).hexdigest()
        assert entity["contentSize"] == str(len(body))
    (author,) = crate.root_dataset["author"]
    assert author.id == "https://orcid.org/0000-0002-1825-0097"
    assert author["affiliation"][0].id == "https://ror.org/04q78tk20"
    # New data: only the files that changed are written again; the others keep their bytes.
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    lab.post_results(1, temperature=320.0)
    second = run(lab, config).deposit
    assert second.version == 2
    rewritten = {p.name for p in folder.iterdir() if p.stat().st_mtime_ns != stamps.get(p.name)}
    assert rewritten - {".finales-archive.json"} == set(second.uploaded)
    assert run(lab, config).plan.action == "up to date"
    assert [r.data["version"] for r in lab.deposits()] == [1, 2]


def test_campaign_cut(lab: ArchiveLab, tmp_path: Path) -> None:
    config = folder_config(tmp_path / "crate", files={"cut": "campaign"})
    keys = {f.key for f in lab.dataset(config).files}
    assert {"results-_unlabelled.jsonl", "requests-_unlabelled.jsonl"} <= keys
    assert not any(k.startswith("results-2") for k in keys)


def test_dry_run_lists_and_changes_nothing(
    lab: ArchiveLab, double: tuple[InvenioDouble, str], tmp_path: Path
) -> None:
    d, url = double
    for config in (invenio_config(url), folder_config(tmp_path / "crate")):
        target, close = make_target(config)
        report = run_once(config, client=lab.archiver, target=target, dry_run=True)
        close()
        assert {f.key for f in report.plan.upload} == {f.key for f in report.dataset.files}
        assert report.deposit is None and report.recorded is None
    assert not d.drafts and not d.records and d.bytes_received == 0
    assert not (tmp_path / "crate").exists() and lab.deposits() == []


@pytest.mark.parametrize(
    ("token", "status"), [("wrong-token", 401), ("read-only-token", 403)], ids=["bad", "read-only"]
)
def test_refused_token_changes_nothing(
    lab: ArchiveLab,
    double: tuple[InvenioDouble, str],
    monkeypatch: pytest.MonkeyPatch,
    token: str,
    status: int,
) -> None:
    d, url = double
    monkeypatch.setenv(TOKEN_ENV, token)
    with pytest.raises(ArchiveError, match=f"answered {status}") as caught:
        run(lab, invenio_config(url))
    assert "permission" in str(caught.value) or "authorized" in str(caught.value)
    assert token not in str(caught.value)  # the server's message, never the token
    assert not d.drafts and not d.records and lab.deposits() == []


def test_unreachable_archive_changes_nothing(
    lab: ArchiveLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    url = f"http://127.0.0.1:{free_port()}"
    fast = RetryPolicy(max_attempts=2, total_s=5, base_s=0.01, max_backoff_s=0.05)
    with pytest.raises(ArchiveError, match=r"cannot reach the archive at http://127\.0\.0\.1"):
        run(lab, invenio_config(url), retry=fast)
    assert lab.deposits() == []


def test_retries_honour_retry_after_and_ride_out_5xx(
    lab: ArchiveLab, double: tuple[InvenioDouble, str]
) -> None:
    d, url = double
    pauses: list[float] = []
    retry = RetryPolicy(
        max_attempts=5, total_s=600, base_s=0.01, max_backoff_s=0.02, sleep=pauses.append
    )
    d.fail("PUT", r"/content$", 429, retry_after=7)
    d.fail("POST", r"/commit$", 503, times=2)
    d.fail("GET", r"/draft/files$", 502)
    d.fail("POST", r"^/api/records$", 503)  # a create refused before any work: retried
    report = run(lab, invenio_config(url), retry=retry)
    assert report.deposit.version == 1 and len(d.records) == 1 and not d.drafts
    statuses = [s for *_, s in d.log]
    assert statuses.count(429) == 1 and statuses.count(503) == 3 and statuses.count(502) == 1
    assert len(pauses) == 5 and max(pauses) == 7  # the server's Retry-After, not less


def test_a_5xx_on_publish_fails_the_run_and_the_next_run_finishes(
    lab: ArchiveLab, double: tuple[InvenioDouble, str]
) -> None:
    d, url = double
    config = invenio_config(url)
    d.fail("POST", r"/actions/publish$", 500)
    with pytest.raises(ArchiveError, match=r"answered 500 to POST .*/actions/publish: Internal"):
        run(lab, config)
    assert len(d.drafts) == 1 and not d.records and lab.deposits() == []
    report = run(lab, config)
    assert report.plan.action == "resume draft" and report.deposit.version == 1
    assert len(d.records) == 1 and not d.drafts and len(lab.deposits()) == 1


def test_an_incomplete_draft_is_never_published(
    lab: ArchiveLab, double: tuple[InvenioDouble, str]
) -> None:
    d, url = double
    config = invenio_config(url)

    def lose_a_file() -> None:  # someone deletes a file after the last commit
        (draft,) = d.drafts.values()
        if all(f.status == "completed" for f in draft.files.values()):
            draft.files.pop("tenants.jsonl", None)

    d.after("commit", lose_a_file)
    with pytest.raises(
        ArchiveError, match=r"not complete \(missing or different: \['tenants.jsonl'\]"
    ):
        run(lab, config)
    assert not d.records and len(d.drafts) == 1


def test_two_records_with_one_identifier_are_not_guessed_between(
    lab: ArchiveLab, double: tuple[InvenioDouble, str]
) -> None:
    d, url = double
    config = invenio_config(url)
    client = InvenioClient(url, TOKEN)
    depositor = Depositor(config, client)
    for _ in range(2):  # two first drafts, made by hand
        client.json("POST", "/api/records", idempotent=False, json=depositor.record_body())
    with pytest.raises(
        ArchiveError, match="more than one record carries urn:finales:archive:test-lab"
    ):
        run(lab, config)
    client.close()
    assert not d.records and lab.deposits() == []


def test_the_record_is_submitted_to_its_community_once(
    lab: ArchiveLab, double: tuple[InvenioDouble, str]
) -> None:
    d, url = double
    data = config_dict({"kind": "invenio", "url": url, "token": {"env": TOKEN_ENV}})
    data["record"]["community"] = "big-map"
    config = parse(data, "test")
    first = run(lab, config).deposit
    assert d.communities == {d.records[first.record_id].parent: ["big-map"]}
    lab.post_results(1, temperature=315.0)
    run(lab, config)
    posts = [p for m, p, s in d.log if m == "POST" and p.endswith("/communities")]
    assert posts == [f"/api/records/{first.record_id}/communities"]
