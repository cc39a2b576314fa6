"""FINALES 2's limitation idioms, translated into finales limitations.

The demonstrator's published tenant and limitation files use three forms that do not fit the
capabilities they offer (finales checks limitations against the capability's request schema,
FINALES 2 did not):

- a JSON Schema ``{"anyOf": [A, B, ...]}`` wrapper around alternative limitation objects (the
  degradation model and workflow), or around lists of them (``[[A]]``, the polynomial
  interpolation): finales writes alternatives as a top-level list ``[A, B, ...]``;
- ``electrolyte/flow`` offers that limit ``formulation`` at the top, as the conductivity
  capabilities do, where the flow request nests it: ``electrolyte: {formulation: ...}``;
- ranges written ``{"min": a, "maximum": b}`` (``minimum``/``maximum``, the JSON Schema words)
  where a finales range is ``{"min", "max"}``;
- ``cell_assembly/autobass_assembly`` offers that put the chemistry under
  ``cell_info.batteryChemistry`` (with the separator, the electrolyte volume and
  ``batch_volume`` mixed in), where the schema has ``cell.battery_chemistry`` (electrolyte,
  anode, cathode), ``cell.separator``, ``cell.electrolyte_volume`` and a top-level
  ``batch_volume``.

:func:`translate_offer` rewrites exactly these idioms and says what it did; anything else is
left as it is, so that the usual check refuses it with the JSON pointer of the defect. Pure:
used by ``finales tenant add`` on FINALES 2 files and by the README's per-file table test.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

CHEMISTRY_PARTS = ("electrolyte", "anode", "cathode")  # cell.battery_chemistry's fields
CELL_PARTS = ("separator", "electrolyte_volume")  # cell's own fields


@dataclass
class Translated:
    """An offer after translation, and one note per idiom rewritten (empty: none applied)."""

    offer: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def translate_offer(offer: dict[str, Any], at: str = "") -> Translated:
    """``offer`` (``{quantity, method, limitations}``) with FINALES 2's idioms rewritten; ``at``
    prefixes the notes' pointers (e.g. ``/2`` for the third offer of a file)."""
    out = copy.deepcopy(offer)
    notes: list[str] = []
    limitations: Any = out.get("limitations")
    if _is_any_of(limitations):
        alternatives_: list[Any] = []
        for item in limitations["anyOf"]:
            alternatives_ += item if isinstance(item, list) else [item]
        out["limitations"] = limitations = alternatives_
        notes.append(f"{at}/limitations: anyOf wrapper -> a list of alternatives")
    renamed = _range_words(limitations)
    if renamed:
        notes.append(f"{at}/limitations: {renamed} range(s) with minimum/maximum -> min/max")
    pair = (out.get("quantity"), out.get("method"))
    alternatives = limitations if isinstance(limitations, list) else [limitations]
    for i, alt in enumerate(alternatives):
        where = f"{at}/limitations" + (f"/{i}" if isinstance(limitations, list) else "")
        if not isinstance(alt, dict):
            continue
        if pair == ("electrolyte", "flow") and "formulation" in alt and "electrolyte" not in alt:
            alt["electrolyte"] = {"formulation": alt.pop("formulation")}
            notes.append(
                f"{where}/formulation -> {where}/electrolyte/formulation (as flow nests it)"
            )
        if pair == ("cell_assembly", "autobass_assembly"):
            note = _autobass(alt, where)
            if note:
                notes.append(note)
    return Translated(out, notes)


def _range_words(limitations: Any) -> int:
    """Rewrite ``minimum``/``maximum`` in range objects to ``min``/``max`` (in place, without
    recursion); the number of ranges rewritten."""
    count = 0
    stack = [limitations]
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, dict):
            words = set(value) & {"minimum", "maximum"}
            if words and set(value) <= {"min", "max", "minimum", "maximum", "step"}:
                for word in words:
                    short = word[:3]
                    if short not in value:
                        value[short] = value.pop(word)
                count += 1
            else:
                stack.extend(value.values())
    return count


def _is_any_of(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"anyOf"} and isinstance(value["anyOf"], list)


def _autobass(alt: dict[str, Any], where: str) -> str | None:
    info = alt.get("cell_info")
    if not isinstance(info, dict) or not isinstance(info.get("batteryChemistry"), dict):
        return None
    chemistry: dict[str, Any] = info.pop("batteryChemistry")
    cell = alt.setdefault("cell", {})
    if not isinstance(cell, dict):
        return None
    moved = {k: chemistry.pop(k) for k in CELL_PARTS if k in chemistry}
    cell.update(moved)
    battery = cell.setdefault("battery_chemistry", {})
    if isinstance(battery, dict):
        battery.update({k: chemistry.pop(k) for k in CHEMISTRY_PARTS if k in chemistry})
    if chemistry:  # an unknown part: left where the check will point at it
        info["batteryChemistry"] = chemistry
    if "batch_volume" in info and "batch_volume" not in alt:
        alt["batch_volume"] = info.pop("batch_volume")
    if not info:
        alt.pop("cell_info")
    return (
        f"{where}/cell_info/batteryChemistry -> {where}/cell/battery_chemistry "
        f"(separator and electrolyte_volume to {where}/cell, batch_volume to the top)"
    )
