"""The docs say what the code does: the README's command list is the `finales --help` tree,
each `from finales... import ...` in the docs imports, and help texts show no type tags.

No process, no database: the command tree is typer's own, the imports are run in-process.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from finales.cli import app

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
WORD = re.compile(r"[a-z][a-z0-9-]*")


def _commands(cmd: Any, path: tuple[str, ...] = ()) -> Iterator[str]:
    """Every command under ``cmd`` one can run (typer's own click: a group has ``commands``):
    the leaves, and a group that runs without a command (``finales demo``)."""
    subcommands = getattr(cmd, "commands", None)
    if subcommands is not None:
        if path and getattr(cmd, "invoke_without_command", False):
            yield " ".join(path)
        for name, sub in subcommands.items():
            if not sub.hidden:
                yield from _commands(sub, (*path, name))
    else:
        yield " ".join(path)


def _readme_commands() -> set[str]:
    """Every command of the README's "Command line" block. A line names one command and may
    add others of the same group after ` | ` (`finales user disable NAME | enable NAME`)."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"^## Command line\n+```\n(.*?)```", text, re.S | re.M)
    assert block, "the README lost its Command line block"
    found = set()
    for line in block.group(1).splitlines():
        usage = line.split("  #")[0].strip()
        assert usage.startswith("finales "), line
        first, *others = usage.removeprefix("finales ").split(" | ")
        words = _leading_words(first)
        found.add(" ".join(words))
        for other in others:
            found.add(" ".join([*words[:-1], *_leading_words(other)]))
    return found


def _leading_words(usage: str) -> list[str]:
    words = []
    for token in usage.split():
        if not WORD.fullmatch(token):
            break
        words.append(token)
    assert words, usage
    return words


def test_the_readme_command_list_is_the_help_tree() -> None:
    in_help = set(_commands(typer.main.get_command(app)))
    in_readme = _readme_commands()
    assert sorted(in_help - in_readme) == [], "in `finales --help`, missing from the README"
    assert sorted(in_readme - in_help) == [], "in the README, unknown to `finales --help`"


IMPORT = re.compile(r"^\s*from (finales[\w.]*) import (\([^)]*\)|[^\n]*)", re.M)


def _documented_imports() -> list[tuple[str, str, str]]:
    found = []
    for doc in DOCS:
        for module, names in IMPORT.findall(doc.read_text()):
            for name in re.split(r"[\s,()]+", names):
                if name and not name.startswith("#"):
                    found.append((doc.name, module, name))
    return found


@pytest.mark.parametrize(("doc", "module", "name"), _documented_imports())
def test_every_documented_import_imports(doc: str, module: str, name: str) -> None:
    assert hasattr(importlib.import_module(module), name), f"{doc}: from {module} import {name}"


def test_the_client_errors_are_documented_where_they_live() -> None:
    """docs/client.md once placed the client's own errors in finales.errors."""
    imports = [(m, n) for doc, m, n in _documented_imports() if doc == "client.md"]
    for name in ("WaitTimeout", "RequestRetracted", "ServerUnreachable", "ServerError"):
        assert ("finales.client", name) in imports
        assert ("finales.errors", name) not in imports


@pytest.mark.parametrize("command", sorted(_commands(typer.main.get_command(app))))
def test_help_shows_flags_and_arguments_plainly(command: str) -> None:
    """No `<bool>` after a flag, no `{name}` for an argument: NAME, as the README writes it."""
    result = CliRunner().invoke(app, [*command.split(), "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    usage = next(line for line in result.output.splitlines() if "Usage:" in line)
    assert "{" not in usage and not re.search(r"\[[a-z_]+\]", usage), usage
