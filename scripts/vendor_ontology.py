"""Rebuild ``src/finales/semantics/vendor/`` from a checkout of the EMMO domain ontologies.

Usage: ``python scripts/vendor_ontology.py SOURCE`` where SOURCE holds ``battery/``,
``electrochemistry/`` and ``chameo/`` as described in ``vendor/README.md``. Needs rdflib
(``pip install -e '.[semantics]'``). What it keeps, and why, is in ``vendor/README.md``.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import rdflib
from rdflib.namespace import OWL, RDF, RDFS, SKOS

VENDOR = Path(__file__).resolve().parents[1] / "src" / "finales" / "semantics" / "vendor"
EMMO = "https://w3id.org/emmo#"
MODULES = ("battery", "electrochemistry", "chameo")
TYPICAL_UNIT = rdflib.URIRef(EMMO + "EMMO_cc65321f_1964_4f16_aea3_2a8edf2f3394")  # typicalUnit
KEPT = (RDFS.subClassOf, SKOS.prefLabel, SKOS.altLabel, RDFS.label, OWL.deprecated, TYPICAL_UNIT)
PREFIXES = {
    "emmo": EMMO,
    "echem": "https://w3id.org/emmo/domain/electrochemistry#",
    "battery": "https://w3id.org/emmo/domain/battery#",
    "chameo": "https://w3id.org/emmo/domain/characterisation-methodology/chameo#",
    "skos": str(SKOS),
}


def _context_names(source: Path) -> dict[str, str]:
    """IRI -> readable name, from the published contexts (the battery one wins)."""
    names: dict[str, str] = {}
    for module in ("electrochemistry", "battery"):
        ctx = json.loads((source / module / "context" / "context.json").read_text())["@context"]
        for name, value in ctx.items():
            iri = value if isinstance(value, str) else value.get("@id")
            if isinstance(iri, str) and not name.startswith("@"):
                names[iri] = name
    return names


def _write_contexts(source: Path) -> None:
    for module in ("battery", "electrochemistry"):
        doc = json.loads((source / module / "context" / "context.json").read_text())
        data = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
        # mtime=0: the same input gives the same bytes, so a rebuild shows no diff
        (VENDOR / f"{module}-context.json.gz").write_bytes(gzip.compress(data, mtime=0))


def _curated(source: Path, extra: set[str]) -> rdflib.Graph:
    full = rdflib.Graph()
    for module in MODULES:
        for path in sorted((source / module).rglob("*.ttl")):
            full.parse(path)
    out = rdflib.Graph()
    for prefix, ns in PREFIXES.items():
        out.bind(prefix, ns)
    classes = {s for s in full.subjects(RDF.type, OWL.Class) if isinstance(s, rdflib.URIRef)}
    for cls in classes:
        out.add((cls, RDF.type, OWL.Class))
        for pred in KEPT:
            for obj in full.objects(cls, pred):
                if isinstance(obj, rdflib.URIRef | rdflib.Literal):  # no OWL restrictions
                    out.add((cls, pred, obj))
    # EMMO core is not vendored: declare the core classes these modules (and finales'
    # capability library) point at, with the name their published context gives them.
    names = _context_names(source)
    core = {o for o in out.objects(None, RDFS.subClassOf) if str(o).startswith(EMMO)}
    core |= {rdflib.URIRef(iri) for iri in extra}
    for cls in core - classes:
        out.add((cls, RDF.type, OWL.Class))
        if str(cls) in names:
            out.add((cls, SKOS.prefLabel, rdflib.Literal(names[str(cls)], lang="en")))
    return out


def main(source: Path) -> None:
    sys.path.insert(0, str(VENDOR.parents[2]))
    from finales.capabilities.semantics import METHOD_TERMS, TERMS

    extra = {t.concept for t in TERMS.values()} | {m.concept for m in METHOD_TERMS.values()}
    extra |= {t.unit_iri for t in TERMS.values() if t.unit_iri and t.unit_iri.startswith(EMMO)}
    _write_contexts(source)
    graph = _curated(source, extra)
    (VENDOR / "ontology.ttl").write_text(graph.serialize(format="turtle"), encoding="utf-8")
    print(f"{len(graph)} triples")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
