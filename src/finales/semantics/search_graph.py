"""The search graph: every result's JSON-LD and the vendored ontology in one pyoxigraph store,
with a relational projection of the results' values for the search filters.

Why two structures (figures in ``benchmarks/README.md``, "Semantic search"): a triple store
has no range index on literal values, so "values between 0.8 and 1.2" is a scan of every
number - measured at 300-450 ms for 100k results in pyoxigraph, before ordering. The same
values in an indexed in-memory SQLite table (concept, value) answer in milliseconds. So:

- the **store** holds the triples (what SPARQL sees: results, their value nodes, the
  ontology in the named graph ``urn:finales:ontology``) and answers the ontology questions of
  a search: which classes are sub-classes of a concept (``rdfs:subClassOf*``), which class a
  label names (``skos:prefLabel``, ``skos:altLabel``, ``rdfs:label``);
- the **projection** (one row per result, one per annotated value: concept class, number,
  unit, chemical) is filled from the very quads the store received, in the same call under
  the same lock, so both always describe the same results.

Nothing here reads the database: :mod:`finales.services.search` feeds the graph.
"""

from __future__ import annotations

import difflib
import itertools
import json
import re
import sqlite3
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import pyoxigraph as ox

from finales.errors import invalid

from . import units
from .documents import graph_document
from .loader import inline_contexts, vendored_context
from .ntriples import Unsupported, write
from .ontology import ONTOLOGY_FILES
from .sparql import SparqlRunner
from .vocab import FINALES_CONTEXT, INCHIKEY, VOCAB, result_iri

ONTOLOGY_GRAPH = ox.NamedNode("urn:finales:ontology")
RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
SUBCLASS_OF = "http://www.w3.org/2000/01/rdf-schema#subClassOf"
LABEL_PREDICATES = (
    "http://www.w3.org/2004/02/skos/core#prefLabel",
    "http://www.w3.org/2004/02/skos/core#altLabel",
    "http://www.w3.org/2000/01/rdf-schema#label",
)
POINTER = VOCAB + "pointer"
UNIT = VOCAB + "unit"
CHEMICAL = VOCAB + "chemical"


@lru_cache(maxsize=1)
def _context_head() -> str:
    """The start of a JSON-LD document of many results, its context inlined (serialised
    once: the battery context is most of a megabyte)."""
    context = json.dumps(inline_contexts(graph_document([]))["@context"])
    return '{"@context": ' + context + ', "@graph": '


_CONTEXT_HEAD = _context_head


def _ntriples(entries: Sequence[Entry]) -> tuple[str, list[dict[str, Any]]]:
    """N-Triples of the entries' nodes, and the nodes left to the JSON-LD parser."""
    lines: list[str] = []
    by_parser: list[dict[str, Any]] = []
    batch, counter = uuid.uuid4().hex, itertools.count()

    def fresh() -> str:  # blank nodes unique across batches: the store keeps their labels
        return f"_:b{batch}n{next(counter)}"

    for entry in entries:
        mark = len(lines)
        try:
            write(entry.node, lines, fresh)
        except Unsupported:
            del lines[mark:]
            by_parser.append(entry.node)
    return "\n".join(lines) + "\n", by_parser


def _context_iri(name: str) -> str:
    entry = vendored_context("battery")["@context"][name]
    return str(entry["@id"] if isinstance(entry, dict) else entry)


@lru_cache(maxsize=1)
def _predicates() -> dict[str, str]:
    """The EMMO relations of a value node, as the battery context defines them."""
    names = ("hasProperty", "hasNumericalPart", "hasNumberValue", "hasMeasurementUnit")
    return {name: _context_iri(name) for name in names}


@dataclass(frozen=True, slots=True)
class Entry:
    """One result as the graph takes it: what the filters need, and its JSON-LD node
    (``finales.semantics.result_to_jsonld(..., context=False)``)."""

    seq: int
    id: str
    request_id: str
    quantity: str
    method: str
    tenant_id: str
    tenant_name: str
    created_at: str  # ISO 8601 in UTC, sortable as text
    status: str
    node: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Concept:
    """A concept a person asked for: the class IRIs it stands for (sub-classes included)."""

    asked: str
    classes: frozenset[str]
    labels: tuple[str, ...]  # the preferred labels of the classes it matched directly


@dataclass(frozen=True, slots=True)
class ValueFilter:
    """Values of ``concept`` (of ``chemical``, an InChIKey, when given) within
    [``low``, ``high``] in ``unit`` (None: the values' own unit)."""

    concept: Concept
    low: float | None
    high: float | None
    unit: str | None
    chemical: str | None
    parameter: str  # the query parameter it came from, for messages


