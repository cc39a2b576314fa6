"""``pip install finales`` is the tenant SDK: it installs and runs without the server's
dependencies, against a broker running from the full install.

The bare install is made offline, from the checkout: a wheel built here, installed without
dependencies into a fresh virtual environment, plus exactly the distributions its declared
requirements need, copied from this environment (``pip check`` proves the set complete).
"""

from __future__ import annotations

import importlib.metadata as md
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from finales.domain.principals import Role
from finales.testing import LocalBroker
from tests.conftest import REQUEST_SCHEMA, RESULT_SCHEMA

ROOT = Path(__file__).resolve().parents[2]
SERVER_ONLY = ("fastapi", "uvicorn", "sqlalchemy", "alembic", "psycopg", "numpy", "matplotlib")


def _closure(requirements: list[str]) -> set[str]:
    """The installed distributions that ``requirements`` (no extras of finales) pull in."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        extras = req.extras or {""}
        if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in extras):
            continue
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        for sub in md.distribution(req.name).requires or []:
            parsed = Requirement(sub)
            wanted = req.extras or {""}
            if parsed.marker is None or any(parsed.marker.evaluate({"extra": e}) for e in wanted):
                todo.append(Requirement(str(parsed).split(";")[0]))
    return seen


def _copy_distribution(name: str, site: Path) -> None:
    dist = md.distribution(name)
    base = Path(str(dist.locate_file("")))
    for file in dist.files or []:
        source = base / file
        if ".." in file.parts or not source.is_file():
            continue  # scripts and data outside site-packages are not needed here
        target = site / file
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv with only ``pip install finales`` in it; yields its bin directory."""
    work = tmp_path_factory.mktemp("bare")
    wheels = work / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", str(wheels), str(ROOT)],
        check=True,
    )  # fmt: skip
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    wheel = next(wheels.glob("finales-*.whl"))
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    subprocess.run([*pip, "install", "--quiet", "--no-index", "--no-deps", str(wheel)], check=True)
    base = [r for r in md.requires("finales") or [] if "extra ==" not in r]
    for name in _closure(base):
        _copy_distribution(name, site)
    check = subprocess.run([*pip, "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    yield venv / "bin"


def _run(bindir: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a program of the bare venv, with none of this process's FINALES_* or PYTHON*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINALES_", "PYTHON"))}
    env["HOME"] = str(bindir.parent)
    return subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, cwd=cwd)


PROBE = "import importlib.util as u, sys; print(*[bool(u.find_spec(m)) for m in sys.argv[1:]])"


def test_the_bare_install_has_no_server_dependencies(bare: Path) -> None:
    found = _run(bare, str(bare / "python"), "-c", PROBE, *SERVER_ONLY).stdout.split()
    assert found == ["False"] * len(SERVER_ONLY), dict(zip(SERVER_ONLY, found, strict=True))
    sdk = _run(bare, str(bare / "python"), "-c", "import finales.client, finales.tenant")
    assert sdk.returncode == 0, sdk.stderr


SEMANTICS = """
from finales.capabilities import EXAMPLES
from finales.semantics import result_to_jsonld, vendored_context

ex = EXAMPLES[("conductivity", "two_electrode")]
doc = result_to_jsonld({
    "id": "r", "request_id": "q", "quantity": "conductivity", "method": "two_electrode",
    "parameters": ex["request"], "data": ex["result"], "tenant_id": "t",
    "created_at": "2026-01-01T00:00:00Z",
})
types = {node["@type"] for node in doc["hasProperty"]}
print("IonicConductivity" in types, len(vendored_context("battery")["@context"]) > 4000)
"""


def test_the_bare_install_emits_json_ld_from_its_vendored_files(bare: Path) -> None:
    """JSON-LD documents need neither pyld nor rdflib (the ``semantics`` extra), and the
    vendored ontology files are in the wheel."""
    found = _run(bare, str(bare / "python"), "-c", PROBE, "pyld", "rdflib").stdout.split()
    assert found == ["False", "False"]
    r = _run(bare, str(bare / "python"), "-c", SEMANTICS)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "True"]


def test_commands_that_need_an_extra_say_which(bare: Path, tmp_path: Path) -> None:
    assert _run(bare, str(bare / "finales"), "--help").returncode == 0
    needing = (
        (["serve"], "server"),
        (["user", "list"], "server"),
        (["demo"], "demo"),
        (["demo", "eol"], "demo"),
    )
    for args, extra in needing:
        r = _run(bare, str(bare / "finales"), *args, cwd=tmp_path)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and f"pip install 'finales[{extra}]'" in lines[0], r.stderr
    # The optimiser's model needs scikit-learn: a tenant module that imports it names the extra.
    opt = _run(bare, str(bare / "finales"), "tenant", "run", "finales.optimizer.model:GP")
    assert opt.returncode == 1 and "pip install 'finales[lab]'" in opt.stderr, opt.stderr


WHERE = "import importlib.util as u; print(u.find_spec('finales').submodule_search_locations[0])"


def test_the_wheel_carries_the_eol_workflow_the_demo_runs(bare: Path) -> None:
    """`finales demo eol` reads eol.yaml from the package when examples/ is not beside it."""
    package = Path(_run(bare, str(bare / "python"), "-c", WHERE).stdout.strip())
    shipped = package / "workflows" / "eol.yaml"
    assert shipped.read_text() == (ROOT / "examples" / "workflows" / "eol.yaml").read_text()


TENANT = """
from finales.tenant import Tenant

lab = Tenant("robot")

@lab.serves("conductivity", "two_electrode")
def measure(request, ctx):
    return {"conductivity": 0.5 + ctx.parameters["fraction"]}
"""

CLIENT = """
import sys
from finales.client import FinalesClient

with FinalesClient(sys.argv[1], api_key=sys.argv[2]) as c:
    if sys.argv[3] == "submit":
        p = {"temperature": 298.15, "fraction": 0.25}
        print(c.submit_request("conductivity", ["two_electrode"], {"two_electrode": p}).id)
    else:
        print(c.wait_for_results(sys.argv[3], timeout_s=30)[0].data["conductivity"])
"""


def test_a_bare_tenant_and_client_work_against_a_full_server(bare: Path, tmp_path: Path) -> None:
    (tmp_path / "robot.py").write_text(textwrap.dedent(TENANT))
    (tmp_path / "client.py").write_text(textwrap.dedent(CLIENT))
    home = tmp_path / "home"
    with LocalBroker(home) as broker:
        broker.add_capability("conductivity", "two_electrode", REQUEST_SCHEMA, RESULT_SCHEMA)
        offers = [{"quantity": "conductivity", "method": "two_electrode", "limitations": {}}]
        tenant_id = broker.add_tenant("robot", offers)
        robot_key = broker.add_user("bot", role=Role.TENANT, tenant_id=tenant_id)
        admin_key = broker.add_user("admin", role=Role.ADMIN)
        python = str(bare / "python")
        submitted = _run(bare, python, "client.py", broker.url, admin_key, "submit", cwd=tmp_path)
        assert submitted.returncode == 0, submitted.stderr
        request_id = submitted.stdout.strip()
        served = _run(
            bare,
            str(bare / "finales"),
            "tenant",
            "run",
            "robot.py:lab",
            "--until-idle",
            "--server",
            broker.url,
            "--api-key",
            robot_key,
            cwd=tmp_path,
        )
        assert served.returncode == 0, served.stderr
        assert "result posted" in served.stderr
        got = _run(bare, python, "client.py", broker.url, admin_key, request_id, cwd=tmp_path)
        assert got.returncode == 0, got.stderr
        assert float(got.stdout) == pytest.approx(0.75)
        with broker.state.tx.read() as conn:
            from finales.services import requests

            assert requests.get_request(conn, request_id).status == "resolved"
