"""Deposit a dataset in an InvenioRDM instance (Zenodo, the BIG-MAP Archive, ...).

The REST API (InvenioRDM reference, "Drafts and Records"): ``POST /api/records`` creates a
draft; its files are started (``POST links.files`` with ``[{"key": ...}]``), sent (``PUT``
the entry's ``links.content``) and committed (``POST links.commit``); ``POST links.publish``
publishes. A later version is a draft made by ``POST links.versions`` of the latest
published version, into which ``.../draft/actions/files-import`` links the previous files.
Only the entry point and the search are built from the base URL; everything else follows
the ``links`` the API returns.

A run is safe to repeat and to kill, because every decision is taken from the archive's own
state, read at the start:

* the record is found by the identifier it carries (``urn:finales:archive:<id>`` in
  ``metadata.identifiers``), searched among the token owner's records and drafts;
* an open draft (first version or new version) is resumed, never a second one started;
* the draft's files are reconciled with the dataset by checksum: a pending (uncommitted)
  entry or one with another checksum is deleted and sent again, a missing one sent, an extra
  one deleted; files-import runs only on a new-version draft that has no files yet;
* before publishing, the draft's completed files must be exactly the dataset's (keys and
  MD5s): a version missing a file is never published.

Calls are retried with backoff (``finales.client.retry``): reads, uploads, deletes and
commits on transport errors, 429 (honouring ``Retry-After``) and 5xx; creating calls only
when the server surely did nothing (429, 503, no connection), since a lost answer to a
``POST /api/records`` may have made a draft that the search index does not show yet.
Anything else is an ``ArchiveError`` carrying the server's message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import httpx

from finales import __version__
from finales.archive.config import ArchiveConfig
from finales.archive.dataset import DataFile, Dataset
from finales.client.retry import RetryPolicy, next_pause

log = logging.getLogger("finales.archive")

ARCHIVE_RETRY = RetryPolicy(max_attempts=8, total_s=300.0, base_s=0.5, max_backoff_s=60.0)
TIMEOUT_S = 120.0
SEARCH_SIZE = 100


class ArchiveError(Exception):
    """The archive refused or failed a call; the message carries its answer."""


@dataclass
class Plan:
    """What a run does to the archive (also what ``--dry-run`` prints)."""

    action: str  # "create record", "new version", "resume draft", "up to date"
    record_id: str | None = None
    version: int | None = None
    upload: list[DataFile] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.upload)


@dataclass(frozen=True)
class Deposit:
    """A published version."""

    record_id: str
    parent_id: str | None
    version: int
    doi: str | None
    url: str | None
    files: dict[str, str]  # key -> md5, as the archive lists them
    sizes: dict[str, int]
    uploaded: list[str] | None
    bytes_uploaded: int | None


def _message(response: httpx.Response) -> str:
    """The server's own words: InvenioRDM answers ``{"status", "message", "errors"?}``."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if not isinstance(body, dict):
        return str(body)[:300]
    text = str(body.get("message") or body.get("detail") or body)
    for e in body.get("errors") or []:
        if isinstance(e, dict):
            text += f"; {e.get('field')}: {' '.join(map(str, e.get('messages', [])))}"
    return text


def _md5(entry: Mapping[str, Any]) -> str | None:
    checksum = entry.get("checksum") or ""
    return checksum.removeprefix("md5:") if checksum.startswith("md5:") else None


class InvenioClient:
    """The HTTP side: bearer token, retries with backoff, error answers as ArchiveError."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        http: httpx.Client | None = None,
        retry: RetryPolicy = ARCHIVE_RETRY,
        verify: bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry
        self._owns = http is None
        self.http = http or httpx.Client(timeout=TIMEOUT_S, verify=verify)
        self._headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": f"finales-archiver/{__version__}",
        }
        self.bytes_sent = 0

    def close(self) -> None:
        if self._owns:
            self.http.close()

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.base_url + path

    def call(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool,
        ok: Callable[[httpx.Response], bool] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One logical call with its retries; ``ok`` accepts answers besides 2xx."""
        started = self.retry.clock()
        attempt = 0
        headers = {**self._headers, **kwargs.pop("headers", {})}
        while True:
            response: httpx.Response | None = None
            error: httpx.TransportError | None = None
            try:
                response = self.http.request(method, self.url(url), headers=headers, **kwargs)
            except httpx.TransportError as exc:
                error = exc
            if response is not None and (response.is_success or (ok and ok(response))):
                return response
            attempt += 1
            pause = next_pause(
                self.retry,
                attempt=attempt,
                started=started,
                response=response,
                error=error,
                idempotent=idempotent,
                retry_after_beyond_cap=True,
            )
            if pause is None:
                raise self._failure(method, url, response, error)
            why = error if response is None else f"HTTP {response.status_code}"
            log.info("%s %s: %s; retry %d in %.1fs", method, url, why, attempt, pause)
            self.retry.sleep(pause)

    def _failure(
        self, method: str, url: str, response: httpx.Response | None, error: Exception | None
    ) -> ArchiveError:
        if response is None:
            return ArchiveError(f"cannot reach the archive at {self.base_url} ({error})")
        where = url.removeprefix(self.base_url)
        return ArchiveError(
            f"the archive answered {response.status_code} to {method} {where}: {_message(response)}"
        )

    def json(self, method: str, url: str, *, idempotent: bool, **kwargs: Any) -> Any:
        response = self.call(method, url, idempotent=idempotent, **kwargs)
        return response.json() if response.content else None


