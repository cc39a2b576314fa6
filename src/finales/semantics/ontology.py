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
