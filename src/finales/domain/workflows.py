"""Rules of workflows: labels on requests, the results a request or a result used (inputs),
and the bound on how deep a tree of requests may grow.

An orchestrator breaks one request into sub-requests (``parent_request_id``), marks them with
labels (``{"workflow_step": ..., "index": ..., "attempt": ...}``) to find them again, and names
the results each step used (``inputs``) so that the provenance of a final result can be
followed back. The services call these checks, so every door refuses alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from finales.domain.names import name_problem
from finales.errors import invalid

MAX_LABELS = 16
LABEL_VALUE_MAX_CHARS = 200
MAX_INPUTS = 100
# How many levels a tree of requests may have below its top request. A request whose parent
# is already this deep is refused, so every tree query is bounded by it (and a cycle, which
# server-made ids cannot form, could not make one run away).
MAX_TREE_DEPTH = 32
LABEL_SEPARATOR = ":"  # ?label=key:value - so a key cannot contain it


def check_labels(labels: Mapping[str, object] | None, at: str = "/labels") -> dict[str, str]:
    """``labels`` as stored ({} for none); 422 naming the offending key otherwise.

    Keys follow the name rule (``finales.domain.names``) without ``:``, which separates key
    from value in the listing filter; values are strings of at most 200 characters.
    """
    if not labels:
        return {}
    if len(labels) > MAX_LABELS:
        raise invalid(at, f"at most {MAX_LABELS} labels")
    out: dict[str, str] = {}
    for key, value in labels.items():
        problem = name_problem(key)
        if problem is None and LABEL_SEPARATOR in key:
            problem = f"a label key cannot contain {LABEL_SEPARATOR!r}"
        if problem is not None:
            raise invalid(_pointer(at, key), problem.replace("a name", "a label key"))
        if not isinstance(value, str):
            raise invalid(_pointer(at, key), "a label value is a string")
        if len(value) > LABEL_VALUE_MAX_CHARS:
            raise invalid(_pointer(at, key), f"at most {LABEL_VALUE_MAX_CHARS} characters")
        out[key] = value
    return out


def _pointer(at: str, key: str) -> str:
    return f"{at}/{key.replace('~', '~0').replace('/', '~1')}"  # RFC 6901 escapes


def parse_label_filters(filters: Sequence[str], at: str = "label") -> list[tuple[str, str]]:
    """``key:value`` filters as pairs (split at the first ``:``); 422 naming the parameter."""
    pairs = []
    for raw in filters:
        key, sep, value = raw.partition(LABEL_SEPARATOR)
        if not sep or not key:
            raise invalid(at, f"{raw!r} is not key{LABEL_SEPARATOR}value")
        pairs.append((key, value))
    return pairs


def check_inputs(inputs: Sequence[object] | None, at: str = "/inputs") -> list[str]:
    """The shape of ``inputs`` (result ids, each once, at most 100); whether each exists is
    the service's question."""
    if not inputs:
        return []
    if len(inputs) > MAX_INPUTS:
        raise invalid(at, f"at most {MAX_INPUTS} inputs")
    seen: set[str] = set()
    for i, result_id in enumerate(inputs):
        if not isinstance(result_id, str) or not result_id:
            raise invalid(f"{at}/{i}", "a result id is a non-empty string")
        if result_id in seen:
            raise invalid(f"{at}/{i}", "each input may be listed once")
        seen.add(result_id)
    return [str(r) for r in inputs]


def check_depth(parent_depth: int, at: str = "/parent_request_id") -> None:
    """A new request sits one level below its parent: refuse it past ``MAX_TREE_DEPTH``."""
    if parent_depth + 1 > MAX_TREE_DEPTH:
        raise invalid(at, f"a tree of requests is at most {MAX_TREE_DEPTH} levels deep")
