"""Ground-truth physics of EC / EMC / LiPF6 electrolytes.

Every model names its source; where a form or a constant is ours, the docstring says so.
Units: c in mol/L, m in mol/kg of solvent, T in K, κ in mS/cm unless a name says S/m,
rho in g/mL (= g/cm³), η in mPa·s. Numbers from ``shared/design/lab-science.md``.
"""

from __future__ import annotations

import itertools
import math

from finales.lab.composition import M_LIPF6_G_PER_MOL, Composition

MS_PER_CM_IN_S_PER_M = 0.1  # 1 mS/cm = 0.1 S/m

# Landesfeind & Gasteiger, J. Electrochem. Soc. 166 (2019) A3079, as in PyBaMM's parameter sets.
LG_EC_EMC_3_7 = (0.521, 228.0, -1.06, 0.353, -3.59e-3, 1.48e-3)
LG_EC_DMC_1_1 = (0.798, 228.0, -1.22, 0.509, -4.00e-3, 3.79e-3)
LG_EMC_FEC_19_1 = (0.0251, 175.0, 1.23, 0.205, -8.81e-2, 2.83e-3)


def landesfeind_gasteiger(
    c: float, temperature_k: float, p: tuple[float, ...] = LG_EC_EMC_3_7
) -> float:
    """Conductivity κ (mS/cm) of LiPF6 at molarity ``c`` (mol/L) and ``temperature_k``.

    Source: Landesfeind & Gasteiger, J. Electrochem. Soc. 166 (2019) A3079, eq. and
    coefficients of their Table (EC:EMC 3:7 w/w by default; the coefficients are those of
    PyBaMM's ``electrolyte_conductivity_Landesfeind2019``):
    κ = p1·(1 + (T - p2))·c·(1 + p3·√c + p4·(1 + p5·e^{1000/T})·c) / (1 + p6·c⁴·e^{1000/T}).
    Check values: 9.1 mS/cm at 1 M, 25 °C; 11.4 at 40 °C.
    """
    if c < 0:
        raise ValueError("the concentration cannot be negative")
    p1, p2, p3, p4, p5, p6 = p
    e = math.exp(1000.0 / temperature_k)
    numerator = (
        p1 * (1.0 + (temperature_k - p2)) * c * (1.0 + p3 * math.sqrt(c) + p4 * (1.0 + p5 * e) * c)
    )
    return max(0.0, numerator / (1.0 + p6 * c**4 * e))


def ec_factor(w_ec: float) -> float:
    """The EC factor h(w_EC) that scales the EC:EMC 3:7 conductivity to other EC fractions.

    Our modelling choice (lab-science.md), not a published fit:
    h(w) = [1 - 0.45·e^{-w/0.12}]·[1 - 0.6·(w - 0.35)²] / 0.9616. h(0) ≈ 0.53 (close to the
    EC-free EMC:FEC blend of Landesfeind & Gasteiger), h(0.3) = 1, flat maximum near w ≈ 0.4.
    """
    return (1.0 - 0.45 * math.exp(-w_ec / 0.12)) * (1.0 - 0.6 * (w_ec - 0.35) ** 2) / 0.9616


def nyman_conductivity_s_per_m(c: float) -> float:
    """Cross-check: Nyman et al., Electrochim. Acta 53 (2008) 6356, LiPF6 in EC:EMC 3:7 at
    25 °C: κ [S/m] = 0.1297·c³ - 2.51·c^1.5 + 3.329·c."""
    return 0.1297 * c**3 - 2.51 * math.pow(c, 1.5) + 3.329 * c


# ------------------------------------------------------------------------------ density

DENSITY_REFERENCE_K = 299.85  # 26.7 °C, the temperature of the stock-solution fit
DENSITY_DT_G_PER_ML_K = -1.1e-3


def solvent_density(w_ec: float, temperature_k: float = DENSITY_REFERENCE_K) -> float:
    """Density (g/mL) of an EC/EMC blend: 1/rho = w_EC/1.37 + (1 - w_EC)/1.005 at 26.7 °C,
    drho/dT ≈ -1.1e-3 g/mL/K. Ideal mixing of volumes fitted to the commercial stocks
    (lab-science.md; EC 1.37 extrapolated liquid, EMC 1.005 g/mL)."""
    rho = 1.0 / (w_ec / 1.37 + (1.0 - w_ec) / 1.005)
    return rho + DENSITY_DT_G_PER_ML_K * (temperature_k - DENSITY_REFERENCE_K)


