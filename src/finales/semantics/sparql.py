"""Read-only, time-limited SPARQL over a pyoxigraph store.

pyoxigraph evaluates a query with the GIL released and cannot be interrupted: no timeout
option, no cancellation token, and a signal is only seen once the query ends (measured with
pyoxigraph 0.5: a 10 s cross product ignored a 0.5 s alarm). A thread that runs a
pathological query would burn a core until it finished, whatever the HTTP answer said. So each
query runs in a **forked child**: the child has a copy-on-write snapshot of the store (no
copy made, no rebuild), evaluates, writes the answer to a pipe and exits; the parent waits up
to the time limit and kills the child past it (SIGKILL: the work really stops). The parent
forks while holding the graph's write lock, so the snapshot is never half-written.

Read-only twice over: :func:`check_read_only` refuses update operations (``INSERT``,
``DELETE``, ``LOAD``, ``CLEAR``...) and federated ``SERVICE`` calls (which would make the
server fetch URLs) by their keywords before anything runs, and the child only ever calls
``Store.query``, whose parser (the store's own) accepts the query forms alone - and whatever
a child did would change its private copy, never the server's graph.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pyoxigraph as ox

from finales.errors import QueryTooCostly, Unavailable, invalid

QUERY_FORMS = frozenset({"SELECT", "ASK", "CONSTRUCT", "DESCRIBE"})
UPDATE_FORMS = frozenset(
    {"INSERT", "DELETE", "LOAD", "CLEAR", "CREATE", "DROP", "COPY", "MOVE", "ADD", "WITH"}
)
RESULTS_JSON = "application/sparql-results+json"
N_TRIPLES = "application/n-triples"
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
# Memory a query may add to the server's own (the child's address space limit).
CHILD_EXTRA_MEMORY_BYTES = 2 * 1024**3


def _words(query: str) -> Iterator[str]:
    """The bare keywords of ``query``: strings, IRIs, comments, variables and prefixed names
    are skipped, so ``?service``, ``ex:load`` or ``"delete"`` are not keywords."""
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c == "#":
            end = query.find("\n", i)
            i = n if end < 0 else end + 1
        elif c in "'\"":
            quote = query[i : i + 3] if query[i : i + 3] in ("'''", '"""') else c
            i += len(quote)
            while i < n and not query.startswith(quote, i):
                i += 2 if query[i] == "\\" else 1
            i += len(quote)
        elif c == "<":
            end = i + 1
            while end < n and query[end] not in '<>"{}|^`\\ \t\r\n':
                end += 1
            i = end + 1 if end < n and query[end] == ">" else i + 1  # an IRI, or less-than
        elif c.isalnum() or c in "_?$:":
            end = i
            while end < n and (query[end].isalnum() or query[end] in "_?$:.-"):
                end += 1
            token = query[i:end].rstrip(".")
            i = max(end, i + 1)
            if token[0] not in "?$" and ":" not in token:
                yield token.upper()
        else:
            i += 1


def check_read_only(query: str) -> str:
    """The query form (``SELECT``...) of ``query``; 422 naming ``/query`` for an update or a
    federated (``SERVICE``) query. Whether it parses is the store's parser's to say."""
    words = list(_words(query))
    if "SERVICE" in words:
        raise invalid(
            "/query", "federated queries (SERVICE) are refused: this server fetches nothing"
        )
    for word in words:
        if word in ("PREFIX", "BASE"):
            continue
        if word in UPDATE_FORMS:
            raise invalid(
                "/query",
                f"this endpoint is read-only: SPARQL updates ({word}) are refused; "
                "send a SELECT, ASK, CONSTRUCT or DESCRIBE query",
            )
        if word in QUERY_FORMS:
            return word
        break
    raise invalid("/query", "not a SPARQL query: expected SELECT, ASK, CONSTRUCT or DESCRIBE")


def _term(term: Any) -> dict[str, str]:
    """A term in the SPARQL 1.1 JSON results format."""
    if isinstance(term, ox.NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, ox.BlankNode):
        return {"type": "bnode", "value": term.value}
    if isinstance(term, ox.Literal):
        out = {"type": "literal", "value": term.value}
        if term.language:
            out["xml:lang"] = term.language
        elif term.datatype.value != XSD_STRING:
            out["datatype"] = term.datatype.value
        return out
    return {"type": "literal", "value": str(term)}  # an RDF-star triple, written out


