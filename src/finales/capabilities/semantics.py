"""What each physical-quantity field denotes: an ontology concept, measured in a unit.

Every such field of the capability models is declared with :func:`measured`, which states the
unit in the field's description and puts these keys into its JSON Schema
(``json_schema_extra``):

* ``unit`` - the unit as a pint string, the convention of the FINALES 2 catalogue
  (``"gram / centimeter ** 3"``), so FINALES 2 tooling keeps reading it;
* ``x-unit-symbol`` - the unit as people write it (``"g/cm³"``);
* ``x-unit-iri`` - the unit: an EMMO unit where the vendored ontology has one
  (``https://w3id.org/emmo#GramPerCubicCentiMetre``), else QUDT; absent where neither has
  the unit (``mAh/cm²``: see :data:`AREAL_CAPACITY`);
* ``x-concept`` - the class of the EMMO / BattINFO ontology the value is a quantity of;
* ``x-concept-label`` - that class's ``skos:prefLabel`` (``"IonicConductivity"``);
* ``x-nearest-parent`` - ``true`` where the ontology has no class for the quantity and
  ``x-concept`` is the nearest real parent (the reason is in ``x-concept-note``).

The same information is kept as Python data (:data:`TERMS`, :func:`annotations`) for
:mod:`finales.semantics`, which turns requests and results into JSON-LD.

The IRIs are the ontologies' own, opaque identifiers (EMMO and BattINFO name classes
``EMMO_<uuid>`` / ``electrochemistry_<uuid>`` and give the readable name as
``skos:prefLabel``), taken from the copy vendored in ``finales/semantics/vendor/`` (its
README names the source and release); ``tests/unit/test_semantic_terms.py`` checks that each
is a class there with the label given here, and that each unit IRI is known.
"""

# No ``from __future__ import annotations``: its name would clash with :func:`annotations`.
from dataclasses import dataclass
from typing import Any

from pydantic import Field
from pydantic_core import PydanticUndefined

EMMO = "https://w3id.org/emmo#"
ECHEM = "https://w3id.org/emmo/domain/electrochemistry#"
QUDT_UNIT = "http://qudt.org/vocab/unit/"
CHAMEO = "https://w3id.org/emmo/domain/characterisation-methodology/chameo#"
MANUFACTURING = "https://w3id.org/emmo/domain/manufacturing#"

# JSON Schema keys of the annotation (``unit`` is the FINALES 2 keyword).
UNIT_KEY = "unit"
SYMBOL_KEY = "x-unit-symbol"
UNIT_IRI_KEY = "x-unit-iri"
CONCEPT_KEY = "x-concept"
LABEL_KEY = "x-concept-label"
PARENT_KEY = "x-nearest-parent"
NOTE_KEY = "x-concept-note"
ANNOTATION_KEYS = (
    UNIT_KEY,
    SYMBOL_KEY,
    UNIT_IRI_KEY,
    CONCEPT_KEY,
    LABEL_KEY,
    PARENT_KEY,
    NOTE_KEY,
)


@dataclass(frozen=True)
class Term:
    """A physical quantity in a unit: the concept a field's value denotes.

    ``nearest_parent`` marks a term whose quantity the ontology does not name: ``concept``
    is then the nearest real class above it, and ``note`` says what is missing. ``unit_iri``
    is None only where neither EMMO nor QUDT has the unit (``note`` says so too).
    """

    label: str  # skos:prefLabel of the concept, e.g. "Density"
    concept: str  # IRI of the EMMO / BattINFO class
    unit: str  # pint unit string, e.g. "gram / centimeter ** 3"
    symbol: str  # the unit as written by people, e.g. "g/cm³"
    unit_iri: str | None  # IRI of the unit (EMMO, else QUDT)
    nearest_parent: bool = False
    note: str = ""

    def schema_extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {UNIT_KEY: self.unit, SYMBOL_KEY: self.symbol}
        if self.unit_iri:
            extra[UNIT_IRI_KEY] = self.unit_iri
        extra[CONCEPT_KEY] = self.concept
        extra[LABEL_KEY] = self.label
        if self.nearest_parent:
            extra[PARENT_KEY] = True
        if self.note:
            extra[NOTE_KEY] = self.note
        return extra


