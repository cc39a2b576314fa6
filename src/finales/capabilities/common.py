"""Shared objects of the battery capabilities: chemicals, formulations, locations, cells.

Field names and shapes are those of the FINALES 2 catalogue (BIG-MAP/FINALES2_schemas), so the
same JSON travels over both doors. Differences, all deliberate:

* unknown fields are refused (``additionalProperties: false``): a misspelt optional field would
  otherwise be dropped without a word; values are not coerced (strict models);
* ``fraction_type`` is the constant ``"molPerMol"`` (the only type the catalogue supports; other
  spellings such as ``"molar fraction"`` are refused rather than misread);
* an ``InChIKey`` must look like one (``XXXXXXXXXXXXXX-XXXXXXXXXX-X``);
* ``MethodMeta.rating`` is bounded to 0-5 and ``success`` must be a JSON boolean;
* ``ChemicalInfo.density`` is in g/cm³ (the catalogue's unit string was garbled to
  ``"centimeter ** 3 * gram"``);
* physical values carry their unit and ontology concept (see :mod:`.semantics`) and plausible
  bounds (temperatures and volumes positive, fractions within 0-1).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from .semantics import (
    AMOUNT_FRACTION,
    AREA,
    AREAL_CAPACITY,
    DENSITY,
    MOLAR_MASS,
    VOLUME_UL,
    measured,
)

INCHIKEY_PATTERN = r"^[A-Z]{14}-[A-Z]{10}-[A-Z]$"

InChIKeyStr = Annotated[str, StringConstraints(pattern=INCHIKEY_PATTERN)]
Positive = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]
# (value, uncertainty): the catalogue's two-element arrays.
PositiveWithUncertainty = tuple[Positive, NonNegative]


def _checked_keys(schema: dict[str, Any]) -> None:
    """pydantic renders a dict with constrained keys as ``patternProperties``, which lets any
    other key through unchecked; ``propertyNames`` + ``additionalProperties`` check them all."""
    for branch in schema.get("anyOf", [schema]):
        patterns = branch.pop("patternProperties", None)
        if patterns:
            ((pattern, value),) = patterns.items()
            branch["propertyNames"] = {"pattern": pattern}
            branch["additionalProperties"] = value


class Model(BaseModel):
    """Base of every capability model: unknown fields are refused, and values are not coerced
    (``"3.4"`` is no number), so that validating JSON with a model (``model_validate_json``)
    accepts exactly what the model's JSON Schema accepts."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Chemical(Model):
    """A chemical, identified for people (SMILES) and for machines (InChIKey)."""

    SMILES: str = Field(min_length=1, description="A SMILES string representing the chemical.")
    InChIKey: InChIKeyStr = Field(
        description="The hashed standard International Chemical Identifier of the chemical "
        "(27 characters, e.g. AXPLOJNSKRXQPA-UHFFFAOYSA-N)."
    )


class FormulationComponent(Model):
    """A chemical as a component of a mixture, with its amount fraction."""

    chemical: Chemical = Field(description="The chemical contained in the mixture.")
    fraction: float = measured(
        AMOUNT_FRACTION, "The amount (mole) fraction of the chemical in the mixture.", ge=0, le=1
    )
    fraction_type: Literal["molPerMol"] = Field(
        description="The kind of fraction given in 'fraction'. Only amount fractions "
        "('molPerMol') are supported."
    )


Formulation = Annotated[list[FormulationComponent], Field(min_length=1)]


class Location(Model):
    """Where a physical sample or piece of equipment can be found."""

    address: str = Field(
        min_length=1,
        description="The physical address (or the name of an institute) where the object is.",
    )
    detail_1: str | None = Field(
        None, description="A finer location, e.g. a laboratory, a device or a cabinet."
    )
    detail_2: str | None = Field(
        None, description="A still finer location, e.g. a bench, a shelf or a port of a machine."
    )


class MethodMeta(Model):
    """Whether a method succeeded for one quantity, and how the tenant rates the data."""

    success: StrictBool = Field(description="Whether the method finished successfully.")
    rating: int = Field(
        ge=0, le=5, description="The tenant's rating of the data, from 0 (lowest) to 5 (highest)."
    )


