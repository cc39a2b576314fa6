"""The dataset an archive run deposits, made from one consistent broker snapshot.

The files are cut so that a file, once its period is over, never changes again: records and
events are append-only in the broker, so

* ``capabilities.jsonl``, ``capability-events.jsonl``, ``tenants.jsonl``, ``offers.jsonl``:
  the catalogue and who serves what (small; they change when it does);
* ``requests-<period>.jsonl``, ``results-<period>.jsonl``: the records created in a period
  (a month, UTC, e.g. ``results-2026-11.jsonl``; an ISO week, ``results-2026-W48.jsonl``;
  or a campaign: the value of a request label);
* ``events-<period>.jsonl``: the status changes of requests and results *that happened* in
  the period (cut by the event's own time, so an old month gains nothing when an old
  request is resolved today);
* ``graph-<period>.jsonld``: the JSON-LD graph of the period's results (their requests,
  capabilities and tenants), by :mod:`finales.semantics`;
* ``checksums.md5`` (``md5sum -c`` reads it) and ``ro-crate-metadata.json``.

A new result therefore changes the files of its own period and the small catalogue and
crate files; the bytes a later run uploads grow with what is new, not with the history.

Every file is serialized deterministically (sorted keys, rows in the broker's order, gzip
without a time stamp), so the same data give the same bytes and the same MD5, and a run with
nothing new uploads nothing. Keys are flat (no folders): InvenioRDM instances list a record's
files flat, and not all of them take a ``/`` in a file key. Principals (logins) are not
archived: the events carry the actor's name. The archiver's own ``archive / deposit``
results are left out, or each run would be new data for the next one and an idle lab would
get a new version every run.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from finales.archive.config import ArchiveConfig

DEPOSIT = ("archive", "deposit")
UNLABELLED = "_unlabelled"
JSONL = "application/x-ndjson"
_SAFE = re.compile(r"[^A-Za-z0-9._-]")

JsonLd = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class DataFile:
    """One file of the dataset: its key (path in the record), bytes, MD5 and description."""

    key: str
    content: bytes
    media_type: str
    description: str

    @property
    def md5(self) -> str:
        return hashlib.md5(self.content, usedforsecurity=False).hexdigest()

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True)
class Dataset:
    """The files of one run, in key order, and what they hold."""

    files: tuple[DataFile, ...]
    results: int  # results archived (the archiver's own deposits left out)
    newest: str | None  # time of the newest record or event, ISO 8601

    def by_key(self) -> dict[str, DataFile]:
        return {f.key: f for f in self.files}

    def checksums(self) -> dict[str, str]:
        return {f.key: f.md5 for f in self.files}


def dumps(value: Any) -> str:
    """One deterministic JSON text (sorted keys, no spaces, UTF-8 kept)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def jsonl(rows: Iterable[Mapping[str, Any]]) -> bytes:
    return "".join(dumps(row) + "\n" for row in rows).encode("utf-8")


def time_period(at: str, cut: str) -> str:
    """The period of an ISO 8601 UTC time stamp: ``2026-11`` (month) or ``2026-W48`` (ISO
    week, whose days may straddle two months)."""
    if cut == "month":
        return at[:7]
    year, week, _ = datetime.fromisoformat(at).isocalendar()
    return f"{year}-W{week:02d}"


def period_name(value: str) -> str:
    """A campaign label as a file name: safe characters, with a short hash if any changed."""
    safe = _SAFE.sub("_", value)[:80] or "_"
    if safe != value:
        safe += "-" + hashlib.md5(value.encode(), usedforsecurity=False).hexdigest()[:6]
    return safe


