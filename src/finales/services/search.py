"""Semantic search: keeps a :class:`~finales.semantics.search_graph.SearchGraph` equal to the
database's results, and answers searches and SPARQL queries from it.

Where the graph lives, and how it stays current (``docs/search.md``): in memory, in every
server process, built from the database in the background at start and brought up to date
**before every search** from the results' event log (``result_events``: one row per post,
amendment and deletion, through either door, the CLI included). A search reads the events
past the last one applied - one indexed query, nothing when nothing happened - and re-reads
the results they name. So a result committed anywhere (another server process on PostgreSQL,
the FINALES 2 door, an admin's CLI) is found by the next search in every process, with no
notification to lose and nothing to store beside the database.

Event numbers are handed out at insert time but committed in any order on PostgreSQL: a
transaction may commit after a later-numbered one. The catch-up therefore advances its mark
only over a contiguous run of numbers; the events seen beyond a hole are applied and
remembered, and the hole is waited for up to ``gap_grace_s`` (a rolled-back transaction
leaves a hole forever; write transactions here last milliseconds, the grace is seconds).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from finales.capabilities import examples
from finales.db import tables as t
from finales.domain.statuses import ResultStatus
from finales.domain.views import ResultView
from finales.errors import InvalidPayload, Unavailable, invalid
from finales.semantics import units
from finales.semantics.documents import Schemas, result_to_jsonld
from finales.semantics.search_graph import (
    Entry,
    Hit,
    SearchGraph,
    SearchQuery,
    ValueFilter,
    normal_label,
)
from finales.services.rows import RESULT_SELECT, result_view

log = logging.getLogger("finales.services.search")
BATCH_EVENTS = 1000
GAP_GRACE_S = 10.0
# How long a search waits for a build (or a long catch-up) before answering 503.
BUILD_WAIT_S = 20.0
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utc_text(moment: datetime) -> str:
    """A moment as the graph's sortable text (UTC, microseconds, ``Z``)."""
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def _wire(v: ResultView) -> dict[str, Any]:
    return {
        "id": v.id,
        "request_id": v.request_id,
        "tenant_id": v.tenant_id,
        "quantity": v.quantity,
        "method": v.method,
        "created_at": v.created_at.astimezone(UTC).isoformat(),
        "status": v.status.value,
        "capability_id": v.capability_id,
        "supersedes": v.supersedes,
        "superseded_by": v.superseded_by,
        "inputs": v.inputs,
        "parameters": v.parameters,
        "data": v.data,
    }