@dataclass(frozen=True, slots=True)
class SearchQuery:
    concept: Concept | None = None
    filters: tuple[ValueFilter, ...] = ()
    tenant: str | None = None  # id or name
    method: str | None = None
    quantity: str | None = None
    since: str | None = None  # ISO 8601 UTC, inclusive
    until: str | None = None  # exclusive
    include_amended: bool = False
    before_seq: int | None = None  # the cursor: results older than this one
    limit: int = 50


@dataclass(slots=True)
class Hit:
    seq: int
    id: str
    request_id: str
    quantity: str
    method: str
    tenant_id: str
    tenant: str
    created_at: str
    status: str
    values: list[dict[str, Any]] = field(default_factory=list)


_SCHEMA = """
CREATE TABLE results (
  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, request_id TEXT NOT NULL,
  quantity TEXT NOT NULL, method TEXT NOT NULL, tenant_id TEXT NOT NULL,
  tenant_name TEXT NOT NULL, created_at TEXT NOT NULL, status TEXT NOT NULL);
CREATE INDEX results_tenant ON results (tenant_id);
CREATE INDEX results_tenant_name ON results (tenant_name);
CREATE INDEX results_created ON results (created_at);
CREATE TABLE facts (
  result_seq INTEGER NOT NULL, pointer TEXT NOT NULL, concept TEXT NOT NULL,
  unit TEXT, unit_iri TEXT, chemical TEXT, value REAL NOT NULL, main INTEGER NOT NULL);
CREATE INDEX facts_concept_value ON facts (concept, value);
CREATE INDEX facts_concept_chemical_value ON facts (concept, chemical, value);
CREATE INDEX facts_result ON facts (result_seq, concept, chemical, value);
CREATE INDEX facts_main ON facts (concept, result_seq) WHERE main;
"""

# A filter over more values than this is checked per result rather than made into a set
# (measured at 100k results: making sets of 30k values cost ~200 ms a search, a walk ~50 ms).
SET_FILTER_MAX_VALUES = 20_000
_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def normal_label(text: str) -> str:
    """How labels are compared: ``"ionic conductivity"`` = ``"IonicConductivity"``."""
    return _NON_ALNUM.sub("", text.casefold())


