"""Entry point: `python -m bot` (what `make run` runs).

With BOT_TOKEN set it long-polls the Bot API at TELEGRAM_API_URL; without it, it starts the offline chat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)

from bot.app import UPDATE_CONCURRENCY, App, build_app, make_bot, serve_console, set_commands
from bot.config import ConfigError, Settings, load_settings
from delivery.limiter import limiter_of
from domain.event import EventFileError
from infra import logsafe
from storage.db import DatabaseInUse, hold_sqlite_lock

log = logging.getLogger("bot")
T = TypeVar("T")

# Start-up waits for an unreachable Bot API: the delay doubles up to this cap; a log line at most this often.
START_RETRY_CAP = 60.0
START_LOG_EVERY = 60.0
# Failures that go away by themselves (network, a proxy's error page, 5xx, 429): wait and try again.
TRANSIENT = (TelegramNetworkError, TelegramServerError, TelegramRetryAfter, ClientDecodeError, OSError,
             asyncio.TimeoutError)


class BadToken(Exception):
    """The Bot API refused the token: nothing will work until BOT_TOKEN is fixed."""


class Stopping(Exception):
    """SIGTERM or SIGINT arrived while the bot was still starting."""


async def until_reachable(call: Callable[[], Awaitable[T]], what: str, api_url: str, stop: asyncio.Event,
                          *, first_delay: float = 1.0) -> T:
    """Run `call` until the Bot API answers it; wait with backoff (capped) and log at most once a minute."""
    delay, last_log, failures = first_delay, -START_LOG_EVERY, 0
    while True:
        try:
            result = await call()
        except TelegramUnauthorizedError as exc:
            raise BadToken(str(exc)) from None
        except TRANSIENT as exc:
            failures += 1
            if time.monotonic() - last_log >= START_LOG_EVERY:
                last_log = time.monotonic()
                log.warning("the Bot API at %s is unreachable (%s: %s: %s); %d tries so far, still trying",
                            api_url, what, type(exc).__name__, exc, failures)
            # A 429 says how long to wait: never less than that.
            wait = max(delay, float(exc.retry_after)) if isinstance(exc, TelegramRetryAfter) else delay
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            if stop.is_set():
                raise Stopping from None
            delay = min(delay * 2, START_RETRY_CAP)
            continue
        if failures:
            log.info("the Bot API at %s answers again after %d failed tries", api_url, failures)
        return result


async def connect(bot: Bot, app: App) -> None:
    """Start-up calls to the Bot API, each retried until it answers (the server may not be up yet)."""
    url = app.settings.telegram_api_url
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        me = await until_reachable(bot.get_me, "getMe", url, stop)
        log.info("connected to %s as @%s", url, me.username)
        await until_reachable(lambda: bot.delete_webhook(drop_pending_updates=False), "deleteWebhook", url, stop)
        await until_reachable(lambda: set_commands(bot, app.i18n, app.settings.admin_ids), "setMyCommands", url,
                              stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def run_polling(app: App) -> None:
    bot = make_bot(app.settings)
    try:
        try:
            await connect(bot, app)
        except Stopping:
            await bot.session.close()
            return
        except BaseException:
            await bot.session.close()
            raise
        runner = await serve_console(app, bot) if app.settings.web_port is not None else None
        # aiogram's polling retries getUpdates by itself (backoff up to 5 s) when the server goes away later.
        try:
            await app.dp.start_polling(bot, handle_signals=True, close_bot_session=True,
                                       allowed_updates=app.dp.resolve_used_update_types(),
                                       tasks_concurrency_limit=UPDATE_CONCURRENCY)
        finally:
            if runner is not None:
                await runner.cleanup()
    finally:
        if (limiter := limiter_of(bot)) is not None:
            await limiter.close()
        await app.close()


async def run_offline(app: App) -> None:
    from bot.offline.chat import OfflineChat

    try:
        settings = app.settings
        await OfflineChat(app, user_id=settings.offline_user_id, language_code=settings.offline_language,
                          files_dir=settings.offline_files).run()
    finally:
        await app.close()


async def amain(settings: Settings) -> None:
    app = await build_app(settings)
    if app.clock.is_rehearsal:
        log.info("rehearsal clock: starts at %s, speed x%s", app.clock.now().isoformat(), app.clock.speed)
    if settings.token:
        await run_polling(app)
    else:
        await run_offline(app)


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"delegate-bot: configuration error: {exc}", file=sys.stderr)
        return 2
    # Offline, the log would interleave with the chat: keep it to warnings.
    level = settings.log_level.upper() if settings.token else "WARNING"
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Before anything can log: the token never reaches the log, nor do names and e-mails.
    logsafe.install([settings.token])
    logsafe.throttle_polling_errors()
    try:
        # SQLite is single-process: a second process on the same file would schedule and send everything twice.
        with hold_sqlite_lock(settings.database_url):
            asyncio.run(amain(settings))
    except DatabaseInUse as exc:
        print(f"delegate-bot: {exc}", file=sys.stderr)
        return 2
    except EventFileError as exc:
        print(f"delegate-bot: invalid event file: {exc}", file=sys.stderr)
        return 2
    except BadToken as exc:
        reason = logsafe.Redactor([settings.token])(str(exc))
        print(f"delegate-bot: BOT_TOKEN: the Bot API refused the token ({reason})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    except Exception:
        # Through the log (redacted), not Python's own traceback printer, which would show the token.
        log.exception("the bot stopped on an unexpected error")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
