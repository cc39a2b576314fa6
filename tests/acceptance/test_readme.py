"""The README walkthrough runs verbatim against a real `finales serve`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from finales.testing import free_port

ROOT = Path(__file__).resolve().parents[2]


def _walkthrough() -> str:
    text = (ROOT / "README.md").read_text()
    block = re.search(
        r"<!-- walkthrough:start -->\s*```bash\n(.*?)```\s*<!-- walkthrough:end -->", text, re.S
    )
    assert block, "the README lost its walkthrough block"
    return block.group(1)


@pytest.mark.skipif(shutil.which("curl") is None, reason="the walkthrough uses curl")
def test_readme_walkthrough_runs_verbatim(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINALES_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["PORT"] = str(free_port())
    env["TMPDIR"] = str(tmp_path)
    script = _walkthrough()
    assert script.rstrip().endswith("kill $SERVER")
    # One line more, as the test's own: the robot's key, to look for it in the server's logs.
    script = (
        script.rstrip().removesuffix("kill $SERVER")
        + 'echo "robot key: $ROBOT_KEY"\nkill $SERVER\n'
    )
    proc = subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.split("\n")
    assert "reserved" in lines
    assert "original" in lines
    assert "resolved" in lines
    assert "admin None -> pending" in proc.stdout
    assert "robot pending -> reserved" in proc.stdout
    assert "robot reserved -> resolved" in proc.stdout
    # The API key printed by `finales apikey create` never shows up in the server's logs.
    key = re.search(r"^robot key: (fk_\S+)$", proc.stdout, re.M)
    assert key is not None, proc.stdout
    assert key.group(1) not in proc.stderr
