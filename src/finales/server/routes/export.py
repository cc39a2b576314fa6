"""Consistent snapshots for the archiver role."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, BackgroundTasks
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy.engine import make_url

from finales.domain.principals import Role
from finales.errors import BadRequest
from finales.server.deps import CurrentPrincipal, StateDep
from finales.services import export

router = APIRouter(tags=["export"])


SNAPSHOT_CONTENT = {
    "application/json": {"schema": {"type": "object"}},
    "application/vnd.sqlite3": {"schema": {"type": "string", "format": "binary"}},
}


@router.get(
    "/export/snapshot",
    responses={200: {"description": "JSON bundle or SQLite file", "content": SNAPSHOT_CONTENT}},
)
def snapshot(
    st: StateDep,
    principal: CurrentPrincipal,
    background: BackgroundTasks,
    format: Literal["json", "sqlite"] = "json",
):
    """A consistent snapshot of the whole database (archiver or admin), without secrets.

    ``json`` works on both backends (one repeatable-read transaction); ``sqlite`` returns a
    copy of the SQLite file made with the online-backup API.
    """
    principal.require(Role.ARCHIVER, Role.ADMIN)
    if format == "json":
        with st.db.read() as s:
            return JSONResponse(export.json_bundle(s))
    if st.db.dialect != "sqlite":
        raise BadRequest("format=sqlite needs a SQLite database; use format=json")
    return sqlite_snapshot(
        st, background, media_type="application/vnd.sqlite3", filename="finales-snapshot.sqlite"
    )


def sqlite_snapshot(
    st: StateDep, background: BackgroundTasks, *, media_type: str, filename: str
) -> FileResponse:
    """A consistent copy of the SQLite database (online backup, secrets blanked), sent as a
    file and deleted once sent; no server path reaches the client."""
    fd, name = tempfile.mkstemp(suffix=".sqlite", prefix="finales-snapshot-")
    os.close(fd)
    export.sqlite_backup(str(make_url(st.db.url).database), Path(name))
    background.add_task(os.unlink, name)
    return FileResponse(name, media_type=media_type, filename=filename)
