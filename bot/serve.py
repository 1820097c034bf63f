"""What a web process serves, in one place: the parts of its aiohttp application (bot.web.build_web_app).

`python -m bot webhook` runs one worker; `make serve` runs WORKERS of them under gunicorn
(`gunicorn bot.serve:serve --worker-class aiohttp.GunicornWebWorker`, deploy/gunicorn.conf.py), each built by
`serve`. A new part (the organisers' console, ...) is added to `parts` and is served by both.
"""

from __future__ import annotations

import sys
from typing import Any

from aiohttp import web

from bot.config import ConfigError, Settings, check_webhook, load_settings
from bot.web import WebPart, build_web_app
from bot.webhook import configure_logging, webhook_part


def parts(settings: Settings, **webhook_options: Any) -> list[WebPart]:
    """The parts every web process serves on WEB_PORT."""
    return [webhook_part(settings, **webhook_options)]


async def serve() -> web.Application:
    """The gunicorn entry point: one webhook worker's application, configured from the environment and .env."""
    try:
        settings = load_settings()
        check_webhook(settings)
    except ConfigError as exc:
        print(f"delegate-bot: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(settings)
    return build_web_app(parts(settings))


def run_webhook(settings: Settings) -> None:
    """`python -m bot webhook`: one worker on WEB_HOST:WEB_PORT until SIGTERM/SIGINT."""
    web.run_app(build_web_app(parts(settings)), host=settings.web_host, port=settings.web_port, print=None,
                shutdown_timeout=25, handle_signals=True)
