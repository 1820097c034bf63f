"""What a web process serves, in one place: the parts of its aiohttp application (bot.web.build_web_app).

`python -m bot webhook` runs one worker; `make serve` runs WORKERS of them under gunicorn
(`gunicorn bot.serve:serve --worker-class aiohttp.GunicornWebWorker`, deploy/gunicorn.conf.py), each built by
`serve`. Every worker serves the webhook and the organisers' console on WEB_HOST:WEB_PORT; a new part is added
to `parts` and is served by both commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from typing import Any

from aiogram import Bot
from aiohttp import web

from bot.app import App, build_app, console_address, make_bot, make_console, settle_heap
from bot.config import ConfigError, Settings, check_webhook, load_settings
from bot.web import WebPart, build_web_app
from bot.webhook import configure_logging, webhook_part
from storage.db import DatabaseInUse, hold_sqlite_lock

DEFAULT_PORT = 8080
# On SQLite a gunicorn worker waits this long for the file's lock: SIGHUP starts the new worker before the old
# one has stopped (gunicorn.conf.py's graceful_timeout is 30 s). Past it, another bot process holds the file.
SQLITE_LOCK_WAIT = 35.0


def parts(settings: Settings, app: App, bot: Bot, **webhook_options: Any) -> list[WebPart]:
    """The parts every web process serves on WEB_PORT: the webhook (it starts and stops the bot's machinery)
    and the console under /console/."""
    from console import mount

    app.console_url = console_address(settings, port(settings))

    def console(web_app: web.Application) -> None:
        mount(web_app, make_console(app, bot))

    return [webhook_part(settings, app=app, bot=bot, **webhook_options), console]


def port(settings: Settings) -> int:
    return settings.web_port if settings.web_port is not None else DEFAULT_PORT


async def make_web_app(settings: Settings, **webhook_options: Any) -> web.Application:
    app = await build_app(settings)
    web_app = build_web_app(parts(settings, app, make_bot(settings), **webhook_options))
    web_app.on_startup.append(_settle)  # after the webhook worker's start: the process is built
    return web_app


async def _settle(_: web.Application) -> None:
    settle_heap()


async def serve() -> web.Application:
    """The gunicorn entry point: one webhook worker's application, configured from the environment and .env."""
    try:
        settings = load_settings()
        check_webhook(settings)
    except ConfigError as exc:
        print(f"delegate-bot: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(settings)
    # SQLite serves one process (one scheduler, one sender), as `python -m bot` and `python -m bot webhook`
    # enforce: the worker holds the file's lock for its life; the OS drops it however the worker ends.
    lock = contextlib.ExitStack()
    try:
        await _hold_sqlite(lock, settings.database_url, SQLITE_LOCK_WAIT)
    except DatabaseInUse as exc:
        print(f"delegate-bot: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        web_app = await make_web_app(settings)
    except BaseException:
        lock.close()
        raise

    async def release(_: web.Application) -> None:
        lock.close()

    web_app.on_cleanup.append(release)
    return web_app


async def _hold_sqlite(stack: contextlib.ExitStack, url: str, wait: float) -> None:
    deadline = time.monotonic() + wait
    while True:
        try:
            stack.enter_context(hold_sqlite_lock(url))
            return
        except DatabaseInUse:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.5)


def run_webhook(settings: Settings) -> None:
    """`python -m bot webhook`: one worker on WEB_HOST:WEB_PORT until SIGTERM/SIGINT."""
    web.run_app(make_web_app(settings), host=settings.web_host, port=port(settings), print=None,
                shutdown_timeout=25, handle_signals=True)
