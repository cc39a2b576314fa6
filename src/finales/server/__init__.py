"""The HTTP doors: the clean API under /api/v1 (and, later, the FINALES 2 routes)."""

from finales.server.app import create_app

__all__ = ["create_app"]
