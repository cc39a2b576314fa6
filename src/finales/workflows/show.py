"""``finales workflow show``: a request's tree as a rich Tree, one line per request."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from rich.markup import escape
from rich.tree import Tree

from finales import schemas

STATUS_STYLE = {
    "pending": "yellow",
    "reserved": "cyan",
    "resolved": "green",
    "retracted": "red",
    "rejected": "red",
    "awaiting_approval": "magenta",
}
OPEN = frozenset({"pending", "reserved", "awaiting_approval"})


def elapsed(node: schemas.TreeNode, now: datetime) -> str:
    """How long the request has lived: until now while open, until its last change after."""
    end = now if str(node.status) in OPEN else node.updated_at
    seconds = max(0.0, (end - node.created_at).total_seconds())
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, s = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{s:02d}s"
    hours, m = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{m:02d}m"
    return f"{hours // 24}d{hours % 24:02d}h"


def label(node: schemas.TreeNode, tenants: Mapping[str, str], now: datetime) -> str:
    """``resolved  capacity/cycling  cycle[3] #1  cycler  2.3s  1f2e3d4c``"""
    status = str(node.status)
    style = STATUS_STYLE.get(status, "white")
    what = f"{node.quantity}/{','.join(node.methods)}"
    parts = [f"[{style}]{status:<9}[/]", f"[bold]{escape(what)}[/]"]
    step = node.labels.get("workflow_step")
    if step is not None:
        index, attempt = node.labels.get("index", "0"), node.labels.get("attempt", "1")
        parts.append(escape(f"{step}[{index}] #{attempt}"))
    if node.reserved_by:
        parts.append(escape(tenants.get(node.reserved_by, node.reserved_by[:8])))
    parts.append(elapsed(node, now))
    parts.append(f"[dim]{node.id[:8]}[/]")
    return "  ".join(parts)


def render_tree(nodes: list[schemas.TreeNode], tenants: Mapping[str, str], now: datetime) -> Tree:
    """The tree of ``nodes`` (parents before children, as the broker returns them)."""
    root = nodes[0]
    top = Tree(label(root, tenants, now))
    branches = {root.id: top}
    for node in nodes[1:]:
        parent = branches.get(node.parent_request_id or "")
        if parent is not None:
            branches[node.id] = parent.add(label(node, tenants, now))
    counts: dict[str, int] = {}
    for node in nodes[1:]:
        counts[str(node.status)] = counts.get(str(node.status), 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no sub-requests"
    top.add(f"[dim]{len(nodes) - 1} below: {summary}[/]")
    return top
