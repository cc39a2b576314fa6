"""Help texts that read like the README: ``--json``, not ``--json <bool>``; ``NAME``, not
``{name}``.

Typer (0.2x) tags every flag with ``<bool>`` (``--help`` included) and writes a required
argument as ``{name}``, an optional one as ``[name]``. Per-option metavars cannot reach
``--help``, which typer makes itself, nor the usage line, so the three display hooks are
replaced once, here, for every command: a flag shows no type, an argument shows its name in
capitals (``[NAME]`` when optional, ``NAME...`` when repeated) unless it sets a metavar.
``tests/unit/test_docs_match_code.py`` checks every command's help, so a typer release that
renames these hooks fails there rather than silently.
"""

from __future__ import annotations

from typing import Any

import typer.core


def _option_type(self: typer.core.TyperOption, ctx: Any) -> str | None:
    if self.is_flag:
        return None  # a flag takes no value: nothing to show
    return _typer_option_type(self, ctx)


def _argument_name(self: typer.core.TyperArgument) -> str:
    return self.metavar if self.metavar is not None else str(self.name).upper()


def _argument_usage(self: typer.core.TyperArgument, _ctx: Any) -> list[str]:
    name = _argument_name(self)
    if self.nargs != 1 and self.metavar is None:
        name += "..."
    return [name if self.required else f"[{name}]"]


_typer_option_type = typer.core.TyperOption.display_type_rich


def plain_help() -> None:
    """Install the hooks (idempotent)."""
    setattr(typer.core.TyperOption, "display_type_rich", _option_type)  # noqa: B010
    setattr(typer.core.TyperArgument, "display_name_raw", property(_argument_name))  # noqa: B010
    setattr(typer.core.TyperArgument, "get_usage_pieces", _argument_usage)  # noqa: B010