class SearchGraph:
    """See the module docstring. Thread-safe: writers and SPARQL forks take one lock."""

    def __init__(self, *, sparql_concurrency: int = 2) -> None:
        self._lock = threading.RLock()
        self._store = ox.Store()
        for name in ONTOLOGY_FILES:
            data = resources.files("finales.semantics").joinpath(name).read_bytes()
            self._store.load(data, format=ox.RdfFormat.TURTLE, to_graph=ONTOLOGY_GRAPH)
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.executescript(_SCHEMA)
        self._labels = self._read_labels()
        self._pref: dict[str, str] = {}
        # The units values of each class were stored in (never shrinks: a unit left over
        # after a removal only adds a clause that matches nothing).
        self._units: dict[str, set[str | None]] = defaultdict(set)
        self._runner = SparqlRunner(self._store, lambda: self._lock, concurrency=sparql_concurrency)

    # ------------------------------------------------------------------ the ontology
    def _read_labels(self) -> dict[str, set[str]]:
        labels: dict[str, set[str]] = defaultdict(set)
        for predicate in LABEL_PREDICATES:
            for quad in self._store.quads_for_pattern(
                None, ox.NamedNode(predicate), None, ONTOLOGY_GRAPH
            ):
                if isinstance(quad.subject, ox.NamedNode):
                    labels[normal_label(_text(quad.object))].add(quad.subject.value)
        return dict(labels)

    def pref_label(self, iri: str) -> str:
        """The preferred label of class ``iri`` (its IRI when it has none)."""
        if iri not in self._pref:
            label = next(
                (
                    _text(q.object)
                    for q in self._store.quads_for_pattern(
                        ox.NamedNode(iri), ox.NamedNode(LABEL_PREDICATES[0]), None, ONTOLOGY_GRAPH
                    )
                ),
                iri,
            )
            self._pref[iri] = label
        return self._pref[iri]

    def concept(self, asked: str, *, parameter: str) -> Concept:
        """The classes ``asked`` names - a label as typed (any case and spacing), an IRI or a
        prefixed name (``echem:...``) - with all their sub-classes. 422 naming
        ``parameter`` when the ontology has no such class."""
        text = asked.strip()
        direct = self._direct_classes(text) or self._used_classes_ending(text)
        if not direct:
            close = difflib.get_close_matches(normal_label(text), list(self._labels), n=3)
            hint = (
                "; did you mean "
                + ", ".join(repr(self.pref_label(min(self._labels[c]))) for c in close)
                if close
                else ""
            )
            raise invalid(parameter, f"no class labelled or named {text!r} in the ontology{hint}")
        classes: set[str] = set()
        for iri in direct:
            classes |= self._subclasses(iri)
        return Concept(text, frozenset(classes), tuple(sorted(self.pref_label(c) for c in direct)))

    def _used_classes_ending(self, text: str) -> set[str]:
        """Classes that values in the graph have, whose label ends with ``text``: a person
        types "temperature" for ThermodynamicTemperature. Only classes in use, so the
        hundreds of unrelated "...Temperature" classes of the ontology do not join in."""
        wanted = normal_label(text)
        if not wanted:
            return set()
        with self._lock:
            used = list(self._units)
        return {c for c in used if normal_label(self.pref_label(c)).endswith(wanted)}

    def _direct_classes(self, text: str) -> set[str]:
        iri = _expand(text)
        if iri is not None:
            known = next(
                iter(self._store.quads_for_pattern(ox.NamedNode(iri), None, None, ONTOLOGY_GRAPH)),
                None,
            )
            return {iri} if known is not None else set()
        return set(self._labels.get(normal_label(text), set()))

    @lru_cache(maxsize=1024)  # noqa: B019 - one graph per server process, kept for its life
    def _subclasses(self, iri: str) -> frozenset[str]:
        query = (
            f"SELECT DISTINCT ?c WHERE {{ GRAPH <{ONTOLOGY_GRAPH.value}> "
            f"{{ ?c <{SUBCLASS_OF}>* <{iri}> }} }}"
        )
        solutions = self._store.query(query)
        assert isinstance(solutions, ox.QuerySolutions)
        return frozenset(s["c"].value for s in solutions if isinstance(s["c"], ox.NamedNode))

    # ------------------------------------------------------------------ writing
    def put(self, entries: Sequence[Entry]) -> None:
        """Add ``entries`` (replacing what the graph held for the same results).

        The JSON-LD nodes are written out as N-Triples (:mod:`finales.semantics.ntriples`;
        a node using JSON-LD it does not handle goes through the store's JSON-LD parser);
        the projection's rows are read from the same nodes, with the context's meaning of
        each term (tests check both against the JSON-LD parser's triples)."""
        if not entries:
            return
        triples, by_parser = _ntriples(entries)
        facts = _main([f for e in entries for f in facts_of(e.seq, e.node)], entries)
        with self._lock:
            self._remove([e.id for e in entries])
            self._store.load(triples, format=ox.RdfFormat.N_TRIPLES)
            if by_parser:
                text = _CONTEXT_HEAD() + json.dumps(by_parser) + "}"
                self._store.load(text, format=ox.RdfFormat.JSON_LD)
            self._db.executemany(
                "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        e.seq,
                        e.id,
                        e.request_id,
                        e.quantity,
                        e.method,
                        e.tenant_id,
                        e.tenant_name,
                        e.created_at,
                        e.status,
                    )
                    for e in entries
                ],
            )
            self._db.executemany("INSERT INTO facts VALUES (?, ?, ?, ?, ?, ?, ?, ?)", facts)
            self._db.commit()
            for row in facts:
                self._units[row[2]].add(row[3])

    def remove(self, result_ids: Iterable[str]) -> None:
        """Forget these results (deleted ones)."""
        with self._lock:
            self._remove(list(result_ids))
            self._db.commit()

    def _remove(self, result_ids: list[str]) -> None:
        has_property = ox.NamedNode(_predicates()["hasProperty"])
        for result_id in result_ids:
            iri = ox.NamedNode(result_iri(result_id))
            values = [q.object for q in self._store.quads_for_pattern(iri, has_property, None)]
            for subject in [iri, *values]:
                if not isinstance(subject, ox.NamedNode | ox.BlankNode):
                    continue
                for quad in list(self._store.quads_for_pattern(subject, None, None)):
                    if isinstance(quad.object, ox.BlankNode):  # the value's numerical part
                        for inner in list(self._store.quads_for_pattern(quad.object, None, None)):
                            self._store.remove(inner)
                    self._store.remove(quad)
        self._db.executemany(
            "DELETE FROM facts WHERE result_seq IN (SELECT seq FROM results WHERE id = ?)",
            [(i,) for i in result_ids],
        )
        self._db.executemany("DELETE FROM results WHERE id = ?", [(i,) for i in result_ids])

    # ------------------------------------------------------------------ reading
    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM results").fetchone()[0])

    def search(self, q: SearchQuery) -> list[Hit]:
        """Matching results, newest first (``q.limit`` of them, older than ``q.before_seq``)."""
        statuses = "'original', 'amended'" if q.include_amended else "'original'"
        where: list[str] = [f"status IN ({statuses})"]
        args: list[Any] = []
        if q.before_seq is not None:
            where.append("seq < ?")
            args.append(q.before_seq)
        for column, value in (("method", q.method), ("quantity", q.quantity)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if q.tenant is not None:
            where.append("(tenant_id = ? OR tenant_name = ?)")
            args += [q.tenant, q.tenant]
        if q.since is not None:
            where.append("created_at >= ?")
            args.append(q.since)
        if q.until is not None:
            where.append("created_at < ?")
            args.append(q.until)
        matched: set[str] = set()
        bound = SET_FILTER_MAX_VALUES
        with self._lock:
            if q.concept is not None:
                used = self._in_use(q.concept.classes)
                marks = ",".join("?" * len(used))
                concept = f"concept IN ({marks}) AND main"
                where.append(self._membership(concept, used, bound, own=False))
                args += used
                matched |= q.concept.classes
            for f in q.filters:
                clause, more = self._value_clause(f)
                where.append(self._membership(clause, more, bound))
                args += more
                matched |= f.concept.classes
            rows = self._db.execute(
                "SELECT seq, id, request_id, quantity, method, tenant_id, tenant_name, "
                f"created_at, status FROM results WHERE {' AND '.join(where)} "
                "ORDER BY seq DESC LIMIT ?",
                [*args, q.limit],
            ).fetchall()
            hits = [Hit(*row) for row in rows]
            self._attach_values(hits, matched)
        return hits

    def _value_clause(self, f: ValueFilter) -> tuple[str, list[Any]]:
        """SQL for one value filter: the range converted into each unit the values are in."""
        classes = self._in_use(f.concept.classes)
        marks = ",".join("?" * len(classes))
        stored = sorted({u for c in classes for u in self._units.get(c, ())}, key=lambda u: u or "")
        parts: list[str] = []
        args: list[Any] = []
        refused: list[str] = []
        for unit_text in stored:
            low, high = f.low, f.high
            if f.unit is not None:
                if unit_text is None:
                    refused.append("no unit")
                    continue
                low = None if low is None else units.convert(low, f.unit, unit_text)
                high = None if high is None else units.convert(high, f.unit, unit_text)
                if (f.low is not None and low is None) or (f.high is not None and high is None):
                    refused.append(unit_text)
                    continue
            part = "unit IS ?"
            args.append(unit_text)
            if low is not None:
                part += " AND value >= ?"
                args.append(low)
            if high is not None:
                part += " AND value <= ?"
                args.append(high)
            parts.append(f"({part})")
        if refused and not parts:
            raise invalid(
                f.parameter,
                f"{f.unit!r} does not convert to the unit of {f.concept.asked!r} values "
                f"({', '.join(sorted(set(refused)))}); give the range in that unit",
            )
        if not parts:
            parts, args = ["0"], []  # no value of this concept yet: nothing matches
        clause = f"concept IN ({marks}) AND ({' OR '.join(parts)})"
        all_args: list[Any] = [*classes, *args]
        if f.chemical is not None:
            clause += " AND chemical = ?"
            all_args.append(f.chemical)
        return clause, all_args

    def _membership(self, clause: str, args: list[Any], bound: int, *, own: bool = True) -> str:
        """A filter on the results: "has a value where ``clause``".

        Results are walked newest first until a page is full (``+seq``: never by the set's
        order). A filter whose classes have few values is a set made once (``IN``: its cost
        grows with its matches); one over many values is checked per result walked
        (``EXISTS`` on the result's own values: its cost grows with the rows walked, so a
        broad concept's page stays cheap however many results there are). Which one: a count
        that stops at the bound, on the filter's own index."""
        found = self._db.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM facts WHERE {clause} LIMIT ?)",
            [*args, bound + 1],
        ).fetchone()[0]
        if found <= bound:
            return f"+seq IN (SELECT result_seq FROM facts WHERE {clause})"
        # A value filter probes the result's own values of the class (result, class,
        # chemical, value): a range index would scan the whole range per result walked. A
        # concept probes the index of measured values (class, result).
        hint = "INDEXED BY facts_result " if own else ""
        return f"EXISTS (SELECT 1 FROM facts {hint}WHERE result_seq = results.seq AND {clause})"

    def _in_use(self, classes: frozenset[str]) -> list[str]:
        """The classes some value has (of a concept's hundreds of sub-classes, a few)."""
        used = sorted(c for c in classes if c in self._units)
        return used or ["urn:finales:no-such-class"]  # IN () is not SQL: match nothing

    def _attach_values(self, hits: list[Hit], concepts: set[str]) -> None:
        """Each hit's values of the concepts asked about (its data values when none were)."""
        by_seq = {h.seq: h for h in hits}
        if not by_seq:
            return
        marks = ",".join("?" * len(by_seq))
        rows = self._db.execute(
            "SELECT result_seq, pointer, concept, unit, chemical, value, main FROM facts "
            f"WHERE result_seq IN ({marks}) ORDER BY result_seq, rowid",
            list(by_seq),
        )
        for seq, pointer, concept, unit, chemical, value, main in rows:
            if concepts and concept not in concepts:
                continue
            if not concepts and not main:
                continue
            value_row = {"pointer": pointer, "concept": concept, "label": self.pref_label(concept)}
            value_row.update({"value": value, "unit": unit})
            if chemical:
                value_row["chemical"] = chemical
            by_seq[seq].values.append(value_row)

    def sparql(self, query: str, *, timeout_s: float, max_rows: int) -> tuple[str, bytes]:
        """A read-only SPARQL query over the results and the ontology (default graph: the
        union of both): (media type, body). See :mod:`finales.semantics.sparql`."""
        return self._runner.run(query, timeout_s=timeout_s, max_rows=max_rows)

    def triple_count(self) -> int:
        with self._lock:
            return len(self._store)


