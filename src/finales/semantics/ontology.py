"""The vendored ontology (EMMO battery / electrochemistry / CHAMEO subset) as an rdflib graph.

Needs the ``semantics`` extra (rdflib).
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import rdflib

ONTOLOGY_FILES = ("vendor/ontology.ttl", "vendor/qudt-units.ttl")


def ontology_graph() -> rdflib.Graph:
    """A new graph of the vendored classes (labels, ``rdfs:subClassOf``) and units.

    About 6000 triples, parsed on each call (a few tenths of a second): keep the graph.
    """
    import rdflib

    graph = rdflib.Graph()
    for name in ONTOLOGY_FILES:
        data = resources.files("finales.semantics").joinpath(name).read_text(encoding="utf-8")
        graph.parse(data=data, format="turtle")
    return graph


def shapes_graph() -> rdflib.Graph:
    """The SHACL shapes (``vendor/shapes.ttl``) of what finales emits, for a SHACL validator
    such as pyshacl: ``pyshacl.validate(to_graph(doc), shacl_graph=shapes_graph())``."""
    import rdflib

    data = resources.files("finales.semantics").joinpath("vendor/shapes.ttl").read_text("utf-8")
    return rdflib.Graph().parse(data=data, format="turtle")