def density_from_molality(
    molality: float, w_ec: float, temperature_k: float = DENSITY_REFERENCE_K
) -> float:
    """Density (g/mL) of ``molality`` mol/kg LiPF6 in EC/EMC of EC mass fraction ``w_ec``.

    Apparent molar volume of the salt φ_V ≈ 47 + 20·w_EC mL/mol;
    rho = (1000 + m·151.91) / (1000/rho_solv + m·φ_V), then drho/dT ≈ -1.1e-3 g/mL/K. Fitted to
    four commercial stock solutions within 0.3 % (lab-science.md: 1.5 M LiPF6 in EC:EMC 1:1
    1.288, 1.5 M in EMC 1.162, EC:EMC 1:1 1.159, EMC 1.005 g/mL).
    """
    rho_solv = solvent_density(w_ec)
    phi_v = 47.0 + 20.0 * w_ec
    rho = (1000.0 + molality * M_LIPF6_G_PER_MOL) / (1000.0 / rho_solv + molality * phi_v)
    return rho + DENSITY_DT_G_PER_ML_K * (temperature_k - DENSITY_REFERENCE_K)


def density(composition: Composition, temperature_k: float = DENSITY_REFERENCE_K) -> float:
    """Density (g/mL) of a composition (see :func:`density_from_molality`)."""
    return density_from_molality(composition.molality, composition.w_ec, temperature_k)


def molarity(composition: Composition, temperature_k: float = 298.15) -> float:
    """Molarity (mol/L) of a composition, using its modelled density at ``temperature_k``."""
    return composition.molarity(density(composition, temperature_k))


def molality_from_molarity(
    c: float, w_ec: float, temperature_k: float = DENSITY_REFERENCE_K
) -> float:
    """Invert c = m·rho(m) / (1 + m·M/1000) for m (bisection; c is increasing in m)."""
    if c <= 0:
        return 0.0
    low, high = 0.0, 10.0
    for _ in range(80):
        mid = (low + high) / 2
        rho = density_from_molality(mid, w_ec, temperature_k)
        if mid * rho / (1.0 + mid * M_LIPF6_G_PER_MOL / 1000.0) < c:
            low = mid
        else:
            high = mid
    return (low + high) / 2


# ------------------------------------------------------------------------------ conductivity


def conductivity(composition: Composition, temperature_k: float) -> float:
    """Ground-truth conductivity (S/m): κ_3:7(c, T)·h(w_EC) (Landesfeind & Gasteiger with our
    EC factor), c from the modelled density at ``temperature_k``."""
    if composition.x_lipf6 == 0:
        return 0.0
    c = molarity(composition, temperature_k)
    kappa = landesfeind_gasteiger(c, temperature_k) * ec_factor(composition.w_ec)
    return kappa * MS_PER_CM_IN_S_PER_M


# ------------------------------------------------------------------------------ viscosity

ETA_EC_MPA_S = 1.9  # 25 °C (supercooled liquid; lab-science.md)
ETA_EMC_MPA_S = 0.65
VISCOSITY_EA_J_PER_MOL = 15_000.0  # ours: a typical activation energy of carbonate blends
SALT_B_L_PER_MOL = 1.0  # ours: with D, 1 M in EC:EMC 3:7 is 3.25 mPa·s at 25 °C
SALT_D_L2_PER_MOL2 = 0.25
GAS_CONSTANT = 8.314


def viscosity(composition: Composition, temperature_k: float) -> float:
    """Dynamic viscosity (mPa·s). An *estimated* form, not a published fit (lab-science.md):
    Grunberg-Nissan mixing of the solvents, ln η_solv = x_EC' ln η_EC + x_EMC' ln η_EMC (x'
    salt-free mole fractions, η_EC 1.9, η_EMC 0.65 mPa·s at 25 °C), Arrhenius in T with an
    activation energy of 15 kJ/mol (ours), and a salt factor exp(B·c + D·c²) with B = 1.0 L/mol
    and D = 0.25 L²/mol² (ours), tuned so that 1 M LiPF6 in EC:EMC 3:7 is 3.25 mPa·s at 25 °C.
    """
    solvent = composition.x_ec + composition.x_emc
    x_ec = composition.x_ec / solvent
    ln_eta = x_ec * math.log(ETA_EC_MPA_S) + (1 - x_ec) * math.log(ETA_EMC_MPA_S)
    ln_eta += VISCOSITY_EA_J_PER_MOL / GAS_CONSTANT * (1 / temperature_k - 1 / 298.15)
    c = molarity(composition, temperature_k)
    return math.exp(ln_eta + SALT_B_L_PER_MOL * c + SALT_D_L2_PER_MOL2 * c * c)