def _text(term: Any) -> str:
    """The lexical value of an IRI, blank node or literal."""
    return str(term.value) if hasattr(term, "value") else str(term)


def _expand(text: str) -> str | None:
    """``text`` as an IRI when it is one (or a prefixed name of the finales context)."""
    if "://" in text or text.startswith("urn:"):
        return text
    prefix, sep, local = text.partition(":")
    namespace = FINALES_CONTEXT.get(prefix) if sep else None
    return namespace + local if isinstance(namespace, str) and local else None


Fact = tuple[int, str, str, str | None, str | None, str | None, float]


def _main(facts: Iterable[Fact], entries: Sequence[Entry]) -> list[tuple[Any, ...]]:
    """``facts`` with a flag for the values a result *measured*: those under
    ``/data/<quantity>/`` (the library's convention: ``{"conductivity": {"values": ...}}``),
    or, for a result without that block, all its data values - not the description of the
    sample (``run_info``) nor the parameters. A concept search matches these."""
    quantity = {
        e.seq: "/data/" + e.quantity.replace("~", "~0").replace("/", "~1") + "/" for e in entries
    }
    rows = list(facts)
    has_block = {seq for seq, pointer, *_ in rows if pointer.startswith(quantity[seq])}
    return [
        (
            *row,
            int(
                row[1].startswith(quantity[row[0]])
                if row[0] in has_block
                else row[1].startswith("/data/")
            ),
        )
        for row in rows
    ]


