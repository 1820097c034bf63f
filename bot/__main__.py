"""Entry point: `python -m bot` (what `make run` runs).

With BOT_TOKEN set it long-polls the Bot API at TELEGRAM_API_URL; without it, it starts the offline chat.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from bot.app import UPDATE_CONCURRENCY, App, build_app, make_bot, set_commands
from bot.config import ConfigError, Settings, load_settings
from domain.event import EventFileError

log = logging.getLogger("bot")


async def run_polling(app: App) -> None:
    bot = make_bot(app.settings)
    try:
        me = await bot.get_me()
        log.info("connected to %s as @%s", app.settings.telegram_api_url, me.username)
        await bot.delete_webhook(drop_pending_updates=False)
        await set_commands(bot, app.i18n)
        await app.dp.start_polling(bot, handle_signals=True, close_bot_session=True,
                                   allowed_updates=app.dp.resolve_used_update_types(),
                                   tasks_concurrency_limit=UPDATE_CONCURRENCY)
    finally:
        await app.close()


async def run_offline(app: App) -> None:
    from bot.offline import OfflineChat

    try:
        await OfflineChat(app, user_id=int(os.environ.get("OFFLINE_USER_ID", "1001")),
                          language_code=os.environ.get("OFFLINE_LANGUAGE", "en")).run()
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
    try:
        asyncio.run(amain(settings))
    except EventFileError as exc:
        print(f"delegate-bot: invalid event file: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