class ChemicalInfo(Model):
    """Documentation of a chemical used in a run."""

    name: str | None = Field(None, description="A human-readable name of the chemical.")
    molar_mass: PositiveWithUncertainty | None = measured(
        MOLAR_MASS,
        "The molar mass of the chemical and its uncertainty (measured or from the literature), "
        "used to convert between volumetric and molar ratios.",
        None,
    )
    density: PositiveWithUncertainty | None = measured(
        DENSITY,
        "The density of the chemical and its uncertainty (measured or from the literature), "
        "used to convert between volumetric and molar ratios.",
        None,
    )
    batch: str | None = Field(None, description="The batch number of the chemical, if known.")
    manufacturer: str | None = Field(None, description="The manufacturer of the chemical.")
    manufacturing_date: str | None = Field(
        None, description="The date when the chemical was manufactured."
    )


class FormulationInfo(Model):
    """Documentation of a formulation (or an electrode) prepared in a run."""

    name: str | None = Field(None, description="A human-readable name of the formulation.")
    uuid: str | None = Field(None, description="An identifier of this formulation in this run.")
    preparation_date: str | None = Field(
        None,
        description="The date when the formulation was prepared (for commercial formulations "
        "the manufacturing date).",
    )
    batch: str | None = Field(None, description="The batch number of the formulation, if known.")
    location: Location | None = Field(
        None, description="Where the physical formulation described here can be found."
    )


class RunInfo(Model):
    """Metadata common to all data produced by one run of a method."""

    formulation: Formulation = Field(
        description="The chemicals contained in the sample and their fractions."
    )
    internal_reference: str = Field(
        description="The tenant's identifier of this run (in experiments, e.g. a sample id)."
    )
    formulation_info: FormulationInfo | None = Field(
        None, description="Documentation of the formulation."
    )
    chemicals_info: dict[InChIKeyStr, ChemicalInfo] | None = Field(
        None,
        description="Documentation of the chemicals of the formulation, keyed by InChIKey.",
        json_schema_extra=_checked_keys,
    )


class CellInfo(Model):
    """Documentation of a battery cell."""

    cell_name: str | None = Field(None, description="A human-readable name of the cell.")
    uuid: str | None = Field(None, description="An identifier of this cell in this run.")
    assembly_date: str | None = Field(None, description="The date when the cell was made.")
    batch: str | None = Field(None, description="The batch number of the cells, if known.")
    anode_info: FormulationInfo | None = Field(None, description="Documentation of the anode.")
    cathode_info: FormulationInfo | None = Field(None, description="Documentation of the cathode.")
    electrolyte_info: FormulationInfo | None = Field(
        None, description="Documentation of the electrolyte."
    )
    cell_location: Location | None = Field(
        None, description="Where the physical cell described here can be found."
    )


class Electrode(Model):
    """A (circular) electrode."""

    material: Formulation = Field(description="The composition of the electrode.")
    mass_loading: float | None = measured(
        AREAL_CAPACITY, "The capacity per unit area of the electrode.", None, gt=0
    )
    size: float | None = measured(AREA, "The area of the circular electrode.", None, gt=0)


class Separator(Model):
    """The separator of a battery cell."""

    material: str = Field(
        min_length=1, description="The product name of the separator, e.g. Celgard 2325."
    )
    size: float | None = measured(AREA, "The area of the circular separator.", None, gt=0)


class BatteryChemistry(Model):
    """The chemistry of a cell: electrolyte and electrodes."""

    electrolyte: Formulation = Field(description="The composition of the electrolyte.")
    anode: Electrode | None = Field(None, description="The anode (negative electrode).")
    cathode: Electrode | None = Field(None, description="The cathode (positive electrode).")


class Cell(Model):
    """What is needed to build one cell of a given chemistry."""

    battery_chemistry: BatteryChemistry = Field(
        description="The chemistry of the cell: electrodes and electrolyte."
    )
    separator: Separator | None = Field(None, description="The separator.")
    electrolyte_volume: float | None = measured(
        VOLUME_UL, "The volume of electrolyte filled into the cell.", None, gt=0
    )
