"""Consistent snapshots for the archiver role."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, BackgroundTasks
from fastapi.responses import JSONResponse, Response

from finales.server.deps import CurrentPrincipal, StateDep, send_file
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
) -> Response:
    """A consistent snapshot of the whole database (archiver or admin), without secrets.

    ``json`` works on both backends (one repeatable-read transaction); ``sqlite`` returns a
    copy of the SQLite file made with the online-backup API.
    """
    if format == "json":
        with st.tx.read() as conn:
            return JSONResponse(export.snapshot_json(conn, principal))
    path = export.sqlite_snapshot(st.db, principal)
    return send_file(
        path, background, media_type="application/vnd.sqlite3", filename="finales-snapshot.sqlite"
    )
