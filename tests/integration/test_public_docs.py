"""What answers without credentials: the logins, /healthz, and - unless ``public_docs`` is off -
the OpenAPI document and its docs page (the README's list, checked against the app)."""

from __future__ import annotations

from pathlib import Path

from finales.domain.principals import Role
from finales.server.app import API_PREFIX
from tests.conftest import Clock, ErrorCheck, Lab, local_broker

DOCS = (f"{API_PREFIX}/openapi.json", f"{API_PREFIX}/docs")


def test_the_docs_are_public_by_default(lab: Lab) -> None:
    anon = lab.root()
    spec = anon.get(DOCS[0])
    assert spec.status_code == 200 and spec.json()["info"]["title"] == "finales"
    page = anon.get(DOCS[1])
    assert page.status_code == 200 and "swagger" in page.text.lower()


def test_docs_behind_credentials_when_not_public(
    database_url: str, tmp_path: Path, clock: Clock, expect_error: ErrorCheck
) -> None:
    with local_broker(database_url, tmp_path, clock, public_docs=False).start_in_process() as b:
        key = b.add_user("reader", role=Role.READER)
        with b.http(prefix="") as anon:
            expect_error(anon.get(DOCS[0]), 401, code="unauthorized")
            expect_error(anon.get(DOCS[1]), 404)
            assert anon.get("/healthz").status_code == 200
        with b.http({"Authorization": f"Bearer {key}"}, prefix="") as c:
            spec = c.get(DOCS[0])
            assert spec.status_code == 200
            assert f"{API_PREFIX}/requests" in spec.json()["paths"]
            assert DOCS[0] not in spec.json()["paths"]


def test_the_readme_lists_exactly_what_answers_without_credentials() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Security", 1)[1].split("\n## ", 1)[0]
    for route in (
        "POST /api/v1/auth/token",
        "POST /user_management/authenticate",
        "GET /healthz",
        "GET /api/v1/openapi.json",
        "GET /api/v1/docs",
        "FINALES_PUBLIC_DOCS",
    ):
        assert route in section, route
