"""Entry point: `python -m bot` (what `make run` runs).

With BOT_TOKEN set it long-polls the Bot API at TELEGRAM_API_URL; without it, it starts the offline chat.
`python -m bot webhook` runs one webhook worker (bot/webhook.py; `make serve` runs several under gunicorn);
`python -m bot migrate` brings the database to the newest migration and exits (once per release).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from aiogram import Bot

from bot.app import UPDATE_CONCURRENCY, App, build_app, make_bot, serve_console, set_commands, settle_heap
from bot.config import ConfigError, Settings, check_webhook, load_settings
from bot.polling import Poller
from bot.reach import BadToken, Stopping, until_reachable
from delivery.limiter import limiter_of
from domain.event import EventFileError
from infra import logsafe
from storage.db import DatabaseInUse, hold_sqlite_lock

log = logging.getLogger("bot")

async def connect(bot: Bot, app: App) -> None:
    """Polling: getMe, deleteWebhook (polling and a webhook exclude each other), the command menu."""
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
        # The poller retries getUpdates by itself (backoff up to 5 s) when the server goes away later.
        try:
            settle_heap()
            await Poller(app.dp, bot, app.inbox, limit=UPDATE_CONCURRENCY).run(handle_signals=True)
        finally:
            if runner is not None:
                await runner.cleanup()
            await bot.session.close()
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


async def run_migrate(settings: Settings) -> None:
    from storage.db import make_engine, migrate

    engine = make_engine(settings.database_url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    mode = args[0] if args else "run"
    if mode not in ("run", "webhook", "migrate") or len(args) > 1:
        print("usage: python -m bot [webhook | migrate]", file=sys.stderr)
        return 2
    try:
        settings = load_settings()
        if mode == "webhook":
            check_webhook(settings)
    except ConfigError as exc:
        print(f"delegate-bot: configuration error: {exc}", file=sys.stderr)
        return 2
    if mode == "migrate":
        logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        asyncio.run(run_migrate(settings))
        return 0
    if mode == "webhook":
        from bot.serve import run_webhook
        from bot.webhook import configure_logging

        configure_logging(settings)
        try:
            with hold_sqlite_lock(settings.database_url):
                run_webhook(settings)
        except DatabaseInUse as exc:
            print(f"delegate-bot: {exc}", file=sys.stderr)
            return 2
        except EventFileError as exc:
            print(f"delegate-bot: invalid event file: {exc}", file=sys.stderr)
            return 2
        return 0
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
