"""Render a JSON Schema as a FINALES 2 template: each leaf becomes "required, float" etc."""

from __future__ import annotations

from typing import Any

TYPE_NAMES = {
    "number": "float",
    "integer": "int",
    "string": "str",
    "boolean": "bool",
    "object": "dict",
    "array": "list",
    "null": "None",
}
MAX_DEPTH = 20


def _resolve(schema: Any, root: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Follow local $refs, single allOf and Optional anyOf; return (schema, nullable)."""
    nullable = False
    for _ in range(MAX_DEPTH):
        if not isinstance(schema, dict):
            return {}, nullable
        if "$ref" in schema and isinstance(schema["$ref"], str) and schema["$ref"].startswith("#"):
            target: Any = root
            for part in [p for p in schema["$ref"][1:].split("/") if p]:
                target = target.get(part, {}) if isinstance(target, dict) else {}
            schema = {**{k: v for k, v in schema.items() if k != "$ref"}, **target}
            continue
        if isinstance(schema.get("allOf"), list) and len(schema["allOf"]) == 1:
            schema = {**{k: v for k, v in schema.items() if k != "allOf"}, **schema["allOf"][0]}
            continue
        if isinstance(schema.get("anyOf"), list):
            branches = [
                b for b in schema["anyOf"] if not (isinstance(b, dict) and b.get("type") == "null")
            ]
            if len(branches) < len(schema["anyOf"]):
                nullable = True
            if len(branches) == 1:
                schema = {**{k: v for k, v in schema.items() if k != "anyOf"}, **branches[0]}
                continue
        return schema, nullable
    return {}, nullable


def _leaf_type(schema: dict[str, Any], root: dict[str, Any]) -> str:
    if "anyOf" in schema:
        names = [_leaf_type(_resolve(b, root)[0], root) for b in schema["anyOf"]]
        return " or ".join(dict.fromkeys(n for n in names if n != "None")) or "any"
    t = schema.get("type")
    if isinstance(t, list):
        return " or ".join(TYPE_NAMES.get(x, str(x)) for x in t if x != "null")
    return TYPE_NAMES.get(t, "any") if isinstance(t, str) else "any"


def render(
    schema: Any, root: dict[str, Any] | None = None, *, required: bool = True, depth: int = 0
) -> Any:
    root = root if root is not None else (schema if isinstance(schema, dict) else {})
    s, nullable = _resolve(schema, root)
    prefix = "required" if required and not nullable else "optional"
    if depth >= MAX_DEPTH:
        return f"{prefix}, any"
    props = s.get("properties")
    if isinstance(props, dict):
        needed = set(s.get("required", []))
        return {k: render(v, root, required=k in needed, depth=depth + 1) for k, v in props.items()}
    if s.get("type") == "array" or "items" in s or "prefixItems" in s:
        if isinstance(s.get("prefixItems"), list):
            return [render(item, root, depth=depth + 1) for item in s["prefixItems"]]
        items = s.get("items")
        return [render(items, root, depth=depth + 1)] if isinstance(items, dict) else []
    return f"{prefix}, {_leaf_type(s, root)}"


def template(schema: dict[str, Any]) -> Any:
    """The template of a capability schema (its top level is an object)."""
    return render(schema, schema)