@lru_cache(maxsize=1)
def _terms() -> dict[str, str]:
    """Term -> IRI of the battery context (names of classes and relations)."""
    terms: dict[str, str] = {}
    for name, value in vendored_context("battery")["@context"].items():
        iri = value.get("@id") if isinstance(value, dict) else value
        if isinstance(iri, str) and not name.startswith("@"):
            terms[name] = iri
    return terms


def _iri(term: str) -> str:
    """A term, prefixed name or IRI of finales' documents, as the full IRI."""
    if term in _terms():
        return _terms()[term]
    return _expand(term) or term


def _number(value: Any) -> float | None:
    if isinstance(value, dict):
        value = value.get("@value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def facts_of(seq: int, node: dict[str, Any]) -> Iterator[Fact]:
    """One row per value node of a result's JSON-LD node (``hasProperty``)."""
    for value in node.get("hasProperty", []):
        part = value.get("hasNumericalPart") or {}
        number = _number(part.get("hasNumberValue"))
        kind = value.get("@type")
        pointer = value.get("finales:pointer")
        if number is None or not isinstance(kind, str) or not isinstance(pointer, str):
            continue
        unit_iri = value.get("hasMeasurementUnit")
        chemical = value.get("finales:chemical")
        chemical_iri = chemical.get("@id") if isinstance(chemical, dict) else None
        yield (
            seq,
            pointer,
            _iri(kind),
            value.get("finales:unit"),
            _iri(unit_iri) if isinstance(unit_iri, str) else None,
            chemical_iri.removeprefix(INCHIKEY) if isinstance(chemical_iri, str) else None,
            number,
        )
