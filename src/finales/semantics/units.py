"""Units a person types in a search filter, and how values convert between them.

The values in the graph carry the pint string of their capability field (``"siemens /
meter"``); a filter names its unit as people write it (``S/m``, ``mS/cm``, ``degC``) or as that
pint string. Two units convert when they measure the same kind of quantity; anything else is
refused with a message rather than compared as if it matched. The table covers the units of
the built-in capability library and their everyday neighbours; it is deliberately small
(no pint dependency).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Unit:
    """``value_in_base = value * factor + offset`` for a unit of ``kind``."""

    kind: str
    factor: float
    offset: float = 0.0

    def to_base(self, value: float) -> float:
        return value * self.factor + self.offset

    def from_base(self, value: float) -> float:
        return (value - self.offset) / self.factor


_TABLE: dict[str, tuple[str, float, float]] = {
    # temperature (base: kelvin)
    "kelvin": ("temperature", 1.0, 0.0),
    "K": ("temperature", 1.0, 0.0),
    "degC": ("temperature", 1.0, 273.15),
    "°C": ("temperature", 1.0, 273.15),
    # conductivity (S/m)
    "siemens/meter": ("conductivity", 1.0, 0.0),
    "S/m": ("conductivity", 1.0, 0.0),
    "mS/cm": ("conductivity", 0.1, 0.0),
    "S/cm": ("conductivity", 100.0, 0.0),
    "mS/m": ("conductivity", 1e-3, 0.0),
    # density (kg/m³)
    "gram/centimeter3": ("density", 1000.0, 0.0),
    "g/cm3": ("density", 1000.0, 0.0),
    "g/mL": ("density", 1000.0, 0.0),
    "kg/m3": ("density", 1.0, 0.0),
    "kg/L": ("density", 1000.0, 0.0),
    # dynamic viscosity (Pa·s)
    "millipascalsecond": ("viscosity", 1e-3, 0.0),
    "mPas": ("viscosity", 1e-3, 0.0),
    "cP": ("viscosity", 1e-3, 0.0),
    "Pas": ("viscosity", 1.0, 0.0),
    # ratios (1)
    "mole/mole": ("ratio", 1.0, 0.0),
    "mol/mol": ("ratio", 1.0, 0.0),
    "dimensionless": ("ratio", 1.0, 0.0),
    "1": ("ratio", 1.0, 0.0),
    "%": ("ratio", 0.01, 0.0),
    "mol%": ("ratio", 0.01, 0.0),
    # molar mass (kg/mol)
    "gram/mole": ("molar mass", 1e-3, 0.0),
    "g/mol": ("molar mass", 1e-3, 0.0),
    "kg/mol": ("molar mass", 1.0, 0.0),
    # volume (m³)
    "milliliter": ("volume", 1e-6, 0.0),
    "mL": ("volume", 1e-6, 0.0),
    "microliter": ("volume", 1e-9, 0.0),
    "uL": ("volume", 1e-9, 0.0),
    "L": ("volume", 1e-3, 0.0),
    "angstrom3": ("volume", 1e-30, 0.0),
    "Å3": ("volume", 1e-30, 0.0),
    "nm3": ("volume", 1e-27, 0.0),
    # length (m)
    "angstrom": ("length", 1e-10, 0.0),
    "Å": ("length", 1e-10, 0.0),
    "nm": ("length", 1e-9, 0.0),
    # area (m²)
    "centimeter2": ("area", 1e-4, 0.0),
    "cm2": ("area", 1e-4, 0.0),
    "mm2": ("area", 1e-6, 0.0),
    "m2": ("area", 1.0, 0.0),
    # current (A), voltage (V)
    "ampere": ("current", 1.0, 0.0),
    "A": ("current", 1.0, 0.0),
    "mA": ("current", 1e-3, 0.0),
    "volt": ("voltage", 1.0, 0.0),
    "V": ("voltage", 1.0, 0.0),
    "mV": ("voltage", 1e-3, 0.0),
    # charge (C), areal capacity (C/m²), rate (1/s)
    "ampere_hour": ("charge", 3600.0, 0.0),
    "Ah": ("charge", 3600.0, 0.0),
    "milliampere_hour": ("charge", 3.6, 0.0),
    "mAh": ("charge", 3.6, 0.0),
    "milliampere_hour/centimeter2": ("areal capacity", 3.6e4, 0.0),
    "mAh/cm2": ("areal capacity", 3.6e4, 0.0),
    "1/hour": ("rate", 1 / 3600, 0.0),
    "1/h": ("rate", 1 / 3600, 0.0),
    "1/s": ("rate", 1.0, 0.0),
}

#: Examples for messages: the symbols people type.
KNOWN_SYMBOLS = sorted(k for k in _TABLE if not k.isalpha() or len(k) <= 3)


def _normal(text: str) -> str:
    """``"mPa·s"``, ``"millipascal * second"`` and ``"mPa s"`` alike; ``"g/cm³"`` = ``g/cm3``."""
    out = text.strip().replace("**", "").replace("^", "")
    for a, b in (("³", "3"), ("²", "2"), ("µ", "u"), ("μ", "u"), ("·", ""), ("*", "")):
        out = out.replace(a, b)
    return "".join(out.split())


_BY_NORMAL = {_normal(k): Unit(*v) for k, v in _TABLE.items()}


def unit(text: str) -> Unit | None:
    """The unit ``text`` names (a symbol or a pint string), or None if not in the table."""
    return _BY_NORMAL.get(_normal(text))


def convert(value: float, source: str, target: str) -> float | None:
    """``value`` in unit ``source`` expressed in ``target``; None when either is unknown or
    they measure different kinds of quantity."""
    a, b = unit(source), unit(target)
    if a is None or b is None or a.kind != b.kind:
        return None
    return b.from_base(a.to_base(value))
