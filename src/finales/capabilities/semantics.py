"""What each physical-quantity field denotes: an ontology concept, measured in a unit.

Every such field of the capability models is declared with :func:`measured`, which states the
unit in the field's description and puts four keys into its JSON Schema (``json_schema_extra``):

* ``unit`` - the unit as a pint string, the convention of the FINALES 2 catalogue
  (``"gram / centimeter ** 3"``), so FINALES 2 tooling keeps reading it;
* ``x-unit-symbol`` - the unit as people write it (``"g/cm³"``);
* ``x-unit-iri`` - the unit in QUDT (``http://qudt.org/vocab/unit/GM-PER-CentiM3``);
* ``x-concept`` - the EMMO / BattINFO concept the value is a quantity of.

The same information is kept as Python data (:data:`TERMS`, :func:`annotations`) for the
JSON-LD export of the archiver.

**Check before relying on the IRIs.** EMMO and the BattINFO electrochemistry domain name their
classes by opaque identifiers (``EMMO_<uuid>``, ``electrochemistry_<uuid>``) and give the
readable name as ``skos:prefLabel``. The concept IRIs here use the readable form
(``https://w3id.org/emmo#ThermodynamicTemperature``) because it can be read and reviewed; the
mapping must be checked against the ontology release the archive targets and the readable
names replaced by the release's identifiers (a one-line change per term, below). Concepts
under ``ECHEM`` are electrochemistry terms (BattINFO); the rest are EMMO's ISQ quantities.
``DimensionlessQuantity`` stands in where no specific concept exists (the log variance of the
early-cycle capacity curves). QUDT identifiers follow QUDT's naming rules; ``ANGSTROM3`` and
``MilliA-HR-PER-CentiM2`` are the least common of them and should be checked first.
"""

# No ``from __future__ import annotations``: its name would clash with :func:`annotations`.
from dataclasses import dataclass
from typing import Any

from pydantic import Field
from pydantic_core import PydanticUndefined

EMMO = "https://w3id.org/emmo#"
ECHEM = "https://w3id.org/emmo/domain/electrochemistry#"
QUDT_UNIT = "http://qudt.org/vocab/unit/"

# JSON Schema keys of the annotation (``unit`` is the FINALES 2 keyword).
UNIT_KEY = "unit"
SYMBOL_KEY = "x-unit-symbol"
UNIT_IRI_KEY = "x-unit-iri"
CONCEPT_KEY = "x-concept"
ANNOTATION_KEYS = (UNIT_KEY, SYMBOL_KEY, UNIT_IRI_KEY, CONCEPT_KEY)


@dataclass(frozen=True)
class Term:
    """A physical quantity in a unit: the concept a field's value denotes."""

    label: str  # readable name of the concept, e.g. "Density"
    concept: str  # IRI of the EMMO / BattINFO concept
    unit: str  # pint unit string, e.g. "gram / centimeter ** 3"
    symbol: str  # the unit as written by people, e.g. "g/cm³"
    unit_iri: str  # IRI of the unit (QUDT)

    def schema_extra(self) -> dict[str, str]:
        return {
            UNIT_KEY: self.unit,
            SYMBOL_KEY: self.symbol,
            UNIT_IRI_KEY: self.unit_iri,
            CONCEPT_KEY: self.concept,
        }


def _emmo(label: str, unit: str, symbol: str, qudt: str) -> Term:
    return Term(label, EMMO + label, unit, symbol, QUDT_UNIT + qudt)


def _echem(label: str, unit: str, symbol: str, qudt: str) -> Term:
    return Term(label, ECHEM + label, unit, symbol, QUDT_UNIT + qudt)