def _emmo(uuid: str) -> str:
    return f"{EMMO}EMMO_{uuid}"


def _echem(uuid: str) -> str:
    return f"{ECHEM}electrochemistry_{uuid}"


# Units: EMMO's where the vendored ontology names them (its context, or a class or a
# ``typicalUnit`` of its Turtle), else QUDT's (checked against qudt-public-repo, see
# ``finales/semantics/vendor/qudt-units.ttl``).
KELVIN = EMMO + "Kelvin"
SIEMENS_PER_METRE = EMMO + "SiemensPerMetre"
GRAM_PER_CUBIC_CENTIMETRE = EMMO + "GramPerCubicCentiMetre"
MILLIPASCAL_SECOND = EMMO + "MilliPascalSecond"
GRAM_PER_MOLE = EMMO + "GramPerMole"
SQUARE_CENTIMETRE = EMMO + "SquareCentiMetre"
AMPERE = EMMO + "Ampere"
VOLT = EMMO + "Volt"
AMPERE_HOUR = EMMO + "AmpereHour"
MILLIAMPERE_HOUR = EMMO + "MilliAmpereHour"
UNIT_ONE = _emmo("5ebd5e01_0ed3_49a2_a30d_cd05cbe72978")  # "UnitOne": the unit 1
C_RATE_UNIT = ECHEM + "AmperePerAmpereHour"  # A/(A·h) = 1/h, the unit of C-rates
MILLILITRE = QUDT_UNIT + "MilliL"
MICROLITRE = QUDT_UNIT + "MicroL"
ANGSTROM = QUDT_UNIT + "ANGSTROM"
CUBIC_ANGSTROM = QUDT_UNIT + "ANGSTROM3"

THERMODYNAMIC_TEMPERATURE = _emmo("affe07e4_e9bc_4852_86c6_69e26182a17f")
VOLUME = _emmo("f1a51559_aa3d_43a0_9327_918039f0dfed")
CAPACITY = _echem("791c1915_a791_4450_acd8_7f94764743b5")
CHARGING_C_RATE = _echem("a7dc73e2_d4aa_4dfc_8b4d_cb611f1501fb")