class InvenioTarget:
    """Finds this archive's record and deposits a dataset as its next version."""

    def __init__(self, config: ArchiveConfig, client: InvenioClient) -> None:
        self.config = config
        self.client = client

    # ------------------------------------------------------------------ metadata

    def record_body(self) -> dict[str, Any]:
        """Draft body: DataCite-like metadata as InvenioRDM's deposit API takes it."""
        r = self.config.record
        creators = []
        for c in r.creators:
            person: dict[str, Any] = {"type": "personal", "family_name": c.family_name}
            if c.given_name:
                person["given_name"] = c.given_name
            if c.orcid:
                person["identifiers"] = [{"scheme": "orcid", "identifier": c.orcid}]
            entry: dict[str, Any] = {"person_or_org": person}
            if c.affiliations:
                entry["affiliations"] = [
                    {"id": a.ror, "name": a.name} if a.ror else {"name": a.name}
                    for a in c.affiliations
                ]
            creators.append(entry)
        metadata: dict[str, Any] = {
            "resource_type": {"id": r.resource_type},
            "title": r.title,
            "description": r.description,
            "creators": creators,
            "publisher": r.publisher,
            "publication_date": date.today().isoformat(),
            "rights": [{"id": r.license}],
            "subjects": [{"subject": k} for k in r.keywords],
            "identifiers": [{"identifier": self.config.identifier, "scheme": "urn"}],
        }
        body: dict[str, Any] = {
            "access": {"record": r.access, "files": r.access},
            "files": {"enabled": True},
            "metadata": metadata,
        }
        return body

    # ------------------------------------------------------------------ reading

    def find(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """(latest published version, open draft) carrying this archive's identifier."""
        q = f'metadata.identifiers.identifier:"{self.config.identifier}"'
        data = self.client.json(
            "GET",
            "/api/user/records",
            idempotent=True,
            params={"q": q, "allversions": "true", "size": SEARCH_SIZE, "sort": "newest"},
        )
        hits = [h for h in data["hits"]["hits"] if self._carries_identifier(h)]
        parents = {(h.get("parent") or {}).get("id") for h in hits}
        if len(parents) > 1:
            ids = ", ".join(sorted(str(h["id"]) for h in hits))
            raise ArchiveError(
                f"more than one record carries {self.config.identifier} ({ids}): "
                "the archiver will not choose; remove the extra one in the archive"
            )
        drafts = [h for h in hits if not h.get("is_published")]
        if len(drafts) > 1:
            ids = ", ".join(sorted(str(h["id"]) for h in drafts))
            raise ArchiveError(f"{len(drafts)} open drafts carry {self.config.identifier}: {ids}")
        published = [h for h in hits if h.get("is_published")]
        latest = max(published, key=lambda h: h["versions"]["index"], default=None)
        return latest, (drafts[0] if drafts else None)

    def _carries_identifier(self, hit: Mapping[str, Any]) -> bool:
        ids = (hit.get("metadata") or {}).get("identifiers") or []
        return any(i.get("identifier") == self.config.identifier for i in ids)

    def files_of(self, record: Mapping[str, Any]) -> list[dict[str, Any]]:
        data = self.client.json("GET", record["links"]["files"], idempotent=True)
        return list(data.get("entries") or [])

    # ------------------------------------------------------------------ planning

    def plan(self, dataset: Dataset) -> tuple[Plan, dict[str, Any] | None, dict[str, Any] | None]:
        """What this run would do, from the archive's state (read-only calls only)."""
        latest, draft = self.find()
        wanted = dataset.by_key()
        if draft is not None:
            entries = self.files_of(draft)
            if not entries and latest is not None:
                entries = self.files_of(latest)  # files-import will bring these
            plan = self._diff(wanted, entries)
            plan.action, plan.record_id = "resume draft", draft["id"]
            plan.version = draft["versions"]["index"]
            return plan, latest, draft
        if latest is None:
            plan = self._diff(wanted, [])
            plan.action, plan.version = "create record", 1
            return plan, None, None
        plan = self._diff(wanted, self.files_of(latest))
        if not plan.upload and not plan.delete:
            plan.action, plan.record_id = "up to date", latest["id"]
            plan.version = latest["versions"]["index"]
        else:
            plan.action, plan.record_id = "new version", latest["id"]
            plan.version = latest["versions"]["index"] + 1
        return plan, latest, None

    @staticmethod
    def _diff(wanted: Mapping[str, DataFile], entries: list[dict[str, Any]]) -> Plan:
        plan = Plan(action="")
        have = {e["key"]: e for e in entries}
        for key, entry in sorted(have.items()):
            f = wanted.get(key)
            if f is None or entry.get("status") != "completed" or _md5(entry) != f.md5:
                plan.delete.append(key)
            else:
                plan.keep.append(key)
        plan.upload = [f for key, f in sorted(wanted.items()) if key not in plan.keep]
        return plan

    # ------------------------------------------------------------------ depositing

    def deposit(self, dataset: Dataset) -> Deposit | None:
        """Publish ``dataset`` as the record's next version (None: nothing changed)."""
        plan, latest, draft = self.plan(dataset)
        if plan.action == "up to date":
            return None
        if draft is None:
            draft = self._new_draft(latest)
        if latest is not None and draft["versions"]["index"] > 1:
            if not self.files_of(draft):
                self._import_files(draft)
        draft = self.client.json(
            "PUT", draft["links"]["self"], idempotent=True, json=self.record_body()
        )
        uploaded = self._reconcile(draft, dataset)
        self._check_complete(draft, dataset)
        record = self.client.json("POST", draft["links"]["publish"], idempotent=False)
        self._submit_to_community(record)
        deposit = self.describe(record)
        return replace(
            deposit,
            uploaded=[f.key for f in uploaded],
            bytes_uploaded=sum(f.size for f in uploaded),
        )

    def _submit_to_community(self, record: Mapping[str, Any]) -> None:
        """Ask the configured community to include the record (once: communities hold the
        parent, so every version is in it). The record is published either way; a refusal is
        logged, not fatal, and asked again by the next run that publishes."""
        community = self.config.record.community
        link = record["links"].get("communities")
        ids = ((record.get("parent") or {}).get("communities") or {}).get("ids") or []
        if not community or not link or community in ids:
            return
        try:
            self.client.json(
                "POST", link, idempotent=False, json={"communities": [{"id": community}]}
            )
        except ArchiveError as exc:
            log.warning("record %s published; community %s: %s", record["id"], community, exc)

    def describe(self, record: Mapping[str, Any]) -> Deposit:
        """A published version as a Deposit (what this run sent is not known)."""
        entries = self.files_of(record)
        return Deposit(
            record_id=record["id"],
            parent_id=(record.get("parent") or {}).get("id"),
            version=record["versions"]["index"],
            doi=((record.get("pids") or {}).get("doi") or {}).get("identifier"),
            url=record["links"].get("self_html"),
            files={e["key"]: _md5(e) or "" for e in entries},
            sizes={e["key"]: int(e.get("size") or 0) for e in entries},
            uploaded=None,
            bytes_uploaded=None,
        )

    def _new_draft(self, latest: Mapping[str, Any] | None) -> dict[str, Any]:
        if latest is None:
            log.info("creating the record of %s", self.config.identifier)
            return dict(
                self.client.json("POST", "/api/records", idempotent=False, json=self.record_body())
            )
        # InvenioRDM answers an existing new-version draft if there is one: safe to repeat.
        log.info("creating version %d of record %s", latest["versions"]["index"] + 1, latest["id"])
        return dict(self.client.json("POST", latest["links"]["versions"], idempotent=True))

    def _import_files(self, draft: Mapping[str, Any]) -> None:
        links = draft["links"]
        url = links.get("files_import") or links["self"].rstrip("/") + "/actions/files-import"
        self.client.json("POST", url, idempotent=False)

    def _reconcile(self, draft: Mapping[str, Any], dataset: Dataset) -> list[DataFile]:
        """Make the draft's files the dataset's; returns the files sent."""
        plan = self._diff(dataset.by_key(), self.files_of(draft))
        entries = {e["key"]: e for e in self.files_of(draft)}
        for key in plan.delete:
            self.client.call("DELETE", entries[key]["links"]["self"], idempotent=True)
        if not plan.upload:
            return []
        started = self.client.json(
            "POST",
            draft["links"]["files"],
            idempotent=False,
            json=[{"key": f.key} for f in plan.upload],
        )
        links = {e["key"]: e["links"] for e in started["entries"]}
        for f in plan.upload:
            self._send(f, links[f.key])
        return plan.upload

    def _send(self, f: DataFile, links: Mapping[str, str]) -> None:
        self.client.call(
            "PUT",
            links["content"],
            idempotent=True,
            content=f.content,
            headers={"Content-Type": "application/octet-stream"},
        )
        self.client.bytes_sent += f.size
        committed = self.client.json("POST", links["commit"], idempotent=True)
        if _md5(committed) != f.md5:
            raise ArchiveError(
                f"{f.key}: the archive stored checksum {committed.get('checksum')}, "
                f"expected md5:{f.md5} (the upload was damaged; run again)"
            )

    def _check_complete(self, draft: Mapping[str, Any], dataset: Dataset) -> None:
        """Refuse to publish unless the draft holds exactly the dataset's files, completed."""
        entries = self.files_of(draft)
        have = {e["key"]: _md5(e) for e in entries if e.get("status") == "completed"}
        if have != dataset.checksums():
            missing = sorted(k for k, m in dataset.checksums().items() if have.get(k) != m)
            extra = sorted(set(have) - set(dataset.checksums()))
            raise ArchiveError(
                f"draft {draft['id']} is not complete (missing or different: {missing}; "
                f"extra: {extra}): not published"
            )
