"""A protocol-faithful InvenioRDM test double: an ASGI app owned by this project.

InvenioRDM (Zenodo, the BIG-MAP Archive) cannot run here, so the archiver is tested against
this app, which follows the InvenioRDM REST API reference ("Drafts and Records", "Draft
files", "Versions", "User records") and the error answers of invenio-drafts-resources and
invenio-records-resources:

* drafts: ``POST /api/records`` (201), ``GET|PUT|DELETE /api/records/{id}/draft``,
  ``POST /api/records/{id}/draft/actions/publish`` (202);
* draft files: start (``POST .../draft/files`` with ``[{"key": ...}]``, 201, entries
  ``pending``), content (``PUT .../content``), commit (``POST .../commit``: ``completed``
  with ``checksum: "md5:..."``), ``DELETE``; wrong order answers 400 (content for a
  committed file, commit before content), an unknown key 404, a duplicate key 400;
* versions: ``POST /api/records/{id}/versions`` (201; an existing new-version draft is
  answered again, as InvenioRDM does), ``.../draft/actions/files-import`` (201; 400 "Please
  remove all files first." when the draft has files);
* publish refuses (400, ``{"status", "message", "errors": [{"field", "messages"}]}``) a
  draft without files ("Missing uploaded files. ..."), with pending files ("One or more
  files have not completed their transfer, please wait."), or missing required metadata;
* ``POST /api/records/{id}/communities`` (inclusion requests, accepted at once here);
* ``GET /api/user/records`` (the token owner's drafts and records, ``q`` on
  ``metadata.identifiers.identifier:"..."``), ``GET /api/records/{id}``, ``.../files``,
  ``.../versions``;
* 401 without a valid token, 403 for a read-only token.

Unlike a real instance it keeps everything in memory, indexes at once (a search sees a draft
the moment it exists) and mints test DOIs (prefix 10.5072) on publish when asked. Tests add
faults (``fail``: answer a status, with ``Retry-After``, before doing anything) and hooks
(``after``: run a callback once a step is done, before answering: e.g. kill the archiver).

Run it standalone to follow the README's walk-through (needs ``finales[server]``)::

    python -m finales.archive.invenio_double --port 5000 --token dev-token
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

UNAUTHORIZED = (
    "The server could not verify that you are authorized to access the URL requested. You "
    "either supplied the wrong credentials (e.g. a bad password), or your browser doesn't "
    "understand how to supply the credentials required."
)
FORBIDDEN = (
    "You don't have the permission to access the requested resource. It is either "
    "read-protected or not readable by the server."
)
NO_PID = "The persistent identifier does not exist."
MISSING_FILES = (
    "Missing uploaded files. To disable files for this record please mark it as metadata-only."
)
PENDING_FILES = "One or more files have not completed their transfer, please wait."
REQUIRED = ("title", "creators", "publication_date", "resource_type")
_Q_IDENTIFIER = re.compile(r'^metadata\.identifiers\.identifier:"(?P<value>[^"]*)"$')


class Answer(Exception):
    """An error answer: ``{"status", "message", "errors"?}``."""

    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _new_id() -> str:
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    pick = "".join(secrets.choice(alphabet) for _ in range(10))
    return f"{pick[:5]}-{pick[5:]}"


@dataclass
class FileEntry:
    key: str
    created: str = field(default_factory=_now)
    updated: str = field(default_factory=_now)
    content: bytes | None = None
    status: str = "pending"

    def meta(self, links: dict[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key,
            "created": self.created,
            "updated": self.updated,
            "status": self.status,
            "metadata": None,
            "links": links,
        }
        if self.status == "completed" and self.content is not None:
            digest = hashlib.md5(self.content, usedforsecurity=False).hexdigest()
            out.update(checksum=f"md5:{digest}", size=len(self.content))
            out["mimetype"] = "application/octet-stream"
        return out


@dataclass
class Entity:
    """A draft or a published record (a version)."""

    id: str
    parent: str
    owner: str
    index: int
    body: dict[str, Any]
    published: bool = False
    files: dict[str, FileEntry] = field(default_factory=dict)
    created: str = field(default_factory=_now)
    updated: str = field(default_factory=_now)
    doi: str | None = None


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    retry_after: float | None


class InvenioDouble:
    """The double's state and its ASGI app (``.app``). Thread-safe: the app runs on its own
    thread under uvicorn while a test inspects and configures it."""

    def __init__(self, tokens: dict[str, str] | None = None, *, mint_doi: bool = True) -> None:
        self.tokens = dict(tokens or {})  # token -> owner; owner "read-only:<x>" cannot write
        self.mint_doi = mint_doi
        self.drafts: dict[str, Entity] = {}
        self.communities: dict[str, list[str]] = {}  # parent id -> community ids (accepted)
        self.records: dict[str, Entity] = {}
        self.lock = threading.RLock()
        self.faults: list[Fault] = []
        self.hooks: dict[str, list[Callable[[], None]]] = {}
        self.log: list[tuple[str, str, int]] = []  # (method, path, status) of every call
        self.bytes_received = 0
        self._base = ""  # scheme://host:port of the call being answered (links are absolute)
        self.app = Starlette(routes=self._routes())

    # ------------------------------------------------------------------ test controls

    def fail(
        self,
        method: str,
        pattern: str,
        status: int,
        *,
        times: int = 1,
        retry_after: float | None = None,
    ) -> None:
        """Answer ``status`` to the next ``times`` calls whose path matches ``pattern``
        (re.search), before doing anything."""
        with self.lock:
            self.faults.append(Fault(method, re.compile(pattern), status, times, retry_after))

    def after(self, step: str, callback: Callable[[], None]) -> None:
        """Run ``callback`` once ``step`` is done, before the answer is sent. Steps:
        create, update, init, content, commit, delete-file, import, new-version, publish."""
        with self.lock:
            self.hooks.setdefault(step, []).append(callback)

    def versions_of(self, parent: str) -> list[Entity]:
        with self.lock:
            return sorted(
                (r for r in self.records.values() if r.parent == parent), key=lambda r: r.index
            )

    # ------------------------------------------------------------------ plumbing

    def _routes(self) -> list[Route]:
        base = "/api/records/{id}"
        files = base + "/draft/files"
        return [
            Route("/api/records", self._create, methods=["POST"]),
            Route("/api/records", self._search_public, methods=["GET"]),
            Route("/api/user/records", self._search_user, methods=["GET"]),
            Route(base + "/draft/actions/publish", self._publish, methods=["POST"]),
            Route(base + "/draft/actions/files-import", self._import, methods=["POST"]),
            Route(files + "/{key:path}/content", self._content, methods=["PUT", "GET"]),
            Route(files + "/{key:path}/commit", self._commit, methods=["POST"]),
            Route(files + "/{key:path}", self._draft_file, methods=["GET", "DELETE"]),
            Route(files, self._draft_files, methods=["GET", "POST"]),
            Route(base + "/draft", self._draft, methods=["GET", "PUT", "DELETE"]),
            Route(base + "/versions/latest", self._latest, methods=["GET"]),
            Route(base + "/communities", self._communities, methods=["POST"]),
            Route(base + "/versions", self._versions, methods=["GET", "POST"]),
            Route(base + "/files/{key:path}/content", self._record_content, methods=["GET"]),
            Route(base + "/files", self._record_files, methods=["GET"]),
            Route(base, self._record, methods=["GET"]),
        ]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    async def _handle(
        self, request: Request, work: Callable[[str, Any], tuple[int, Any]], *, write: bool
    ) -> Response:
        """Authenticate, apply faults, run ``work(owner, body)`` under the lock, log."""
        raw = await request.body()
        try:
            status, payload = self._guarded(request, raw, work, write=write)
        except Answer as exc:
            status = exc.status
            payload = {"status": exc.status, "message": exc.message}
            if exc.errors:
                payload["errors"] = exc.errors
        with self.lock:
            self.log.append((request.method, request.url.path, status))
        headers = {}
        if isinstance(payload, tuple):  # (payload, headers) from a fault
            payload, headers = payload
        if status == 204:
            return Response(status_code=204)
        if isinstance(payload, bytes):
            return Response(payload, status_code=status, media_type="application/octet-stream")
        return JSONResponse(payload, status_code=status, headers=headers)

    def _guarded(
        self,
        request: Request,
        raw: bytes,
        work: Callable[[str, Any], tuple[int, Any]],
        *,
        write: bool,
    ) -> tuple[int, Any]:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method == request.method:
                    if fault.pattern.search(request.url.path):
                        fault.times -= 1
                        headers = {}
                        if fault.retry_after is not None:
                            headers["Retry-After"] = f"{fault.retry_after:g}"
                        message = "Too many requests." if fault.status == 429 else "Internal error."
                        return fault.status, ({"status": fault.status, "message": message}, headers)
            owner = self._owner(request, write=write)
            self._base = str(request.base_url).rstrip("/")
            body: Any = raw
            ctype = request.headers.get("content-type", "")
            if raw and ctype.startswith("application/json"):
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise Answer(400, "The request body is not valid JSON.") from None
            return work(owner, body)

    def _owner(self, request: Request, *, write: bool) -> str:
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        owner = self.tokens.get(token)
        if owner is None:
            raise Answer(401, UNAUTHORIZED)
        if write and owner.startswith("read-only:"):
            raise Answer(403, FORBIDDEN)
        return owner

    def _hook(self, step: str) -> None:
        for callback in self.hooks.get(step, []):
            callback()

    # ------------------------------------------------------------------ rendering

    def _links(self, e: Entity) -> dict[str, str]:
        api = f"{self._base}/api/records/{e.id}"
        links = {
            "versions": f"{api}/versions",
            "latest": f"{api}/versions/latest",
            "latest_html": f"{self._base}/records/{e.id}/latest",
        }
        if e.published:
            links.update(self=api, self_html=f"{self._base}/records/{e.id}", files=f"{api}/files")
            links["communities"] = f"{api}/communities"
        else:
            links.update(
                self=f"{api}/draft",
                self_html=f"{self._base}/uploads/{e.id}",
                files=f"{api}/draft/files",
                publish=f"{api}/draft/actions/publish",
            )
        return links

    def _file_links(self, e: Entity, key: str) -> dict[str, str]:
        where = "files" if e.published else "draft/files"
        api = f"{self._base}/api/records/{e.id}/{where}/{key}"
        links = {"self": api, "content": f"{api}/content"}
        if not e.published:
            links["commit"] = f"{api}/commit"
        return links

    def _render(self, e: Entity) -> dict[str, Any]:
        latest = self._latest_index(e.parent)
        out = {
            "id": e.id,
            "created": e.created,
            "updated": e.updated,
            "is_published": e.published,
            "access": e.body.get("access", {"record": "public", "files": "public"}),
            "files": {"enabled": e.body.get("files", {}).get("enabled", True)},
            "metadata": e.body.get("metadata", {}),
            "parent": {
                "id": e.parent,
                "access": {"owned_by": {"user": e.owner}},
                "communities": {"ids": list(self.communities.get(e.parent, []))},
            },
            "pids": {"doi": {"identifier": e.doi, "provider": "datacite"}} if e.doi else {},
            "links": self._links(e),
            "versions": {
                "index": e.index,
                "is_latest": e.published and e.index == latest,
                "is_latest_draft": not e.published,
            },
        }
        return out

    def _file_list(self, e: Entity) -> dict[str, Any]:
        where = "files" if e.published else "draft/files"
        return {
            "enabled": e.body.get("files", {}).get("enabled", True),
            "default_preview": None,
            "order": [],
            "entries": [f.meta(self._file_links(e, f.key)) for f in e.files.values()],
            "links": {"self": f"{self._base}/api/records/{e.id}/{where}"},
        }

    def _latest_index(self, parent: str) -> int:
        return max((r.index for r in self.records.values() if r.parent == parent), default=0)

    # ------------------------------------------------------------------ lookups

    def _draft_of(self, owner: str, record_id: str) -> Entity:
        e = self.drafts.get(record_id)
        if e is None:
            raise Answer(404, NO_PID)
        if e.owner != owner:
            raise Answer(403, FORBIDDEN)
        return e

    def _record_of(self, record_id: str) -> Entity:
        e = self.records.get(record_id)
        if e is None:
            raise Answer(404, NO_PID)
        return e

    def _file_of(self, e: Entity, key: str) -> FileEntry:
        f = e.files.get(key)
        if f is None:
            raise Answer(404, f"File with key {key} not found.")
        return f

    # ------------------------------------------------------------------ drafts

    async def _create(self, request: Request) -> Response:
        def work(owner: str, body: Any) -> tuple[int, Any]:
            if not isinstance(body, dict):
                raise Answer(
                    400,
                    "A validation error occurred.",
                    [{"field": "metadata", "messages": ["Missing data for required field."]}],
                )
            e = Entity(_new_id(), _new_id(), owner, 1, self._clean(body))
            self.drafts[e.id] = e
            self._hook("create")
            return 201, self._render(e)

        return await self._handle(request, work, write=True)

    @staticmethod
    def _clean(body: dict[str, Any]) -> dict[str, Any]:
        return {k: body[k] for k in ("access", "files", "metadata", "parent") if k in body}

    async def _draft(self, request: Request) -> Response:
        record_id = request.path_params["id"]

        def work(owner: str, body: Any) -> tuple[int, Any]:
            e = self._draft_of(owner, record_id)
            if request.method == "GET":
                return 200, self._render(e)
            if request.method == "DELETE":
                del self.drafts[record_id]
                return 204, None
            if not isinstance(body, dict):
                raise Answer(400, "The request body is not valid JSON.")
            e.body = self._clean(body)
            e.updated = _now()
            self._hook("update")
            return 200, self._render(e)

        return await self._handle(request, work, write=request.method != "GET")

    async def _publish(self, request: Request) -> Response:
        record_id = request.path_params["id"]

        def work(owner: str, body: Any) -> tuple[int, Any]:  # noqa: ARG001
            e = self._draft_of(owner, record_id)
            metadata = e.body.get("metadata") or {}
            errors = [
                {"field": f"metadata.{name}", "messages": ["Missing data for required field."]}
                for name in REQUIRED
                if not metadata.get(name)
            ]
            if errors:
                raise Answer(400, "A validation error occurred.", errors)
            if e.body.get("files", {}).get("enabled", True):
                if not e.files:
                    raise Answer(
                        400,
                        "A validation error occurred.",
                        [{"field": "files.enabled", "messages": [MISSING_FILES]}],
                    )
                if any(f.status != "completed" for f in e.files.values()):
                    raise Answer(
                        400,
                        "A validation error occurred.",
                        [{"field": "files", "messages": [PENDING_FILES]}],
                    )
            del self.drafts[record_id]
            e.published = True
            e.updated = _now()
            if self.mint_doi:
                e.doi = f"10.5072/finales-double.{e.id}"
            self.records[e.id] = e
            self._hook("publish")
            return 202, self._render(e)

        return await self._handle(request, work, write=True)

    # ------------------------------------------------------------------ draft files

    async def _draft_files(self, request: Request) -> Response:
        record_id = request.path_params["id"]

        def work(owner: str, body: Any) -> tuple[int, Any]:
            e = self._draft_of(owner, record_id)
            if request.method == "GET":
                return 200, self._file_list(e)
            if not e.body.get("files", {}).get("enabled", True):
                raise Answer(400, "Files support must be enabled.")
            if not isinstance(body, list) or not all(
                isinstance(i, dict) and i.get("key") for i in body
            ):
                raise Answer(
                    400,
                    "A validation error occurred.",
                    [{"field": "key", "messages": ["Missing data for required field."]}],
                )
            keys = [str(i["key"]) for i in body]
            for key in keys:
                if key in e.files or keys.count(key) > 1:
                    raise Answer(400, f"File with key {key} already exists.")
            for key in keys:
                e.files[key] = FileEntry(key)
            self._hook("init")
            listing = self._file_list(e)
            listing["entries"] = [x for x in listing["entries"] if x["key"] in keys]
            return 201, listing

        return await self._handle(request, work, write=request.method != "GET")

    async def _content(self, request: Request) -> Response:
        record_id, key = request.path_params["id"], request.path_params["key"]

        def work(owner: str, body: Any) -> tuple[int, Any]:
            e = self._draft_of(owner, record_id)
            f = self._file_of(e, key)
            if request.method == "GET":
                if f.status != "completed" or f.content is None:
                    raise Answer(404, f"File with key {key} not found.")
                return 200, f.content
            if f.status == "completed":
                raise Answer(400, f'File with key "{key}" is already committed.')
            f.content = body if isinstance(body, bytes) else bytes(body or b"")
            f.updated = _now()
            self.bytes_received += len(f.content)
            self._hook("content")
            return 200, f.meta(self._file_links(e, key))

        return await self._handle(request, work, write=request.method != "GET")

    async def _commit(self, request: Request) -> Response:
        record_id, key = request.path_params["id"], request.path_params["key"]

        def work(owner: str, body: Any) -> tuple[int, Any]:  # noqa: ARG001
            e = self._draft_of(owner, record_id)
            f = self._file_of(e, key)
            if f.content is None:
                raise Answer(400, f"File with key {key} has not been uploaded yet.")
            f.status = "completed"
            f.updated = _now()
            self._hook("commit")
            return 200, f.meta(self._file_links(e, key))

        return await self._handle(request, work, write=True)

    async def _draft_file(self, request: Request) -> Response:
        record_id, key = request.path_params["id"], request.path_params["key"]

        def work(owner: str, body: Any) -> tuple[int, Any]:  # noqa: ARG001
            e = self._draft_of(owner, record_id)
            f = self._file_of(e, key)
            if request.method == "GET":
                return 200, f.meta(self._file_links(e, key))
            del e.files[key]
            self._hook("delete-file")
            return 204, None

        return await self._handle(request, work, write=request.method != "GET")

    async def _import(self, request: Request) -> Response:
        record_id = request.path_params["id"]

        def work(owner: str, body: Any) -> tuple[int, Any]:  # noqa: ARG001
            e = self._draft_of(owner, record_id)
            if not e.body.get("files", {}).get("enabled", True):
                raise Answer(400, "Files support must be enabled.")
            if e.files:
                raise Answer(400, "Please remove all files first.")
            previous = [r for r in self.records.values() if r.parent == e.parent]
            if not previous:
                raise Answer(404, NO_PID)
            latest = max(previous, key=lambda r: r.index)
            if not latest.files:
                raise Answer(400, "The record has no files.")
            for key, f in latest.files.items():
                e.files[key] = FileEntry(key, content=f.content, status="completed")
            self._hook("import")
            return 201, self._file_list(e)

        return await self._handle(request, work, write=True)

    # ------------------------------------------------------------------ versions and records

    async def _versions(self, request: Request) -> Response:
        record_id = request.path_params["id"]

        def work(owner: str, body: Any) -> tuple[int, Any]:  # noqa: ARG001
            record = self._record_of(record_id)
            if request.method == "GET":
                hits = [self._render(r) for r in self.versions_of(record.parent)]
                return 200, {"hits": {"hits": hits, "total": len(hits)}, "sortBy": "version"}
            if record.owner != owner:
                raise Answer(403, FORBIDDEN)
            for d in self.drafts.values():
                if d.parent == record.parent:
                    return 201, self._render(d)  # the new-version draft already exists
            body_copy = dict(record.body)
            metadata = dict(body_copy.get("metadata", {}))
            metadata.pop("publication_date", None)
            metadata.pop("version", None)
            body_copy["metadata"] = metadata
            draft = Entity(
                _new_id(), record.parent, owner, self._latest_index(record.parent) + 1, body_copy
            )
            self.drafts[draft.id] = draft
            self._hook("new-version")
            return 201, self._render(draft)

        return await self._handle(request, work, write=request.method == "POST")

    async def _communities(self, request: Request) -> Response:
        """Inclusion in communities (accepted at once here; a real community may review)."""
        record_id = request.path_params["id"]

        def work(owner: str, body: Any) -> tuple[int, Any]:
            record = self._record_of(record_id)
            if record.owner != owner:
                raise Answer(403, FORBIDDEN)
            wanted = body.get("communities") if isinstance(body, dict) else None
            if not isinstance(wanted, list) or not all(isinstance(c, dict) for c in wanted):
                raise Answer(
                    400,
                    "A validation error occurred.",
                    [{"field": "communities", "messages": ["Missing data for required field."]}],
                )
            ids = self.communities.setdefault(record.parent, [])
            processed = []
            for c in wanted:
                if c.get("id") and c["id"] not in ids:
                    ids.append(str(c["id"]))
                    processed.append({"community_id": c["id"], "request_id": _new_id()})
            return 200, {"processed": processed, "errors": []}

        return await self._handle(request, work, write=True)

    async def _latest(self, request: Request) -> Response:
        record_id = request.path_params["id"]

        def work(owner: str, body: Any) -> tuple[int, Any]:  # noqa: ARG001
            record = self._record_of(record_id)
            return 200, self._render(self.versions_of(record.parent)[-1])

        return await self._handle(request, work, write=False)

    async def _record(self, request: Request) -> Response:
        record_id = request.path_params["id"]

        def work(owner: str, body: Any) -> tuple[int, Any]:  # noqa: ARG001
            return 200, self._render(self._record_of(record_id))

        return await self._handle(request, work, write=False)

    async def _record_files(self, request: Request) -> Response:
        record_id = request.path_params["id"]

        def work(owner: str, body: Any) -> tuple[int, Any]:  # noqa: ARG001
            return 200, self._file_list(self._record_of(record_id))

        return await self._handle(request, work, write=False)

    async def _record_content(self, request: Request) -> Response:
        record_id, key = request.path_params["id"], request.path_params["key"]

        def work(owner: str, body: Any) -> tuple[int, Any]:  # noqa: ARG001
            f = self._file_of(self._record_of(record_id), key)
            return 200, f.content or b""

        return await self._handle(request, work, write=False)

    # ------------------------------------------------------------------ search

    def _search(self, request: Request, entities: list[Entity]) -> dict[str, Any]:
        q = request.query_params.get("q", "").strip()
        if q:
            match = _Q_IDENTIFIER.match(q)
            if match is None:
                raise Answer(
                    400,
                    "Invalid query string syntax (this double understands only "
                    'metadata.identifiers.identifier:"...").',
                )
            value = match.group("value")
            entities = [
                e
                for e in entities
                if any(
                    i.get("identifier") == value
                    for i in e.body.get("metadata", {}).get("identifiers", [])
                )
            ]
        if request.query_params.get("allversions", "false").lower() != "true":
            entities = [
                e for e in entities if not e.published or e.index == self._latest_index(e.parent)
            ]
        entities.sort(key=lambda e: e.updated, reverse=True)
        size = int(request.query_params.get("size", "10"))
        hits = [self._render(e) for e in entities[:size]]
        return {"hits": {"hits": hits, "total": len(entities)}, "sortBy": "newest", "links": {}}

    async def _search_user(self, request: Request) -> Response:
        def work(owner: str, body: Any) -> tuple[int, Any]:  # noqa: ARG001
            mine = [e for e in [*self.records.values(), *self.drafts.values()] if e.owner == owner]
            return 200, self._search(request, mine)

        return await self._handle(request, work, write=False)

    async def _search_public(self, request: Request) -> Response:
        def work(owner: str, body: Any) -> tuple[int, Any]:  # noqa: ARG001
            return 200, self._search(request, list(self.records.values()))

        return await self._handle(request, work, write=False)


def main(argv: list[str] | None = None) -> None:
    """``python -m finales.archive.invenio_double --port 5000 --token dev-token``."""
    import uvicorn

    parser = argparse.ArgumentParser(description="A protocol-faithful InvenioRDM test double.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--token", default="dev-token", help="the accepted bearer token")
    parser.add_argument("--no-doi", action="store_true", help="publish without minting test DOIs")
    args = parser.parse_args(argv)
    double = InvenioDouble({args.token: "user-1"}, mint_doi=not args.no_doi)
    url = f"http://{args.host}:{args.port}"
    print(f"InvenioRDM test double on {url} (token {args.token!r})", flush=True)  # noqa: T201
    uvicorn.run(double.app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
