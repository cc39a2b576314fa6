"""Composition bookkeeping for EC / EMC / LiPF6 electrolytes.

Requests give amount (mole) fractions; the physical models want the salt molality
(mol per kg of solvent), the molarity (mol/L of solution) and the EC mass fraction of the
solvent. Molar masses, InChIKeys and the conversions are those of
``shared/design/lab-science.md`` ("Chemistry bookkeeping").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

M_EC_G_PER_MOL = 88.06
M_EMC_G_PER_MOL = 104.10
M_LIPF6_G_PER_MOL = 151.91

EC_KEY = "KMTRUDSVKNLOMY-UHFFFAOYSA-N"
EMC_KEY = "JBTWLSYIZRCDFO-UHFFFAOYSA-N"
LIPF6_KEY = "AXPLOJNSKRXQPA-UHFFFAOYSA-N"
SMILES = {
    EC_KEY: "C1COC(=O)O1",
    EMC_KEY: "CCOC(=O)OC",
    LIPF6_KEY: "[Li+].F[P-](F)(F)(F)(F)F",
}
NAMES = {EC_KEY: "EC", EMC_KEY: "EMC", LIPF6_KEY: "LiPF6"}
MOLAR_MASSES = {EC_KEY: M_EC_G_PER_MOL, EMC_KEY: M_EMC_G_PER_MOL, LIPF6_KEY: M_LIPF6_G_PER_MOL}


class UnknownChemical(ValueError):
    """A formulation names a chemical other than EC, EMC or LiPF6."""


@dataclass(frozen=True)
class Composition:
    """Amount fractions of EC, EMC and LiPF6 (normalised to sum to 1 on construction
    through :meth:`of`; the plain constructor keeps what it is given)."""

    x_ec: float
    x_emc: float
    x_lipf6: float

    @classmethod
    def of(cls, x_ec: float, x_emc: float, x_lipf6: float) -> Composition:
        """Normalised composition; negative fractions are refused."""
        if min(x_ec, x_emc, x_lipf6) < 0:
            raise ValueError("amount fractions cannot be negative")
        total = x_ec + x_emc + x_lipf6
        if total <= 0:
            raise ValueError("a composition needs at least one component")
        return cls(x_ec / total, x_emc / total, x_lipf6 / total)

    # ------------------------------------------------------------------ derived

    @property
    def solvent_mass_g(self) -> float:
        """Mass of solvent per mole of mixture (g)."""
        return self.x_ec * M_EC_G_PER_MOL + self.x_emc * M_EMC_G_PER_MOL

    @property
    def molality(self) -> float:
        """Salt molality m (mol LiPF6 per kg of solvent): 1000·x_Li / (x_EC·M_EC + x_EMC·M_EMC)."""
        if self.solvent_mass_g <= 0:
            raise ValueError("no solvent: the molality is undefined")
        return 1000.0 * self.x_lipf6 / self.solvent_mass_g

    @property
    def w_ec(self) -> float:
        """EC mass fraction of the solvent, w_EC = x_EC·M_EC / (x_EC·M_EC + x_EMC·M_EMC)."""
        if self.solvent_mass_g <= 0:
            raise ValueError("no solvent: the EC fraction is undefined")
        return self.x_ec * M_EC_G_PER_MOL / self.solvent_mass_g

    @property
    def ec_emc_ratio(self) -> tuple[float, float]:
        """The EC:EMC mass ratio as (w_EC, 1 - w_EC), e.g. (0.3, 0.7) for "3:7"."""
        return self.w_ec, 1.0 - self.w_ec

    def molarity(self, density_g_per_ml: float) -> float:
        """Molarity c (mol/L) = m·rho / (1 + m·M_LiPF6/1000), rho in g/mL."""
        m = self.molality
        return m * density_g_per_ml / (1.0 + m * M_LIPF6_G_PER_MOL / 1000.0)

    def mass_fractions(self) -> dict[str, float]:
        """Mass fractions of the whole mixture, keyed EC, EMC, LiPF6."""
        masses = {
            "EC": self.x_ec * M_EC_G_PER_MOL,
            "EMC": self.x_emc * M_EMC_G_PER_MOL,
            "LiPF6": self.x_lipf6 * M_LIPF6_G_PER_MOL,
        }
        total = sum(masses.values())
        return {k: v / total for k, v in masses.items()}

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_molality(cls, molality: float, w_ec: float) -> Composition:
        """``molality`` mol/kg LiPF6 in a solvent of EC mass fraction ``w_ec``."""
        if molality < 0 or not 0 <= w_ec <= 1:
            raise ValueError("need molality >= 0 and 0 <= w_ec <= 1")
        n_ec = 1000.0 * w_ec / M_EC_G_PER_MOL  # per kg of solvent
        n_emc = 1000.0 * (1.0 - w_ec) / M_EMC_G_PER_MOL
        return cls.of(n_ec, n_emc, molality)

    # ------------------------------------------------------------------ FINALES formulations

    @classmethod
    def from_formulation(cls, formulation: Iterable[Mapping[str, Any]]) -> Composition:
        """Read a FINALES formulation (components with ``chemical.InChIKey`` and ``fraction``);
        components may come in any order or be missing; other chemicals are refused."""
        x = {EC_KEY: 0.0, EMC_KEY: 0.0, LIPF6_KEY: 0.0}
        for component in formulation:
            key = component["chemical"]["InChIKey"]
            if key not in x:
                raise UnknownChemical(f"cannot handle chemical {key}: only EC, EMC and LiPF6")
            x[key] += float(component["fraction"])
        return cls.of(x[EC_KEY], x[EMC_KEY], x[LIPF6_KEY])

    def to_formulation(self) -> list[dict[str, Any]]:
        """This composition as a FINALES formulation (amount fractions, LiPF6 first)."""
        parts = ((LIPF6_KEY, self.x_lipf6), (EC_KEY, self.x_ec), (EMC_KEY, self.x_emc))
        return [
            {
                "chemical": {"SMILES": SMILES[key], "InChIKey": key},
                "fraction": round(fraction, 6),
                "fraction_type": "molPerMol",
            }
            for key, fraction in parts
        ]


def chemicals_info() -> dict[str, dict[str, Any]]:
    """The ``run_info.chemicals_info`` block: names and molar masses (g/mol)."""
    return {
        key: {"name": NAMES[key], "molar_mass": [MOLAR_MASSES[key], 0.01]} for key in MOLAR_MASSES
    }