TEMPERATURE = Term("ThermodynamicTemperature", THERMODYNAMIC_TEMPERATURE, "kelvin", "K", KELVIN)
CONDUCTIVITY = Term(
    "IonicConductivity",
    _echem("25dabdc2_68bf_4a38_8cbe_11be017358bc"),
    "siemens / meter",
    "S/m",
    SIEMENS_PER_METRE,
)
DENSITY = Term(
    "Density",
    _emmo("06448f64_8db6_4304_8b2c_e785dba82044"),
    "gram / centimeter ** 3",
    "g/cm³",
    GRAM_PER_CUBIC_CENTIMETRE,
)
VISCOSITY = Term(
    "DynamicViscosity",
    _emmo("908da3d5_775e_425e_af96_33914618eb66"),
    "millipascal * second",
    "mPa·s",
    MILLIPASCAL_SECOND,
)
AMOUNT_FRACTION = Term(
    "AmountFraction",
    _emmo("04b3300c_98bd_42dc_a3b5_e6c29d69f1ac"),
    "mole / mole",
    "mol/mol",
    UNIT_ONE,  # mol/mol is the unit one; EMMO has no MolePerMole
)
MOLAR_MASS = Term(
    "MolarMass",
    _emmo("e980389d_6dfe_4156_9b40_32050c9644a5"),
    "gram / mole",
    "g/mol",
    GRAM_PER_MOLE,
)
VOLUME_ML = Term("Volume", VOLUME, "milliliter", "mL", MILLILITRE)
VOLUME_UL = Term("Volume", VOLUME, "microliter", "µL", MICROLITRE)
VOLUME_A3 = Term("Volume", VOLUME, "angstrom ** 3", "Å³", CUBIC_ANGSTROM)
LENGTH_A = Term(
    "RadialDistance", _emmo("d772fa7a_0a31_44bb_a825_ae7829d794c6"), "angstrom", "Å", ANGSTROM
)
RDF = Term(
    "RatioQuantity",
    _emmo("faab3f84_e475_4a46_af9c_7d249f0b9aef"),
    "dimensionless",
    "1",
    UNIT_ONE,
    nearest_parent=True,
    note="EMMO and BattINFO have no radial distribution function; g(r) is the ratio of the "
    "local to the average particle density, a RatioQuantity.",
)
AREA = Term(
    "Area",
    _emmo("96f39f77_44dc_491b_8fa7_30d887fe0890"),
    "centimeter ** 2",
    "cm²",
    SQUARE_CENTIMETRE,
)
CURRENT = Term(
    "ElectricCurrent", _emmo("c995ae70_3b84_4ebb_bcfc_69e6a281bb88"), "ampere", "A", AMPERE
)
VOLTAGE = Term("Voltage", _emmo("17b031fb_4695_49b6_bb69_189ec63df3ee"), "volt", "V", VOLT)
COUNT = Term(
    "NumberOfEntities",
    _emmo("41efdf5d_0c9c_4ea0_bb65_f8236e663be5"),
    "dimensionless",
    "1",
    UNIT_ONE,
)
LOG_VARIANCE = Term(
    "PureNumberQuantity",
    _emmo("ba882f34_0d71_4e4f_9d92_0c076c633a2c"),
    "dimensionless",
    "1",
    UNIT_ONE,
    nearest_parent=True,
    note="EMMO and BattINFO have no variance (nor its logarithm); the log variance of the "
    "Q(V) curves is a pure number.",
)
AREAL_CAPACITY = Term(
    "AreicCapacity",
    _echem("bcb33f7e_5573_4bc2_b636_4ea313a9dd3a"),
    "milliampere_hour / centimeter ** 2",
    "mAh/cm²",
    None,
    note="No unit IRI: neither the vendored EMMO context nor QUDT names mAh/cm² "
    "(QUDT has A-HR-PER-M2, a different scale).",
)
C_RATE = Term(
    "CRate", _echem("e1fd84eb_acdb_4b2c_b90c_e899d552a3ee"), "1 / hour", "1/h", C_RATE_UNIT
)
CHARGING_RATE = Term("ChargingCRate", CHARGING_C_RATE, "1 / hour", "1/h", C_RATE_UNIT)
DISCHARGING_RATE = Term(
    "DischargingCRate",
    _echem("25e20915_c35d_4bee_ad31_736235a79780"),
    "1 / hour",
    "1/h",
    C_RATE_UNIT,
)
CUTOFF_CURRENT = Term(
    "LowerCurrentLimit", _echem("7db845e7_0e5b_47d4_b954_2a2b8e85deea"), "ampere", "A", AMPERE
)
UPPER_VOLTAGE_LIMIT = Term(
    "UpperVoltageLimit", _echem("6dcd5baf_58cd_43f5_a692_51508e036c88"), "volt", "V", VOLT
)
LOWER_VOLTAGE_LIMIT = Term(
    "LowerVoltageLimit", _echem("534dd59c_904c_45d9_8550_ae9d2eb6bbc9"), "volt", "V", VOLT
)
CAPACITY_AH = Term("Capacity", CAPACITY, "ampere_hour", "Ah", AMPERE_HOUR)
CAPACITY_MAH = Term("Capacity", CAPACITY, "milliampere_hour", "mAh", MILLIAMPERE_HOUR)
NOMINAL_CAPACITY = Term(
    "NominalCapacity",
    _echem("8abde9d0_84f6_4b4f_a87e_86028a397100"),
    "ampere_hour",
    "Ah",
    AMPERE_HOUR,
)
COULOMBIC_EFFICIENCY = Term(
    "CoulombicEfficiency",
    _echem("a5962e05_466d_46a4_8951_bea59d7326e5"),
    "dimensionless",
    "1",
    UNIT_ONE,
)
CYCLE_COUNT = Term(
    "TotalNumberOfCycles",
    _echem("6d981c04_3ace_4f1b_b0f8_770776cceb6f"),
    "dimensionless",
    "cycles",
    UNIT_ONE,
)
CYCLE_LIFE = Term(
    "CycleLife", _echem("ae782b14_88ce_4cdd_9418_12aca00be937"), "dimensionless", "cycles", UNIT_ONE
)

