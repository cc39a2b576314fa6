"""``finales archive run`` as a real process: configuration errors naming the key, a token
file others can read, a dry run, a whole run, and a kill at each step of the first and of a
later run (SIGKILL from the InvenioRDM double right after it did the step), after which a
re-run leaves no duplicate record or version, no half-published version, and every published
version recorded once in the broker (both databases)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from finales.archive import make_target, run_once
from finales.archive.invenio_double import InvenioDouble
from finales.testing import LocalBroker, free_port
from tests.acceptance.cli import ROOT
from tests.archive_support import (
    TOKEN,
    TOKEN_ENV,
    ArchiveLab,
    config_dict,
    invenio_config,
    make_lab,
    served_double,
)
from tests.conftest import Clock

ARCHIVE = [sys.executable, "-m", "finales.cli", "archive", "run"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINALES_", TOKEN_ENV))}
    env.update(extra)
    return env


def _write(tmp_path: Path, data: dict[str, Any], name: str = "archive.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _archive(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ARCHIVE, "--config", str(config), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


INVENIO = {"kind": "invenio", "url": "http://127.0.0.1:9", "token": {"env": TOKEN_ENV}}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda c: c["target"].pop("token"), "target.token: missing (required)"),
        (lambda c: c["record"].update(titel="x"), "record.titel: unknown key"),
        (lambda c: c.update(id="Not An Id"), "id: lowercase letters"),
        (lambda c: c["record"]["creators"][0].update(orcid="123"), "record.creators.0.orcid"),
        (lambda c: c["target"].update(kind="zenodo"), "target: Input tag 'zenodo'"),
        (lambda c: c.update(schedule={"every": "often"}), "schedule.every: a duration is"),
        (lambda c: c["target"]["token"].update(file="/x"), "target.token: give exactly one"),
    ],
    ids=["missing", "unknown", "id", "orcid", "kind", "every", "two-sources"],
)
def test_a_configuration_error_names_the_key(tmp_path: Path, change: Any, named: str) -> None:
    data = config_dict(dict(INVENIO))
    data["target"]["token"] = dict(data["target"]["token"])
    change(data)
    path = _write(tmp_path, data)
    line = _one_line_error(_archive(path, _env()))
    assert str(path) in line and named in line


def test_a_token_file_others_can_read_is_refused(tmp_path: Path) -> None:
    token = tmp_path / "invenio.token"
    token.write_text("secret-token-value\n")
    token.chmod(0o644)
    target = {"kind": "invenio", "url": "http://127.0.0.1:9", "token": {"file": str(token)}}
    data = config_dict(target, broker={"url": "http://127.0.0.1:9", "api_key": {"env": "K"}})
    line = _one_line_error(_archive(_write(tmp_path, data), _env(K="key")))
    assert "target.token.file" in line and "mode 0644" in line and "chmod 600" in line
    assert "secret-token-value" not in line


def test_an_unset_variable_is_named(tmp_path: Path) -> None:
    data = config_dict(dict(INVENIO), broker={"url": "http://127.0.0.1:9"})
    line = _one_line_error(_archive(_write(tmp_path, data), _env()))
    assert "broker.api_key.env: the environment variable FINALES_API_KEY is not set" in line


# ---------------------------------------------------------------------------------- runs


@pytest.fixture
def lab(served_broker: LocalBroker, clock: Clock) -> ArchiveLab:
    return make_lab(served_broker, clock)


@pytest.fixture
def double(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[InvenioDouble, str]]:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    d = InvenioDouble({TOKEN: "user-1"})
    with served_double(d) as url:
        yield d, url


def _setup(tmp_path: Path, lab: ArchiveLab, url: str) -> tuple[Path, dict[str, str]]:
    token = tmp_path / "invenio.token"
    token.write_text(TOKEN)
    token.chmod(0o600)
    target = {"kind": "invenio", "url": url, "token": {"file": str(token)}}
    config = _write(tmp_path, config_dict(target))
    env = _env(FINALES_SERVER_URL=lab.broker.url, FINALES_API_KEY=lab.archiver_key)
    return config, env


def test_dry_run_then_run_then_up_to_date(
    lab: ArchiveLab, double: tuple[InvenioDouble, str], tmp_path: Path
) -> None:
    d, url = double
    config, env = _setup(tmp_path, lab, url)
    dry = _archive(config, env, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "create record: version 1 of a new record; would upload" in dry.stdout
    assert "+ results-" in dry.stdout and "+ ro-crate-metadata.json" in dry.stdout
    assert not d.drafts and not d.records
    done = _archive(config, env, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    (record,) = d.records.values()
    assert summary["record_id"] == record.id and summary["version"] == 1
    assert summary["doi"] == record.doi and summary["recorded_result"]
    assert summary["bytes"] == d.bytes_received
    again = _archive(config, env)
    assert again.returncode == 0 and again.stdout.startswith("up to date: version 1 of")
    assert [r.data["version"] for r in lab.deposits()] == [1]


def test_a_refused_token_exits_with_the_servers_message(
    lab: ArchiveLab, double: tuple[InvenioDouble, str], tmp_path: Path
) -> None:
    d, url = double
    config, env = _setup(tmp_path, lab, url)
    (tmp_path / "invenio.token").write_text("revoked")
    line = _one_line_error(_archive(config, env))
    assert "answered 401 to GET /api/user/records: The server could not verify" in line
    assert not d.drafts and not d.records and lab.deposits() == []


FIRST_RUN_STEPS = ["create", "update", "init", "content", "commit", "publish"]
LATER_RUN_STEPS = [
    "new-version",
    "import",
    "update",
    "delete-file",
    "init",
    "content",
    "commit",
    "publish",
]


@pytest.mark.parametrize(
    ("later", "step"),
    [(False, s) for s in FIRST_RUN_STEPS] + [(True, s) for s in LATER_RUN_STEPS],
    ids=[f"first-{s}" for s in FIRST_RUN_STEPS] + [f"later-{s}" for s in LATER_RUN_STEPS],
)
def test_killed_at_a_step_then_run_again(
    lab: ArchiveLab,
    double: tuple[InvenioDouble, str],
    tmp_path: Path,
    later: bool,
    step: str,
) -> None:
    d, url = double
    config_file, env = _setup(tmp_path, lab, url)
    config = invenio_config(url)
    versions = 1
    if later:
        target, close = make_target(config)
        run_once(config, client=lab.archiver, target=target)
        close()
        lab.post_results(2, temperature=330.0)
        versions = 2
    proc: dict[str, subprocess.Popen[str]] = {}
    killed: list[str] = []

    def kill() -> None:
        if not killed:
            killed.append(step)
            os.kill(proc["p"].pid, signal.SIGKILL)

    d.after(step, kill)
    proc["p"] = subprocess.Popen(
        [*ARCHIVE, "--config", str(config_file)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, stderr = proc["p"].communicate(timeout=120)
    assert proc["p"].returncode == -signal.SIGKILL and killed == [step], stderr
    d.hooks.clear()

    target, close = make_target(config)
    report = run_once(config, client=lab.archiver, target=target)
    close()

    parents = {r.parent for r in d.records.values()}
    assert len(parents) == 1 and not d.drafts  # one record, nothing half-done left open
    (parent,) = parents
    assert [v.index for v in d.versions_of(parent)] == list(range(1, versions + 1))
    latest = d.versions_of(parent)[-1]
    assert report.plan.action in ("resume draft", "up to date", "new version")
    assert {k: f.status for k, f in latest.files.items()} == dict.fromkeys(
        lab.dataset(config).checksums(), "completed"
    )
    assert {
        k: hashlib.md5(f.content or b"", usedforsecurity=False).hexdigest()
        for k, f in latest.files.items()
    } == lab.dataset(config).checksums()
    deposits = lab.deposits()
    assert sorted(r.data["version"] for r in deposits) == list(range(1, versions + 1))
    assert deposits[-1].data["record_id"] == latest.id
    if step == "publish":  # the killed run published; the next one recorded it after the fact
        assert deposits[-1].data["uploaded"] is None


# ---------------------------------------------------------------------------------- README


def _archive_walk() -> str:
    text = (ROOT / "README.md").read_text()
    block = re.search(
        r"<!-- archive-walk:start -->\s*```bash\n(.*?)```\s*<!-- archive-walk:end -->", text, re.S
    )
    assert block, "the README lost its archive walk"
    return block.group(1)


def test_the_readme_archive_walk_runs(
    served_broker: LocalBroker, clock: Clock, database_url: str, tmp_path: Path
) -> None:
    """The README's commands, verbatim but for the double's port (5000 may be taken) and the
    configuration's path (a copy with that port), on a broker that has run a campaign."""
    make_lab(served_broker, clock, archiver=False)
    port = str(free_port())
    config = tmp_path / "invenio.yaml"
    example = (ROOT / "examples" / "archive" / "invenio.yaml").read_text()
    config.write_text(example.replace("127.0.0.1:5000", f"127.0.0.1:{port}"))
    script = _archive_walk().replace("--port 5000", f"--port {port}")
    script = script.replace("127.0.0.1:5000", f"127.0.0.1:{port}")
    script = script.replace("examples/archive/invenio.yaml", str(config))
    env = _env(
        FINALES_SERVER_URL=served_broker.url,
        FINALES_HOME=str(served_broker.settings.home),
        TMPDIR=str(tmp_path),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    )
    if not database_url.startswith("sqlite"):
        env["FINALES_DATABASE_URL"] = database_url
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "create record: version 1 of a new record; would upload" in out
    assert "DOI 10.5072/finales-double." in out
    assert "up to date: version 1 of" in out
    record = re.search(r"^(\w{5}-\w{5}) 1 10\.5072/finales-double\.\1$", out, re.M)
    assert record is not None, out
    files = re.search(r"^1 10\.5072/finales-double\.(\w{5}-\w{5}) (\d+) files$", out, re.M)
    assert files is not None and files.group(1) == record.group(1), out
    assert int(files.group(2)) >= 10


