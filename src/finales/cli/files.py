"""Read capability and tenant files in our format or in the FINALES 2 format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from finales.capabilities.finales2_limitations import translate_offer
from finales.errors import BadRequest


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadRequest(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None


def _require(obj: dict[str, Any], keys: tuple[str, ...], path: Path) -> None:
    missing = [k for k in keys if k not in obj]
    if missing:
        raise BadRequest(f"{path}: missing field {missing[0]!r}")


def read_capabilities(path: Path) -> list[dict[str, Any]]:
    """One file may hold one capability or a list. Returns our format plus ``active``."""
    data = _load(path)
    items = data if isinstance(data, list) else [data]
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise BadRequest(f"{path}: a capability must be a JSON object")
        if "json_schema_specifications" in item:  # FINALES 2 capability file
            _require(
                item,
                ("quantity", "method", "json_schema_specifications", "json_schema_result_output"),
                path,
            )
            out.append(
                {
                    "quantity": item["quantity"],
                    "method": item["method"],
                    "request_schema": item["json_schema_specifications"],
                    "result_schema": item["json_schema_result_output"],
                    "description": item.get("description", ""),
                    "active": bool(item.get("is_active", True)),
                }
            )
        else:
            _require(item, ("quantity", "method", "request_schema", "result_schema"), path)
            out.append(
                {
                    "quantity": item["quantity"],
                    "method": item["method"],
                    "request_schema": item["request_schema"],
                    "result_schema": item["result_schema"],
                    "description": item.get("description", ""),
                    "active": bool(item.get("active", True)),
                    "requires_approval": bool(item.get("requires_approval", False)),
                }
            )
    return out


TENANT_KEYS = frozenset({"name", "description", "contact", "offers"})
FINALES2_TENANT_KEYS = frozenset({"name", "limitations", "contact_person"})


def read_tenant(path: Path) -> dict[str, Any]:
    """A tenant with its offers: ours ``{name, description, contact, offers}`` or FINALES 2's
    ``{name, limitations, contact_person}``, whose limitation idioms are translated
    (``finales.capabilities.finales2_limitations``; ``notes`` says what was rewritten)."""
    data = _load(path)
    if not isinstance(data, dict):
        raise BadRequest(f"{path}: a tenant file must be a JSON object")
    _require(data, ("name",), path)
    # Which format: by the keys only FINALES 2 has (its files always carry both); a file of
    # ours may leave its offers out. Keys of neither are refused, not dropped unnoticed.
    finales2 = bool({"limitations", "contact_person"} & set(data))
    known = FINALES2_TENANT_KEYS if finales2 else TENANT_KEYS
    unknown = sorted(set(data) - known)
    if unknown:
        fmt = "a FINALES 2 tenant file" if finales2 else "a tenant file"
        raise BadRequest(
            f"{path}: {fmt} has no key {unknown[0]!r} (its keys: {', '.join(sorted(known))})"
        )
    if finales2:
        offers, contact = data.get("limitations", []), data.get("contact_person", "")
    else:
        offers, contact = data.get("offers", []), data.get("contact", "")
    if not isinstance(offers, list):
        raise BadRequest(f"{path}: offers must be a list")
    clean = []
    notes: list[str] = []
    for i, offer in enumerate(offers):
        if not isinstance(offer, dict) or not {"quantity", "method"} <= set(offer):
            raise BadRequest(f"{path}: offer {i} needs quantity and method")
        entry = {
            "quantity": offer["quantity"],
            "method": offer["method"],
            "limitations": offer.get("limitations", {}),
        }
        if finales2:
            translated = translate_offer(entry, f"/{i}")
            entry, notes = translated.offer, notes + translated.notes
        clean.append(entry)
    return {
        "name": data["name"],
        "description": data.get("description", ""),
        "contact": str(contact or ""),
        "offers": clean,
        "notes": notes,
    }
