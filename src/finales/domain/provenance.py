"""A workflow tree as W3C PROV-O, in JSON-LD: who did what, when, from which results.

The mapping (one node per thing, linked by IRI):

- each request's fulfilment is a ``prov:Activity``: it starts when a tenant first claimed
  it (when it was posted, if nobody claimed it) and ends when it was resolved, retracted
  or otherwise closed (no end while it is open);
- each result is a ``prov:Entity`` ``prov:wasGeneratedBy`` its request's activity and
  ``prov:wasAttributedTo`` the tenant that posted it; an amendment ``prov:wasRevisionOf``
  the result it corrects;
- tenants (and principals acting without a tenant) are ``prov:Agent``s; an activity
  ``prov:wasAssociatedWith`` the requester and every tenant that held its reservation;
- a sub-request's activity is ``dcterms:isPartOf`` its parent's. Not ``prov:wasInformedBy``:
  that says one activity used what another generated, which is the opposite direction of
  the parent/child link and is already said, exactly, by the inputs;
- inputs - the results a request or a result names as used - are ``prov:used`` by the
  activity (a result's inputs by the activity that generated it), and a result
  ``prov:wasDerivedFrom`` its own inputs.

IRIs and the context are those of :mod:`finales.semantics.vocab`, one scheme for everything
finales emits: URNs (``urn:finales:request:<id>``, ``urn:finales:result:<id>``,
``urn:finales:tenant:<id>``), not the server's URL: the ids are UUIDs, stable and unique
without a host, and the document stays valid when the broker moves, is proxied or is read
from an archive long after the server is gone. The nodes say what
:func:`finales.semantics.request_to_jsonld` and ``result_to_jsonld`` say about the same
things, with the same properties, so the graphs merge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from finales.domain.statuses import TERMINAL_REQUEST_STATUSES, RequestStatus
from finales.domain.views import EventView, RequestView, ResultView
from finales.semantics.vocab import (
    FINALES_CONTEXT,
    principal_iri,
    request_iri,
    result_iri,
    tenant_iri,
)

#: The finales context (prefixes ``prov``, ``dcterms``, ``xsd``, ``rdfs``, ``finales``...),
#: embedded so that any JSON-LD reader takes the document as it is: it needs none of the EMMO
#: terms of the battery context the other documents link to (see :mod:`finales.semantics`).
CONTEXT: dict[str, Any] = FINALES_CONTEXT


@dataclass(frozen=True, slots=True)
class ProvenanceRecord:
    """What the export is made of, as the service read it in one transaction."""

    root_id: str
    requests: Sequence[RequestView]  # the tree, parents before children
    events: Mapping[int, Sequence[EventView]]  # by request seq, oldest first
    results: Sequence[ResultView]  # of the tree's requests, deleted ones included
    outside_inputs: Sequence[ResultView]  # inputs from outside the tree
    tenant_names: Mapping[str, str]  # tenant id -> name


def _time(at: datetime) -> dict[str, str]:
    return {"@value": at.isoformat(), "@type": "xsd:dateTime"}


def _ids(iris: Iterable[str]) -> list[dict[str, str]]:
    return [{"@id": iri} for iri in dict.fromkeys(iris)]  # each once, in order


def _requester(view: RequestView) -> str:
    if view.requester_tenant_id:
        return tenant_iri(view.requester_tenant_id)
    return principal_iri(view.requester_principal_id)


def _activity(view: RequestView, events: Sequence[EventView], used: list[str]) -> dict[str, Any]:
    claims = [e for e in events if e.to_status == RequestStatus.RESERVED]
    ends = [e for e in events if e.to_status in TERMINAL_REQUEST_STATUSES]
    holders = [tenant_iri(e.tenant_id) for e in claims if e.tenant_id]
    node: dict[str, Any] = {
        "@id": request_iri(view.id),
        "@type": "prov:Activity",
        "dcterms:identifier": view.id,
        "dcterms:created": _time(view.created_at),
        "prov:startedAtTime": _time(claims[0].at if claims else view.created_at),
        "prov:wasAssociatedWith": _ids([_requester(view), *holders]),
        "finales:requestedBy": {"@id": _requester(view)},
        "finales:quantity": view.quantity,
        "finales:method": list(view.methods),
        "finales:status": view.status.value,
    }
    if ends:
        node["prov:endedAtTime"] = _time(ends[-1].at)
    if view.parent_request_id:
        node["dcterms:isPartOf"] = {"@id": request_iri(view.parent_request_id)}
    if used:
        node["prov:used"] = _ids(used)
    if view.labels:
        node["finales:label"] = [f"{k}:{v}" for k, v in sorted(view.labels.items())]
    return node


def _entity(view: ResultView) -> dict[str, Any]:
    node: dict[str, Any] = {
        "@id": result_iri(view.id),
        "@type": "prov:Entity",
        "dcterms:identifier": view.id,
        "prov:wasGeneratedBy": {"@id": request_iri(view.request_id)},
        "prov:wasAttributedTo": {"@id": tenant_iri(view.tenant_id)},
        "prov:generatedAtTime": _time(view.created_at),
        "finales:quantity": view.quantity,
        "finales:method": view.method,
        "finales:status": view.status.value,
    }
    if view.supersedes:
        node["prov:wasRevisionOf"] = {"@id": result_iri(view.supersedes)}
    if view.inputs:
        node["prov:wasDerivedFrom"] = _ids(result_iri(i) for i in view.inputs)
    return node


def _agents(record: ProvenanceRecord) -> list[dict[str, Any]]:
    agents: dict[str, dict[str, Any]] = {}
    tenant_ids = [r.requester_tenant_id for r in record.requests if r.requester_tenant_id]
    tenant_ids += [e.tenant_id for evs in record.events.values() for e in evs if e.tenant_id]
    tenant_ids += [r.tenant_id for r in (*record.results, *record.outside_inputs)]
    for tid in tenant_ids:
        name = record.tenant_names.get(tid)
        node: dict[str, Any] = {
            "@id": tenant_iri(tid),
            "@type": ["prov:Agent", "prov:SoftwareAgent"],
        }
        if name:
            node["rdfs:label"] = name
        agents.setdefault(tid, node)
    for r in record.requests:
        if not r.requester_tenant_id:
            agents.setdefault(
                r.requester_principal_id,
                {
                    "@id": principal_iri(r.requester_principal_id),
                    "@type": "prov:Agent",
                    "rdfs:label": r.requester,
                },
            )
    return list(agents.values())


def provenance_document(record: ProvenanceRecord) -> dict[str, Any]:
    """The JSON-LD document (``@context`` and ``@graph``) of ``record``."""
    used: dict[str, list[str]] = {r.id: [result_iri(i) for i in r.inputs] for r in record.requests}
    for res in record.results:  # a result's inputs were used by the activity that made it
        used.setdefault(res.request_id, []).extend(result_iri(i) for i in res.inputs)
    graph: list[dict[str, Any]] = [
        _activity(r, record.events.get(r.seq, ()), used.get(r.id, [])) for r in record.requests
    ]
    graph += [_entity(r) for r in (*record.results, *record.outside_inputs)]
    graph += _agents(record)
    # No "@id" beside "@graph": that would make the graph a named one (a dataset), and
    # readers expecting one graph of statements would find it empty.
    return {"@context": CONTEXT, "@graph": graph}
