"""Battery cells: assembly (``cell_assembly / autobass_assembly``), cycling
(``capacity / cycling``) and lifetime prediction (``degradationEOL / degradation_model`` and
``degradation_workflow``).

Field names are the catalogue's, including its spelling ``repetions_formation_cycle``, so that
FINALES 2 tenants keep working. Corrections: ``batch_volume`` is a number of cells (the
catalogue's unit string said "parsec") and is bounded to 1-64 as its description always said;
the inputs of the degradation model state units where the catalogue was silent
(``input_cycles`` in mAh, like the predicted ``capacity_trajectory``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from .common import (
    BatteryChemistry,
    Cell,
    CellInfo,
    Location,
    MethodMeta,
    Model,
    NonNegative,
    RunInfo,
)
from .electrolytes import META_DESCRIPTION, RUN_INFO_DESCRIPTION
from .semantics import (
    CAPACITY_AH,
    CAPACITY_MAH,
    CHARGING_RATE,
    COULOMBIC_EFFICIENCY,
    COUNT,
    CURRENT,
    CUTOFF_CURRENT,
    CYCLE_COUNT,
    CYCLE_LIFE,
    DISCHARGING_RATE,
    LOG_VARIANCE,
    LOWER_VOLTAGE_LIMIT,
    NOMINAL_CAPACITY,
    TEMPERATURE,
    UPPER_VOLTAGE_LIMIT,
    VOLTAGE,
    Term,
    measured,
)

MAX_BATCH_CELLS = 64
CELL_INFO_DESCRIPTION = "Documentation of the cell, as provided by the assembly (AutoBASS)."


def _optional(term: Term, description: str, **kw: float) -> Any:  # Any, as Field() returns
    return measured(term, description, None, **kw)


# ------------------------------------------------------------------------------ assembly


class AssemblyInput(Model):
    """Parameters of ``cell_assembly / autobass_assembly``."""

    cell: Cell = Field(description="The cell to build, with its battery chemistry.")
    cell_info: CellInfo = Field(
        description="Documentation of the cell; needed mainly for the id of the electrolyte."
    )
    batch_volume: int | None = _optional(
        COUNT,
        f"The number of cells of this chemistry to build in one batch (1 to {MAX_BATCH_CELLS}).",
        ge=1,
        le=MAX_BATCH_CELLS,
    )


class AssemblyOutput(Model):
    """One assembled cell."""

    cell_info: CellInfo = Field(description="Documentation of the assembled cell.")
    cell: Cell = Field(description="The cell that was assembled.")
    manufacturing_img: str = Field(
        description="Where the images taken during manufacturing can be found (they are too "
        "large to travel through the broker)."
    )
    meta: MethodMeta = Field(description=META_DESCRIPTION)
    temperature: float | None = _optional(TEMPERATURE, "The temperature of assembly.", gt=0)
    sealing_time: str | None = Field(None, description="When the cell was sealed (date-time).")


class AutoBASSOutput(Model):
    """Result data of ``cell_assembly / autobass_assembly``: one entry per cell of the batch."""

    batch_output: list[AssemblyOutput] = Field(description="One entry per assembled cell.")
    batch_id: str = Field(description="An identifier of this batch of cells.")


# ------------------------------------------------------------------------------ cycling


class CapacityCyclingInput(Model):
    """Parameters of ``capacity / cycling``."""

    cycling_protocol: str = Field(
        description="The name of a standardised test protocol, e.g. BIG-MAP-Standard."
    )
    number_cycles: int = measured(CYCLE_COUNT, "The number of cycles to run after formation.", ge=1)
    cell_info: CellInfo = Field(description=CELL_INFO_DESCRIPTION)
    location: Location = Field(description="Where the cycler is.")
    reservation_number: str = Field(
        description="The 'reservation_id' returned by 'cycling_channel / service'."
    )
    I_max: float | None = _optional(CURRENT, "The maximum current.", gt=0)
    V_max: float | None = _optional(UPPER_VOLTAGE_LIMIT, "The maximum voltage.")
    V_min: float | None = _optional(LOWER_VOLTAGE_LIMIT, "The minimum voltage.")
    capacity: float | None = _optional(
        NOMINAL_CAPACITY, "The theoretical or experimental capacity of the cell.", gt=0
    )
    c_rate_charge_formation: float | None = _optional(
        CHARGING_RATE, "The C-rate of charging during formation.", gt=0
    )
    c_rate_discharge_formation: float | None = _optional(
        DISCHARGING_RATE, "The C-rate of discharging during formation.", gt=0
    )
    CV_I_cutoff_formation: float | None = _optional(
        CUTOFF_CURRENT, "The cut-off current of the constant-voltage step of formation.", gt=0
    )
    repetions_formation_cycle: int | None = _optional(
        CYCLE_COUNT, "The number of formation cycles (the field name is the catalogue's).", ge=0
    )
    cycling_V_max: float | None = _optional(
        UPPER_VOLTAGE_LIMIT, "The maximum voltage of the cell during cycling."
    )
    cycling_V_min: float | None = _optional(
        LOWER_VOLTAGE_LIMIT, "The minimum voltage of the cell during cycling."
    )
    c_rate_charge: float | None = _optional(CHARGING_RATE, "The C-rate of charging.", gt=0)
    c_rate_discharge: float | None = _optional(DISCHARGING_RATE, "The C-rate of discharging.", gt=0)
    CV_I_cutoff: float | None = _optional(
        CUTOFF_CURRENT, "The cut-off current of the constant-voltage step.", gt=0
    )


EARLY_CYCLE_NOTE = "Between cycle x and cycle 10, as in the input of the degradation model."


class EarlyCycleFeatures(Model):
    """Features of the early cycles that predict a cell's lifetime."""

    delta_coulombic_efficiency: float | None = _optional(
        COULOMBIC_EFFICIENCY, f"The difference in coulombic efficiency. {EARLY_CYCLE_NOTE}"
    )
    voltage_gap_charge_discharge: float | None = _optional(
        VOLTAGE,
        f"The difference of the voltage gap between charge and discharge. {EARLY_CYCLE_NOTE}",
    )
    capacity_vector_variance: float | None = _optional(
        LOG_VARIANCE,
        "The logarithm of the variance of the difference between the Q(V) curves (it may be "
        f"negative). {EARLY_CYCLE_NOTE}",
    )


