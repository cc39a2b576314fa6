"""The framework ceiling: a no-op FastAPI app answering the four calls of a broker cycle.

Same framework, server and client as finales, no database and no validation, so that
finales' cycle rate divided by this one says what the broker itself costs.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI

app = FastAPI()


@app.post("/api/v1/requests", status_code=201)
def post_request(body: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "status": "pending", **body}


@app.get("/api/v1/work")
def work() -> list[dict[str, Any]]:
    return []


@app.post("/api/v1/requests/{request_id}/claim")
def claim(request_id: str) -> dict[str, Any]:
    return {"id": request_id, "status": "reserved"}


@app.post("/api/v1/results", status_code=201)
def post_result(body: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "status": "original", **body}
