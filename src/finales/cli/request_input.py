"""What ``finales request`` reads before it acts: which broker (flags, else the environment,
else a TOML file, as ``finales tenant run``) and the request to post (a file - ours in JSON
or TOML, or FINALES 2's - with flags on top). Only the SDK side is imported here, so that the
commands that talk to a broker work from ``pip install finales``."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finales.cli.broker import Broker, resolve
from finales.cli.context import fail
from finales.errors import FinalesError

if TYPE_CHECKING:
    from finales.client import FinalesClient

FILE_KEYS = frozenset(
    {"quantity", "methods", "parameters", "parent_request_id", "labels", "inputs", "tenant_uuid"}
)


def broker_options(
    server: str | None,
    api_key: str | None,
    username: str | None,
    password_stdin: bool,
    config: Path | None,
) -> Broker:
    """The broker named by the flags, else the environment, else the TOML file (url None:
    none named, which the reading commands take as "the local database")."""
    try:
        found = resolve(server, api_key, username, password_stdin, config)
    except FinalesError as exc:
        fail(exc.detail)
    if found.url is None:
        return Broker(None)
    if found.api_key:
        return Broker(found.url, api_key=found.api_key)
    if not found.username:
        fail(
            f"no credentials for {found.url}: --api-key (or FINALES_API_KEY), or --username "
            "with FINALES_PASSWORD or --password-stdin"
        )
    if not found.password:
        fail("a username needs a password: FINALES_PASSWORD, --password-stdin or the file")
    return Broker(found.url, username=found.username, password=found.password)


def client_for(broker: Broker) -> FinalesClient:
    from finales.client import FinalesClient, RetryPolicy

    # A person waits at the prompt: a broker that is down is said within seconds.
    return FinalesClient(
        broker.url,
        api_key=broker.api_key,
        username=broker.username,
        password=broker.password,
        retry=RetryPolicy(max_attempts=4, total_s=5.0),
    )


def on_broker(broker: Broker, command: str) -> FinalesClient:
    """A client for a command that acts as a principal: it needs a broker."""
    if broker.url is None:
        fail(
            f"'finales request {command}' acts on a broker: --server URL or FINALES_SERVER_URL "
            "(with --api-key or FINALES_API_KEY)"
        )
    return client_for(broker)


def _json_value(text: str) -> Any:
    """A flag's value: a JSON literal (298.15, true, [1, 2], {"a": 1}) or else the string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _pairs(items: list[str], flag: str, sep: str = "=") -> list[tuple[str, str]]:
    out_: list[tuple[str, str]] = []
    for item in items:
        name, found, value = item.partition(sep)
        if not found or not name:
            fail(f"{flag} {item!r} is not NAME{sep}VALUE")
        out_.append((name, value))
    return out_


def read_request_file(path: Path) -> dict[str, Any]:
    """A request from a file: ours (JSON or TOML: ``quantity``, ``methods``, ``parameters``
    with one block per method, optional ``parent_request_id``, ``labels``, ``inputs``) or a
    FINALES 2 request file (the same with ``tenant_uuid``, dropped: the credentials say which
    tenant asks). Unknown keys are refused, not dropped unnoticed."""
    try:
        if path.suffix.lower() == ".toml":
            with path.open("rb") as fh:
                data: Any = tomllib.load(fh)
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        fail(f"{path}: not {'TOML' if path.suffix.lower() == '.toml' else 'JSON'}: {exc}")
    if not isinstance(data, dict):
        fail(f"{path}: a request file holds one object (quantity, methods, parameters)")
    unknown = sorted(set(data) - FILE_KEYS)
    if unknown:
        fail(
            f"{path}: a request file has no key {unknown[0]!r} (its keys: quantity, methods, "
            "parameters, parent_request_id, labels, inputs)"
        )
    data.pop("tenant_uuid", None)
    return data


def build_request(
    file: Path | None,
    *,
    quantity: str | None,
    methods: list[str],
    params: list[str],
    labels: list[str],
    parent: str | None,
    inputs: list[str],
) -> dict[str, Any]:
    """The request body: the file's, then the flags on top (``--method`` replaces the file's
    methods; ``--param`` sets a value in every method's block)."""
    body = read_request_file(file) if file is not None else {}
    if quantity:
        body["quantity"] = quantity
    if methods:
        given = body.get("parameters")
        blocks: dict[str, Any] = given if isinstance(given, dict) else {}
        body["methods"] = methods
        body["parameters"] = {m: dict(blocks.get(m) or {}) for m in methods}
    if not body.get("quantity"):
        fail("no quantity: --quantity Q, or a request FILE")
    if not body.get("methods"):
        fail("no method: --method M (repeat for alternatives), or a request FILE")
    body.setdefault("parameters", {m: {} for m in body["methods"]})
    for name, value in _pairs(params, "--param"):
        for block in body["parameters"].values():
            if not isinstance(block, dict):
                fail("--param needs each method's parameters to be an object")
            block[name] = _json_value(value)
    if labels:
        body["labels"] = {**(body.get("labels") or {}), **dict(_pairs(labels, "--label"))}
    if parent:
        body["parent_request_id"] = parent
    if inputs:
        body["inputs"] = [*(body.get("inputs") or []), *inputs]
    return body
