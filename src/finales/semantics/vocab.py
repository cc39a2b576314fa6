"""The IRI scheme and the JSON-LD contexts of everything finales emits (no third-party imports).

Things finales keeps get URNs - ``urn:finales:<kind>:<id>`` with kind ``request``,
``result``, ``capability``, ``tenant`` or ``principal`` - not the server's URL: the ids are
UUIDs, unique without a host, so a document stays valid when the broker moves or is read
from an archive long after the server is gone. A value inside one of them is
``<its IRI>#<JSON pointer>`` (``urn:finales:result:<id>#/data/conductivity/values/0``).
finales' own terms (``finales:quantity``, ``finales:Result``...) live in
``urn:finales:vocab#``; chemicals are ``https://identifiers.org/inchikey:<InChIKey>``.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any
from urllib.parse import quote

BASE = "urn:finales:"
VOCAB = "urn:finales:vocab#"
INCHIKEY = "https://identifiers.org/inchikey:"
BATTERY_CONTEXT_URL = "https://w3id.org/emmo/domain/battery/context"
ELECTROCHEMISTRY_CONTEXT_URL = "https://w3id.org/emmo/domain/electrochemistry/context"

#: finales' own context (``vendor/finales-context.jsonld``): prefixes only, so a document
#: written with it reads the same in any JSON-LD processor. Embedded, not linked, in what
#: finales emits: it is small and has no URL of its own to fetch.
FINALES_CONTEXT: dict[str, Any] = json.loads(
    resources.files("finales.semantics").joinpath("vendor/finales-context.jsonld").read_text()
)["@context"]

#: The ``@context`` of requests, results, capabilities, tenants and snapshots: the BattINFO
#: battery context (readable names for EMMO classes and relations, served offline by
#: :func:`finales.semantics.document_loader`) and the finales context.
CONTEXT: list[Any] = [BATTERY_CONTEXT_URL, FINALES_CONTEXT]


def _iri(kind: str, ident: str) -> str:
    return f"{BASE}{kind}:{quote(ident, safe='')}"


def request_iri(request_id: str) -> str:
    return _iri("request", request_id)


def result_iri(result_id: str) -> str:
    return _iri("result", result_id)


def capability_iri(capability_id: str) -> str:
    return _iri("capability", capability_id)


def tenant_iri(tenant_id: str) -> str:
    return _iri("tenant", tenant_id)


def principal_iri(principal_id: str) -> str:
    return _iri("principal", principal_id)


def chemical_iri(inchikey: str) -> str:
    return INCHIKEY + quote(inchikey, safe="-")


_PLAIN_POINTER = re.compile(r"[A-Za-z0-9/~\-._]*")


def value_iri(owner_iri: str, pointer: str) -> str:
    """The IRI of the value at JSON ``pointer`` inside the thing ``owner_iri`` names."""
    if _PLAIN_POINTER.fullmatch(pointer):  # the common case: nothing to escape
        return f"{owner_iri}#{pointer}"
    return f"{owner_iri}#{quote(pointer, safe='/~-._')}"
