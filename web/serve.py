"""Run the web app under hypercorn, as the Procfile's web process does."""

from __future__ import annotations

import asyncio

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config

from models.settings import Settings
from web import create_app


def serve(settings: Settings, *, host: str, port: int) -> None:
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    asyncio.run(hypercorn_serve(create_app(settings), config))
