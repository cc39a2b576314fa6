"""The one rule for names a user gives: quantities, methods, tenants and principals.

Every door checks a name here - the clean API (its wire models use the same pattern and call
:func:`name_problem`), the FINALES 2 door and the CLI (the services call :func:`check_name`) -
so a name that one door stores, every door can address. Names travel in URL paths
(``/capabilities/{quantity}/{method}``), in file names of exports and in logs: no slash, no
control character, no name made of dots only (``..`` is a path step), no blank at either end.
"""

from __future__ import annotations

import re

from finales.errors import invalid

NAME_MAX_CHARS = 200
NAME_PATTERN = r"^[A-Za-z0-9_.:\- ]+$"
_NAME = re.compile(NAME_PATTERN)


def name_problem(value: object) -> str | None:
    """What is wrong with ``value`` as a name, or None."""
    if not isinstance(value, str):
        return "a name is a string"
    if not value:
        return "a name cannot be empty"
    if len(value) > NAME_MAX_CHARS:
        return f"a name has at most {NAME_MAX_CHARS} characters"
    if not _NAME.fullmatch(value):
        return "a name uses only letters, digits, space and _ . : - (no slash)"
    if value.strip(".") == "":
        return "a name cannot be made of dots only"
    if value != value.strip():
        return "a name cannot start or end with a space"
    return None


def check_name(value: object, at: str) -> str:
    """``value`` if it is a valid name; else 422 naming the field ``at`` (a JSON pointer)."""
    problem = name_problem(value)
    if problem is not None:
        raise invalid(at, problem)
    assert isinstance(value, str)
    return value
