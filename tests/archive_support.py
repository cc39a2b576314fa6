"""A small lab for archiver tests: a broker with results spread over three months, an
archiver principal bound to its tenant, and the InvenioRDM test double served by uvicorn on a
free port. Shared by the integration and acceptance tests and the benchmark."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from finales.archive import ArchiveConfig, build_dataset
from finales.archive.config import parse
from finales.archive.dataset import Dataset
from finales.archive.invenio_double import InvenioDouble
from finales.capabilities import EXAMPLES, get
from finales.client import FinalesClient
from finales.domain.principals import Role
from finales.testing import LocalBroker, free_port

TOKEN = "token-of-the-archiver"
TOKEN_ENV = "TEST_INVENIO_TOKEN"
CONDUCTIVITY = ("conductivity", "two_electrode")
DAY_S = 86400.0


@dataclass
class ArchiveLab:
    """The broker side of the archiver's tests."""

    broker: LocalBroker
    robot: FinalesClient  # a tenant that posts results
    archiver: FinalesClient  # role archiver, bound to the archiver tenant
    archiver_key: str
    archiver_tenant: str

    def post_results(self, n: int, *, temperature: float = 298.15) -> list[str]:
        ids = []
        params = EXAMPLES[CONDUCTIVITY]["request"]
        data = EXAMPLES[CONDUCTIVITY]["result"]
        for i in range(n):
            p = {**params, "temperature": temperature + i}  # type: ignore[dict-item]
            r = self.robot.post_result(
                quantity=CONDUCTIVITY[0],
                method=CONDUCTIVITY[1],
                parameters=p,
                data=data,  # type: ignore[arg-type]
            )
            ids.append(r.id)
        return ids

    def deposits(self) -> list[Any]:
        return list(self.archiver.iter_results(quantity="archive", method="deposit"))

    def dataset(self, config: ArchiveConfig) -> Dataset:
        """The dataset of the broker's current state, as a run would build it."""
        return build_dataset(self.archiver.export_snapshot(), config)


def make_lab(broker: LocalBroker, clock: Any, *, archiver: bool = True) -> ArchiveLab:
    """Capabilities, a robot and (unless ``archiver`` is false) an archiver with the
    archive/deposit capability; results two months ago, last month and now."""
    for key in (CONDUCTIVITY, ("archive", "deposit")) if archiver else (CONDUCTIVITY,):
        cap = get(*key)
        broker.add_capability(*key, cap.request_schema(), cap.result_schema())
    robot_key = broker.add_user("robot", role=Role.TENANT, tenant_id=broker.add_tenant("robot"))
    key, tenant = robot_key, ""
    if archiver:
        tenant = broker.add_tenant("archiver")
        key = broker.add_user("archiver-bot", role=Role.ARCHIVER, tenant_id=tenant)
    lab = ArchiveLab(
        broker, broker.client(api_key=robot_key), broker.client(api_key=key), key, tenant
    )
    for days_ago, n in ((62, 3), (31, 2), (0, 2)):
        clock.offset = clock.offset.__class__(seconds=-days_ago * DAY_S)
        lab.post_results(n)
    clock.offset = clock.offset.__class__()
    return lab


def config_dict(target: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": "test-lab",
        "target": target,
        "record": {
            "title": "Electrolyte conductivity, test lab",
            "description": "Everything the test lab's broker holds.",
            "creators": [
                {
                    "family_name": "Curie",
                    "given_name": "Marie",
                    "orcid": "0000-0002-1825-0097",
                    "affiliations": [{"name": "Test Lab", "ror": "04q78tk20"}],
                }
            ],
            "license": "cc-by-4.0",
            "keywords": ["battery", "electrolyte"],
        },
        **extra,
    }


def invenio_config(url: str, **extra: Any) -> ArchiveConfig:
    target = {"kind": "invenio", "url": url, "token": {"env": TOKEN_ENV}}
    return parse(config_dict(target, **extra), "test")


def folder_config(folder: Path, **extra: Any) -> ArchiveConfig:
    return parse(config_dict({"kind": "rocrate", "folder": str(folder)}, **extra), "test")


@contextmanager
def served_double(double: InvenioDouble) -> Iterator[str]:
    """The double on a free port (uvicorn in a thread); yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(double.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="invenio-double", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the InvenioRDM double did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