def evaluate(store: ox.Store, query: str, max_rows: int) -> tuple[dict[str, Any], bytes]:
    """Run ``query``: (header, body). The header says ``ok`` and the media type, or the
    error (``syntax``, ``rows``) and its message. Runs in the child."""
    try:
        answer = store.query(query, use_default_graph_as_union=True)
    except SyntaxError as exc:
        return {"error": "syntax", "message": str(exc)}, b""
    if isinstance(answer, ox.QueryBoolean):
        body = json.dumps({"head": {}, "boolean": bool(answer)})
        return {"ok": True, "media_type": RESULTS_JSON}, body.encode()
    if isinstance(answer, ox.QuerySolutions):
        names = [v.value for v in answer.variables]
        rows: list[dict[str, Any]] = []
        for solution in answer:
            if len(rows) == max_rows:
                return {"error": "rows"}, b""
            rows.append({n: _term(solution[n]) for n in names if solution[n] is not None})
        body = json.dumps({"head": {"vars": names}, "results": {"bindings": rows}})
        return {"ok": True, "media_type": RESULTS_JSON}, body.encode()
    triples: list[Any] = []
    for triple in answer:
        if len(triples) == max_rows:
            return {"error": "rows"}, b""
        triples.append(triple)
    return {"ok": True, "media_type": N_TRIPLES}, ox.serialize(
        triples, format=ox.RdfFormat.N_TRIPLES
    ) or b""


def _child(store: ox.Store, query: str, max_rows: int, fd: int) -> None:
    """The forked child: bound its memory, evaluate, write header line + body, exit."""
    try:
        soft = _address_space_bytes() + CHILD_EXTRA_MEMORY_BYTES
        resource.setrlimit(resource.RLIMIT_AS, (soft, resource.RLIM_INFINITY))
        header, body = evaluate(store, query, max_rows)
    except BaseException as exc:  # the child reports everything and exits, whatever happened
        header, body = {"error": "failed", "message": f"{type(exc).__name__}: {exc}"}, b""
    data = json.dumps(header).encode() + b"\n" + body
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _address_space_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


class SparqlRunner:
    """Runs read-only queries on ``store`` in forked children, ``concurrency`` at a time."""

    def __init__(
        self,
        store: ox.Store,
        write_lock: Callable[[], AbstractContextManager[Any]],
        *,
        concurrency: int = 2,
    ) -> None:
        self._store = store
        self._write_lock = write_lock
        self._slots = threading.BoundedSemaphore(concurrency)

    def run(self, query: str, *, timeout_s: float, max_rows: int) -> tuple[str, bytes]:
        """(media type, body) of ``query``'s answer. 422 for an update, a syntax error, more
        than ``max_rows`` rows or a run past ``timeout_s`` (the query is killed); 503 when
        every slot stays busy for ``timeout_s``."""
        check_read_only(query)
        if not self._slots.acquire(timeout=timeout_s):
            raise Unavailable("every SPARQL slot is busy; retry shortly")
        try:
            header, body = self._fork(query, timeout_s=timeout_s, max_rows=max_rows)
        finally:
            self._slots.release()
        if header.get("ok"):
            return str(header["media_type"]), body
        if header.get("error") == "syntax":
            raise invalid("/query", f"SPARQL syntax error: {header.get('message', '')}")
        if header.get("error") == "rows":
            raise QueryTooCostly(
                f"/query: the answer has more than {max_rows} rows; add a LIMIT or narrow "
                "the pattern",
                errors=[{"pointer": "/query", "message": f"more than {max_rows} rows"}],
            )
        raise QueryTooCostly(
            f"/query: the query failed ({header.get('message', 'it ran out of memory')})",
            errors=[{"pointer": "/query", "message": "the query failed"}],
        )

    def _fork(self, query: str, *, timeout_s: float, max_rows: int) -> tuple[dict[str, Any], bytes]:
        read_fd, write_fd = os.pipe()
        with self._write_lock(), warnings.catch_warnings():
            # Python 3.12+ warns that forking a threaded process may deadlock the child. The
            # child takes no Python-level lock (the write lock is held here, so the store is
            # between writes), runs one query, writes to a pipe and _exits; a child that
            # hangs anyway is killed at the deadline like a slow query.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child
            os.close(read_fd)
            try:
                _child(self._store, query, max_rows, write_fd)
            finally:
                os._exit(0)
        os.close(write_fd)
        data: bytes | None = None
        try:
            data = _read_all(read_fd, deadline=time.monotonic() + timeout_s)
        finally:
            os.close(read_fd)
            _reap(pid, kill=data is None)
        if data is None:
            raise QueryTooCostly(
                f"/query: stopped after the time limit of {timeout_s:g} s; add a LIMIT or "
                "narrow the pattern",
                errors=[{"pointer": "/query", "message": f"ran past {timeout_s:g} s"}],
            )
        head, _, body = data.partition(b"\n")
        try:
            header: dict[str, Any] = json.loads(head) if head else {}
        except ValueError:
            header = {}
        return header, body


def _reap(pid: int, *, kill: bool) -> None:
    """Wait for the child; kill it first when it ran out of time (or, having closed its end
    of the pipe, does not exit within a second)."""
    if not kill:
        for _ in range(100):
            if os.waitpid(pid, os.WNOHANG)[0] != 0:
                return
            time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def _read_all(fd: int, *, deadline: float) -> bytes | None:
    """Everything from ``fd`` until EOF, or None at the deadline."""
    chunks: list[bytes] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            return None
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
