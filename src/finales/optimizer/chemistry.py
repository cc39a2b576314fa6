"""Compositions: EC / EMC / LiPF6 mole fractions, request parameters and simplex sampling."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from finales.capabilities.examples import EC, EMC, LIPF6
from finales.domain.limitations import matches

Array = np.ndarray
COMPONENTS = {"EC": EC, "EMC": EMC, "LiPF6": LIPF6}
KEY_TO_NAME = {chem["InChIKey"]: name for name, chem in COMPONENTS.items()}
DIGITS = 5  # fractions are sent rounded; the model sees what was sent (or reported)
T_REF_K, T_SCALE_K = 298.15, 50.0
LI_SCALE = 4.0  # x_LiPF6 spans ~0-0.15, x_EC ~0-0.6: put both on a similar scale for the kernel


def parameters(x_ec: float, x_li: float, temperature: float) -> dict[str, Any]:
    """The parameter block of a conductivity request; the fractions sum to exactly 1."""
    x_ec, x_li = round(x_ec, DIGITS), round(x_li, DIGITS)
    x_emc = round(1.0 - x_ec - x_li, DIGITS)
    parts = [(LIPF6, x_li), (EC, x_ec), (EMC, x_emc)]
    formulation = [
        {"chemical": dict(chem), "fraction": frac, "fraction_type": "molPerMol"}
        for chem, frac in parts
    ]
    return {"formulation": formulation, "temperature": temperature}


def cell_parameters(x_ec: float, x_li: float, extra: dict[str, Any]) -> dict[str, Any]:
    """The parameter block of a cell test (``degradationEOL / degradation_workflow``): the
    electrolyte inside ``battery_chemistry`` beside ``extra`` (electrodes), no cell yet."""
    electrolyte = parameters(x_ec, x_li, T_REF_K)["formulation"]
    return {"battery_chemistry": {**extra, "electrolyte": electrolyte}, "cell_info": {}}


def formulation_of(block: Any) -> list[dict[str, Any]] | None:
    """The formulation in a parameter block of any shape the optimiser sends or reads:
    ``formulation``, ``battery_chemistry.electrolyte`` or ``electrolyte.formulation``."""
    if not isinstance(block, dict):
        return None
    for path in (
        ("formulation",),
        ("battery_chemistry", "electrolyte"),
        ("electrolyte", "formulation"),
    ):
        node: Any = block
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, list):
            return node
    return None


def formulation_limits(limitations: Any) -> list[dict[str, Any]]:
    """The formulation limits found anywhere in an offer's limitations, each as
    ``{"formulation": ...}`` so that :func:`candidates` can match them: the robot that mixes
    an electrolyte bounds the compositions of a request that only names it deep inside."""
    found: list[dict[str, Any]] = []
    if isinstance(limitations, list):
        for alternative in limitations:
            found.extend(formulation_limits(alternative))
    elif isinstance(limitations, dict):
        if "formulation" in limitations:
            found.append({"formulation": limitations["formulation"]})
        else:
            for value in limitations.values():
                found.extend(formulation_limits(value))
    return found


def fractions(formulation: list[dict[str, Any]]) -> dict[str, float] | None:
    """EC/EMC/LiPF6 mole fractions of a formulation, renormalised; None for other chemicals."""
    out = dict.fromkeys(COMPONENTS, 0.0)
    for comp in formulation:
        name = KEY_TO_NAME.get(comp.get("chemical", {}).get("InChIKey", ""))
        if name is None or comp.get("fraction_type", "molPerMol") != "molPerMol":
            return None
        out[name] += float(comp["fraction"])
    total = sum(out.values())
    if total <= 0:
        return None
    return {k: v / total for k, v in out.items()}


def features(x_ec: ArrayLike, x_li: ArrayLike, temperature: ArrayLike) -> Array:
    """Model inputs: the two free mole fractions (x_LiPF6 stretched) and a scaled temperature."""
    t = (np.asarray(temperature, dtype=float) - T_REF_K) / T_SCALE_K
    li = LI_SCALE * np.asarray(x_li, dtype=float)
    return np.column_stack([x_ec, li, np.broadcast_to(t, np.shape(x_ec))])


def sample_simplex(rng: np.random.Generator, n: int) -> Array:
    """``n`` points uniform on the simplex x_EC + x_EMC + x_LiPF6 = 1 (columns in that order)."""
    return rng.dirichlet(np.ones(3), size=n)


def candidates(
    rng: np.random.Generator,
    *,
    n: int,
    temperature: float,
    limitations: list[Any],
    max_rounds: int = 20,
) -> list[tuple[float, float]]:
    """Up to ``n`` (x_EC, x_LiPF6) pairs, uniform on the simplex, whose request parameters fall
    inside at least one of ``limitations`` (those of the offers serving what we request)."""
    kept: list[tuple[float, float]] = []
    for _ in range(max_rounds):
        for x_ec, _x_emc, x_li in sample_simplex(rng, n):
            params = parameters(x_ec, x_li, temperature)
            if any(matches(params, lim) for lim in limitations):
                li, ec = (c["fraction"] for c in params["formulation"][:2])
                kept.append((ec, li))
        if len(kept) >= n // 4:
            break
    return kept[:n]