class SearchIndex:
    """One process's search graph and its catch-up from the database. Thread-safe."""

    def __init__(
        self,
        *,
        gap_grace_s: float = GAP_GRACE_S,
        clock: Callable[[], float] = time.monotonic,
        sparql_concurrency: int = 2,
    ) -> None:
        self._gap_grace_s = gap_grace_s
        self._clock = clock
        self._sparql_concurrency = sparql_concurrency
        self._lock = threading.Lock()  # one catch-up (or build) at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._applied = 0  # results applied so far (progress of a build)
        self._graph: SearchGraph | None = None
        self._mark = 0  # every event numbered up to here has been applied (or given up on)
        self._beyond: set[int] = set()  # events applied past a hole in the numbering
        self._hole_since: float | None = None
        self._tenants: dict[str, str] = {}
        self._schemas = Schemas(builtin=True)

    def start(self, read: Callable[[], AbstractContextManager[Connection]]) -> None:
        """Build the graph in the background (at server start), one read transaction per
        batch, so that the first search finds it ready."""
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._build, args=(read,), name="finales-search-build", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """End a background build (after its current batch)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _build(self, read: Callable[[], AbstractContextManager[Connection]]) -> None:
        with self._lock:
            try:
                graph = self._ensure()
                while not self._stop.is_set():
                    with read() as conn:
                        if not self._catch_up_batch(conn, graph):
                            return
            except Exception:  # the next search catches up itself, and says what failed
                log.exception("building the search graph failed; searches will retry")

    def graph(self, conn: Connection, *, wait_s: float = BUILD_WAIT_S) -> SearchGraph:
        """The graph, brought up to date with what ``conn`` sees. 503 when a build (or a long
        catch-up) holds it for more than ``wait_s``."""
        if not self._lock.acquire(timeout=wait_s):
            raise Unavailable(
                f"the search graph is being built ({self._applied} results so far); "
                "retry in a minute"
            )
        try:
            graph = self._ensure()
            while self._catch_up_batch(conn, graph):
                pass
            return graph
        finally:
            self._lock.release()

    def _ensure(self) -> SearchGraph:
        if self._graph is None:
            self._graph = SearchGraph(sparql_concurrency=self._sparql_concurrency)
        return self._graph

    def _catch_up_batch(self, conn: Connection, graph: SearchGraph) -> bool:
        """Apply one batch of events past the mark; True if more may follow."""
        ev = t.result_events
        rows = conn.execute(
            sa.select(ev.c.seq, ev.c.result_seq)
            .where(ev.c.seq > self._mark)
            .order_by(ev.c.seq)
            .limit(BATCH_EVENTS)
        ).all()
        fresh = [r for r in rows if r.seq not in self._beyond]
        if fresh:
            self._apply(conn, graph, sorted({r.result_seq for r in fresh}))
        advanced = self._advance([r.seq for r in rows])
        return len(rows) == BATCH_EVENTS and advanced

    def _advance(self, seqs: Sequence[int]) -> bool:
        """Move the mark over the contiguous run of ``seqs``; True if it moved."""
        start = self._mark
        self._beyond.update(seqs)
        for seq in seqs:
            if seq == self._mark + 1:
                self._mark = seq
                self._hole_since = None
            elif seq > self._mark + 1:
                now = self._clock()
                if self._hole_since is None:
                    self._hole_since = now
                if now - self._hole_since < self._gap_grace_s:
                    break
                self._mark, self._hole_since = seq, None  # the hole will not fill: skip it
        self._beyond = {s for s in self._beyond if s > self._mark}
        return self._mark > start

    def _apply(self, conn: Connection, graph: SearchGraph, result_seqs: list[int]) -> None:
        views = [
            result_view(r)
            for r in conn.execute(RESULT_SELECT.where(t.results.c.seq.in_(result_seqs)))
        ]
        graph.remove(v.id for v in views if v.status == ResultStatus.DELETED)
        live = [v for v in views if v.status != ResultStatus.DELETED]
        self._applied += len(views)
        self._refresh(conn, live)
        graph.put([self._entry(v) for v in live])

    def _refresh(self, conn: Connection, views: list[ResultView]) -> None:
        """Read the tenants and capability versions these results name, when new."""
        if any(v.tenant_id not in self._tenants for v in views):
            self._tenants = dict(conn.execute(sa.select(t.tenants.c.id, t.tenants.c.name)).all())
        if any(v.capability_id not in self._schemas.by_id for v in views):
            c = t.capabilities.c
            rows = conn.execute(
                sa.select(c.id, c.quantity, c.method, c.version, c.request_schema, c.result_schema)
            )
            self._schemas = Schemas([dict(r._mapping) for r in rows], builtin=True)

    def _entry(self, v: ResultView) -> Entry:
        return Entry(
            seq=v.seq,
            id=v.id,
            request_id=v.request_id,
            quantity=v.quantity,
            method=v.method,
            tenant_id=v.tenant_id,
            tenant_name=self._tenants.get(v.tenant_id, v.tenant_id),
            created_at=utc_text(v.created_at),
            status=v.status.value,
            node=result_to_jsonld(_wire(v), capabilities=self._schemas, context=False),
        )


# ---------------------------------------------------------------------------- queries

# Chemicals by the names people use, for "amount fraction of LiPF6": the library's own.
CHEMICAL_NAMES = {
    normal: chem["InChIKey"]
    for normal, chem in (
        ("lipf6", examples.LIPF6),
        ("ec", examples.EC),
        ("ethylenecarbonate", examples.EC),
        ("emc", examples.EMC),
        ("ethylmethylcarbonate", examples.EMC),
        ("graphite", examples.GRAPHITE),
        ("lco", examples.LCO),
        ("licoo2", examples.LCO),
    )
}
CHEMICAL_SMILES = {
    chem["SMILES"]: chem["InChIKey"]
    for chem in (examples.LIPF6, examples.EC, examples.EMC, examples.GRAPHITE, examples.LCO)
}
INCHIKEY_RE = re.compile(r"^[A-Z]{14}-[A-Z]{10}-[A-Z]$")
NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
WHERE_RE = re.compile(
    rf"^(?P<concept>.+?)(?:\s+of\s+(?P<chemical>\S+))?\s*:\s*(?P<low>{NUMBER})?\s*\.\.\s*"
    rf"(?P<high>{NUMBER})?\s*(?P<unit>\S.*)?$"
)
WHERE_HELP = (
    "write CONCEPT[ of CHEMICAL]:LOW..HIGH[ UNIT], e.g. 'amount fraction of LiPF6:0.05..0.15 "
    "mol/mol' or 'temperature:..30 degC'"
)


def chemical_key(text: str, *, parameter: str) -> str:
    """The InChIKey of a chemical given by InChIKey, SMILES or a name the library knows."""
    if INCHIKEY_RE.match(text):
        return text
    key = CHEMICAL_SMILES.get(text) or CHEMICAL_NAMES.get(normal_label(text))
    if key is None:
        raise invalid(
            parameter,
            f"unknown chemical {text!r}: give its InChIKey or SMILES "
            f"(names known: {', '.join(sorted(CHEMICAL_NAMES))})",
        )
    return key


def value_filter(graph: SearchGraph, text: str, *, parameter: str) -> ValueFilter:
    """One ``where`` filter, parsed (422 naming ``parameter`` when it does not parse, names
    no known concept or chemical, or has a unit the table does not know)."""
    m = WHERE_RE.match(text.strip())
    if m is None or (m["low"] is None and m["high"] is None):
        raise invalid(parameter, f"cannot read {text!r}: {WHERE_HELP}")
    low, high = (None if x is None else float(x) for x in (m["low"], m["high"]))
    if low is not None and high is not None and low > high:
        raise invalid(parameter, f"the range {low:g}..{high:g} is empty (low above high)")
    unit_text = m["unit"].strip() if m["unit"] else None
    if unit_text is not None and units.unit(unit_text) is None:
        raise invalid(
            parameter,
            f"unknown unit {unit_text!r}; known: {', '.join(units.KNOWN_SYMBOLS)}",
        )
    chemical = m["chemical"]
    return ValueFilter(
        concept=graph.concept(m["concept"], parameter=parameter),
        low=low,
        high=high,
        unit=unit_text,
        chemical=None if chemical is None else chemical_key(chemical, parameter=parameter),
        parameter=parameter,
    )


def _query(
    graph: SearchGraph,
    *,
    concept: str | None,
    where: Sequence[str],
    tenant: str | None,
    method: str | None,
    quantity: str | None,
    since: datetime | None,
    until: datetime | None,
    include_amended: bool,
    cursor: str | None,
    limit: int,
) -> SearchQuery:
    before = None
    if cursor is not None:
        if not cursor.isdigit():
            raise invalid("/cursor", "not a cursor this search returned")
        before = int(cursor)
    return SearchQuery(
        concept=None if concept is None else graph.concept(concept, parameter="/concept"),
        filters=tuple(value_filter(graph, w, parameter=f"/where/{i}") for i, w in enumerate(where)),
        tenant=tenant,
        method=method,
        quantity=quantity,
        since=None if since is None else utc_text(since),
        until=None if until is None else utc_text(until),
        include_amended=include_amended,
        before_seq=before,
        limit=limit + 1,
    )


def search(
    index: SearchIndex,
    conn: Connection,
    *,
    concept: str | None = None,
    where: Sequence[str] = (),
    tenant: str | None = None,
    method: str | None = None,
    quantity: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    include_amended: bool = False,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[SearchAnswer, str | None]:
    """Results matching every filter given, newest first, and the next page's cursor.

    ``concept``: results with a data value of this class or a sub-class (a label as typed,
    an IRI or a prefixed name). ``where``: value ranges on any annotated value of the result
    (its data or the parameters it was made with)."""
    graph = index.graph(conn)
    try:
        q = _query(
            graph,
            concept=concept,
            where=where,
            tenant=tenant,
            method=method,
            quantity=quantity,
            since=since,
            until=until,
            include_amended=include_amended,
            cursor=cursor,
            limit=limit,
        )
        hits = graph.search(q)  # a range whose unit does not convert is refused here
    except InvalidPayload as exc:  # a query parameter: say so, as for FastAPI's own checks
        raise InvalidPayload(
            f"query {exc.detail}", errors=[{**e, "in": "query"} for e in exc.errors]
        ) from None
    more = len(hits) > limit
    hits = hits[:limit]
    concepts = [q.concept] if q.concept else []
    answer = SearchAnswer(
        items=hits,
        concepts=[
            {"asked": c.asked, "labels": list(c.labels), "classes": len(c.classes)}
            for c in [*concepts, *(f.concept for f in q.filters)]
        ],
    )
    return answer, (str(hits[-1].seq) if more and hits else None)


class SearchAnswer:
    """What a search found, and what its concepts were understood as."""

    __slots__ = ("concepts", "items")

    def __init__(self, items: list[Hit], concepts: list[dict[str, Any]]) -> None:
        self.items = items
        self.concepts = concepts


def hit_json(hit: Hit) -> dict[str, Any]:
    """A hit as the API answers it (``schemas.SearchHit``)."""
    return {
        "id": hit.id,
        "request_id": hit.request_id,
        "quantity": hit.quantity,
        "method": hit.method,
        "tenant_id": hit.tenant_id,
        "tenant": hit.tenant,
        "created_at": datetime.strptime(hit.created_at, TIME_FORMAT)
        .replace(tzinfo=UTC)
        .isoformat(),
        "status": hit.status,
        "values": hit.values,
    }
