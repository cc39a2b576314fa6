"""finales data as linked data: JSON-LD with the BattINFO / EMMO battery ontology, offline.

What finales emits
------------------
Compact JSON-LD whose ``@context`` is :data:`CONTEXT`: the published BattINFO battery
context (``https://w3id.org/emmo/domain/battery/context``, vendored, never fetched) followed
by the small finales context (:data:`FINALES_CONTEXT`: prefixes ``finales``, ``prov``,
``dcterms``, ``xsd``, ``rdfs``, ``skos``, ``emmo``, ``echem``, ``unit`` (QUDT), ``inchikey``).

IRIs (:mod:`finales.semantics.vocab`) are URNs, one scheme for every document, the PROV-O
provenance export included: ``urn:finales:request:<id>``, ``urn:finales:result:<id>``,
``urn:finales:capability:<id>``, ``urn:finales:tenant:<id>``, ``urn:finales:principal:<id>``;
a value inside one is ``<IRI>#<JSON pointer>``; finales' own classes and properties are
``urn:finales:vocab#...`` (``finales:Result``, ``finales:quantity``...).

Each annotated number of a request or result (its capability schema says ``x-concept``) is a
node ``hasProperty``-linked from its owner::

    {"@id": "urn:finales:result:R#/data/conductivity/values/0",
     "@type": "IonicConductivity",                       # the ontology class (battery context)
     "finales:pointer": "/data/conductivity/values/0",   # where it is in the JSON
     "hasNumericalPart": {"@type": "RealData",
                          "hasNumberValue": {"@value": 0.81, "@type": "xsd:double"}},
     "hasMeasurementUnit": "emmo:SiemensPerMetre",       # absent when no unit IRI exists
     "finales:unit": "siemens / meter",                  # the pint string, always
     "finales:chemical": {"@id": "inchikey:AXPL...", ...}  # for a formulation component
     "finales:uncertainty": {"@value": 0.01, ...},       # for (value, uncertainty) pairs
     "finales:nearestParent": true}                      # the class is a parent (no exact term)

Results, requests and capabilities of a built-in method with an ontology class (CHAMEO
Conductometry, the electrochemistry CyclingTest, ...) carry ``finales:methodConcept``
(:data:`finales.capabilities.semantics.METHOD_TERMS`).

A result is also a ``prov:Entity`` (``prov:wasGeneratedBy`` its request,
``prov:wasAttributedTo`` its tenant, ``prov:generatedAtTime``, ``prov:wasRevisionOf``,
``prov:wasDerivedFrom`` its inputs), a request a ``prov:Activity`` (``finales:requestedBy``,
``dcterms:isPartOf`` its parent, ``prov:used`` its inputs) - the same statements as
``GET /api/v1/requests/{id}/provenance``, so graphs merge.

Public functions
----------------
Documents (plain dicts; no JSON-LD library needed; inputs are the API's JSON or the models of
:mod:`finales.schemas`):

- :func:`result_to_jsonld` ``(result, *, capabilities=None, context=True)``
- :func:`request_to_jsonld` ``(request, *, capabilities=None, context=True)``
- :func:`capability_to_jsonld` ``(capability, *, context=True)``
- :func:`tenant_to_jsonld` ``(tenant, *, context=True)``
- :func:`snapshot_to_jsonld` ``(snapshot)``: the whole ``GET /api/v1/export/snapshot`` bundle
  as one ``{"@context", "@graph"}`` document (capabilities, tenants, agents, requests with
  their PROV timing, results), oldest first; :class:`finales.errors.InvalidPayload` if it is
  not a snapshot.
- :func:`graph_document` ``(nodes)``: several nodes (made with ``context=False``) as one
  document - e.g. one file per month of results.

``capabilities`` is an iterable of wire capabilities (or a :class:`Schemas`, reusable across
calls, which also keeps what it learnt about the schemas); the schema of a (quantity,
method) it lacks comes from the built-in library. ``chemicals`` (a :class:`Chemicals`)
decides where chemicals are described: by default once per document, at the first value of
them; ``Chemicals(separate=True)`` shared by the nodes of one graph keeps the descriptions
apart (its ``nodes``), as ``snapshot_to_jsonld`` does.

Searching by concept: join the result graphs with :func:`ontology_graph` and follow
``rdfs:subClassOf*`` from a general class; "electrochemical property" in the everyday sense
is BattINFO's ElectrochemicalQuantity (its ElectrochemicalProperty is a nominal property).
docs/semantics.md has a worked query.

Processing (needs ``pip install finales[semantics]``: pyld, rdflib; imported lazily):

- :func:`document_loader`: a pyld document loader serving the vendored battery and
  electrochemistry contexts; any other URL raises pyld's ``loading document failed``.
- :func:`expand`, :func:`compact`, :func:`to_nquads`, :func:`to_graph` (an ``rdflib.Graph``):
  pyld with that loader.
- :func:`inline_contexts`: a copy of a document with the vendored contexts inlined, for
  readers that cannot take a loader (``rdflib.Graph().parse(format="json-ld")``).
- :func:`ontology_graph`: a new ``rdflib.Graph`` of the vendored ontology subset (classes with
  ``skos:prefLabel``/``altLabel`` and ``rdfs:subClassOf``, EMMO units, four QUDT units);
  ``vendor/README.md`` says what it holds and where it comes from.
- :func:`shapes_graph`: the SHACL shapes (``vendor/shapes.ttl``) every document above
  conforms to, for a validator such as pyshacl.
"""

from .documents import (
    Chemicals,
    Schemas,
    capability_to_jsonld,
    graph_document,
    request_to_jsonld,
    result_to_jsonld,
    tenant_to_jsonld,
    value_nodes,
)
from .loader import (
    compact,
    document_loader,
    expand,
    inline_contexts,
    to_graph,
    to_nquads,
    vendored_context,
)
from .ontology import ontology_graph, shapes_graph
from .snapshot import snapshot_to_jsonld
from .vocab import (
    BATTERY_CONTEXT_URL,
    CONTEXT,
    ELECTROCHEMISTRY_CONTEXT_URL,
    FINALES_CONTEXT,
    VOCAB,
    capability_iri,
    chemical_iri,
    principal_iri,
    request_iri,
    result_iri,
    tenant_iri,
    value_iri,
)

__all__ = [
    "BATTERY_CONTEXT_URL",
    "CONTEXT",
    "ELECTROCHEMISTRY_CONTEXT_URL",
    "FINALES_CONTEXT",
    "VOCAB",
    "Chemicals",
    "Schemas",
    "capability_iri",
    "capability_to_jsonld",
    "chemical_iri",
    "compact",
    "document_loader",
    "expand",
    "graph_document",
    "inline_contexts",
    "ontology_graph",
    "principal_iri",
    "request_iri",
    "request_to_jsonld",
    "result_iri",
    "result_to_jsonld",
    "shapes_graph",
    "snapshot_to_jsonld",
    "tenant_iri",
    "tenant_to_jsonld",
    "to_graph",
    "to_nquads",
    "value_iri",
    "value_nodes",
    "vendored_context",
]
