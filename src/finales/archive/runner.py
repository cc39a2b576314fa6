"""One archive run: snapshot -> dataset -> target -> the deposit recorded in the broker.

The order makes every failure harmless: the broker is only read (one consistent snapshot)
until the archive has published; an unreachable archive or a refused token stops the run
before anything changed. The run is recorded last, as an unsolicited ``archive / deposit``
result of the archiver's tenant (nobody asks for a scheduled run; an unsolicited result
creates its request in the same transaction, so there is never a claimed request waiting for
a result a killed run will not post). A run killed after publishing but before recording is
caught up by the next run, which records any published version the broker does not know.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from finales.archive.config import ArchiveConfig, InvenioTarget, RoCrateTarget
from finales.archive.dataset import DEPOSIT, Dataset, JsonLd, build_files, checksums_file
from finales.archive.folder import FolderTarget
from finales.archive.invenio import ArchiveError, Deposit, InvenioClient, Plan
from finales.archive.invenio import InvenioTarget as InvenioDepositor
from finales.archive.rocrate import crate_metadata
from finales.client import FinalesClient
from finales.errors import FinalesError
from finales.semantics import snapshot_to_jsonld

log = logging.getLogger("finales.archive")


class Target(Protocol):
    def plan(self, dataset: Dataset) -> Plan: ...

    def deposit(self, dataset: Dataset) -> Deposit | None: ...

    def latest(self, dataset: Dataset) -> Deposit | None: ...


class _Invenio:
    """The InvenioRDM depositor behind the Target protocol."""

    def __init__(self, depositor: InvenioDepositor) -> None:
        self.depositor = depositor

    def plan(self, dataset: Dataset) -> Plan:
        return self.depositor.plan(dataset)[0]

    def deposit(self, dataset: Dataset) -> Deposit | None:
        return self.depositor.deposit(dataset)

    def latest(self, dataset: Dataset) -> Deposit | None:  # noqa: ARG002 - the archive knows
        latest, _ = self.depositor.find()
        return None if latest is None else self.depositor.describe(latest)


@dataclass
class RunReport:
    """What a run did (or, dry, would do)."""

    plan: Plan
    dataset: Dataset
    deposit: Deposit | None = None
    recorded: str | None = None  # id of the archive/deposit result posted by this run


def build_dataset(
    snapshot: dict[str, Any], config: ArchiveConfig, *, jsonld: JsonLd = snapshot_to_jsonld
) -> Dataset:
    """The dataset's files, the JSON-LD graph of each period (``finales.semantics``),
    checksums and RO-Crate metadata, from one snapshot."""
    files, results, newest = build_files(snapshot, config, jsonld=jsonld)
    files.append(checksums_file(files))
    files.append(crate_metadata(files, config, date=newest))
    return Dataset(tuple(sorted(files, key=lambda f: f.key)), results, newest)


def make_target(config: ArchiveConfig, **invenio: Any) -> tuple[Target, Callable[[], None]]:
    """The configured target and a function that closes it. Reads the token (a ConfigError
    when it is missing or its file is readable by others)."""
    spec = config.target
    if isinstance(spec, RoCrateTarget):
        return FolderTarget(config, spec.folder), lambda: None
    assert isinstance(spec, InvenioTarget)
    token = spec.token.read("target.token")
    client = InvenioClient(spec.url, token, verify=spec.verify_tls, **invenio)
    return _Invenio(InvenioDepositor(config, client)), client.close


def location(config: ArchiveConfig) -> str:
    spec = config.target
    return str(spec.folder) if isinstance(spec, RoCrateTarget) else spec.url


def check_archiver(client: FinalesClient) -> str:
    """The tenant the archiver's credentials post as; a clear error before any work when
    they cannot (the snapshot needs role archiver, the record a tenant)."""
    me = client.me()
    if me.role != "archiver" or not me.tenant_id:
        raise ArchiveError(
            f"the broker credentials are {me.name!r} (role {me.role}"
            f"{', no tenant' if not me.tenant_id else ''}); the archiver needs a principal of "
            "role archiver bound to its tenant: finales user add NAME --role archiver "
            "--tenant TENANT"
        )
    return me.tenant_id


def recorded_ids(client: FinalesClient, tenant_id: str, config: ArchiveConfig) -> set[str]:
    """Record ids of this archive's deposits the broker already holds."""
    found = set()
    for r in client.iter_results(quantity=DEPOSIT[0], method=DEPOSIT[1], tenant=tenant_id):
        if r.parameters.get("archive") == config.identifier:
            found.add(str(r.data.get("record_id")))
    return found


def record(client: FinalesClient, config: ArchiveConfig, deposit: Deposit, dataset: Dataset) -> str:
    """Post the deposit as an unsolicited archive/deposit result; returns its id."""
    kind = "rocrate" if isinstance(config.target, RoCrateTarget) else "invenio"
    data = {
        "record_id": deposit.record_id,
        "parent_id": deposit.parent_id,
        "version": deposit.version,
        "doi": deposit.doi,
        "url": deposit.url,
        "files": [
            {"key": key, "md5": md5, "size": deposit.sizes.get(key, 0)}
            for key, md5 in sorted(deposit.files.items())
        ],
        "uploaded": deposit.uploaded,
        "bytes_uploaded": deposit.bytes_uploaded,
        "snapshot_results": dataset.results,
    }
    result = client.post_result(
        quantity=DEPOSIT[0],
        method=DEPOSIT[1],
        parameters={"archive": config.identifier, "target": kind, "location": location(config)},
        data=data,
        # One deposit, one result, however often a retry repeats the call.
        idempotency_key=f"archive-deposit:{config.identifier}:{deposit.record_id}:{deposit.version}",
    )
    return result.id


def run_once(
    config: ArchiveConfig,
    *,
    client: FinalesClient,
    target: Target,
    dry_run: bool = False,
    jsonld: JsonLd = snapshot_to_jsonld,
) -> RunReport:
    """One run. Raises ArchiveError (the archive's answer) or FinalesError (the broker's)."""
    tenant_id = check_archiver(client)
    snapshot = client.export_snapshot()
    dataset = build_dataset(snapshot, config, jsonld=jsonld)
    plan = target.plan(dataset)
    report = RunReport(plan=plan, dataset=dataset)
    if dry_run:
        return report
    # A version published by a run killed before it recorded it is recorded first (its
    # upload figures are not known any more), so the broker's history has no gap.
    latest = target.latest(dataset)
    if latest is not None and latest.record_id not in recorded_ids(client, tenant_id, config):
        report.recorded = record(client, config, latest, dataset)
    deposit = target.deposit(dataset)
    if deposit is None:
        return report
    report.deposit = deposit
    try:
        report.recorded = record(client, config, deposit, dataset)
    except FinalesError as exc:
        raise ArchiveError(
            f"published version {deposit.version} ({deposit.record_id}) but could not record "
            f"it in the broker: {exc.detail}; the next run records it"
        ) from None
    return report