class _Cutter:
    """Rows of the snapshot, public columns only, cut into periods."""

    def __init__(self, snapshot: Mapping[str, Any], config: ArchiveConfig) -> None:
        tables: Mapping[str, list[dict[str, Any]]] = snapshot["tables"]
        self.tables = tables
        self.cut = config.files
        deposit_caps = {
            c["id"] for c in tables["capabilities"] if (c["quantity"], c["method"]) == DEPOSIT
        }
        results = tables["results"]
        self.skipped_requests = {
            r["request_seq"] for r in results if r["capability_id"] in deposit_caps
        }
        self.requests = [r for r in tables["requests"] if r["seq"] not in self.skipped_requests]
        self.results = [r for r in results if r["request_seq"] not in self.skipped_requests]
        self.request_id = {r["seq"]: r["id"] for r in tables["requests"]}
        self.result_id = {r["seq"]: r["id"] for r in results}
        self.request_period = {r["seq"]: self._period(r, r["created_at"]) for r in self.requests}
        self.result_period = {
            r["seq"]: (
                self.request_period.get(r["request_seq"], UNLABELLED)
                if self.cut.cut == "campaign"
                else time_period(r["created_at"], self.cut.cut)
            )
            for r in self.results
        }

    def _period(self, request: Mapping[str, Any], at: str) -> str:
        if self.cut.cut != "campaign":
            return time_period(at, self.cut.cut)
        labels = request.get("labels") or {}
        campaign = labels.get(self.cut.campaign_label)
        return period_name(campaign) if isinstance(campaign, str) else UNLABELLED

    def request_rows(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in self.requests:
            out[self.request_period[r["seq"]]].append(
                {
                    "id": r["id"],
                    "created_at": r["created_at"],
                    "quantity": r["quantity"],
                    "methods": r["methods"],
                    "parameters": r["parameters"],
                    "capability_ids": r["capability_ids"],
                    "requester_tenant_id": r["requester_tenant_id"],
                    "parent_request_id": r["parent_request_id"],
                    "labels": r.get("labels"),
                    "inputs": r.get("inputs"),
                }
            )
        return out

    def result_rows(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in self.results:
            out[self.result_period[r["seq"]]].append(self.result_row(r))
        return out

    def result_row(self, r: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "id": r["id"],
            "request_id": self.request_id[r["request_seq"]],
            "created_at": r["created_at"],
            "quantity": r["quantity"],
            "method": r["method"],
            "parameters": r["parameters"],
            "data": r["data"],
            "capability_id": r["capability_id"],
            "tenant_id": r["tenant_id"],
            "supersedes": r["supersedes"],
            "inputs": r.get("inputs"),
        }

    def event_rows(self) -> dict[str, list[dict[str, Any]]]:
        """Request and result events, each in the period of its own time (month cut) or of
        the campaign of its request (campaign cut), in time order."""
        out: dict[str, list[tuple[str, int, dict[str, Any]]]] = defaultdict(list)
        for e in self.tables["request_events"]:
            if e["request_seq"] in self.skipped_requests:
                continue
            row = {"kind": "request", "request_id": self.request_id[e["request_seq"]]}
            row.update({k: e[k] for k in ("at", "actor", "tenant_id", "lease_expires_at")})
            row.update({k: e[k] for k in ("from_status", "to_status", "message")})
            where = self._event_period(e["at"], self.request_period.get(e["request_seq"]))
            out[where].append((e["at"], 0, row))
        for e in self.tables["result_events"]:
            if e["result_seq"] not in self.result_period:
                continue
            row = {"kind": "result", "result_id": self.result_id[e["result_seq"]]}
            row.update({k: e[k] for k in ("at", "actor", "from_status", "to_status", "message")})
            out[self._event_period(e["at"], self.result_period[e["result_seq"]])].append(
                (e["at"], 1, row)
            )
        # Stable: by time, request events before result events at the same instant, then
        # in the broker's order (sorted() keeps it for equal keys).
        return {
            p: [row for *_, row in sorted(rows, key=lambda x: x[:2])] for p, rows in out.items()
        }

    def _event_period(self, at: str, owner_period: str | None) -> str:
        if self.cut.cut != "campaign":
            return time_period(at, self.cut.cut)
        return owner_period or UNLABELLED

    def sub_snapshot(self, period: str) -> dict[str, Any]:
        """The snapshot restricted to one period's results and what they refer to (their
        requests with their status and history, capabilities and tenants): the input of that
        period's JSON-LD graph. A request with a result has reached its end, so none of
        this changes later; a result's own later status changes (amended, deleted) are left
        to the events files, so the graph of a closed period never changes."""
        results = [r for r in self.results if self.result_period[r["seq"]] == period]
        request_seqs = {r["request_seq"] for r in results}
        cap_ids = {r["capability_id"] for r in results}
        tenant_ids = {r["tenant_id"] for r in results}
        requests = [r for r in self.tables["requests"] if r["seq"] in request_seqs]
        tenant_ids |= {r["requester_tenant_id"] for r in requests if r["requester_tenant_id"]}
        tables: dict[str, list[dict[str, Any]]] = {name: [] for name in self.tables}
        tables["results"] = results
        tables["requests"] = requests
        for name in ("request_events", "request_state"):
            tables[name] = [e for e in self.tables[name] if e["request_seq"] in request_seqs]
        tables["capabilities"] = [c for c in self.tables["capabilities"] if c["id"] in cap_ids]
        tables["tenants"] = [t for t in self.tables["tenants"] if t["id"] in tenant_ids]
        return {"format": "finales-export", "version": 1, "tables": tables}


def _catalogue(tables: Mapping[str, list[dict[str, Any]]]) -> list[DataFile]:
    offers_by_set: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for o in tables["offers"]:
        offers_by_set[o["offer_set"]].append(
            {"quantity": o["quantity"], "method": o["method"], "limitations": o["limitations"]}
        )
    offer_sets = [
        {
            "tenant_id": s["tenant_id"],
            "at": s["at"],
            "actor": s["actor"],
            "offers": offers_by_set[s["seq"]],
        }
        for s in tables["offer_sets"]
    ]
    capability_events = [
        {k: v for k, v in e.items() if k != "seq"} for e in tables["capability_events"]
    ]
    return [
        DataFile(
            "capabilities.jsonl",
            jsonl(tables["capabilities"]),
            JSONL,
            "Every version of every capability: quantity, method, request and result JSON "
            "Schemas (with units and ontology concepts), description.",
        ),
        DataFile(
            "capability-events.jsonl",
            jsonl(capability_events),
            JSONL,
            "Activations and deactivations of capabilities.",
        ),
        DataFile(
            "tenants.jsonl", jsonl(tables["tenants"]), JSONL, "The tenants (labs, robots, models)."
        ),
        DataFile(
            "offers.jsonl",
            jsonl(offer_sets),
            JSONL,
            "Every change of a tenant's offers: the capabilities it serves and its limitations.",
        ),
    ]


def _compressed(f: DataFile, compress: bool) -> DataFile:
    if not compress:
        return f
    # mtime=0 and no file name: the same bytes in give the same bytes out.
    packed = gzip.compress(f.content, compresslevel=6, mtime=0)
    return DataFile(f.key + ".gz", packed, "application/gzip", f.description + " (gzip)")


def build_files(
    snapshot: Mapping[str, Any], config: ArchiveConfig, *, jsonld: JsonLd | None = None
) -> tuple[list[DataFile], int, str | None]:
    """The data files of a snapshot (without checksums and crate), the number of results and
    the newest time stamp."""
    cutter = _Cutter(snapshot, config)
    unit = {"month": "month (UTC)", "week": "ISO week (UTC)"}.get(config.files.cut, "campaign")
    files = _catalogue(cutter.tables)
    per_kind = (
        ("requests", cutter.request_rows(), "Requests created in the {} {}."),
        ("results", cutter.result_rows(), "Results posted in the {} {}."),
        ("events", cutter.event_rows(), "Status changes of requests and results in the {} {}."),
    )
    for folder, rows, text in per_kind:
        for period in sorted(rows):
            files.append(
                DataFile(
                    f"{folder}-{period}.jsonl",
                    jsonl(rows[period]),
                    JSONL,
                    text.format(unit, period),
                )
            )
    if jsonld is not None:
        for period in sorted(cutter.result_rows()):
            graph = jsonld(cutter.sub_snapshot(period))
            files.append(
                DataFile(
                    f"graph-{period}.jsonld",
                    (dumps(graph) + "\n").encode("utf-8"),
                    "application/ld+json",
                    f"The results of the {unit} {period} as JSON-LD (battery ontology terms).",
                )
            )
    files = [_compressed(f, config.files.compress) for f in files]
    stamps = [r["created_at"] for r in cutter.requests + cutter.results]
    stamps += [e["at"] for kind in ("request_events", "result_events") for e in cutter.tables[kind]]
    return files, len(cutter.results), max(stamps, default=None)


def checksums_file(files: Iterable[DataFile]) -> DataFile:
    """``checksums.md5`` in the format of ``md5sum`` (so ``md5sum -c checksums.md5`` works)."""
    text = "".join(f"{f.md5}  {f.key}\n" for f in sorted(files, key=lambda f: f.key))
    return DataFile(
        "checksums.md5",
        text.encode("utf-8"),
        "text/plain",
        "MD5 checksums of the other files (md5sum -c checksums.md5).",
    )
