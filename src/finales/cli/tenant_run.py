"""``finales tenant run MODULE:OBJECT``: run a tenant declared with ``finales.tenant.Tenant``.

The broker URL and credentials come from flags, else the environment (``FINALES_SERVER_URL``,
``FINALES_API_KEY``, ``FINALES_USERNAME`` / ``FINALES_PASSWORD``), else a TOML file, else
what the module itself set. Only the server-free tenant side is imported here.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from finales.cli.broker import ConfigOpt, KeyOpt, PasswordStdinOpt, ServerOpt, UserOpt, resolve
from finales.cli.context import fail, missing_extra
from finales.errors import FinalesError


def load_target(target: str, app_dir: Path) -> Any:
    """The object named by ``MODULE:OBJECT`` (a dotted module or a ``.py`` file)."""
    module_name, _, attr = target.partition(":")
    if not module_name:
        raise FinalesError(f"{target!r} is not MODULE:OBJECT (e.g. mylab.robot:lab)")
    sys.path.insert(0, str(app_dir.resolve()))
    try:
        if module_name.endswith(".py") or os.sep in module_name:
            path = Path(module_name)
            spec = importlib.util.spec_from_file_location(path.stem, path)
            if spec is None or spec.loader is None or not path.exists():
                raise FinalesError(f"no Python file {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[path.stem] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ImportError as exc:
        extra = missing_extra(exc)
        hint = f" (pip install 'finales[{extra}]')" if extra else ""
        raise FinalesError(f"cannot import {module_name}: {exc}{hint}") from None
    from finales.tenant import Tenant

    if not attr:
        found = [v for v in vars(module).values() if isinstance(v, Tenant)]
        if len(found) != 1:
            raise FinalesError(
                f"{module_name} has {len(found)} Tenant objects: name one with :NAME"
            )
        return found[0]
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise FinalesError(f"{module_name} has no attribute {attr!r}") from None
    if not isinstance(obj, Tenant) and callable(obj):
        if _required_parameters(obj):  # a handler, not a factory of a Tenant
            raise FinalesError(
                f"{target} is a function that takes arguments (a handler?), not a Tenant: "
                "name the finales.tenant.Tenant object the handler is registered on "
                f"(e.g. {module_name}:tenant), or a function that returns one"
            )
        obj = obj()  # a factory
    if not isinstance(obj, Tenant):
        raise FinalesError(f"{target} is a {type(obj).__name__}, not a finales.tenant.Tenant")
    return obj


def _required_parameters(fn: Any) -> list[str]:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # no signature to read: let the call decide
        return []
    return [
        p.name
        for p in params
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]


def tenant_run(
    target: Annotated[
        str, typer.Argument(metavar="MODULE:OBJECT", help="e.g. robot:lab or path/robot.py:lab")
    ],
    server: ServerOpt = None,
    api_key: KeyOpt = None,
    username: UserOpt = None,
    password_stdin: PasswordStdinOpt = False,
    config: ConfigOpt = None,
    concurrency: Annotated[int | None, typer.Option(min=1, help="jobs at once")] = None,
    lease: Annotated[float | None, typer.Option(min=0.1, help="lease in seconds")] = None,
    grace: Annotated[
        float | None, typer.Option(min=0, help="seconds in-flight jobs get at shutdown")
    ] = None,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="serve the work there is, then exit")
    ] = False,
    log_format: Annotated[
        str, typer.Option(help="kv (key=value) or json (env FINALES_LOG_FORMAT)")
    ] = "kv",
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error")] = "info",
    app_dir: Annotated[Path, typer.Option(help="directory put first on the import path")] = Path(
        "."
    ),
) -> None:
    """Run a tenant: publish its offers, then serve work until SIGINT/SIGTERM.

    Flags win over the environment, the environment over the TOML file, the file over
    what the module set. A first signal stops taking work and lets in-flight jobs finish
    (--grace); a second one releases them at once. Either way the exit status is 0.
    """
    from finales.tenant import TenantSetupError, configure_logging
    from finales.tenant.logs import LogFormat

    chosen = os.environ.get("FINALES_LOG_FORMAT", log_format)
    fmt: LogFormat
    if chosen == "kv":
        fmt = "kv"
    elif chosen == "json":
        fmt = "json"
    else:
        fail(f"unknown log format {chosen!r}: choose kv or json")
    try:
        broker = resolve(server, api_key, username, password_stdin, config)
        if broker.username and not broker.password:
            fail("a username needs a password: FINALES_PASSWORD, --password-stdin or the file")
        configure_logging(fmt, log_level, force=True)
        tenant = load_target(target, app_dir)
        tenant.configure(
            server=broker.url,
            api_key=broker.api_key,
            username=broker.username,
            password=broker.password,
            concurrency=concurrency or broker.file.get("concurrency"),
            lease_s=lease or broker.file.get("lease_s"),
            poll_s=broker.file.get("poll_s"),
            grace_s=grace if grace is not None else broker.file.get("grace_s"),
        )
        tenant.run(until_idle=until_idle, configure_logging=False)
    except (TenantSetupError, FinalesError) as exc:
        fail(exc.detail)
