"""The optimiser's configuration: a TOML file validated by :class:`OptimizerConfig`.

Example::

    objective = "maximise"
    quantity = "conductivity"
    request_methods = ["two_electrode"]        # methods of each request it posts
    reference_method = "two_electrode"         # the fidelity it optimises (default: the first)
    data = [                                    # quantity/method pairs read as data
      {quantity = "conductivity", method = "two_electrode"},
      {quantity = "conductivity", method = "molecular_dynamics"},
      {quantity = "conductivity", method = "polynomial_interpolation"},
    ]
    temperature = 299.65                        # K, sent with every request
    budget = 30                                 # requests it may post in total
    max_outstanding = 2                         # pending + reserved requests at any time
    patience = 10                               # stop after 10 results without improvement
    seed = 0

The end-of-life campaign (``degradationEOL / degradation_workflow``, one request per electrolyte,
its result one prediction per cell; see docs/optimizer.md)::

    quantity = "degradationEOL"
    request_methods = ["degradation_workflow"]
    request_shape = "battery_chemistry"         # the composition goes into battery_chemistry
    value_field = "end_of_life"                 # per-cell values in the result's list
    transform = "log"                           # the model sees the mean ln(EOL) of the cells
    limits_from = [{quantity = "electrolyte", method = "flow"}]   # who mixes the electrolyte
    batch_size = 3                              # q proposals posted together
    acquisition = "botorch"                     # optional: BoTorch's q-batch (finales[botorch])
    budget = 30
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Acquisition = Literal["kriging-believer", "botorch"]


class Pair(BaseModel):
    """A (quantity, method) pair."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    quantity: str
    method: str


class OptimizerConfig(BaseModel):
    """What the optimiser maximises, what it reads and requests, and when it stops."""

    model_config = ConfigDict(extra="forbid")

    objective: Literal["maximise", "maximize"] = "maximise"
    quantity: str = "conductivity"
    request_methods: list[str] = Field(default_factory=lambda: ["two_electrode"], min_length=1)
    reference_method: str | None = Field(
        None, description="the method whose values are optimised; default: request_methods[0]"
    )
    data: list[Pair] = Field(default_factory=list, description="pairs read as data")
    temperature: float = Field(299.65, gt=0, description="K, sent with each request")
    budget: int = Field(20, ge=1, description="requests posted in total (retracted excluded)")
    max_outstanding: int = Field(
        1, ge=1, description="pending + reserved requests at most (raised to batch_size)"
    )
    batch_size: int = Field(
        1, ge=1, description="q: proposals posted together, chosen knowing the pending ones"
    )
    request_shape: Literal["formulation", "battery_chemistry"] = Field(
        "formulation",
        description="formulation: {formulation, temperature} (a measurement); "
        "battery_chemistry: {battery_chemistry: {electrolyte, ...}, cell_info} (a cell test)",
    )
    battery_chemistry: dict[str, Any] = Field(
        default_factory=dict, description="anode, cathode, ... sent beside the electrolyte"
    )
    value_field: str = Field(
        "values", description="the result's list field, or per-item field of a list of items"
    )
    transform: Literal["none", "log"] = Field(
        "none", description="log: the model and the stopping rule see ln(value)"
    )
    limits_from: list[Pair] | None = Field(
        None,
        description="pairs whose offers bound the compositions (their formulation limits); "
        "default: the requested pairs, whole parameter blocks",
    )
    patience: int | None = Field(
        None, ge=1, description="stop after this many own results without improvement"
    )
    min_improvement: float = Field(0.0, ge=0, description="smaller gains count as none")
    acquisition: Acquisition = Field(
        "kriging-believer",
        description="how a batch is chosen: noise-aware EI one pick after the other under the "
        "kriging believer (scikit-learn), or BoTorch's joint qLogNoisyExpectedImprovement "
        "(the optional extra finales[botorch]; docs/optimizer.md)",
    )
    n_initial: int = Field(3, ge=1, description="random proposals before the model is trusted")
    n_candidates: int = Field(4000, ge=10, description="simplex samples drawn per proposal")
    xi: float = Field(0.01, ge=0, description="EI exploration margin, relative to the data spread")
    seed: int = 0
    poll_s: float = Field(5.0, gt=0, description="wait between steps when nothing can be posted")
    # Connection (optional here: flags or FINALES_SERVER_URL / FINALES_API_KEY also work).
    server: str | None = None
    api_key: str | None = None
    username: str | None = None
    password: str | None = None

    @model_validator(mode="after")
    def _defaults(self) -> OptimizerConfig:
        if self.reference_method is None:
            self.reference_method = self.request_methods[0]
        reference = Pair(quantity=self.quantity, method=self.reference_method)
        if reference not in self.data:
            self.data = [reference, *self.data]
        # A batch is posted at once, so that many requests are outstanding together.
        self.max_outstanding = max(self.max_outstanding, self.batch_size)
        return self

    @field_validator("acquisition")
    @classmethod
    def _installed(cls, value: str) -> str:
        # Said when the configuration is read, not at the first model-based batch.
        if value == "botorch":
            from .botorch_batch import missing

            if (reason := missing()) is not None:
                raise ValueError(f"'botorch' {reason}")
        return value

    @property
    def reference(self) -> Pair:
        return Pair(quantity=self.quantity, method=str(self.reference_method))

    @classmethod
    def from_toml(cls, path: str | Path) -> OptimizerConfig:
        with Path(path).open("rb") as fh:
            raw = tomllib.load(fh)
        return cls.model_validate(raw.get("optimizer", raw))
