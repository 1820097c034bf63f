"""The bare aiogram bot the benches compare against: default Dispatcher, one router, one fixed answer.

    BOT_TOKEN=42:TEST TELEGRAM_API_URL=http://127.0.0.1:PORT python -m bench.bare_bot

It long-polls like ours (aiogram's own polling, no limit on tasks) and answers every message with a fixed
text; nothing else is imported, so its memory is aiogram's and Python's.
"""

from __future__ import annotations

import asyncio
import os

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message

TEXT = "Thanks, noted."


async def _answer(message: Message) -> None:
    await message.answer(TEXT)


async def poll(router: Router) -> None:
    """aiogram's default Dispatcher with `router`, long-polling the server at TELEGRAM_API_URL."""
    dp = Dispatcher()
    dp.include_router(router)
    session = AiohttpSession(api=TelegramAPIServer.from_base(os.environ["TELEGRAM_API_URL"]))
    bot = Bot(token=os.environ["BOT_TOKEN"], session=session)
    await dp.start_polling(bot, handle_signals=True, close_bot_session=True)


async def main() -> None:
    router = Router(name="bare")
    router.message.register(_answer)
    await poll(router)


if __name__ == "__main__":
    asyncio.run(main())
