"""ASGI entry point for ``uvicorn --factory finales.server.asgi:app`` (reads FINALES_*)."""

from __future__ import annotations

from fastapi import FastAPI

from finales.server.app import create_app
from finales.settings import load_settings


def app() -> FastAPI:
    return create_app(load_settings())
