"""Requests, results, capabilities, tenants and whole snapshots as compact JSON-LD.

Every function takes the wire form (the JSON the API answers, as a dict, or the pydantic
model of :mod:`finales.schemas`) and returns a JSON-LD document: plain dicts, built without
any JSON-LD library, so emitting costs no more than building the JSON. Numbers keep their
JSON type: floats are explicit ``xsd:double``, integers ``xsd:integer``. A value of a request
or a result becomes a node typed with its ontology class, in the BattINFO pattern::

    {"@id": "urn:finales:result:<id>#/data/conductivity/values/0",
     "@type": "IonicConductivity",
     "finales:pointer": "/data/conductivity/values/0",
     "hasNumericalPart": {"@type": "RealData",
                          "hasNumberValue": {"@value": 0.81, "@type": "xsd:double"}},
     "hasMeasurementUnit": "emmo:SiemensPerMetre",
     "finales:unit": "siemens / meter"}

linked from its owner by ``hasProperty``. Which fields are values, and of what, is read from
the capability's JSON Schema (``x-concept`` / ``x-unit-iri``, see
:mod:`finales.capabilities.semantics`), so a capability registered at runtime with those
keys is annotated too; fields without them are left out of the graph (the JSON keeps them).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from functools import cache
from typing import Any

from finales.capabilities import get as builtin_capability
from finales.capabilities.semantics import (
    CONCEPT_KEY,
    METHOD_TERMS,
    PARENT_KEY,
    UNIT_IRI_KEY,
    UNIT_KEY,
    resolve,
)
from finales.errors import NotFound

from .vocab import (
    CONTEXT,
    FINALES_CONTEXT,
    capability_iri,
    chemical_iri,
    principal_iri,
    request_iri,
    result_iri,
    tenant_iri,
    value_iri,
)

INCHIKEY_RE = re.compile(r"^[A-Z]{14}-[A-Z]{10}-[A-Z]$")
MAX_DEPTH = 40

Json = dict[str, Any]


# ------------------------------------------------------------------------------ helpers


def _plain(obj: Any) -> Json:
    """``obj`` as a dict: the wire JSON, a pydantic model of :mod:`finales.schemas`, or a view
    of :mod:`finales.domain.views` (the broker's own, same field names)."""
    if hasattr(obj, "model_dump"):
        dumped: Json = obj.model_dump(mode="json")
        return dumped
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    return dict(obj)


def _time(value: Any) -> dict[str, str]:
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return {"@value": text, "@type": "xsd:dateTime"}


def _ref(iri: str) -> dict[str, str]:
    return {"@id": iri}


@cache
def _compact(iri: str) -> str:
    """``iri`` with a prefix of the finales context, where one fits (``emmo:Kelvin``)."""
    for prefix, ns in FINALES_CONTEXT.items():
        if isinstance(ns, str) and iri.startswith(ns) and len(iri) > len(ns):
            local = iri[len(ns) :]
            if re.fullmatch(r"[A-Za-z0-9_\-]+", local):
                return f"{prefix}:{local}"
    return iri


@cache
def _battery_terms() -> dict[str, str]:
    """Readable names of the battery context: name -> IRI (for classes only)."""
    from .loader import vendored_context  # the gzip'd context, read once

    names: dict[str, str] = {}
    for name, value in vendored_context("battery")["@context"].items():
        if isinstance(value, str) and not name.startswith("@"):
            names[name] = value
    return names


@cache
def _class_name(concept: str, label: str | None) -> str:
    """The battery context's name of ``concept`` (``"IonicConductivity"``) when it has one
    that expands back to ``concept``, else the IRI itself."""
    if label and _battery_terms().get(label) == concept:
        return label
    return _compact(concept)


# ------------------------------------------------------------------------------ capabilities


class Schemas:
    """The request and result schemas of capabilities, by id and by (quantity, method).

    Built from wire capability dicts (``GET /api/v1/capabilities``); a pair it has not been
    given falls back to the built-in capability library when ``builtin`` is true.
    """

    def __init__(self, capabilities: Iterable[Any] = (), *, builtin: bool = True) -> None:
        self.by_id: dict[str, Json] = {}
        self.by_key: dict[tuple[str, str], Json] = {}
        self.builtin = builtin
        self._builtins: dict[tuple[str, str, str], Json | None] = {}
        # Which schema nodes hold an annotation somewhere below, by id(): valid as long as
        # the schemas live, which they do here (see _Values.holds_concept).
        self.pruning: dict[int, bool] = {}
        for cap in capabilities:
            plain = _plain(cap)
            self.by_id[str(plain["id"])] = plain
            key = (plain["quantity"], plain["method"])
            if plain.get("version", 0) >= self.by_key.get(key, {}).get("version", 0):
                self.by_key[key] = plain

    def schema(
        self, which: str, quantity: str, method: str, capability_id: str | None = None
    ) -> Json | None:
        """``which`` ("request" or "result") schema of the capability, or None if unknown."""
        cap = self.by_id.get(capability_id or "") or self.by_key.get((quantity, method))
        if cap is not None:
            found: Json = cap[f"{which}_schema"]
            return found
        if not self.builtin:
            return None
        key = (which, quantity, method)
        if key not in self._builtins:  # the library makes a fresh copy on each call
            try:
                builtin = builtin_capability(quantity, method)
            except NotFound:
                self._builtins[key] = None
            else:
                fresh = builtin.request_schema() if which == "request" else builtin.result_schema()
                self._builtins[key] = fresh
        return self._builtins[key]


def _schemas(capabilities: Schemas | Iterable[Any] | None) -> Schemas:
    if isinstance(capabilities, Schemas):
        return capabilities
    return Schemas(capabilities or ())


# ------------------------------------------------------------------------------ values


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_pair(node: Json) -> bool:
    """A (value, uncertainty) tuple of the catalogue: two prefixItems, nothing else."""
    branches = [node, *node.get("anyOf", [])]
    return any(
        len(b.get("prefixItems", [])) == 2 and (b.get("items") is False or b.get("maxItems") == 2)
        for b in branches
    )


def _method_concept(quantity: str, method: str) -> dict[str, str] | None:
    """The ontology class of a built-in method (CHAMEO, electrochemistry, EMMO), if any."""
    term = METHOD_TERMS.get((quantity, method))
    return _ref(term.concept) if term else None


def _chemical(chem: Mapping[str, Any]) -> Json:
    node: Json = {"@id": chemical_iri(chem["InChIKey"]), "@type": "finales:Chemical"}
    node["finales:inchikey"] = chem["InChIKey"]
    if chem.get("SMILES"):
        node["finales:smiles"] = chem["SMILES"]
    return node


def _numbers(value: Any, pointer: str) -> Iterator[tuple[str, Any]]:
    """Every number in ``value`` (nested lists and objects), with its JSON pointer."""
    if _number(value):
        yield pointer, value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _numbers(item, f"{pointer}/{i}")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(item, f"{pointer}/{_escape(key)}")


def _literal(number: Any) -> Any:
    """A float as an explicit ``xsd:double``: JSON does not tell 3.0 from 3, and JSON-LD
    processors disagree on what 3.0 becomes (pyld: xsd:integer; rdflib: xsd:double)."""
    if isinstance(number, float):
        return {"@value": number, "@type": "xsd:double"}
    return number


def _escape(key: str) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


class Chemicals:
    """The chemicals the values of a document are of, each described once.

    By default the first mention embeds the description (IRI, InChIKey, SMILES) and later
    ones refer to it; with ``separate`` every mention refers, and :attr:`nodes` holds the
    descriptions for the enclosing graph to list once (``snapshot_to_jsonld`` does this).
    """

    def __init__(self, *, separate: bool = False) -> None:
        self.separate = separate
        self.nodes: dict[str, Json] = {}

    def mention(self, chem: Json) -> Json:
        known = self.nodes.get(chem["@id"])
        if known is None:
            self.nodes[chem["@id"]] = chem
            return {"@id": chem["@id"]} if self.separate else chem
        known.update(chem)  # a SMILES learnt later lands where it was described
        return {"@id": chem["@id"]}


class _Values:
    """Walks an instance and its schema together, collecting one node per annotated number."""

    def __init__(
        self, owner: str, root: Json, chemicals: Chemicals, pruning: dict[int, bool]
    ) -> None:
        self.owner = owner
        self.root = root
        self.chemicals = chemicals
        self.pruning = pruning
        self.nodes: dict[str, Json] = {}

    def holds_concept(self, node: Any) -> bool:
        """Whether an annotation lies at or below the schema node ``node`` (memoised by the
        node's identity, so that parts of an instance no annotation covers are skipped). A
        node met again while being searched (a recursive schema) counts as holding one:
        that costs a walk, never a value."""
        key = id(node)
        known = self.pruning.get(key)
        if known is not None:
            return known
        self.pruning[key] = True
        resolved = resolve(self.root, node)
        found = False
        if isinstance(resolved, dict):
            children: list[Any] = [
                *resolved.get("anyOf", []),
                *resolved.get("allOf", []),
                *resolved.get("oneOf", []),
                *resolved.get("properties", {}).values(),
                *resolved.get("prefixItems", []),
                *resolved.get("patternProperties", {}).values(),
                *[resolved[k] for k in ("items", "additionalProperties") if k in resolved],
            ]
            found = CONCEPT_KEY in resolved or any(
                self.holds_concept(c) for c in children if isinstance(c, dict)
            )
        self.pruning[key] = found
        return found

    def walk(self, node: Any, value: Any, pointer: str, chem: Json | None, depth: int) -> None:
        if not isinstance(node, dict) or not self.holds_concept(node):
            return
        node = resolve(self.root, node)
        if not isinstance(node, dict) or depth > MAX_DEPTH or value is None:
            return
        if CONCEPT_KEY in node:
            self.emit(node, value, pointer, chem)
            return
        for key in ("anyOf", "allOf", "oneOf"):
            for branch in node.get(key, []):
                self.walk(branch, value, pointer, chem, depth + 1)
        if isinstance(value, dict):
            self.walk_object(node, value, pointer, chem, depth)
        elif isinstance(value, list):
            prefix = node.get("prefixItems", [])
            for i, item in enumerate(value):
                sub = prefix[i] if i < len(prefix) else node.get("items")
                self.walk(sub, item, f"{pointer}/{i}", chem, depth + 1)

    def walk_object(
        self, node: Json, value: Json, pointer: str, chem: Json | None, depth: int
    ) -> None:
        here = value.get("chemical")
        if isinstance(here, dict) and isinstance(here.get("InChIKey"), str):
            chem = _chemical(here)  # a formulation component: its values are of this chemical
        props = node.get("properties", {})
        extra = node.get("additionalProperties")
        for key, item in value.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            inner = chem
            if sub is extra and INCHIKEY_RE.match(key):
                inner = _chemical({"InChIKey": key})  # chemicals_info, keyed by InChIKey
            self.walk(sub, item, f"{pointer}/{_escape(key)}", inner, depth + 1)

    def emit(self, note: Json, value: Any, pointer: str, chem: Json | None) -> None:
        if isinstance(value, list) and len(value) == 2 and _is_pair(note):
            if _number(value[0]):
                self.add(note, value[0], pointer, chem, uncertainty=value[1])
            return
        for where, number in _numbers(value, pointer):
            self.add(note, number, where, chem, uncertainty=None)

    def add(
        self, note: Json, number: Any, pointer: str, chem: Json | None, uncertainty: Any
    ) -> None:
        concept = str(note[CONCEPT_KEY])
        node: Json = {
            "@id": value_iri(self.owner, pointer),
            "@type": _class_name(concept, note.get("x-concept-label")),
            "finales:pointer": pointer,
            "hasNumericalPart": {"@type": "RealData", "hasNumberValue": _literal(number)},
        }
        if note.get(UNIT_IRI_KEY):
            node["hasMeasurementUnit"] = _compact(str(note[UNIT_IRI_KEY]))
        if note.get(UNIT_KEY):
            node["finales:unit"] = str(note[UNIT_KEY])
        if note.get(PARENT_KEY):
            node["finales:nearestParent"] = True
        if _number(uncertainty):
            node["finales:uncertainty"] = _literal(uncertainty)
        if chem is not None:
            node["finales:chemical"] = self.chemicals.mention(dict(chem))
        self.nodes[pointer] = node


def value_nodes(
    owner: str,
    schema: Json | None,
    instance: Any,
    pointer: str,
    chemicals: Chemicals | None = None,
    pruning: dict[int, bool] | None = None,
) -> list[Json]:
    """The value nodes of ``instance`` (found at ``pointer`` in its owner ``owner``).
    ``pruning`` (e.g. :attr:`Schemas.pruning`) keeps what was learnt about ``schema``'s
    nodes for later calls; it must not outlive the schema."""
    if not schema or instance is None:
        return []
    walker = _Values(owner, schema, chemicals or Chemicals(), {} if pruning is None else pruning)
    walker.walk(schema, instance, pointer, None, 0)
    return list(walker.nodes.values())


# ------------------------------------------------------------------------------ documents


def _with_context(node: Json, context: bool) -> Json:
    return {"@context": CONTEXT, **node} if context else node


def result_to_jsonld(
    result: Any,
    *,
    capabilities: Schemas | Iterable[Any] | None = None,
    context: bool = True,
    chemicals: Chemicals | None = None,
) -> Json:
    """A result as JSON-LD: a ``prov:Entity`` with its values (data and parameters).

    ``chemicals`` is shared by the documents of one graph (see :class:`Chemicals`); by default
    each chemical is described at its first mention in this document."""
    r = _plain(result)
    iri = result_iri(r["id"])
    schemas = _schemas(capabilities)
    cap_id = r.get("capability_id")
    node: Json = {
        "@id": iri,
        "@type": ["finales:Result", "prov:Entity"],
        "dcterms:identifier": r["id"],
        "finales:quantity": r["quantity"],
        "finales:method": r["method"],
        "prov:wasGeneratedBy": _ref(request_iri(r["request_id"])),
        "prov:wasAttributedTo": _ref(tenant_iri(r["tenant_id"])),
        "prov:generatedAtTime": _time(r["created_at"]),
    }
    if r.get("status"):
        node["finales:status"] = str(r["status"])
    method_class = _method_concept(r["quantity"], r["method"])
    if method_class:
        node["finales:methodConcept"] = method_class
    if cap_id:
        node["finales:capability"] = _ref(capability_iri(cap_id))
    if r.get("supersedes"):
        node["prov:wasRevisionOf"] = _ref(result_iri(r["supersedes"]))
    if r.get("superseded_by"):
        node["dcterms:isReplacedBy"] = _ref(result_iri(r["superseded_by"]))
    if r.get("inputs"):
        node["prov:wasDerivedFrom"] = [_ref(result_iri(i)) for i in r["inputs"]]
    q, m = r["quantity"], r["method"]
    chemicals = chemicals or Chemicals()
    data_schema = schemas.schema("result", q, m, cap_id)
    values = value_nodes(iri, data_schema, r.get("data"), "/data", chemicals, schemas.pruning)
    params_schema = schemas.schema("request", q, m, cap_id)
    values += value_nodes(
        iri, params_schema, r.get("parameters"), "/parameters", chemicals, schemas.pruning
    )
    if values:
        node["hasProperty"] = values
    return _with_context(node, context)


def request_to_jsonld(
    request: Any,
    *,
    capabilities: Schemas | Iterable[Any] | None = None,
    context: bool = True,
    chemicals: Chemicals | None = None,
) -> Json:
    """A request as JSON-LD: a ``prov:Activity`` (as in the provenance export) with the
    values of its parameters, one set per method (each annotated by the capability version
    of ``capability_ids`` where the input has it, as the broker's own views do)."""
    r = _plain(request)
    iri = request_iri(r["id"])
    schemas = _schemas(capabilities)
    node: Json = {
        "@id": iri,
        "@type": ["finales:Request", "prov:Activity"],
        "dcterms:identifier": r["id"],
        "dcterms:created": _time(r["created_at"]),
        "finales:quantity": r["quantity"],
        "finales:method": list(r.get("methods", [])),
    }
    if r.get("status"):
        node["finales:status"] = str(r["status"])
    classes = [c for m in r.get("methods", []) if (c := _method_concept(r["quantity"], m))]
    if classes:  # each class once: the molecular dynamics of two pairs are one simulation
        node["finales:methodConcept"] = list({c["@id"]: c for c in classes}.values())
    if r.get("requester_tenant_id"):
        node["finales:requestedBy"] = _ref(tenant_iri(r["requester_tenant_id"]))
    elif r.get("requester_principal_id"):
        node["finales:requestedBy"] = _ref(principal_iri(r["requester_principal_id"]))
    if r.get("requester"):
        node["finales:requester"] = r["requester"]
    if r.get("parent_request_id"):
        node["dcterms:isPartOf"] = _ref(request_iri(r["parent_request_id"]))
    if r.get("inputs"):
        node["prov:used"] = [_ref(result_iri(i)) for i in r["inputs"]]
    if r.get("labels"):
        node["finales:label"] = [f"{k}:{v}" for k, v in sorted(r["labels"].items())]
    values: list[Json] = []
    versions = r.get("capability_ids") or {}  # the versions it was validated against
    chemicals = chemicals or Chemicals()
    for method, params in sorted((r.get("parameters") or {}).items()):
        schema = schemas.schema("request", r["quantity"], method, versions.get(method))
        pointer = f"/parameters/{_escape(method)}"
        values += value_nodes(iri, schema, params, pointer, chemicals, schemas.pruning)
    if values:
        node["hasProperty"] = values
    return _with_context(node, context)


def _field_nodes(owner: str, which: str, schema: Json) -> list[Json]:
    from finales.capabilities import annotations

    nodes = []
    for pattern, note in annotations(schema).items():
        pointer = f"/{which}_schema{pattern}"
        node: Json = {
            "@id": value_iri(owner, pointer),
            "@type": "finales:Field",
            "finales:pointer": pattern,
            "finales:of": which,
            "finales:concept": _ref(str(note[CONCEPT_KEY])),
        }
        if note.get(UNIT_IRI_KEY):
            node["hasMeasurementUnit"] = _compact(str(note[UNIT_IRI_KEY]))
        if note.get(UNIT_KEY):
            node["finales:unit"] = str(note[UNIT_KEY])
        if note.get(PARENT_KEY):
            node["finales:nearestParent"] = True
        nodes.append(node)
    return nodes


def capability_to_jsonld(capability: Any, *, context: bool = True) -> Json:
    """A capability (one version) as JSON-LD, with the concept and unit of each field."""
    c = _plain(capability)
    iri = capability_iri(c["id"])
    node: Json = {
        "@id": iri,
        "@type": "finales:Capability",
        "dcterms:identifier": c["id"],
        "finales:quantity": c["quantity"],
        "finales:method": c["method"],
        "finales:version": c["version"],
    }
    method_class = _method_concept(c["quantity"], c["method"])
    if method_class:
        node["finales:methodConcept"] = method_class
    if "active" in c:
        node["finales:active"] = bool(c["active"])
    if c.get("description"):
        node["dcterms:description"] = c["description"]
    if c.get("created_at"):
        node["dcterms:created"] = _time(c["created_at"])
    fields = _field_nodes(iri, "request", c["request_schema"])
    fields += _field_nodes(iri, "result", c["result_schema"])
    if fields:
        node["finales:field"] = fields
    return _with_context(node, context)


def tenant_to_jsonld(tenant: Any, *, context: bool = True) -> Json:
    """A tenant as JSON-LD: a ``prov:SoftwareAgent`` with its offers (quantity, method).

    Its ``contact`` is left out: it may name a person, and archives are public.
    """
    t = _plain(tenant)
    iri = tenant_iri(t["id"])
    node: Json = {
        "@id": iri,
        "@type": ["finales:Tenant", "prov:Agent", "prov:SoftwareAgent"],
        "dcterms:identifier": t["id"],
        "rdfs:label": t["name"],
    }
    if t.get("description"):
        node["dcterms:description"] = t["description"]
    if t.get("created_at"):
        node["dcterms:created"] = _time(t["created_at"])
    offers = [
        {
            "@id": value_iri(iri, f"/offers/{i}"),
            "@type": "finales:Offer",
            "finales:quantity": o["quantity"],
            "finales:method": o["method"],
        }
        for i, o in enumerate(t.get("offers") or [])
    ]
    if offers:
        node["finales:offer"] = offers
    return _with_context(node, context)


def graph_document(nodes: Iterable[Json]) -> Json:
    """One JSON-LD document of several nodes made with ``context=False``."""
    return {"@context": CONTEXT, "@graph": list(nodes)}
