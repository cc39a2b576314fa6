"""``archive / deposit``: one run of the archiver, recorded as a result so that the history of
the archive (which record, which version, which files) is itself data in the broker.

The archiver posts it unsolicited (nobody asks for a scheduled run; the unsolicited result
creates its request in the same transaction). Its fields hold identifiers and checksums, no
physical quantities, so none carries an ontology concept.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from .common import Model

Md5 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]


class DepositInput(Model):
    """Parameters of ``archive / deposit``: which archive, on which target."""

    archive: str = Field(
        min_length=1,
        max_length=200,
        description="The identifier the record carries, e.g. urn:finales:archive:bigmap-lab.",
    )
    target: Literal["invenio", "rocrate"] = Field(
        description="An InvenioRDM instance or an RO-Crate folder."
    )
    location: str = Field(
        min_length=1,
        max_length=2000,
        description="The InvenioRDM base URL or the RO-Crate folder.",
    )


class DepositedFile(Model):
    """One file of the deposited version."""

    key: str = Field(min_length=1, max_length=500, description="The file's name in the record.")
    md5: Md5 = Field(description="MD5 checksum of the file's bytes (hex).")
    size: int = Field(ge=0, description="Size in bytes.")


class DepositOutput(Model):
    """Result data of ``archive / deposit``."""

    record_id: str = Field(min_length=1, description="The published version's record id.")
    parent_id: str | None = Field(
        None, description="The id shared by every version of the record (InvenioRDM parent)."
    )
    version: int = Field(ge=1, description="The version's index: 1 for the first.")
    doi: str | None = Field(None, description="The DOI of the version, where the archive gave one.")
    url: str | None = Field(None, description="The version's landing page.")
    files: list[DepositedFile] = Field(description="Every file of the version.")
    uploaded: list[str] | None = Field(
        description="Keys of the files this run sent (the others were carried over from the "
        "previous version); null when a later run recorded a deposit it found published."
    )
    bytes_uploaded: int | None = Field(ge=0, description="Bytes sent by this run (null: unknown).")
    snapshot_results: int = Field(ge=0, description="Results in the archived snapshot.")
