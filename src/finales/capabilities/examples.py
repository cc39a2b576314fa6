"""A small valid example per built-in capability: request parameters and result data.

``EXAMPLES[(quantity, method)] == {"request": {...}, "result": {...}}``. The values are
plausible for the chemistry they describe (1 mol/kg LiPF6 in EC:EMC 3:7 by weight at 25 °C,
graphite against LiCoO2). Nothing is shared between entries, but deep-copy an entry before
changing it all the same.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

LIPF6 = {"SMILES": "[Li+].F[P-](F)(F)(F)(F)F", "InChIKey": "AXPLOJNSKRXQPA-UHFFFAOYSA-N"}
EC = {"SMILES": "C1COC(=O)O1", "InChIKey": "KMTRUDSVKNLOMY-UHFFFAOYSA-N"}
EMC = {"SMILES": "CCOC(=O)OC", "InChIKey": "JBTWLSYIZRCDFO-UHFFFAOYSA-N"}
GRAPHITE = {"SMILES": "[C]", "InChIKey": "OKTJSMMVPCPJKN-UHFFFAOYSA-N"}
LCO = {"SMILES": "[Li+].[O-][Co]=O", "InChIKey": "BFZPBUKRYWOWDV-UHFFFAOYSA-N"}
ROOM_TEMPERATURE_K = 298.15


def formulation() -> list[JSON]:
    """1 mol/kg LiPF6 in EC:EMC 3:7 (w/w), as amount fractions."""
    parts = [(LIPF6, 0.0898), (EC, 0.3061), (EMC, 0.6041)]
    return [
        {"chemical": dict(chem), "fraction": fraction, "fraction_type": "molPerMol"}
        for chem, fraction in parts
    ]


def location(detail_1: str = "Lab 1", detail_2: str | None = "Bench 3") -> JSON:
    address = "Example Institute, Example Street 1"
    return {"address": address, "detail_1": detail_1, "detail_2": detail_2}


def meta(rating: int = 4) -> JSON:
    return {"success": True, "rating": rating}


def run_info() -> JSON:
    return {
        "formulation": formulation(),
        "internal_reference": "run-2024-0042",
        "formulation_info": {
            "name": "LP57-like",
            "uuid": "0f5b8a52-3c1e-4a55-9a3e-2d7f6c1b9e10",
            "preparation_date": "2024-05-14",
            "batch": "B-7",
            "location": location(),
        },
        "chemicals_info": {
            LIPF6["InChIKey"]: {"name": "LiPF6", "molar_mass": [151.905, 0.001]},
            EC["InChIKey"]: {"name": "EC", "molar_mass": [88.062, 0.001], "density": [1.32, 0.01]},
            EMC["InChIKey"]: {
                "name": "EMC",
                "molar_mass": [104.104, 0.001],
                "density": [1.01, 0.01],
            },
        },
    }


def conductivity(value_s_per_m: float = 0.86) -> JSON:
    return {"values": [value_s_per_m], "meta": meta(), "temperature": ROOM_TEMPERATURE_K}


def density(value_g_per_cm3: float = 1.205) -> JSON:
    return {"values": [value_g_per_cm3], "meta": meta(), "temperature": ROOM_TEMPERATURE_K}


def viscosity(value_mpa_s: float = 3.4) -> JSON:
    return {"values": [value_mpa_s], "meta": meta(3), "temperature": ROOM_TEMPERATURE_K}


def rdf() -> JSON:
    return {
        "radius": [1.5, 2.0, 2.5, 3.0],
        "pair_title": ["Li-O", "Li-F"],
        "RDF": [[0.0, 8.1, 1.2, 0.9], [0.0, 2.3, 1.1, 1.0]],
        "cell_volume": 25840.0,
        "cell_formula": "Li16 P16 F96 C597 H1084 O489",
    }


def formulation_at_temperature() -> JSON:
    return {"formulation": formulation(), "temperature": ROOM_TEMPERATURE_K}


def electrode(chemical: JSON, area_cm2: float) -> JSON:
    material = [{"chemical": dict(chemical), "fraction": 1.0, "fraction_type": "molPerMol"}]
    return {"material": material, "mass_loading": 2.0, "size": area_cm2}


def battery_chemistry() -> JSON:
    return {
        "electrolyte": formulation(),
        "anode": electrode(GRAPHITE, 1.767),
        "cathode": electrode(LCO, 1.539),
    }


def cell() -> JSON:
    return {
        "battery_chemistry": battery_chemistry(),
        "separator": {"material": "Celgard 2325", "size": 2.011},
        "electrolyte_volume": 35.0,
    }


def cell_info(uuid: str = "CELL-1") -> JSON:
    return {
        "cell_name": "CR2032",
        "uuid": uuid,
        "assembly_date": "2024-05-15",
        "batch": "1",
        "electrolyte_info": {"name": "LP57-like", "uuid": "ELYT-7", "location": location()},
        "cell_location": location("Glovebox", "AutoBASS tray 2"),
    }


def early_cycle_features() -> JSON:
    return {
        "delta_coulombic_efficiency": -0.0018,
        "voltage_gap_charge_discharge": 0.051,
        "capacity_vector_variance": -4.2,
    }


def degradation_eol(uuid: str = "CELL-1") -> JSON:
    return {
        "end_of_life": 410,
        "end_of_life_uncertainty": 25.0,
        "capacity_trajectory": [1.48, 1.45, 1.41, 1.36],
        "capacity_trajectory_uncertainty": [0.01, 0.02, 0.03, 0.04],
        "meta": meta(3),
        "cell_info": cell_info(uuid),
    }


def degradation_input() -> JSON:
    return {
        "battery_chemistry": battery_chemistry(),
        "input_cycles": [1.52, 1.51, 1.51, 1.50],
        "average_charging_rate": 0.5,
        "maximum_charging_rate": 1.0,
        "minimum_charging_rate": 0.1,
        **early_cycle_features(),
        "cell_info": cell_info(),
    }


def _examples() -> dict[tuple[str, str], dict[str, JSON]]:
    assembled = {
        "cell_info": cell_info(),
        "cell": cell(),
        "manufacturing_img": "images/batch-17/cell-1.jpg",
        "meta": meta(),
        "temperature": 296.15,
        "sealing_time": "2024-05-15T10:42:00Z",
    }
    return {
        ("conductivity", "two_electrode"): {
            "request": formulation_at_temperature(),
            "result": {"run_info": run_info(), "conductivity": conductivity()},
        },
        ("conductivity", "molecular_dynamics"): {
            "request": formulation_at_temperature(),
            "result": {
                "run_info": run_info(),
                "conductivity": conductivity(0.64),
                "density": density(1.19),
                "RDF": rdf(),
                "number_molecules_per_component": {
                    LIPF6["InChIKey"]: 16,
                    EC["InChIKey"]: 55,
                    EMC["InChIKey"]: 108,
                },
            },
        },
        ("conductivity", "polynomial_interpolation"): {
            "request": formulation_at_temperature(),
            "result": {"run_info": run_info(), "conductivity": conductivity(0.91)},
        },
        ("density", "vibrating_tube_densimetry"): {
            "request": formulation_at_temperature(),
            "result": {"run_info": run_info(), "density": density(), "viscosity": viscosity()},
        },
        ("density", "molecular_dynamics"): {
            "request": formulation_at_temperature(),
            "result": {"run_info": run_info(), "density": density(1.19), "RDF": rdf()},
        },
        ("viscosity", "rolling_ball_viscometry"): {
            "request": formulation_at_temperature(),
            "result": {"run_info": run_info(), "viscosity": viscosity()},
        },
        ("radial_distribution_function", "molecular_dynamics"): {
            "request": {**formulation_at_temperature(), "estimated_density": 1.2},
            "result": rdf(),
        },
        ("electrolyte", "flow"): {
            "request": {"electrolyte": {"formulation": formulation()}, "volume": 2.5},
            "result": {
                "run_info": run_info(),
                "electrolyte": {
                    "formulation": formulation(),
                    "volume": 2.5,
                    "location": location("Flow lab", "Vial 5"),
                    "meta": meta(),
                },
            },
        },
        ("cell_assembly", "autobass_assembly"): {
            "request": {"cell": cell(), "cell_info": cell_info(), "batch_volume": 1},
            "result": {"batch_output": [assembled], "batch_id": "batch-17"},
        },
        ("cycling_channel", "service"): {
            "request": {
                "number_required_channels": 2,
                "cycling_protocol": "BIG-MAP-Standard",
                "number_cycles": 200,
            },
            "result": {"success": True, "reservation_id": "res-0815"},
        },
        ("capacity", "cycling"): {
            "request": {
                "cycling_protocol": "BIG-MAP-Standard",
                "number_cycles": 200,
                "cell_info": cell_info(),
                "location": location("Cycler room", "Channel 7"),
                "reservation_number": "res-0815",
                "capacity": 0.0015,
                "I_max": 0.003,
                "V_max": 4.2,
                "V_min": 3.0,
                "c_rate_charge_formation": 0.1,
                "c_rate_discharge_formation": 0.1,
                "CV_I_cutoff_formation": 0.00005,
                "repetions_formation_cycle": 3,
                "cycling_V_max": 4.2,
                "cycling_V_min": 3.0,
                "c_rate_charge": 1.0,
                "c_rate_discharge": 1.0,
                "CV_I_cutoff": 0.00015,
            },
            "result": {
                "capacity_list": [0.00152, 0.00149, 0.00151, 0.00148],
                "channel_list": [7, 8],
                "cell_info": cell_info(),
                **early_cycle_features(),
            },
        },
        ("degradationEOL", "degradation_model"): {
            "request": degradation_input(),
            "result": {"run_info": run_info(), "degradationEOL": degradation_eol()},
        },
        ("degradationEOL", "degradation_workflow"): {
            "request": degradation_input(),
            "result": {
                "run_info": run_info(),
                "degradationEOL": [degradation_eol("CELL-1"), degradation_eol("CELL-2")],
            },
        },
        ("transport", "transport_service"): {
            "request": {
                "origin": location("Flow lab", "Vial 5"),
                "destination": location("Glovebox", "AutoBASS tray 2"),
            },
            "result": {
                "success": True,
                "actual_new_location": location("Glovebox", "AutoBASS tray 2"),
                "executant": "mobile robot 1",
            },
        },
        ("archive", "deposit"): {
            "request": {
                "archive": "urn:finales:archive:bigmap-lab",
                "target": "invenio",
                "location": "https://archive.big-map.eu",
            },
            "result": {
                "record_id": "k7qzt-3m2x1",
                "parent_id": "a1b2c-d3e4f",
                "version": 2,
                "doi": "10.5072/finales.k7qzt-3m2x1",
                "url": "https://archive.big-map.eu/records/k7qzt-3m2x1",
                "files": [
                    {
                        "key": "results-2026-11.jsonl",
                        "md5": "6ef4267f0e710357c895627e931f16cd",
                        "size": 89364,
                    }
                ],
                "uploaded": ["results-2026-11.jsonl"],
                "bytes_uploaded": 89364,
                "snapshot_results": 412,
            },
        },
    }


EXAMPLES: dict[tuple[str, str], dict[str, JSON]] = _examples()