TEMPERATURE = _emmo("ThermodynamicTemperature", "kelvin", "K", "K")
CONDUCTIVITY = _emmo("ElectricConductivity", "siemens / meter", "S/m", "S-PER-M")
DENSITY = _emmo("Density", "gram / centimeter ** 3", "g/cm³", "GM-PER-CentiM3")
VISCOSITY = _emmo("DynamicViscosity", "millipascal * second", "mPa·s", "MilliPA-SEC")
AMOUNT_FRACTION = _emmo("AmountFraction", "mole / mole", "mol/mol", "MOL-PER-MOL")
MOLAR_MASS = _emmo("MolarMass", "gram / mole", "g/mol", "GM-PER-MOL")
VOLUME_ML = _emmo("Volume", "milliliter", "mL", "MilliL")
VOLUME_UL = _emmo("Volume", "microliter", "µL", "MicroL")
VOLUME_A3 = _emmo("Volume", "angstrom ** 3", "Å³", "ANGSTROM3")
LENGTH_A = _emmo("Length", "angstrom", "Å", "ANGSTROM")
RDF = _emmo("RadialDistributionFunction", "dimensionless", "1", "UNITLESS")
AREA = _emmo("Area", "centimeter ** 2", "cm²", "CentiM2")
CURRENT = _emmo("ElectricCurrent", "ampere", "A", "A")
VOLTAGE = _emmo("Voltage", "volt", "V", "V")
COUNT = _emmo("NumberOfEntities", "dimensionless", "1", "NUM")
LOG_VARIANCE = _emmo("DimensionlessQuantity", "dimensionless", "1", "UNITLESS")
AREAL_CAPACITY = _echem(
    "ArealCapacity", "milliampere_hour / centimeter ** 2", "mAh/cm²", "MilliA-HR-PER-CentiM2"
)
C_RATE = _echem("CRate", "1 / hour", "1/h", "PER-HR")
CUTOFF_CURRENT = _echem("CutoffCurrent", "ampere", "A", "A")
UPPER_VOLTAGE_LIMIT = _echem("UpperVoltageLimit", "volt", "V", "V")
LOWER_VOLTAGE_LIMIT = _echem("LowerVoltageLimit", "volt", "V", "V")
CAPACITY_AH = _echem("Capacity", "ampere_hour", "Ah", "A-HR")
CAPACITY_MAH = _echem("Capacity", "milliampere_hour", "mAh", "MilliA-HR")
NOMINAL_CAPACITY = _echem("NominalCapacity", "ampere_hour", "Ah", "A-HR")
COULOMBIC_EFFICIENCY = _echem("CoulombicEfficiency", "dimensionless", "1", "UNITLESS")
CYCLE_COUNT = _echem("NumberOfCycles", "dimensionless", "cycles", "NUM")
CYCLE_LIFE = _echem("CycleLife", "dimensionless", "cycles", "NUM")

#: Every term by a stable name (the constant's name), for code that builds JSON-LD contexts.
TERMS: dict[str, Term] = {
    name: value for name, value in dict(globals()).items() if isinstance(value, Term)
}


def measured(term: Term, description: str, default: Any = PydanticUndefined, **kw: Any) -> Any:
    """A pydantic ``Field`` for a physical quantity: unit in the description and the schema."""
    text = f"{description.rstrip()} Unit: {term.symbol} ({term.unit})."
    # A dict display, so that mypy types it as the JSON dict Field expects (dict is invariant).
    return Field(default, description=text, json_schema_extra={**term.schema_extra()}, **kw)


def annotations(schema: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The annotated fields of a JSON Schema, by JSON pointer into an instance.

    ``*`` stands for any array index or any key of a free-form object (``additionalProperties``),
    e.g. ``{"/conductivity/values": {...}, "/run_info/chemicals_info/*/density": {...}}``.
    """
    found: dict[str, dict[str, str]] = {}
    _walk(schema, schema, "", found, depth=0)
    return found


def _resolve(root: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        target: Any = root
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target.get(part, {}) if part else target
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _walk(
    root: dict[str, Any], node: Any, path: str, found: dict[str, dict[str, str]], depth: int
) -> None:
    node = _resolve(root, node)
    if not isinstance(node, dict) or depth > 40:
        return
    if CONCEPT_KEY in node:
        found[path] = {k: node[k] for k in ANNOTATION_KEYS if k in node}
    for key in ("anyOf", "allOf", "oneOf"):
        for branch in node.get(key, []):
            _walk(root, branch, path, found, depth + 1)
    for name, sub in node.get("properties", {}).items():
        _walk(root, sub, f"{path}/{name}", found, depth + 1)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            _walk(root, node[key], f"{path}/*", found, depth + 1)
    for sub in [*node.get("prefixItems", []), *node.get("patternProperties", {}).values()]:
        _walk(root, sub, f"{path}/*", found, depth + 1)
