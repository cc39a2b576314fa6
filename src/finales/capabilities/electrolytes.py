"""Electrolyte properties: conductivity, density, viscosity, radial distribution function, and
the formulation of electrolytes (``electrolyte / flow``).

Corrections to the FINALES 2 catalogue: viscosity values are in mPa·s (the catalogue declared
g/cm³, a copy of the density field), and the radial distribution function is registered as
``radial_distribution_function / molecular_dynamics`` (the catalogue's
``radial_density_function / molacular_dynamics`` was misspelt; see ``registry.RENAMES``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from .common import Formulation, Location, MethodMeta, Model, NonNegative, Positive, RunInfo
from .semantics import (
    CONDUCTIVITY,
    COUNT,
    DENSITY,
    LENGTH_A,
    TEMPERATURE,
    VISCOSITY,
    VOLUME_A3,
    VOLUME_ML,
    measured,
)
from .semantics import RDF as RDF_TERM

META_DESCRIPTION = (
    "Whether the method succeeded for this quantity and how reliable the data are. It is given "
    "per quantity because one run may succeed for one quantity and fail for another."
)
FORMULATION_DESCRIPTION = "The chemicals contained in the sample and their amount fractions."
RUN_INFO_DESCRIPTION = "The formulation and the internal reference common to all data of this run."


def _temperature(description: str, *, required: bool = False) -> Any:  # Any, as Field() returns
    if required:
        return measured(TEMPERATURE, description, gt=0)
    return measured(TEMPERATURE, description, None, gt=0)


# --------------------------------------------------------------------------------- inputs


class FormulationTemperatureInput(Model):
    """A formulation at a temperature: the parameters of conductivity, density and viscosity."""

    formulation: Formulation = Field(description=FORMULATION_DESCRIPTION)
    temperature: float | None = _temperature(
        "The temperature of the measuring cell or of the simulation."
    )


class ConductivityInput(FormulationTemperatureInput):
    """Parameters of ``conductivity`` by any method."""


class DensityInput(FormulationTemperatureInput):
    """Parameters of ``density`` by any method."""


class ViscosityInput(FormulationTemperatureInput):
    """Parameters of ``viscosity`` by any method."""


class RDFInput(Model):
    """Parameters of ``radial_distribution_function / molecular_dynamics``."""

    formulation: Formulation = Field(description="The formulation to simulate.")
    temperature: float = _temperature("The temperature of the simulation.", required=True)
    estimated_density: float | None = measured(
        DENSITY, "An initial guess of the density of the formulation, if available.", None, gt=0
    )


class ElectrolyteInput(Model):
    """An electrolyte to prepare."""

    formulation: Formulation = Field(description=FORMULATION_DESCRIPTION)


class FlowInput(Model):
    """Parameters of ``electrolyte / flow``: prepare a volume of an electrolyte."""

    electrolyte: ElectrolyteInput = Field(description="The electrolyte to formulate.")
    volume: float = measured(VOLUME_ML, "The volume of electrolyte to formulate.", gt=0)


# --------------------------------------------------------------------------------- outputs


class ConductivityOutput(Model):
    """Conductivity values of one formulation."""

    values: list[NonNegative] = measured(CONDUCTIVITY, "The conductivity values determined.")
    meta: MethodMeta = Field(description=META_DESCRIPTION)
    temperature: float | None = _temperature(
        "The actual temperature of the measuring cell or of the simulation."
    )


class DensityOutput(Model):
    """Density values of one formulation."""

    values: list[Positive] = measured(DENSITY, "The density values determined.")
    meta: MethodMeta = Field(description=META_DESCRIPTION)
    temperature: float | None = _temperature("The actual temperature of the measuring cell.")


class ViscosityOutput(Model):
    """Dynamic viscosity values of one formulation (mPa·s; the catalogue wrongly said g/cm³)."""

    values: list[Positive] = measured(VISCOSITY, "The dynamic viscosity values determined.")
    meta: MethodMeta = Field(description=META_DESCRIPTION)
    temperature: float | None = _temperature("The actual temperature of the measuring cell.")


class RDFOutput(Model):
    """Radial distribution functions of the atom pairs of a simulated cell."""

    radius: list[NonNegative] = measured(
        LENGTH_A, "The distances r at which the radial distribution functions are given."
    )
    pair_title: list[str] = Field(description="The names of the atom pairs, one per function.")
    RDF: list[list[NonNegative]] = measured(
        RDF_TERM,
        "One function per pair (in the order of 'pair_title'), each the quotient of the local "
        "particle density at each radius and the average density of the system.",
    )
    cell_volume: float = measured(VOLUME_A3, "The volume of the simulated cell.", gt=0)
    cell_formula: str = Field(
        description="The number of atoms per element in the cell, e.g. Li16 O600 P16 F96 C600 H600."
    )


MoleculeCounts = dict[str, Annotated[int, Field(ge=0)]]


def _molecule_counts() -> Any:  # Any, as Field() returns
    return measured(
        COUNT,
        "The number of molecules of each chemical of the formulation in the simulation.",
        None,
    )


class TwoElectrodeOutput(Model):
    """Result data of ``conductivity / two_electrode``."""

    run_info: RunInfo = Field(description=RUN_INFO_DESCRIPTION)
    conductivity: ConductivityOutput = Field(description="The conductivity data.")


class PolynomialInterpolationOutput(Model):
    """Result data of ``conductivity / polynomial_interpolation``."""

    run_info: RunInfo = Field(description=RUN_INFO_DESCRIPTION)
    conductivity: ConductivityOutput = Field(description="The conductivity data.")


class ConductivityMolecularDynamicsOutput(Model):
    """Result data of ``conductivity / molecular_dynamics``, with side results."""

    run_info: RunInfo = Field(description=RUN_INFO_DESCRIPTION)
    conductivity: ConductivityOutput = Field(description="The conductivity data.")
    density: DensityOutput | None = Field(None, description="Density, computed on the side.")
    RDF: RDFOutput | None = Field(
        None, description="Radial distribution functions, computed on the side."
    )
    number_molecules_per_component: MoleculeCounts | None = _molecule_counts()


class VibratingTubeDensimetryOutput(Model):
    """Result data of ``density / vibrating_tube_densimetry``."""

    run_info: RunInfo = Field(description=RUN_INFO_DESCRIPTION)
    density: DensityOutput = Field(description="The density data.")
    viscosity: ViscosityOutput | None = Field(
        None, description="Viscosity, measured in parallel to the density."
    )


class DensityMolecularDynamicsOutput(Model):
    """Result data of ``density / molecular_dynamics``, with side results."""

    run_info: RunInfo = Field(description=RUN_INFO_DESCRIPTION)
    density: DensityOutput = Field(description="The density data.")
    conductivity: ConductivityOutput | None = Field(
        None, description="Conductivity, computed on the side."
    )
    RDF: RDFOutput | None = Field(
        None, description="Radial distribution functions, computed on the side."
    )
    number_molecules_per_component: MoleculeCounts | None = _molecule_counts()


class RollingBallViscometryOutput(Model):
    """Result data of ``viscosity / rolling_ball_viscometry``."""

    run_info: RunInfo = Field(description=RUN_INFO_DESCRIPTION)
    viscosity: ViscosityOutput = Field(description="The viscosity data.")
    density: DensityOutput | None = Field(
        None, description="Density, if the viscometer measured it to evaluate the ball's fall."
    )


class ElectrolyteOutput(Model):
    """A prepared electrolyte and where to pick it up."""

    formulation: Formulation = Field(description="The formulation actually prepared.")
    volume: float = measured(VOLUME_ML, "The volume of electrolyte prepared.", gt=0)
    location: Location = Field(description="Where the prepared electrolyte can be picked up.")
    meta: MethodMeta = Field(description=META_DESCRIPTION)


class FlowOutput(Model):
    """Result data of ``electrolyte / flow``."""

    run_info: RunInfo = Field(description=RUN_INFO_DESCRIPTION)
    electrolyte: ElectrolyteOutput = Field(description="The prepared electrolyte.")