class CapacityCyclingOutput(EarlyCycleFeatures):
    """Result data of ``capacity / cycling``."""

    capacity_list: list[NonNegative] = measured(
        CAPACITY_AH, "The capacities measured, alternately for charge and discharge."
    )
    channel_list: list[Annotated[int, Field(ge=0)]] = Field(description="The cycler channels used.")
    cell_info: CellInfo = Field(description=CELL_INFO_DESCRIPTION)


# ------------------------------------------------------------------------------ degradation


class DegradationEOLInput(EarlyCycleFeatures):
    """Parameters of ``degradationEOL / degradation_model`` and ``degradation_workflow``."""

    battery_chemistry: BatteryChemistry = Field(description="The chemistry of the cell.")
    input_cycles: list[NonNegative] | None = _optional(
        CAPACITY_MAH, "The capacities of the cycles given to the model as input."
    )
    average_charging_rate: float | None = _optional(
        CHARGING_RATE, "The average C-rate of charging in the input cycles.", ge=0
    )
    maximum_charging_rate: float | None = _optional(
        CHARGING_RATE, "The maximum C-rate of charging in the input cycles.", ge=0
    )
    minimum_charging_rate: float | None = _optional(
        CHARGING_RATE, "The minimum C-rate of charging in the input cycles.", ge=0
    )
    cell_info: CellInfo = Field(description=CELL_INFO_DESCRIPTION)


class DegradationEOLOutput(Model):
    """The predicted end of life and capacity trajectory of one cell."""

    end_of_life: int = measured(
        CYCLE_LIFE, "The predicted end of life of the cell, in cycles.", ge=0
    )
    end_of_life_uncertainty: float = measured(
        CYCLE_LIFE, "The uncertainty of the predicted end of life.", ge=0
    )
    capacity_trajectory: list[NonNegative] = measured(
        CAPACITY_MAH, "The predicted capacity of the coming cycles."
    )
    capacity_trajectory_uncertainty: list[NonNegative] = measured(
        CAPACITY_MAH, "The uncertainty of each point of the predicted capacity trajectory."
    )
    meta: MethodMeta = Field(description=META_DESCRIPTION)
    cell_info: CellInfo = Field(description=CELL_INFO_DESCRIPTION)


class DegradationModelOutput(Model):
    """Result data of ``degradationEOL / degradation_model``."""

    run_info: RunInfo = Field(description=RUN_INFO_DESCRIPTION)
    degradationEOL: DegradationEOLOutput = Field(
        description="The end of life and the capacity trajectory, with uncertainties."
    )


class DegradationWorkflowOutput(Model):
    """Result data of ``degradationEOL / degradation_workflow``: one prediction per cell."""

    run_info: RunInfo = Field(description=RUN_INFO_DESCRIPTION)
    degradationEOL: list[DegradationEOLOutput] = Field(
        description="One end-of-life prediction per cell."
    )
