"""JSON or JSON-LD: ``?format=`` or content negotiation with ``Accept`` on single-item GETs.

``?format=json|jsonld`` wins when given (a link can carry it); otherwise the ``Accept``
header decides: ``application/ld+json`` preferred over ``application/json`` (by q-value, then
by the more specific range) gives JSON-LD; a header that allows neither (nor ``*/*`` or
``application/*``) gets 406. Without either, the answer is JSON, as before.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Header, Query
from fastapi.responses import JSONResponse

from finales.errors import BadRequest, NotAcceptable

JSON = "json"
JSONLD = "jsonld"
JSON_MEDIA = "application/json"
JSONLD_MEDIA = "application/ld+json"
OFFERED = {JSON: JSON_MEDIA, JSONLD: JSONLD_MEDIA}
FORMAT_DOC = (
    "json (the default) or jsonld (JSON-LD with the BattINFO / EMMO ontology, see "
    "docs/semantics.md); overrides the Accept header"
)
JSONLD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {JSONLD_MEDIA: {"schema": {"type": "object"}}}},
    406: {"description": "the Accept header allows neither application/json nor "
          "application/ld+json"},
}  # fmt: skip


def _q(params: list[str], header: str) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value)
            except ValueError:
                q = -1.0
            if not 0 <= q <= 1:
                raise BadRequest(f"malformed Accept header {header!r}: q must be 0 to 1")
            return q
    return 1.0


def _score(media: str, ranges: list[tuple[str, float]]) -> tuple[float, int]:
    """(q, specificity) of the most specific range matching ``media`` (q 0 if none)."""
    kind = media.split("/")[0]
    best: tuple[int, float] | None = None
    for rng, q in ranges:
        specificity = 2 if rng == media else 1 if rng == f"{kind}/*" else 0 if rng == "*/*" else -1
        if specificity >= 0 and (best is None or specificity > best[0]):
            best = (specificity, q)
    return (best[1], best[0]) if best else (0.0, -1)


def preferred(accept: str | None) -> str:
    """``json`` or ``jsonld`` for an ``Accept`` header (406 when it allows neither)."""
    if not accept or not accept.strip():
        return JSON
    ranges = []
    for part in accept.split(","):
        media, *params = part.split(";")
        if media.strip():
            ranges.append((media.strip().lower(), _q(params, accept)))
    json_q, json_spec = _score(JSON_MEDIA, ranges)
    ld_q, ld_spec = _score(JSONLD_MEDIA, ranges)
    if json_q == 0 and ld_q == 0:
        raise NotAcceptable(
            f"Accept {accept!r} allows neither {JSON_MEDIA} nor {JSONLD_MEDIA}, the two "
            "representations of this resource"
        )
    return JSONLD if (ld_q, ld_spec) > (json_q, json_spec) else JSON


def representation(
    format: Annotated[Literal["json", "jsonld"] | None, Query(description=FORMAT_DOC)] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> str:
    return format or preferred(accept)


RepresentationDep = Annotated[str, Depends(representation)]


def respond(body: Any, rep: str) -> JSONResponse:
    """``body`` with the media type of ``rep``; ``Vary: Accept``, as the answer depends on it."""
    return JSONResponse(body, media_type=OFFERED[rep], headers={"Vary": "Accept"})
