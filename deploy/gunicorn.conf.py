"""gunicorn settings for `make serve`: WORKERS webhook workers (aiohttp's GunicornWebWorker) on WEB_HOST:WEB_PORT.

Why gunicorn: a well-kept process manager that aiohttp supports directly; one listening socket shared by the
workers (the kernel spreads connections), a dead worker replaced at once, SIGTERM to the master stops every
worker gracefully (graceful_timeout), SIGHUP reloads them one by one with the new code. The configuration
comes from the environment and .env (bot.config), the same variables as `python -m bot webhook`.
"""

from __future__ import annotations

import sys

from bot.config import ConfigError, check_webhook, load_settings

try:
    _settings = load_settings()
    check_webhook(_settings)  # SQLite or no Redis with several workers: one line, and no worker starts
except ConfigError as _exc:
    print(f"delegate-bot: configuration error: {_exc}", file=sys.stderr)
    sys.exit(2)

bind = f"{_settings.web_host}:{_settings.web_port if _settings.web_port is not None else 8080}"
workers = _settings.workers
worker_class = "aiohttp.GunicornWebWorker"
# SIGTERM: a worker stops taking updates (503), finishes what it holds, releases its leases and the leader
# lock; this long at most (aiohttp waits 95 % of it for requests in flight).
graceful_timeout = 30
timeout = 60  # a worker silent this long (a stuck event loop) is killed and replaced
keepalive = 75  # Telegram keeps its connections open between updates
accesslog = None  # updates are logged by the bot itself (without their content)
errorlog = "-"
loglevel = _settings.log_level.lower()
proc_name = "delegate-bot"
