"""The simulated laboratory's physics against the published check values of lab-science.md."""

from __future__ import annotations

import math

import pytest

from finales.lab import physics, stocks
from finales.lab.composition import (
    EC_KEY,
    EMC_KEY,
    LIPF6_KEY,
    Composition,
    UnknownChemical,
)
from finales.lab.molecular_dynamics import bias

T25 = 298.15
T40 = 313.15
ASAB_K = 299.65


def at_molarity(c: float, w_ec: float = 0.3, temperature_k: float = T25) -> Composition:
    return Composition.from_molality(physics.molality_from_molarity(c, w_ec, temperature_k), w_ec)


# ------------------------------------------------------------------------------ bookkeeping


def test_molality_and_ec_fraction_follow_the_definitions() -> None:
    comp = Composition.of(0.3061, 0.6041, 0.0898)  # the capability library's 1 mol/kg example
    assert comp.molality == pytest.approx(1.0, rel=0.01)
    assert comp.w_ec == pytest.approx(0.3, abs=0.005)
    assert comp.ec_emc_ratio == pytest.approx((0.3, 0.7), abs=0.005)


def test_from_molality_round_trips() -> None:
    comp = Composition.from_molality(1.2, 0.4)
    assert comp.molality == pytest.approx(1.2)
    assert comp.w_ec == pytest.approx(0.4)
    assert comp.x_ec + comp.x_emc + comp.x_lipf6 == pytest.approx(1.0)


def test_x_li_012_is_about_1_4_molal_and_1_5_molar() -> None:
    comp = Composition.of(0.3, 0.58, 0.12)
    assert comp.molality == pytest.approx(1.4, abs=0.1)
    assert physics.molarity(comp, T25) == pytest.approx(1.5, abs=0.12)


def test_molarity_uses_the_density() -> None:
    comp = Composition.from_molality(1.0, 0.3)
    rho = physics.density(comp, T25)
    assert comp.molarity(rho) == pytest.approx(1.0 * rho / (1 + 0.15191))
    assert physics.molality_from_molarity(physics.molarity(comp, T25), 0.3, T25) == pytest.approx(
        1.0, rel=1e-6
    )


def test_formulations_are_read_in_any_order_and_written_back() -> None:
    formulation = [
        {"chemical": {"InChIKey": EMC_KEY}, "fraction": 0.6, "fraction_type": "molPerMol"},
        {"chemical": {"InChIKey": LIPF6_KEY}, "fraction": 0.1, "fraction_type": "molPerMol"},
        {"chemical": {"InChIKey": EC_KEY}, "fraction": 0.3, "fraction_type": "molPerMol"},
    ]
    comp = Composition.from_formulation(formulation)
    assert (comp.x_ec, comp.x_emc, comp.x_lipf6) == pytest.approx((0.3, 0.6, 0.1))
    back = Composition.from_formulation(comp.to_formulation())
    assert back.x_lipf6 == pytest.approx(0.1, abs=1e-6)
    with pytest.raises(UnknownChemical):
        Composition.from_formulation(
            [{"chemical": {"InChIKey": "IEJIGPNLZYLLBP-UHFFFAOYSA-N"}, "fraction": 1.0}]
        )


# ------------------------------------------------------------------------------ conductivity


def test_landesfeind_gasteiger_check_values() -> None:
    assert physics.landesfeind_gasteiger(1.0, T25) == pytest.approx(9.1, rel=0.02)
    assert physics.landesfeind_gasteiger(1.0, T40) == pytest.approx(11.4, rel=0.02)


def test_conductivity_of_1_molar_ec_emc_3_7_is_0_91_s_per_m() -> None:
    assert physics.conductivity(at_molarity(1.0), T25) == pytest.approx(0.91, rel=0.02)


def test_conductivity_maximum_near_1_molar_at_25_c() -> None:
    grid = [0.05 * i for i in range(1, 50)]
    best = max(grid, key=lambda c: physics.landesfeind_gasteiger(c, T25))
    assert 0.85 <= best <= 1.2


def test_conductivity_rises_then_falls_with_concentration_and_rises_with_temperature() -> None:
    rising = [physics.landesfeind_gasteiger(c, T25) for c in (0.1, 0.3, 0.5, 0.7, 0.9)]
    falling = [physics.landesfeind_gasteiger(c, T25) for c in (1.3, 1.6, 2.0, 2.5)]
    assert rising == sorted(rising) and falling == sorted(falling, reverse=True)
    temps = [physics.landesfeind_gasteiger(1.0, t) for t in (263.15, 283.15, T25, T40, 333.15)]
    assert temps == sorted(temps)
    assert physics.landesfeind_gasteiger(0.0, T25) == 0.0


def test_agrees_with_nyman_within_ten_percent() -> None:
    for c in (0.5, 0.8, 1.0, 1.2):
        lg = physics.landesfeind_gasteiger(c, T25) * physics.MS_PER_CM_IN_S_PER_M
        assert lg == pytest.approx(physics.nyman_conductivity_s_per_m(c), rel=0.1)


def test_ec_factor_shape() -> None:
    assert physics.ec_factor(0.3) == pytest.approx(1.0, abs=1e-3)
    assert physics.ec_factor(0.0) == pytest.approx(0.53, abs=0.01)
    grid = [0.01 * i for i in range(101)]
    best = max(grid, key=physics.ec_factor)
    assert 0.35 <= best <= 0.45
    low = [physics.ec_factor(w) for w in (0.0, 0.1, 0.2, 0.3)]
    assert low == sorted(low)


