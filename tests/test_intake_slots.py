"""Issue 17 item 3: a handler whose reply waits for the send limiter does not hold one of the intake's slots.

At 1,000 quiz players and 25 messages a second, 64 handlers waited in the limiter for their edits while the
poller, finding no free slot, stopped taking updates from Telegram: presses made 2 s after their question
reached the bot, and were stamped `arrived_at`, about a minute later (0 of 1,959 answers in time).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message, Update

from bot.intake import Intake
from delivery.limiter import Limiter, LimiterMiddleware
from testkit.fake_botapi import FakeBotAPI

# Guards against a hang (the failure before the change), not a measure of time.
GUARD = 30


def _update(update_id: int, user: int, text: str, bot: Bot) -> Update:
    return Update.model_validate({"update_id": update_id, "message": {
        "message_id": update_id, "date": 0, "chat": {"id": user, "type": "private"},
        "from": {"id": user, "is_bot": False, "first_name": "P"}, "text": text}}, context={"bot": bot})


class _Inbox:
    """Nothing to store here: the intake only hands updates to the dispatcher in these tests."""

    async def mark_handled(self, keys: list[int]) -> None:
        return None


@pytest.fixture
async def paced() -> AsyncIterator[tuple[Bot, Limiter]]:
    async with FakeBotAPI() as api:
        bot = Bot("42:SLOTS", session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))
        limiter = Limiter(25)
        bot.session.middleware(LimiterMiddleware(limiter))
        try:
            yield bot, limiter
        finally:
            await limiter.close()
            await bot.session.close()


def _dispatcher(fast_done: asyncio.Event, slow_started: asyncio.Event | None = None) -> Dispatcher:
    dp = Dispatcher()

    @dp.message(F.text == "slow")
    async def slow(message: Message) -> None:
        if slow_started is not None:
            slow_started.set()
        await message.answer("your next question")  # waits for the limiter

    @dp.message(F.text == "fast")
    async def fast(message: Message) -> None:
        fast_done.set()

    return dp


async def _yield_until(ready: Any, within: float = GUARD) -> None:
    """Let other tasks run until `ready()`: a thread round trip (aiosqlite) takes many turns, and on a loaded
    machine the thread may wait for a core longer than any fixed count of turns (a flake at 10,000). `within`
    is a guard against a hang, not a measured time."""
    deadline = time.monotonic() + within
    turns = 0
    while not ready() and time.monotonic() < deadline:
        turns += 1
        await asyncio.sleep(0 if turns < 1000 else 0.001)


async def _cancel(intake: Intake) -> None:
    for task in list(intake.tasks):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_handler_waiting_for_the_send_limiter_gives_its_slot_to_the_next_update(
        paced: tuple[Bot, Limiter]) -> None:
    bot, limiter = paced
    limiter.pause(3600)  # Telegram's rate is used up: every reply waits its turn
    fast_done = asyncio.Event()
    inbox: Any = _Inbox()
    intake = Intake(_dispatcher(fast_done), bot, inbox, limit=1)
    try:
        await asyncio.wait_for(intake.submit(_update(1, 501, "slow", bot), 1), GUARD)
        # One slot, held by the slow handler until its reply goes out: before the change this waited for it.
        await asyncio.wait_for(intake.submit(_update(2, 502, "fast", bot), 2), GUARD)
        await asyncio.wait_for(fast_done.wait(), GUARD)
        assert intake.given_back == 1 and intake.waiting == 1
        assert limiter.stats.granted == {}  # the slow reply still waits: nothing was sent
    finally:
        await _cancel(intake)
    assert intake.waiting == 0 and intake.slots._value == 1  # nothing leaked


async def test_past_the_waiting_limit_a_handler_keeps_its_slot(paced: tuple[Bot, Limiter]) -> None:
    bot, limiter = paced
    limiter.pause(3600)
    fast_done = asyncio.Event()
    inbox: Any = _Inbox()
    slow_started = asyncio.Event()
    intake = Intake(_dispatcher(fast_done, slow_started), bot, inbox, limit=1, waiting_limit=0)
    second: asyncio.Task[None] | None = None
    try:
        await asyncio.wait_for(intake.submit(_update(1, 501, "slow", bot), 1), GUARD)
        await asyncio.wait_for(slow_started.wait(), GUARD)
        second = asyncio.create_task(intake.submit(_update(2, 502, "fast", bot), 2))
        await _yield_until(lambda: bool(limiter._waiters) and intake.kept == 1)  # the reply waits, slot kept
        assert limiter._waiters and not second.done() and intake.given_back == 0  # bounded: the rest waits at Telegram
    finally:
        await _cancel(intake)
        if second is not None and not second.done():
            second.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await second


async def test_a_handler_that_only_read_ends_its_transaction_before_it_gives_its_slot_back(
        paced: tuple[Bot, Limiter], tmp_path) -> None:
    """The pool has a few connections: 1,000 handlers waiting with a read transaction open took them all."""
    from sqlalchemy import text

    from storage.db import make_engine, make_sessionmaker
    from storage.fsm import CURRENT_SESSION

    bot, limiter = paced
    limiter.pause(3600)
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/slots.db")
    sessions = make_sessionmaker(engine)
    held: dict[str, Any] = {}
    dp = Dispatcher()

    @dp.message(F.text.in_({"read", "write"}))
    async def reply(message: Message) -> None:
        async with sessions() as session:
            token = CURRENT_SESSION.set(session)
            try:
                if message.text == "read":
                    await session.execute(text("SELECT 1"))
                else:
                    await session.execute(text("CREATE TABLE IF NOT EXISTS t (x int)"))
                    await session.execute(text("INSERT INTO t VALUES (1)"))
                    session.info["unsaved"] = True
                held[str(message.text)] = session
                await message.answer("...")  # waits: the limiter is paused
            finally:
                CURRENT_SESSION.reset(token)

    inbox: Any = _Inbox()
    intake = Intake(dp, bot, inbox, limit=1)
    try:
        await asyncio.wait_for(intake.submit(_update(1, 501, "read", bot), 1), GUARD)
        # Its one slot comes back while the reply waits: the read transaction was ended first.
        await asyncio.wait_for(intake.slots.acquire(), GUARD)
        intake.slots.release()
        assert intake.given_back == 1 and not held["read"].in_transaction()
        await asyncio.wait_for(intake.submit(_update(2, 502, "write", bot), 2), GUARD)
        await _yield_until(lambda: intake.kept == 1)
        assert intake.kept == 1 and intake.given_back == 1  # uncommitted writes: it keeps its slot
        assert held["write"].in_transaction() and intake.slots.locked()
    finally:
        await _cancel(intake)
        await engine.dispose()
