"""``finales export jsonld DIR``: the whole broker as JSON-LD with the BattINFO ontology.

Reads one consistent snapshot - from a broker (``--server``, else ``FINALES_SERVER_URL``,
with an archiver's or an admin's API key or login: ``GET /api/v1/export/snapshot``) or, when
none is named, from the local database (``FINALES_HOME`` / ``FINALES_DATABASE_URL``; the
server extra) - and writes it with :func:`finales.semantics.snapshot_to_jsonld`:

- default: one graph, ``DIR/finales.jsonld`` (capabilities, tenants, agents, requests,
  results in one ``@graph``);
- ``--per-kind``: one graph per kind, ``DIR/capabilities.jsonld``, ``tenants.jsonld`` (with
  the agents that posted requests without a tenant), ``chemicals.jsonld`` (the chemicals the
  values are of, which the others refer to), ``requests.jsonld``, ``results.jsonld``.

Each file names the BattINFO battery context by its URL and embeds the finales context
(see docs/semantics.md). Files are written whole or not at all (a temporary file, renamed).
Writing needs no JSON-LD library: ``pip install finales`` suffices against a server.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from finales.cli.broker import ConfigOpt, KeyOpt, PasswordStdinOpt, ServerOpt, UserOpt
from finales.cli.context import emit_json, errors, fail, needs, out
from finales.cli.request_input import broker_options, client_for

export_app = typer.Typer(
    help="Export the broker's data in standard formats (from a broker: --server or "
    "FINALES_SERVER_URL, as archiver or admin; else from the local database).",
    no_args_is_help=True,
)
KINDS = {
    "capabilities": ("finales:Capability",),
    "tenants": ("finales:Tenant", "prov:Agent"),
    "chemicals": ("finales:Chemical",),
    "requests": ("finales:Request",),
    "results": ("finales:Result",),
}


def _kind(node: dict[str, Any]) -> str:
    types = node.get("@type", [])
    types = [types] if isinstance(types, str) else types
    for kind, names in KINDS.items():
        if any(t in names for t in types):
            return kind
    raise AssertionError(f"a node of no known kind: {node.get('@id')}")  # snapshot_to_jsonld


def _snapshot(server: str | None, api_key: str | None, username: str | None,
              password_stdin: bool, config: Path | None) -> dict[str, Any]:  # fmt: skip
    broker = broker_options(server, api_key, username, password_stdin, config)
    if broker.url is not None:
        with errors(), client_for(broker) as client:
            snapshot: dict[str, Any] = client.export_snapshot()
            return snapshot
    with needs("server", "exporting the local database"):
        from finales.cli import store
        from finales.services.export import json_bundle
    return store.read(json_bundle)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write(path: Path, document: dict[str, Any]) -> None:
    """``document`` at ``path``, whole or not at all, with the mode a new file gets (the
    temporary file's 0600 is for the time it is incomplete)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(document, fh, indent=1, ensure_ascii=False)
            fh.write("\n")
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@export_app.command("jsonld")
def jsonld(
    directory: Annotated[
        Path, typer.Argument(metavar="DIR", help="where to write (made if missing)")
    ],
    per_kind: Annotated[
        bool,
        typer.Option(
            "--per-kind",
            help="one file per kind (capabilities, tenants, chemicals, requests, results) "
            "instead of one graph in finales.jsonld",
        ),
    ] = False,
    server: ServerOpt = None,
    api_key: KeyOpt = None,
    username: UserOpt = None,
    password_stdin: PasswordStdinOpt = False,
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Write every capability, tenant, request and result as JSON-LD (BattINFO / EMMO
    ontology, PROV-O): values typed by their concept and unit, see docs/semantics.md."""
    if directory.exists() and not directory.is_dir():
        fail(f"cannot write to {directory}: it is not a directory")
    snapshot = _snapshot(server, api_key, username, password_stdin, config)
    from finales.semantics import graph_document, snapshot_to_jsonld

    with errors():
        document = snapshot_to_jsonld(snapshot)
    nodes = document["@graph"]
    counts = dict.fromkeys(KINDS, 0)
    for node in nodes:
        counts[_kind(node)] += 1
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if per_kind:
            files = []
            for kind in KINDS:
                path = directory / f"{kind}.jsonld"
                _write(path, graph_document(n for n in nodes if _kind(n) == kind))
                files.append(path)
        else:
            files = [directory / "finales.jsonld"]
            _write(files[0], document)
    except OSError as exc:
        fail(f"cannot write to {directory}: {exc.strerror or exc}")
    if as_json:
        emit_json({"files": [str(f) for f in files], "counts": counts})
        return
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    out.print(f"{summary} written to {', '.join(str(f) for f in files)}", highlight=False)
