"""A whole ``/api/v1/export/snapshot`` bundle as one JSON-LD document (for the archiver)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from finales.domain.statuses import TERMINAL_REQUEST_STATUSES
from finales.errors import InvalidPayload

from .documents import (
    Chemicals,
    Json,
    Schemas,
    _ref,
    _time,
    capability_to_jsonld,
    graph_document,
    request_to_jsonld,
    result_to_jsonld,
    tenant_to_jsonld,
)
from .vocab import principal_iri, tenant_iri

SNAPSHOT_FORMAT = "finales-export"
SNAPSHOT_VERSION = 1
REQUIRED_TABLES = ("capabilities", "tenants", "requests", "results")


def _tables(snapshot: Mapping[str, Any]) -> Mapping[str, list[Json]]:
    if snapshot.get("format") != SNAPSHOT_FORMAT or snapshot.get("version") != SNAPSHOT_VERSION:
        raise InvalidPayload(
            f"not a finales snapshot (format {SNAPSHOT_FORMAT!r}, version {SNAPSHOT_VERSION})",
            errors=[{"pointer": "/format", "message": "unknown snapshot format or version"}],
        )
    tables = snapshot.get("tables")
    missing = [t for t in REQUIRED_TABLES if not isinstance(tables, dict) or t not in tables]
    if missing:
        raise InvalidPayload(
            f"the snapshot has no table {missing[0]!r}",
            errors=[{"pointer": f"/tables/{missing[0]}", "message": "missing"}],
        )
    assert isinstance(tables, dict)
    return tables


def _last(rows: Iterable[Json], key: str) -> dict[Any, Json]:
    """The row with the highest ``seq`` for each value of ``key``."""
    found: dict[Any, Json] = {}
    for row in sorted(rows, key=lambda r: r.get("seq", 0)):
        found[row[key]] = row
    return found


def _capabilities(tables: Mapping[str, list[Json]]) -> list[Json]:
    state = _last(
        ({**e, "pair": (e["quantity"], e["method"])} for e in tables.get("capability_events", [])),
        "pair",
    )
    caps = []
    for row in tables["capabilities"]:
        active = state.get((row["quantity"], row["method"]), {}).get("active", True)
        version_list = [
            c["version"]
            for c in tables["capabilities"]
            if (c["quantity"], c["method"]) == (row["quantity"], row["method"])
        ]
        caps.append({**row, "active": active, "versions": sorted(version_list)})
    return caps


def _tenants(tables: Mapping[str, list[Json]]) -> list[Json]:
    latest = _last(tables.get("offer_sets", []), "tenant_id")
    offers: dict[Any, list[Json]] = defaultdict(list)
    for offer in tables.get("offers", []):
        offers[offer["offer_set"]].append(offer)
    out = []
    for row in tables["tenants"]:
        current = latest.get(row["id"])
        out.append({**row, "offers": offers.get(current["seq"], []) if current else []})
    return out


def _activity(row: Json, events: list[Json]) -> Json:
    """The PROV-O timing of a request, as the provenance export gives it."""
    claims = [e for e in events if e["to_status"] == "reserved"]
    ends = [e for e in events if e["to_status"] in TERMINAL_REQUEST_STATUSES]
    node: Json = {"prov:startedAtTime": _time(claims[0]["at"] if claims else row["created_at"])}
    if ends:
        node["prov:endedAtTime"] = _time(ends[-1]["at"])
    holders = [tenant_iri(e["tenant_id"]) for e in claims if e.get("tenant_id")]
    if holders:
        node["prov:wasAssociatedWith"] = [_ref(i) for i in dict.fromkeys(holders)]
    return node


def _requests(
    tables: Mapping[str, list[Json]], schemas: Schemas, chemicals: Chemicals
) -> list[Json]:
    state = {s["request_seq"]: s for s in tables.get("request_state", [])}
    events: dict[Any, list[Json]] = defaultdict(list)
    for event in sorted(tables.get("request_events", []), key=lambda e: e["seq"]):
        events[event["request_seq"]].append(event)
    nodes = []
    for row in sorted(tables["requests"], key=lambda r: r["seq"]):
        st = state.get(row["seq"], {})
        wire = {**row, "status": st.get("status"), "reserved_by": st.get("reserved_by")}
        node = request_to_jsonld(wire, capabilities=schemas, context=False, chemicals=chemicals)
        node.update(_activity(row, events[row["seq"]]))
        nodes.append(node)
    return nodes


def _results(
    tables: Mapping[str, list[Json]], schemas: Schemas, chemicals: Chemicals
) -> list[Json]:
    request_ids = {r["seq"]: r["id"] for r in tables["requests"]}
    state = {s["result_seq"]: s for s in tables.get("result_state", [])}
    nodes = []
    for row in sorted(tables["results"], key=lambda r: r["seq"]):
        st = state.get(row["seq"], {})
        wire = {
            **row,
            "request_id": request_ids[row["request_seq"]],
            "status": st.get("status"),
            "superseded_by": st.get("superseded_by"),
        }
        nodes.append(
            result_to_jsonld(wire, capabilities=schemas, context=False, chemicals=chemicals)
        )
    return nodes


def _principals(tables: Mapping[str, list[Json]]) -> list[Json]:
    """Agents for the principals that posted requests without a tenant (people, admins)."""
    names = {p["id"]: p["name"] for p in tables.get("principals", [])}
    wanted = {
        r["requester_principal_id"] for r in tables["requests"] if not r.get("requester_tenant_id")
    }
    return [
        {"@id": principal_iri(pid), "@type": "prov:Agent", "rdfs:label": names.get(pid, pid)}
        for pid in sorted(wanted)
    ]


def snapshot_to_jsonld(snapshot: Mapping[str, Any]) -> Json:
    """The whole snapshot (``GET /api/v1/export/snapshot``, format json) as one JSON-LD
    document: capabilities, tenants, agents, the chemicals values are of (each once; values
    refer to them), requests (PROV activities with their timing), results (with their
    values), in ``@graph``, oldest first. Values are annotated with the
    schemas of the snapshot's own capabilities (each result by the version it was validated
    against). Raises :class:`finales.errors.InvalidPayload` for anything but a snapshot."""
    tables = _tables(snapshot)
    caps = _capabilities(tables)
    schemas = Schemas(caps, builtin=False)
    nodes = [capability_to_jsonld(c, context=False) for c in caps]
    nodes += [tenant_to_jsonld(t, context=False) for t in _tenants(tables)]
    nodes += _principals(tables)
    chemicals = Chemicals(separate=True)
    activities = _requests(tables, schemas, chemicals)
    entities = _results(tables, schemas, chemicals)
    nodes += sorted(chemicals.nodes.values(), key=lambda c: str(c["@id"]))
    return graph_document([*nodes, *activities, *entities])
