"""What a web process serves, in one place: the parts of its aiohttp application (bot.web.build_web_app).

`python -m bot webhook` runs one worker; `make serve` runs WORKERS of them under gunicorn
(`gunicorn bot.serve:serve --worker-class aiohttp.GunicornWebWorker`, deploy/gunicorn.conf.py), each built by
`serve`. Every worker serves the webhook and the organisers' console on WEB_HOST:WEB_PORT; a new part is added
to `parts` and is served by both commands.
"""

from __future__ import annotations

import sys
from typing import Any

from aiogram import Bot
from aiohttp import web

from bot.app import App, build_app, console_address, make_bot, make_console
from bot.config import ConfigError, Settings, check_webhook, load_settings
from bot.web import WebPart, build_web_app
from bot.webhook import configure_logging, webhook_part

DEFAULT_PORT = 8080


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
    return build_web_app(parts(settings, app, make_bot(settings), **webhook_options))


async def serve() -> web.Application:
    """The gunicorn entry point: one webhook worker's application, configured from the environment and .env."""
    try:
        settings = load_settings()
        check_webhook(settings)
    except ConfigError as exc:
        print(f"delegate-bot: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(settings)
    return await make_web_app(settings)


def run_webhook(settings: Settings) -> None:
    """`python -m bot webhook`: one worker on WEB_HOST:WEB_PORT until SIGTERM/SIGINT."""
    web.run_app(make_web_app(settings), host=settings.web_host, port=port(settings), print=None,
                shutdown_timeout=25, handle_signals=True)
