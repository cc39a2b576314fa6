"""schemathesis hooks for the API fuzzing runs (``test_schemathesis.py``, ``fuzz_api.py``).

Loaded by ``st run`` through ``SCHEMATHESIS_HOOKS``; the JSON file named by ``FUZZ_TARGET``
holds the credentials and the ids of the objects the broker was populated with.

* Credentials: calls alternate between an admin and a tenant principal; the clean API gets
  their API keys, the FINALES 2 door the tokens of its own form login. Calls that end the
  caller's own tokens are made as a victim principal, and the administration of users and
  keys is pinned to victims (``name``, ``key_id``), so the fuzzing principals keep theirs.
* Path parameters are often pinned to existing objects (requests, results, tenants,
  capabilities, the dump key), so that the calls get past the 404s; the generated values keep
  their share.
* The bodies of the creating operations are sometimes replaced by valid ones (a request for a
  registered capability, a result for a reserved request, ...), so that the success paths and
  what follows them (conflicts, replays of terminal states) are exercised too.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import strategies as st

TARGET: dict[str, Any] = json.loads(Path(os.environ["FUZZ_TARGET"]).read_text())
PRINCIPALS = ("admin", "tenant")
_turn = itertools.count()


@schemathesis.auth(refresh_interval=None)
class Principals:
    """Admin and tenant in turn; the door decides between API key and form-login token."""

    def get(self, case: schemathesis.Case, _ctx: schemathesis.AuthContext) -> str:
        if case.operation.label in TARGET["as_victim"]:  # acts on the caller's credentials
            return str(TARGET["credentials"]["victim"])
        door = "api" if case.path.startswith("/api/") else "finales2"
        return str(TARGET["credentials"][door][PRINCIPALS[next(_turn) % len(PRINCIPALS)]])

    def set(self, case: schemathesis.Case, data: str, _ctx: schemathesis.AuthContext) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


def _one_of(original: Any, known: list[Any]) -> st.SearchStrategy[Any]:
    return st.sampled_from([original, *known]) if known else st.just(original)


@schemathesis.hook
def flatmap_path_parameters(
    _context: schemathesis.HookContext, path_parameters: dict[str, Any]
) -> st.SearchStrategy[dict[str, Any]]:
    params = dict(path_parameters or {})
    if "quantity" in params and "method" in params:
        pairs = [tuple(p) for p in TARGET["capabilities"]]
        pair = _one_of((params["quantity"], params["method"]), pairs)
        return pair.map(lambda qm: {**params, "quantity": qm[0], "method": qm[1]})
    known: dict[str, list[Any]] = TARGET["ids"]
    return st.fixed_dictionaries({k: _one_of(v, known.get(k, [])) for k, v in params.items()})


@schemathesis.hook
def flatmap_headers(
    _context: schemathesis.HookContext, headers: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    """The header form of the FINALES 2 dump key: the right key about half of the time."""
    if not headers or "x-access-key" not in {k.lower() for k in headers}:
        return st.just(headers)
    rest = {k: v for k, v in headers.items() if k.lower() != "x-access-key"}
    key = _one_of(
        headers.get("x-access-key", headers.get("X-Access-Key")), TARGET["ids"]["access_key"]
    )
    return key.map(lambda k: {**rest, "x-access-key": k})


@schemathesis.hook
def flatmap_case(
    _context: schemathesis.HookContext, case: schemathesis.Case
) -> st.SearchStrategy[schemathesis.Case]:
    """Positive cases only: a negative one must stay invalid."""
    valid = TARGET["bodies"].get(case.operation.label, [])
    if not valid or case.meta is None or case.meta.generation.mode.is_negative:
        return st.just(case)
    return st.sampled_from([None, *valid]).map(lambda body: _with_body(case, body))


def _with_body(case: schemathesis.Case, body: Any) -> schemathesis.Case:
    if body is not None:
        case.body = body
    return case


@schemathesis.hook
def before_call(
    _context: schemathesis.HookContext, case: schemathesis.Case, **_kwargs: Any
) -> None:
    """Keep the fuzzing principals' credentials: an administration call aimed at one of them
    (the stateful phase takes names and ids from earlier answers) acts on a victim instead."""
    params = case.path_parameters
    if not params:
        return
    for field, victims in (("name", TARGET["ids"]["name"]), ("key_id", TARGET["ids"]["key_id"])):
        if params.get(field) in TARGET["protected"][field]:
            params[field] = victims[0]