def test_every_runs_as_a_tenant_until_sigterm(lab: ArchiveLab, tmp_path: Path) -> None:
    """``--every``: a run, then another after the interval that finds the new results; a
    failing run does not end the loop; SIGTERM ends it with status 0."""
    folder = tmp_path / "crate"
    config = _write(tmp_path, config_dict({"kind": "rocrate", "folder": str(folder)}))
    env = _env(FINALES_SERVER_URL=lab.broker.url, FINALES_API_KEY=lab.archiver_key)
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            [*ARCHIVE, "--config", str(config), "--every", "1s"],
            env=env,
            cwd=ROOT,
            stdout=stdout,
            stderr=stderr,
        )
        try:
            _until(lambda: [r.data["version"] for r in lab.deposits()] == [1])
            lab.post_results(1, temperature=340.0)
            _until(lambda: [r.data["version"] for r in lab.deposits()] == [1, 2])
            # A run that fails (the folder now names another archive) does not end the loop.
            (folder / ".finales-archive.json").write_text('{"identifier": "someone else"}')
            _until(lambda: "choose another folder" in err.read_text())
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    assert proc.returncode == 0, err.read_text()
    printed = out.read_text()
    assert "write crate: version 1 of urn:finales:archive:test-lab" in printed
    assert "write crate: version 2 of urn:finales:archive:test-lab" in printed
    assert "holds the archive someone else, not urn:finales:archive:test-lab" in err.read_text()


def _until(condition: Any, timeout_s: float = 60) -> None:
    """Poll until ``condition()`` holds (a bound on waiting, not a timed assertion)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the archiver did not get there in time"
        time.sleep(0.1)
