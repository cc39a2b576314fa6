"""The ``finales`` command line. The only layer that reads the environment implicitly."""

from finales.cli.main import app, main

__all__ = ["app", "main"]
