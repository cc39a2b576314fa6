"""``python -m finales.optimizer CONFIG``: run the optimiser until its stopping rule fires.

The broker URL and credentials come from flags, else the environment (``FINALES_SERVER_URL``,
``FINALES_API_KEY``, ``FINALES_USERNAME`` / ``FINALES_PASSWORD``), else the config file.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tomllib

from pydantic import ValidationError

from finales.client import FinalesClient

from .config import OptimizerConfig
from .optimizer import Optimizer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m finales.optimizer", description=__doc__)
    parser.add_argument("config", help="TOML configuration file")
    parser.add_argument("--server", help="broker URL (env FINALES_SERVER_URL)")
    parser.add_argument("--api-key", help="API key (env FINALES_API_KEY)")
    args = parser.parse_args(argv)
    try:
        cfg = OptimizerConfig.from_toml(args.config)
    except OSError as exc:
        parser.error(f"{args.config}: {exc.strerror or exc}")
    except tomllib.TOMLDecodeError as exc:
        parser.error(f"{args.config}: not TOML: {exc}")
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(file)'}: {err['msg']}"
            for err in exc.errors()
        )
        parser.error(f"{args.config}: {problems}")
    server = args.server or os.environ.get("FINALES_SERVER_URL") or cfg.server
    if not server:
        parser.error("no broker URL: pass --server, set FINALES_SERVER_URL or 'server' in the file")
    api_key = args.api_key or os.environ.get("FINALES_API_KEY") or cfg.api_key
    username = None if api_key else os.environ.get("FINALES_USERNAME") or cfg.username
    password = None if api_key else os.environ.get("FINALES_PASSWORD") or cfg.password
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with FinalesClient(server, api_key=api_key, username=username, password=password) as client:
        outcome = Optimizer(cfg, client).run()
    sys.stdout.write(f"stopped: {outcome.reason}; best {outcome.best}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
