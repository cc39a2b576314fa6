"""The built-in capabilities, their JSON Schemas, and the two capability-file formats."""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from finales.errors import NotFound

from . import archive, cells, electrolytes, logistics

#: Capabilities of the FINALES 2 catalogue registered here under another name:
#: ``(old quantity, old method) -> (quantity, method)``.
RENAMES: dict[tuple[str, str], tuple[str, str]] = {
    ("radial_density_function", "molacular_dynamics"): (
        "radial_distribution_function",
        "molecular_dynamics",
    ),
}


@dataclass(frozen=True)
class Capability:
    """A built-in capability: a (quantity, method) pair with its two pydantic models."""

    quantity: str
    method: str
    description: str
    request_model: type[BaseModel]
    result_model: type[BaseModel]

    @property
    def key(self) -> tuple[str, str]:
        return (self.quantity, self.method)

    def request_schema(self) -> dict[str, Any]:
        """The JSON Schema (2020-12) of the request parameters (a fresh copy)."""
        return copy.deepcopy(_schema_of(self.request_model))

    def result_schema(self) -> dict[str, Any]:
        """The JSON Schema (2020-12) of the result data (a fresh copy)."""
        return copy.deepcopy(_schema_of(self.result_model))


@functools.cache
def _schema_of(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


_CONDUCTIVITY = "Ionic conductivity (S/m) of a liquid electrolyte formulation at a temperature (K)"
_DENSITY = "Density (g/cm³) of a liquid electrolyte formulation at a temperature (K)"

CAPABILITIES: list[Capability] = [
    Capability(
        "conductivity",
        "two_electrode",
        f"{_CONDUCTIVITY}, measured in a two-electrode cell.",
        electrolytes.ConductivityInput,
        electrolytes.TwoElectrodeOutput,
    ),
    Capability(
        "conductivity",
        "molecular_dynamics",
        f"{_CONDUCTIVITY}, simulated by molecular dynamics; density, radial distribution "
        "functions and molecule counts may come on the side.",
        electrolytes.ConductivityInput,
        electrolytes.ConductivityMolecularDynamicsOutput,
    ),
    Capability(
        "conductivity",
        "polynomial_interpolation",
        f"{_CONDUCTIVITY}, interpolated by a polynomial model fitted to earlier data.",
        electrolytes.ConductivityInput,
        electrolytes.PolynomialInterpolationOutput,
    ),
    Capability(
        "density",
        "vibrating_tube_densimetry",
        f"{_DENSITY}, measured with a vibrating-tube densimeter; the viscosity (mPa·s) may "
        "come on the side.",
        electrolytes.DensityInput,
        electrolytes.VibratingTubeDensimetryOutput,
    ),
    Capability(
        "density",
        "molecular_dynamics",
        f"{_DENSITY}, simulated by molecular dynamics; conductivity, radial distribution "
        "functions and molecule counts may come on the side.",
        electrolytes.DensityInput,
        electrolytes.DensityMolecularDynamicsOutput,
    ),
    Capability(
        "viscosity",
        "rolling_ball_viscometry",
        "Dynamic viscosity (mPa·s) of a liquid electrolyte formulation at a temperature (K), "
        "measured with a rolling-ball viscometer. Not registered in FINALES 2 (its classes "
        "existed, with the viscosity wrongly in g/cm³).",
        electrolytes.ViscosityInput,
        electrolytes.RollingBallViscometryOutput,
    ),
    Capability(
        "radial_distribution_function",
        "molecular_dynamics",
        "Radial distribution functions of the atom pairs of a formulation at a temperature (K), "
        "simulated by molecular dynamics (radii in Å, cell volume in Å³). Registered in "
        "FINALES 2 under the misspelt name radial_density_function / molacular_dynamics.",
        electrolytes.RDFInput,
        electrolytes.RDFOutput,
    ),
    Capability(
        "electrolyte",
        "flow",
        "Formulate a volume (mL) of a liquid electrolyte in a flow setup and report where it "
        "can be picked up.",
        electrolytes.FlowInput,
        electrolytes.FlowOutput,
    ),
    Capability(
        "cell_assembly",
        "autobass_assembly",
        "Assemble a batch of up to 64 coin cells of one battery chemistry with the AutoBASS "
        "robot (electrode areas in cm², electrolyte volume in µL).",
        cells.AssemblyInput,
        cells.AutoBASSOutput,
    ),
    Capability(
        "cycling_channel",
        "service",
        "Reserve channels of a battery cycler; the reservation id is then passed to "
        "capacity / cycling.",
        logistics.CyclingChannelInput,
        logistics.CyclingChannelOutput,
    ),
    Capability(
        "capacity",
        "cycling",
        "Cycle a cell on reserved cycler channels (currents in A, voltages in V, C-rates in "
        "1/h) and report its capacities (Ah) and early-cycle features.",
        cells.CapacityCyclingInput,
        cells.CapacityCyclingOutput,
    ),
    Capability(
        "degradationEOL",
        "degradation_model",
        "Predict the end of life (cycles) and the capacity trajectory (mAh) of a cell from its "
        "chemistry and early-cycle features.",
        cells.DegradationEOLInput,
        cells.DegradationModelOutput,
    ),
    Capability(
        "degradationEOL",
        "degradation_workflow",
        "Predict the end of life (cycles) and the capacity trajectory (mAh) of the cells of a "
        "chemistry by a workflow of assembly, cycling and the degradation model; one "
        "prediction per cell.",
        cells.DegradationEOLInput,
        cells.DegradationWorkflowOutput,
    ),
    Capability(
        "transport",
        "transport_service",
        "Move a physical object (a vial, a cell) from one location to another.",
        logistics.TransportInput,
        logistics.TransportOutput,
    ),
    Capability(
        "archive",
        "deposit",
        "A deposit of the broker's data in an archive (an InvenioRDM record version or an "
        "RO-Crate folder) by the archiver tenant: the record, its version, DOI, files and MD5 "
        "checksums.",
        archive.DepositInput,
        archive.DepositOutput,
    ),
]

_BY_KEY = {cap.key: cap for cap in CAPABILITIES}


def canonical(quantity: str, method: str) -> tuple[str, str]:
    """The pair under which a capability is registered here (applies :data:`RENAMES`)."""
    return RENAMES.get((quantity, method), (quantity, method))


def get(quantity: str, method: str) -> Capability:
    """The built-in capability ``quantity / method`` (old names are not accepted: see
    :func:`canonical`)."""
    try:
        return _BY_KEY[(quantity, method)]
    except KeyError:
        hint = ""
        if (quantity, method) in RENAMES:
            hint = " (renamed to {} / {})".format(*RENAMES[(quantity, method)])
        raise NotFound(f"no built-in capability {quantity}/{method}{hint}") from None


def request_schema(quantity: str, method: str) -> dict[str, Any]:
    """The request-parameter JSON Schema of a built-in capability."""
    return get(quantity, method).request_schema()


def result_schema(quantity: str, method: str) -> dict[str, Any]:
    """The result-data JSON Schema of a built-in capability."""
    return get(quantity, method).result_schema()


def to_finales(cap: Capability) -> dict[str, Any]:
    """Our capability-file format (``finales capability add`` reads it)."""
    return {
        "quantity": cap.quantity,
        "method": cap.method,
        "request_schema": cap.request_schema(),
        "result_schema": cap.result_schema(),
        "description": cap.description,
    }


def to_finales2(cap: Capability) -> dict[str, Any]:
    """The FINALES 2 capability-file format (``serialized_quantities/<q>/<m>.json``)."""
    return {
        "quantity": cap.quantity,
        "method": cap.method,
        "json_schema_specifications": cap.request_schema(),
        "json_schema_result_output": cap.result_schema(),
        "is_active": True,
    }
