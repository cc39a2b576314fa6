"""One complete cycle through a real broker on a temporary SQLite home, step by step."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from finales.demo.serving import keep_serving
from finales.domain.principals import Role
from finales.testing import LocalBroker

REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "temperature": {"type": "number", "description": "Unit: kelvin"},
        "lipf6_molality": {"type": "number", "minimum": 0, "description": "Unit: mol/kg"},
    },
    "required": ["temperature", "lipf6_molality"],
    "additionalProperties": False,
}
RESULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"conductivity": {"type": "number", "description": "Unit: S/m"}},
    "required": ["conductivity"],
}


def run_demo(*, keep_server: bool = False, home: Path | None = None) -> dict[str, Any]:
    """Start a broker, walk one request through its lifecycle and print each step."""
    console = Console()
    console.print(
        "[bold]finales demo --cycle[/bold] walks one request through a real local broker "
        "(without --cycle: the whole conductivity campaign)."
    )
    with tempfile.TemporaryDirectory(prefix="finales-demo-") as tmp:
        broker = LocalBroker(home or Path(tmp))
        with broker:
            broker.add_capability("conductivity", "two_electrode", REQUEST_SCHEMA, RESULT_SCHEMA)
            tid = broker.add_tenant(
                "robot",
                offers=[
                    {
                        "quantity": "conductivity",
                        "method": "two_electrode",
                        "limitations": {
                            "temperature": [{"min": 273.15, "max": 333.15}],
                            "lipf6_molality": [{"min": 0.0, "max": 3.0}],
                        },
                    }
                ],
            )
            admin_key = broker.add_user("admin", role=Role.ADMIN)
            admin = {"Authorization": "Bearer " + admin_key}
            robot = {
                "Authorization": "Bearer "
                + broker.add_user("robot-bot", role=Role.TENANT, tenant_id=tid)
            }
            console.print(f"broker at {broker.url} (data in {broker.settings.home})")
            summary = _cycle(console, broker.url, admin, robot)
            if keep_server:
                keep_serving(broker, console, admin="admin", api_key=admin_key)
    return summary


def _cycle(
    console: Console, url: str, admin: dict[str, str], robot: dict[str, str]
) -> dict[str, Any]:
    with httpx.Client(base_url=url + "/api/v1", timeout=30) as c:
        req = (
            c.post(
                "/requests",
                headers=admin,
                json={
                    "quantity": "conductivity",
                    "methods": ["two_electrode"],
                    "parameters": {"two_electrode": {"temperature": 298.15, "lipf6_molality": 1.0}},
                },
            )
            .raise_for_status()
            .json()
        )
        console.print(f"1. requested conductivity: request {req['id']} is {req['status']}")
        work = c.get("/work", headers=robot, params={"wait": 5}).raise_for_status().json()
        console.print(f"2. the robot sees {len(work)} matching request(s)")
        claimed = (
            c.post(f"/requests/{req['id']}/claim", headers=robot, json={"lease_seconds": 60})
            .raise_for_status()
            .json()
        )
        console.print(f"3. claimed: {claimed['status']} until {claimed['lease_expires_at']}")
        result = (
            c.post(
                "/results",
                headers=robot,
                json={
                    "request_id": req["id"],
                    "quantity": "conductivity",
                    "method": "two_electrode",
                    "parameters": req["parameters"]["two_electrode"],
                    "data": {"conductivity": 0.91},
                },
            )
            .raise_for_status()
            .json()
        )
        console.print(f"4. result {result['id']}: {result['data']['conductivity']} S/m")
        history = c.get(f"/requests/{req['id']}/history", headers=admin).raise_for_status().json()
        steps = " -> ".join(e["to_status"] for e in history)
        console.print(f"5. history: {steps}")
    return {"request": req["id"], "result": result["id"], "history": steps}
