"""Semantic search over the results (concepts of the ontology, values, units) and a read-only
SPARQL endpoint over the same graph. Any authenticated role may use both, as any may read
results."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from finales import schemas
from finales.server.deps import CurrentPrincipal, StateDep
from finales.services import search as svc

router = APIRouter(tags=["search"])

CONCEPT_HELP = (
    "results with a data value of this ontology class or of any of its sub-classes: a label "
    "as a person types it ('ionic conductivity', any case and spacing; skos:prefLabel, "
    "altLabel, rdfs:label), an IRI, or a prefixed name (echem:..., emmo:...)"
)
WHERE_HELP = (
    "a value range, repeatable (all must hold): CONCEPT[ of CHEMICAL]:LOW..HIGH[ UNIT], e.g. "
    "'amount fraction of LiPF6:0.05..0.15 mol/mol', 'temperature:..30 degC', 'ionic "
    "conductivity:0.5.. S/m'. Matches any annotated value of the result, in its data or in the "
    "parameters it was made with; the range is converted into the values' unit, and a unit "
    "that does not convert is refused (422). CHEMICAL: an InChIKey, a SMILES or a name the "
    "library knows (LiPF6, EC, EMC)"
)
SPARQL_CONTENT = {
    "application/sparql-results+json": {"schema": {"type": "object"}},
    "application/n-triples": {"schema": {"type": "string"}},
}


@router.get("/search", response_model=schemas.SearchPage)
def search(
    st: StateDep,
    _p: CurrentPrincipal,
    concept: str | None = Query(
        default=None, min_length=1, max_length=500, description=CONCEPT_HELP
    ),
    where: list[str] = Query(default=[], max_length=20, description=WHERE_HELP),
    tenant: str | None = Query(default=None, description="posting tenant: id or name"),
    method: str | None = Query(default=None, description="the method that made the result"),
    quantity: str | None = None,
    since: schemas.IsoDatetime | None = Query(
        default=None, description="posted at or after (ISO 8601 with a UTC offset)"
    ),
    until: schemas.IsoDatetime | None = Query(
        default=None, description="posted before (ISO 8601 with a UTC offset)"
    ),
    include_amended: bool = Query(
        default=False, description="also results superseded by an amendment"
    ),
    cursor: str | None = Query(
        default=None, pattern=r"^[0-9]{1,18}$", description="next_cursor of the page before"
    ),
    limit: int = Query(default=50, ge=1, le=500),
) -> JSONResponse:
    """Results by ontology concept (with its sub-classes), value ranges, tenant, method and
    time, newest first; deleted results are never found."""
    with st.tx.read() as conn:
        answer, nxt = svc.search(
            st.search,
            conn,
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
    return JSONResponse(
        {
            "items": [svc.hit_json(h) for h in answer.items],
            "next_cursor": nxt,
            "concepts": answer.concepts,
        }
    )


@router.post(
    "/sparql",
    responses={200: {"description": "SPARQL results (JSON) or triples", "content": SPARQL_CONTENT}},
)
def sparql(st: StateDep, _p: CurrentPrincipal, body: schemas.SparqlQuery) -> Response:
    """A read-only SPARQL 1.1 query over every result's JSON-LD and the ontology (the default
    graph is their union). Updates and SERVICE are refused; a query is stopped at the time
    limit and an answer bounded in rows (422 either way)."""
    limit_s = st.settings.sparql_timeout_s
    timeout_s = min(body.timeout_s, limit_s) if body.timeout_s else limit_s
    with st.tx.read() as conn:
        graph = st.search.graph(conn)
    media_type, content = graph.sparql(
        body.query, timeout_s=timeout_s, max_rows=st.settings.sparql_max_rows
    )
    return Response(content, media_type=media_type)