def test_optimum_in_the_asab_space_is_about_0_9_to_1_s_per_m() -> None:
    best, where = 0.0, (0.0, 0.0)
    for i in range(1, 25):
        for j in range(11):
            c, w = 0.1 * i, 0.05 * j
            kappa = physics.conductivity(at_molarity(c, w, ASAB_K), ASAB_K)
            if kappa > best:
                best, where = kappa, (c, w)
    assert 0.9 <= best <= 1.05
    assert 0.8 <= where[0] <= 1.2 and 0.3 <= where[1] <= 0.5


def test_no_salt_no_conductivity() -> None:
    assert physics.conductivity(Composition.of(0.3, 0.7, 0.0), T25) == 0.0


# ------------------------------------------------------------------------------ density


@pytest.mark.parametrize(
    ("molarity", "w_ec", "measured"),
    [(1.5, 0.5, 1.288), (1.5, 0.0, 1.162), (0.0, 0.5, 1.159), (0.0, 0.0, 1.005)],
)
def test_density_matches_the_stock_solutions_within_0_3_percent(
    molarity: float, w_ec: float, measured: float
) -> None:
    m = physics.molality_from_molarity(molarity, w_ec)
    assert physics.density_from_molality(m, w_ec) == pytest.approx(measured, rel=0.003)


def test_density_falls_with_temperature() -> None:
    comp = at_molarity(1.0)
    drop = physics.density(comp, 300.0) - physics.density(comp, 310.0)
    assert drop == pytest.approx(0.011, rel=1e-6)


# ------------------------------------------------------------------------------ viscosity


def test_viscosity_of_1_molar_ec_emc_3_7_is_3_to_3_5_mpa_s() -> None:
    assert 3.0 <= physics.viscosity(at_molarity(1.0), T25) <= 3.5


def test_viscosity_grows_with_salt_and_ec_and_falls_with_temperature() -> None:
    salts = [physics.viscosity(at_molarity(c), T25) for c in (0.2, 0.6, 1.0, 1.4)]
    assert salts == sorted(salts)
    assert physics.viscosity(at_molarity(1.0, 0.5), T25) > physics.viscosity(
        at_molarity(1.0, 0.1), T25
    )
    assert physics.viscosity(at_molarity(1.0), T40) < physics.viscosity(at_molarity(1.0), T25)
    pure_emc = Composition.of(0.0, 1.0, 0.0)
    assert physics.viscosity(pure_emc, T25) == pytest.approx(0.65)


def test_walden_product_stays_roughly_constant() -> None:
    walden = [
        physics.conductivity(at_molarity(c), T25) * physics.viscosity(at_molarity(c), T25) / c
        for c in (0.5, 0.75, 1.0, 1.25, 1.5)
    ]
    assert max(walden) / min(walden) < 2.0


# ------------------------------------------------------------------------------ low fidelity


def test_rahmanian_coefficients_are_the_published_rows_and_linear_between() -> None:
    assert physics.rahmanian_coefficients(293.0)[2] == 25.0
    assert physics.rahmanian_coefficients(298.0)[2] == pytest.approx((25.0 + 29.7) / 2)
    assert physics.rahmanian_coefficients(200.0) == physics.RAHMANIAN_ROWS[0][1]
    # a = 0.5, b = 0.3 at 303 K, evaluated term by term from the table.
    expected = 1.6 + 2.7 * 0.5 + 29.7 * 0.3 - 3.2 * 0.25 - 6.9 * 0.15 - 35.8 * 0.09
    expected += 0.4 * 0.125 + 5.6 * 0.075 + 0.0 + 12.2 * 0.027
    assert physics.rahmanian_polynomial(0.5, 0.3, 303.0) == pytest.approx(expected)


def test_low_fidelity_model_is_biased_but_plausible_in_s_per_m() -> None:
    truth = physics.conductivity(at_molarity(1.0), T25)
    model = physics.low_fidelity_conductivity(at_molarity(1.0), T25)
    assert 0.1 < model < 2.0  # S/m, not S/cm or mS/cm
    assert model != pytest.approx(truth, rel=0.05)


# ------------------------------------------------------------------------------ stocks and MD


def test_asab_limits_come_from_the_stocks() -> None:
    lim = stocks.limits()
    assert lim["EC"][1] == pytest.approx(0.54, abs=0.005)
    assert lim["EMC"][0] == pytest.approx(0.40, abs=0.005)
    assert lim["LiPF6"][1] == pytest.approx(0.12, abs=1e-9)


def test_reachable_compositions_stay_and_others_are_projected() -> None:
    inside = Composition.of(0.3, 0.62, 0.08)
    assert stocks.nearest_reachable(inside) == inside
    outside = Composition.of(0.54, 0.41, 0.05)
    moved = stocks.nearest_reachable(outside)
    assert moved.x_ec < 0.54 and math.isclose(moved.x_ec + moved.x_emc + moved.x_lipf6, 1.0)


def test_md_bias_is_bounded_and_smooth() -> None:
    values = [bias(at_molarity(0.1 * i, 0.05 * j), T25) for i in range(1, 20) for j in range(11)]
    assert all(0.5 <= v <= 2.0 for v in values)
    assert max(values) / min(values) > 1.5  # it is a real bias, not a constant
    a, b = bias(at_molarity(1.0, 0.3), T25), bias(at_molarity(1.01, 0.3), T25)
    assert abs(a - b) < 0.02
