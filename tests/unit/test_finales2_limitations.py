"""FINALES 2's limitation idioms, translated: each idiom on its own, what is left alone, and
that nothing is translated twice."""

from __future__ import annotations

import copy
from typing import Any

from finales.capabilities.finales2_limitations import translate_offer

COMPONENT = {"chemical": {"SMILES": "C1COC(=O)O1"}, "fraction": [{"min": 0, "max": 1}]}


def _offer(quantity: str, method: str, limitations: Any) -> dict[str, Any]:
    return {"quantity": quantity, "method": method, "limitations": limitations}


def test_an_any_of_wrapper_becomes_a_list_of_alternatives() -> None:
    a, b = {"temperature": [{"min": 250, "max": 300}]}, {"temperature": [300]}
    done = translate_offer(_offer("conductivity", "x", {"anyOf": [a, [b]]}), "/2")
    assert done.offer["limitations"] == [a, b]
    assert done.notes == ["/2/limitations: anyOf wrapper -> a list of alternatives"]


def test_flow_formulation_moves_under_electrolyte() -> None:
    done = translate_offer(_offer("electrolyte", "flow", {"formulation": [[COMPONENT]]}))
    assert done.offer["limitations"] == {"electrolyte": {"formulation": [[COMPONENT]]}}
    assert len(done.notes) == 1
    # Only for flow: the conductivity capabilities do have a top-level formulation.
    same = translate_offer(_offer("conductivity", "two_electrode", {"formulation": [[COMPONENT]]}))
    assert same.notes == [] and same.offer["limitations"] == {"formulation": [[COMPONENT]]}


def test_autobass_chemistry_moves_to_the_cell() -> None:
    limitations = {
        "cell_info": {
            "batteryChemistry": {
                "electrolyte": [[COMPONENT]],
                "anode": {"material": ["graphite"]},
                "cathode": {"material": ["LNO"]},
                "separator": {"material": ["Celgard"]},
                "electrolyte_volume": [{"minimum": 30, "maximum": 40}],
            },
            "batch_volume": [{"min": 1, "max": 64}],
        }
    }
    done = translate_offer(_offer("cell_assembly", "autobass_assembly", limitations))
    assert done.offer["limitations"] == {
        "cell": {
            "battery_chemistry": {
                "electrolyte": [[COMPONENT]],
                "anode": {"material": ["graphite"]},
                "cathode": {"material": ["LNO"]},
            },
            "separator": {"material": ["Celgard"]},
            "electrolyte_volume": [{"min": 30, "max": 40}],
        },
        "batch_volume": [{"min": 1, "max": 64}],
    }
    assert len(done.notes) == 2
    assert limitations["cell_info"]["batteryChemistry"]["electrolyte_volume"] == [
        {"minimum": 30, "maximum": 40}
    ]  # the caller's offer is not changed


def test_what_is_not_an_idiom_stays_for_the_check_to_refuse() -> None:
    odd = {
        "cell_info": {"batteryChemistry": {"electrolyte": [[COMPONENT]], "colour": ["red"]}},
        "mood": {"minimum": 1, "flavour": 2},
    }
    done = translate_offer(_offer("cell_assembly", "autobass_assembly", copy.deepcopy(odd)))
    assert done.offer["limitations"]["cell_info"] == {"batteryChemistry": {"colour": ["red"]}}
    assert done.offer["limitations"]["mood"] == {"minimum": 1, "flavour": 2}
    plain = _offer("conductivity", "two_electrode", {"temperature": [{"min": 1, "max": 2}]})
    assert translate_offer(plain).notes == []


def test_a_translated_offer_translates_to_itself() -> None:
    first = translate_offer(
        _offer("electrolyte", "flow", {"anyOf": [{"formulation": [[COMPONENT]]}]})
    )
    again = translate_offer(first.offer)
    assert again.notes == [] and again.offer == first.offer
