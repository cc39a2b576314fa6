"""The battery capability library: the capabilities of the BIG-MAP demonstrator, corrected.

Each built-in capability is a (quantity, method) pair with a pydantic model of its request
parameters and one of its result data; their JSON Schemas (draft 2020-12) are what the broker
validates against. Field names and shapes are those of the FINALES 2 catalogue
(BIG-MAP/FINALES2_schemas), so FINALES 2 tenants keep working; its defects are fixed:

* viscosity in mPa·s (the catalogue declared g/cm³), densities in g/cm³ (the unit string of
  ``ChemicalInfo.density`` was garbled), conductivity in S/m;
* ``radial_density_function / molacular_dynamics`` is registered as
  ``radial_distribution_function / molecular_dynamics``. :data:`RENAMES` maps the old pair to
  the new one, :func:`canonical` applies it; tenants that request the old name must change it
  (or the admin registers the old file too, see ``docs/compatibility.md``);
* ``viscosity / rolling_ball_viscometry``, defined in FINALES 2 but never registered, is added;
* every physical-quantity field states its unit and the ontology concept it denotes
  (:mod:`finales.capabilities.semantics`), and values are bounded where physics demands it.

Use::

    from finales.capabilities import CAPABILITIES, EXAMPLES, request_schema, to_finales2

    schema = request_schema("conductivity", "two_electrode")
    files = [to_finales2(cap) for cap in CAPABILITIES]

``finales capability add --builtin`` registers them all; ``finales capability export DIR``
writes them as files.
"""

# No ``from __future__ import annotations``: its name would clash with ``annotations`` below.
from .examples import EXAMPLES
from .registry import (
    CAPABILITIES,
    RENAMES,
    Capability,
    canonical,
    get,
    request_schema,
    result_schema,
    to_finales,
    to_finales2,
)
from .semantics import TERMS, Term, annotations

__all__ = [
    "CAPABILITIES",
    "EXAMPLES",
    "RENAMES",
    "TERMS",
    "Capability",
    "Term",
    "annotations",
    "canonical",
    "get",
    "request_schema",
    "result_schema",
    "to_finales",
    "to_finales2",
]
