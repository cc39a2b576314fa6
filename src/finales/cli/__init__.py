"""The ``finales`` command line. The only layer that reads the environment implicitly."""

from finales.cli.helptext import plain_help
from finales.cli.main import app, main

plain_help()  # help texts without typer's type tags, for every command (see helptext)

__all__ = ["app", "main"]