# ------------------------------------------------------------------------------ low fidelity

# Rahmanian et al., Batteries & Supercaps (2022), doi 10.1002/batt.202200228.
RAHMANIAN_ROWS: tuple[tuple[float, tuple[float, ...]], ...] = (
    (243.0, (1.0, -0.3, 5.6, 0.9, -2.3, -9.7, -0.6, 1.4, 0.6, 4.0)),
    (263.0, (1.4, 1.0, 12.1, 0.1, -3.9, -17.1, -0.3, 2.4, 0.9, 6.1)),
    (283.0, (1.5, 1.2, 20.4, -0.9, -5.9, -26.1, -0.4, 4.2, 0.7, 8.8)),
    (293.0, (1.6, 1.7, 25.0, -1.4, -6.8, -31.0, -0.3, 5.1, 0.5, 10.5)),
    (303.0, (1.6, 2.7, 29.7, -3.2, -6.9, -35.8, 0.4, 5.6, 0.0, 12.2)),
    (313.0, (1.6, 3.0, 35.1, -3.2, -7.3, -41.9, 1.0, 6.2, -0.6, 14.6)),
    (333.0, (1.6, 3.0, 47.4, -2.5, -6.9, -57.2, -0.7, 6.6, -1.8, 21.1)),
)
RAHMANIAN_A_RANGE = (0.1, 1.0)
RAHMANIAN_B_RANGE = (0.1, 1.1)


def rahmanian_coefficients(temperature_k: float) -> tuple[float, ...]:
    """The ten coefficients at ``temperature_k``, linear in T between the published rows
    (clamped to 243-333 K)."""
    rows = RAHMANIAN_ROWS
    t = min(max(temperature_k, rows[0][0]), rows[-1][0])
    for (t0, c0), (t1, c1) in itertools.pairwise(rows):
        if t <= t1:
            f = (t - t0) / (t1 - t0)
            return tuple(a + f * (b - a) for a, b in zip(c0, c1, strict=True))
    return rows[-1][1]  # pragma: no cover - t is clamped


def rahmanian_polynomial(a: float, b: float, temperature_k: float) -> float:
    """κ (mS/cm) = c0 + c1·a + c2·b + c3·a² + c4·a·b + c5·b² + c6·a³ + c7·a²·b + c8·a·b² + c9·b³.

    Rahmanian et al., Batteries & Supercaps (2022), doi 10.1002/batt.202200228; a = PC/(EC+PC),
    b = LiPF6/(EC+PC) (mass ratios), valid for a ∈ [0.1, 1], b ∈ [0.1, 1.1].
    """
    c = rahmanian_coefficients(temperature_k)
    terms = (1, a, b, a * a, a * b, b * b, a**3, a * a * b, a * b * b, b**3)
    return sum(ci * ti for ci, ti in zip(c, terms, strict=True))


def low_fidelity_conductivity(composition: Composition, temperature_k: float) -> float:
    """The low-fidelity model's conductivity (S/m): the Rahmanian polynomial applied to EC/EMC.

    The mapping is ours: EMC takes the place of PC, a = EMC/(EC+EMC) and b = LiPF6/(EC+EMC)
    by mass, each clamped into the fit's validity range; negative values are cut at 0. The
    polynomial was fitted on another solvent system, so it is biased here — its role.
    """
    mass = composition.mass_fractions()
    solvent = mass["EC"] + mass["EMC"]
    a = min(max(mass["EMC"] / solvent, RAHMANIAN_A_RANGE[0]), RAHMANIAN_A_RANGE[1])
    b = min(max(mass["LiPF6"] / solvent, RAHMANIAN_B_RANGE[0]), RAHMANIAN_B_RANGE[1])
    return max(0.0, rahmanian_polynomial(a, b, temperature_k)) * MS_PER_CM_IN_S_PER_M
