"""Deposit a dataset in a folder, as an RO-Crate (``target: {kind: rocrate, folder: ...}``).

Safe to kill: each changed file is written to a temporary name and moved into place
(``os.replace``, atomic on one file system); ``ro-crate-metadata.json`` is written after the
data files and ``.finales-archive.json`` (this archive's identifier, version and files)
last, so a crate whose state names version N holds exactly version N's files. A re-run after
a kill compares the folder's files with the dataset by MD5 and finishes the job. Only files
this archiver wrote (listed in its state) are ever deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from finales.archive.config import ArchiveConfig
from finales.archive.dataset import Dataset
from finales.archive.invenio import ArchiveError, Deposit, Plan

STATE = ".finales-archive.json"


def _md5(path: Path) -> str | None:
    try:
        return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
    except FileNotFoundError:
        return None


def _write_atomic(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class FolderTarget:
    """An RO-Crate in a folder, updated in place."""

    def __init__(self, config: ArchiveConfig, folder: Path) -> None:
        self.config = config
        self.folder = folder

    def _state(self) -> dict[str, Any]:
        path = self.folder / STATE
        if not path.exists():
            return {"version": 0, "files": {}}
        state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if state.get("identifier") != self.config.identifier:
            raise ArchiveError(
                f"{self.folder} holds the archive {state.get('identifier')}, "
                f"not {self.config.identifier}: choose another folder"
            )
        return state

    def plan(self, dataset: Dataset) -> Plan:
        state = self._state()
        plan = Plan(action="", record_id=self.config.identifier)
        for f in dataset.files:
            if _md5(self.folder / f.key) == f.md5:
                plan.keep.append(f.key)
            else:
                plan.upload.append(f)
        plan.delete = sorted(set(state["files"]) - set(dataset.by_key()))
        unchanged = state["files"] == dataset.checksums() and not plan.upload
        plan.action = "up to date" if unchanged else "write crate"
        plan.version = state["version"] if unchanged else state["version"] + 1
        return plan

    def deposit(self, dataset: Dataset) -> Deposit | None:
        plan = self.plan(dataset)
        if plan.action == "up to date":
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        crate_last = sorted(plan.upload, key=lambda f: f.key == "ro-crate-metadata.json")
        for f in crate_last:
            _write_atomic(self.folder / f.key, f.content)
        for key in plan.delete:
            (self.folder / key).unlink(missing_ok=True)
        assert plan.version is not None
        state = {
            "identifier": self.config.identifier,
            "version": plan.version,
            "files": dataset.checksums(),
        }
        _write_atomic(
            self.folder / STATE, (json.dumps(state, indent=1, sort_keys=True) + "\n").encode()
        )
        sizes = {f.key: f.size for f in dataset.files}
        uploaded = [f.key for f in plan.upload]
        return self._deposit(plan.version, dataset.checksums(), sizes, uploaded, plan.bytes)

    def latest(self, dataset: Dataset) -> Deposit | None:  # noqa: ARG002 - the folder knows
        """The version the folder holds (None: no crate written yet)."""
        state = self._state()
        if not state["version"]:
            return None
        files: dict[str, str] = state["files"]
        sizes = {k: (self.folder / k).stat().st_size for k in files if (self.folder / k).exists()}
        return self._deposit(state["version"], files, sizes, None, None)

    def _deposit(
        self,
        version: int,
        files: dict[str, str],
        sizes: dict[str, int],
        uploaded: list[str] | None,
        sent: int | None,
    ) -> Deposit:
        return Deposit(
            # One folder, one archive: the record is the archive's identifier, and each
            # version of it gets its own result (the version tells them apart).
            record_id=f"{self.config.identifier}@{version}",
            parent_id=self.config.identifier,
            version=version,
            doi=None,
            url=self.folder.resolve().as_uri(),
            files=files,
            sizes=sizes,
            uploaded=uploaded,
            bytes_uploaded=sent,
        )