#: Every term by a stable name (the constant's name), for code that builds JSON-LD contexts.
TERMS: dict[str, Term] = {
    name: value for name, value in dict(globals()).items() if isinstance(value, Term)
}


@dataclass(frozen=True)
class MethodTerm:
    """The ontology class of a capability's method: a CHAMEO characterisation technique, an
    electrochemistry test or process, or an EMMO simulation. ``nearest_parent`` as in
    :class:`Term`: the ontology has no class for the method itself."""

    label: str  # skos:prefLabel of the class
    concept: str  # its IRI
    nearest_parent: bool = False
    note: str = ""


_MD = MethodTerm(
    "PhysicsBasedSimulation",
    _emmo("e97af6ec_4371_4bbc_8936_34b76e33302f"),
    nearest_parent=True,
    note="EMMO has no molecular dynamics; it is a physics-based simulation.",
)

#: The method class of built-in capabilities, by (quantity, method). The others have none
#: in the vendored ontology: polynomial interpolation, vibrating-tube densimetry, the
#: degradation model and workflow, and the services (cycler channels, transport, deposit).
METHOD_TERMS: dict[tuple[str, str], MethodTerm] = {
    ("conductivity", "two_electrode"): MethodTerm("Conductometry", CHAMEO + "Conductometry"),
    ("viscosity", "rolling_ball_viscometry"): MethodTerm(
        "Viscometry",
        CHAMEO + "Viscometry",
        nearest_parent=True,
        note="CHAMEO has no rolling-ball viscometry; it is a viscometry.",
    ),
    ("capacity", "cycling"): MethodTerm(
        "CyclingTest", _echem("435b22d4_c441_45ea_8c79_0cbec11fd287")
    ),
    ("cell_assembly", "autobass_assembly"): MethodTerm(
        "ElectrochemicalDeviceAssembly",
        _echem("f2a034b6_401d_46bf_a258_cca87932c7af"),
        nearest_parent=True,
        note="No class names automated coin-cell assembly; it assembles an electrochemical device.",
    ),
    ("electrolyte", "flow"): MethodTerm(
        "Mixing",
        MANUFACTURING + "manufacturing_9e51796f_a99e_4b61_a14d_d5a38cb8219a",
        nearest_parent=True,
        note="No class names formulating an electrolyte in a flow setup; it mixes solutions.",
    ),
    ("conductivity", "molecular_dynamics"): _MD,
    ("density", "molecular_dynamics"): _MD,
    ("radial_distribution_function", "molecular_dynamics"): _MD,
}


def measured(term: Term, description: str, default: Any = PydanticUndefined, **kw: Any) -> Any:
    """A pydantic ``Field`` for a physical quantity: unit in the description and the schema."""
    text = f"{description.rstrip()} Unit: {term.symbol} ({term.unit})."
    # A dict display, so that mypy types it as the JSON dict Field expects (dict is invariant).
    return Field(default, description=text, json_schema_extra={**term.schema_extra()}, **kw)


def annotations(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The annotated fields of a JSON Schema, by JSON pointer into an instance.

    ``*`` stands for any array index or any key of a free-form object (``additionalProperties``),
    e.g. ``{"/conductivity/values": {...}, "/run_info/chemicals_info/*/density": {...}}``.
    """
    found: dict[str, dict[str, Any]] = {}
    _walk(schema, schema, "", found, depth=0)
    return found


def resolve(root: dict[str, Any], node: Any) -> Any:
    """``node`` with its ``$ref`` (local, ``#/...``) replaced by the schema it points at."""
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        target: Any = root
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target.get(part, {}) if part else target
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _walk(
    root: dict[str, Any], node: Any, path: str, found: dict[str, dict[str, Any]], depth: int
) -> None:
    node = resolve(root, node)
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
