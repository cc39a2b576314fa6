"""``finales archive run``: publish the broker's data to an archive (InvenioRDM or an RO-Crate
folder), a new version each run that finds new data.

Needs the archive extra (PyYAML), imported when the command runs. Never asks a question: it
runs from cron or as a long-lived tenant (``--every``).
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from finales.cli.context import emit_json, err, fail, needs, out
from finales.errors import FinalesError

if TYPE_CHECKING:
    from finales.archive import ArchiveConfig, RunReport

SNAPSHOT_TIMEOUT_S = 900.0

archive_app = typer.Typer(
    help="The archiver: publish the broker's data to InvenioRDM or an RO-Crate folder.",
    no_args_is_help=True,
)


def _duration(value: str | None) -> float | None:
    if value is None:
        return None
    from finales.archive.config import parse_duration

    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if not isinstance(seconds, float) or seconds <= 0:
        raise typer.BadParameter("a duration is e.g. 30m, 6h or 1d")
    return seconds


def _summary(report: RunReport, dry_run: bool) -> dict[str, Any]:
    plan = report.plan
    summary: dict[str, Any] = {
        "action": plan.action,
        "record_id": plan.record_id,
        "version": plan.version,
        "files": len(report.dataset.files),
        "results": report.dataset.results,
        "upload": [{"key": f.key, "size": f.size, "md5": f.md5} for f in plan.upload],
        "delete": plan.delete,
        "unchanged": len(plan.keep),
        "bytes": plan.bytes,
        "dry_run": dry_run,
    }
    if report.deposit is not None:
        d = report.deposit
        summary.update(record_id=d.record_id, version=d.version, doi=d.doi, url=d.url)
        summary["bytes"] = d.bytes_uploaded
    summary["recorded_result"] = report.recorded
    return summary


def _print(summary: dict[str, Any]) -> None:
    dry = summary["dry_run"]
    if summary["action"] == "up to date":
        out.print(
            f"up to date: version {summary['version']} of {summary['record_id']} holds the "
            f"same {summary['files']} files ({summary['results']} results)",
            highlight=False,
        )
    else:
        verb = "would upload" if dry else "uploaded"
        where = summary["record_id"] or "a new record"
        out.print(
            f"{summary['action']}: version {summary['version']} of {where}; {verb} "
            f"{len(summary['upload'])} of {summary['files']} files ({summary['bytes']} bytes), "
            f"{summary['unchanged']} unchanged",
            highlight=False,
        )
        for f in summary["upload"]:
            out.print(f"  {'+' if dry else 'sent'} {f['key']}  {f['size']} B  md5 {f['md5']}")
        for key in summary["delete"]:
            out.print(f"  {'-' if dry else 'removed'} {key}", highlight=False)
    if summary.get("doi"):
        out.print(f"DOI {summary['doi']}  {summary.get('url') or ''}", highlight=False)
    if summary["recorded_result"]:
        out.print(f"recorded in the broker as result {summary['recorded_result']}")


def _once(config: ArchiveConfig, *, dry_run: bool, as_json: bool) -> None:
    """One run; raises ArchiveError / ConfigError / FinalesError."""
    from finales.archive import ConfigError, make_target, run_once
    from finales.client import FinalesClient

    url = config.broker.url or os.environ.get("FINALES_SERVER_URL")
    if not url:
        raise ConfigError("broker.url: not set (nor FINALES_SERVER_URL)")
    key = config.broker.api_key.read("broker.api_key")
    target, close = make_target(config)
    try:
        # A snapshot of a large broker takes a while to make and to send: one long call.
        with FinalesClient(url, api_key=key, timeout_s=SNAPSHOT_TIMEOUT_S) as client:
            report = run_once(config, client=client, target=target, dry_run=dry_run)
    finally:
        close()
    summary = _summary(report, dry_run)
    if as_json:
        emit_json(summary)
    else:
        _print(summary)


@archive_app.command("run")
def run(
    config_file: Annotated[
        Path, typer.Option("--config", help="the archive's YAML configuration (docs/archive.md)")
    ],
    every: Annotated[
        str | None,
        typer.Option(
            "--every",
            help="run again after this long, e.g. 6h (else schedule.every in the file; "
            "without either: run once)",
        ),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="one run, whatever the file's schedule (for cron)")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="list what would be uploaded; change nothing")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="print each run's summary as JSON")
    ] = False,
) -> None:
    """Snapshot the broker, cut it into files and deposit the ones that changed.

    The first run creates the record (InvenioRDM) or the crate (folder); later runs publish a
    new version only when data changed, uploading only new and changed files. Safe to
    re-run and to kill: it finds its record by the identifier in its metadata and resumes an
    open draft. Each deposit is recorded in the broker as an archive/deposit result. Exit 1
    with the server's message when a run fails (with --every: the loop goes on).
    """
    with needs("archive", "finales archive run"):
        from finales.archive import ArchiveError, ConfigError, load

    try:
        config = load(config_file)
    except ConfigError as exc:
        fail(str(exc))
    interval = _duration(every) or config.schedule.every
    if interval is None or dry_run or once:
        try:
            _once(config, dry_run=dry_run, as_json=as_json)
        except (ArchiveError, ConfigError) as exc:
            fail(str(exc))
        except FinalesError as exc:
            fail(f"broker: {exc.detail}")
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.is_set():
        try:
            _once(config, dry_run=False, as_json=as_json)
        except (ArchiveError, ConfigError) as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False, markup=True)
        except FinalesError as exc:
            err.print(f"[red]error:[/red] broker: {exc.detail}", highlight=False)
        out.print(f"next run in {interval:g} s", highlight=False)
        stop.wait(interval)
