"""Offline JSON-LD processing: the vendored contexts, a pyld document loader, RDF.

Needs the ``semantics`` extra (pyld, rdflib), imported when first used.
"""

from __future__ import annotations

import copy
import gzip
import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from .vocab import BATTERY_CONTEXT_URL, ELECTROCHEMISTRY_CONTEXT_URL

if TYPE_CHECKING:
    import rdflib

#: Context URLs the loader answers, with the vendored file it answers from. A trailing
#: ``.json``/``.jsonld`` or slash is accepted (both forms are in use).
VENDORED_CONTEXTS = {
    BATTERY_CONTEXT_URL: "battery",
    ELECTROCHEMISTRY_CONTEXT_URL: "electrochemistry",
}


def _normalise(url: str) -> str:
    for suffix in ("/", ".jsonld", ".json"):
        url = url.removesuffix(suffix)
    return url


@cache
def _read(name: str) -> dict[str, Any]:
    raw = resources.files("finales.semantics").joinpath(f"vendor/{name}-context.json.gz")
    doc: dict[str, Any] = json.loads(gzip.decompress(raw.read_bytes()))
    return doc


def vendored_context(name: str) -> dict[str, Any]:
    """The published context ``name`` ("battery" or "electrochemistry"), as vendored."""
    return _read(name)


def document_loader(url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """A pyld document loader that serves the vendored contexts and refuses anything else
    (pyld reports the refusal as a ``loading document failed`` error); nothing is fetched."""
    del options  # headers and profiles do not matter for files we hold
    name = VENDORED_CONTEXTS.get(_normalise(url))
    if name is None:
        from pyld.jsonld import JsonLdError

        raise JsonLdError(
            f"finales resolves JSON-LD contexts offline and does not ship {url!r}",
            "jsonld.LoadDocumentError",
            {"url": url},
            code="loading document failed",
        )
    return {"contextUrl": None, "documentUrl": url, "document": _read(name)}


def _options(**extra: Any) -> dict[str, Any]:
    return {"documentLoader": document_loader, **extra}


def expand(document: dict[str, Any]) -> list[Any]:
    """``document`` in expanded form (pyld, offline)."""
    from pyld import jsonld

    expanded: list[Any] = jsonld.expand(document, _options())
    return expanded


def compact(document: dict[str, Any], context: Any) -> dict[str, Any]:
    """``document`` compacted with ``context`` (pyld, offline)."""
    from pyld import jsonld

    compacted: dict[str, Any] = jsonld.compact(document, context, _options())
    return compacted


def to_nquads(document: dict[str, Any]) -> str:
    """``document`` as N-Quads, as pyld converts it (offline)."""
    from pyld import jsonld

    nquads: str = jsonld.to_rdf(document, _options(format="application/n-quads"))
    return nquads


def to_graph(document: dict[str, Any]) -> rdflib.Graph:
    """``document`` as an rdflib graph (pyld converts it offline; rdflib reads the result).

    finales' documents have one (default) graph, so pyld's N-Quads are N-Triples; a document
    with named graphs is refused by the N-Triples parser rather than flattened.
    """
    import rdflib

    graph = rdflib.Graph()
    graph.parse(data=to_nquads(document), format="nt")
    return graph


def inline_contexts(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``document`` whose vendored context URLs are replaced by the contexts
    themselves, so that a JSON-LD reader without our loader (rdflib's parser) needs no
    network either."""

    def swap(ctx: Any) -> Any:
        if isinstance(ctx, str) and _normalise(ctx) in VENDORED_CONTEXTS:
            return _read(VENDORED_CONTEXTS[_normalise(ctx)])["@context"]
        if isinstance(ctx, list):
            return [swap(c) for c in ctx]
        return ctx

    out = copy.deepcopy(document)
    if "@context" in out:
        out["@context"] = swap(out["@context"])
    return out
