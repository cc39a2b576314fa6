"""finales' JSON-LD nodes as N-Triples, without a JSON-LD processor.

Why: building the search graph of 10k results spent most of its time in the store's JSON-LD
parser (a few milliseconds a result, measured); the documents finales emits use a small,
fixed part of JSON-LD - one context whose terms are plain IRIs or ``{"@id", "@type": "@id"}``
definitions (the BattINFO battery context) or prefixes (the finales context), ``@id``,
``@type``, value objects ``{"@value", "@type"}``, nested nodes and arrays - so they are
written out directly here, as the JSON-LD to RDF algorithm would, and the store reads
N-Triples (fast). Anything outside that part raises :class:`Unsupported`, and the caller
hands that node to the real JSON-LD parser. A unit test checks that both give the same graph
for every example of the capability library.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from .loader import vendored_context
from .vocab import FINALES_CONTEXT

RDF_TYPE = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
XSD = "http://www.w3.org/2001/XMLSchema#"


class Unsupported(ValueError):
    """A node uses JSON-LD this writer does not handle: parse it as JSON-LD instead."""


@lru_cache(maxsize=1)
def _definitions() -> tuple[dict[str, str], frozenset[str], dict[str, str]]:
    """(term -> IRI, terms coerced to IRIs, prefix -> namespace) of finales' context."""
    terms: dict[str, str] = {}
    coerced: set[str] = set()
    for name, value in vendored_context("battery")["@context"].items():
        if name.startswith("@"):
            continue
        if isinstance(value, str):
            terms[name] = value
        elif isinstance(value, dict) and isinstance(value.get("@id"), str):
            terms[name] = value["@id"]
            if value.get("@type") == "@id":
                coerced.add(name)
            elif set(value) - {"@id"}:
                raise Unsupported(f"term {name!r} has a definition this writer does not know")
    prefixes = {k: v for k, v in terms.items() if v.endswith(("#", "/", ":"))}
    for name, value in FINALES_CONTEXT.items():  # the later context wins
        terms[name] = value
        prefixes[name] = value
        coerced.discard(name)
    return terms, frozenset(coerced), prefixes


def _iri(text: str, *, vocab: bool) -> str:
    """``text`` expanded: a term (``vocab``: keys and types only), a prefixed name or an
    absolute IRI."""
    terms, _, prefixes = _definitions()
    if vocab and text in terms:
        return terms[text]
    prefix, sep, rest = text.partition(":")
    if sep and not rest.startswith("//") and prefix in prefixes:
        return prefixes[prefix] + rest
    if sep and prefix and prefix != "_":
        return text  # an absolute IRI (urn:, https:, ...)
    raise Unsupported(f"cannot expand {text!r} without a base or vocabulary")


def _literal(text: str) -> str:
    escaped = (
        text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    )
    return f'"{escaped}"'


def _double(value: float) -> str:
    """The canonical lexical form JSON-LD gives a double (``%1.15E``, trimmed)."""
    mantissa, exponent = f"{value:1.15E}".split("E")
    mantissa = mantissa.rstrip("0")
    mantissa += "0" if mantissa.endswith(".") else ""
    sign = "-" if exponent.startswith("-") else ""
    return f"{mantissa}E{sign}{int(exponent[1:])}"


def _number(value: int | float) -> str:
    if isinstance(value, int) or (value.is_integer() and abs(value) < 1e21):
        return f'"{int(value)}"^^<{XSD}integer>'
    return f'"{_double(value)}"^^<{XSD}double>'


def write(node: dict[str, Any], lines: list[str], fresh: Callable[[], str]) -> str:
    """Append the triples of ``node`` (and of the nodes inside it) to ``lines``; return the
    node's term. ``fresh`` names blank nodes (unique across everything loaded)."""
    subject = f"<{_iri(node['@id'], vocab=False)}>" if "@id" in node else fresh()
    _, coerced, _ = _definitions()
    for key, value in node.items():
        if key == "@id":
            continue
        items = value if isinstance(value, list) else [value]
        if key == "@type":
            for kind in items:
                if not isinstance(kind, str):
                    raise Unsupported("@type must be a string")
                lines.append(f"{subject} {RDF_TYPE} <{_iri(kind, vocab=True)}> .")
            continue
        if key.startswith("@"):
            raise Unsupported(f"keyword {key} is not handled here")
        predicate = _iri(key, vocab=True)
        for item in items:
            term = _object(item, key in coerced, lines, fresh)
            if term is not None:
                lines.append(f"{subject} <{predicate}> {term} .")
    return subject


def _object(value: Any, coerced: bool, lines: list[str], fresh: Callable[[], str]) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return f'"{str(value).lower()}"^^<{XSD}boolean>'
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, str):
        return f"<{_iri(value, vocab=False)}>" if coerced else _literal(value)
    if isinstance(value, dict):
        if "@value" in value:
            if set(value) - {"@value", "@type"}:
                raise Unsupported("a value object with more than @value and @type")
            raw, kind = value["@value"], value.get("@type")
            if kind is None:
                return _object(raw, False, lines, fresh)
            datatype = _iri(kind, vocab=True)
            if isinstance(raw, bool) or not isinstance(raw, str | int | float):
                raise Unsupported("a typed value that is not a string or a number")
            if isinstance(raw, str):
                text = raw
            elif datatype == XSD + "double":
                text = _double(float(raw))
            else:
                text = _number(raw).split('"')[1]
            return f"{_literal(text)}^^<{datatype}>"
        if set(value) == {"@id"}:
            return f"<{_iri(value['@id'], vocab=False)}>"
        return write(value, lines, fresh)
    raise Unsupported(f"a value of type {type(value).__name__} inside a list")
