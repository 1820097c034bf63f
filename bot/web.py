"""The one aiohttp application of a web process: health checks, the webhook, and whatever else is mounted.

`build_web_app` is the single place where parts are added to it: each part is a function that adds its
routes (or a sub-application) and its start-up/clean-up hooks to the application. The webhook worker
(bot/webhook.py) is one part; the organisers' console can be another, on the same WEB_PORT.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web
from sqlalchemy import text

log = logging.getLogger(__name__)

# A part of the web application: adds routes, sub-applications and hooks.
WebPart = Callable[[web.Application], None]
# Readiness checks: name -> coroutine raising when that dependency is not reachable.
READY_CHECKS = web.AppKey("ready_checks", dict[str, Callable[[], Awaitable[Any]]])
STOPPING = web.AppKey("stopping", asyncio.Event)
READY_TIMEOUT = 3.0


def build_web_app(parts: Iterable[WebPart] = ()) -> web.Application:
    """/healthz (the process answers), /readyz (every readiness check passes), then each part."""
    from console import MAX_REQUEST  # the console's uploads (a broadcast's photo or document)

    app = web.Application(client_max_size=MAX_REQUEST)
    app[READY_CHECKS] = {}
    app[STOPPING] = asyncio.Event()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.on_shutdown.append(_stopping)
    for part in parts:
        part(app)
    return app


async def _stopping(app: web.Application) -> None:
    app[STOPPING].set()


async def healthz(request: web.Request) -> web.Response:
    """Alive: the event loop answers."""
    return web.json_response({"status": "stopping" if request.app[STOPPING].is_set() else "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready: started, not stopping, and every dependency (the database, Redis) answers."""
    checks = request.app[READY_CHECKS]
    if request.app[STOPPING].is_set() or not checks:
        return web.json_response({"status": "stopping" if request.app[STOPPING].is_set() else "starting"},
                                 status=503)
    result: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check(), READY_TIMEOUT)
            result[name] = "ok"
        except Exception as exc:
            result[name] = type(exc).__name__
    ok = all(v == "ok" for v in result.values())
    return web.json_response({"status": "ok" if ok else "unavailable", **result}, status=200 if ok else 503)


def database_check(engine: Any) -> Callable[[], Awaitable[Any]]:
    async def check() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    return check


def redis_check(url: str) -> Callable[[], Awaitable[Any]]:
    from redis.asyncio import Redis

    async def check() -> None:
        client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            await client.ping()
        finally:
            await client.aclose()

    return check
