"""Services of the laboratory: reserving cycler channels (``cycling_channel / service``) and
moving samples (``transport / transport_service``)."""

from __future__ import annotations

from pydantic import Field, StrictBool

from .common import Location, Model
from .semantics import COUNT, CYCLE_COUNT, measured


class CyclingChannelInput(Model):
    """Parameters of ``cycling_channel / service``: reserve channels of a cycler."""

    number_required_channels: int = measured(
        COUNT, "The number of cycler channels the cycling experiment needs.", ge=1
    )
    cycling_protocol: str | None = Field(
        None, description="The protocol the cycling experiment will use."
    )
    number_cycles: int | None = measured(
        CYCLE_COUNT, "The number of cycles planned for the cycling experiment.", None, ge=1
    )


class CyclingChannelOutput(Model):
    """Result data of ``cycling_channel / service``."""

    success: StrictBool = Field(
        description="Whether the channels were reserved (false when too few are free)."
    )
    reservation_id: str | None = Field(
        None,
        description="The id of the reservation, only when it succeeded. The requester passes "
        "it as 'reservation_number' to 'capacity / cycling'.",
    )


class TransportInput(Model):
    """Parameters of ``transport / transport_service``: move a physical object."""

    origin: Location = Field(description="Where the object is to be picked up.")
    destination: Location = Field(description="Where the object is needed.")


class TransportOutput(Model):
    """Result data of ``transport / transport_service``."""

    success: StrictBool = Field(description="Whether the transport succeeded.")
    actual_new_location: Location = Field(description="Where the object is now.")
    executant: str = Field(description="The person or device that did the transport.")
