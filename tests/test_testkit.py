"""The test kit fails closed: a Bot API call the in-process fake does not know fails the test."""

from __future__ import annotations

import contextlib

import pytest
from aiogram import Bot
from aiogram.filters import Command
from aiogram.types import Message

from bot.offline.local_api import UnexpectedRequest
from tests.harness import Harness, make_settings


async def test_a_handler_calling_an_unknown_method_fails_the_test(harness: Harness) -> None:
    """The dispatcher's error handler swallows the exception (the person sees "something went wrong"):
    the harness raises it anyway."""

    async def on_dice(message: Message, bot: Bot) -> None:
        await bot.send_dice(message.chat.id)

    harness.app.dp.message.register(on_dice, Command("dice"))
    with pytest.raises(UnexpectedRequest, match="sendDice"):
        await harness.send(7001, "/dice")
    assert "something went wrong" in harness.last_text(7001), "the error handler did run and swallow it"
    # Reported once: the fixture's teardown does not fail a second time.
    assert harness.session.unexpected == []


async def test_an_unknown_call_outside_an_update_fails_at_teardown(tmp_path) -> None:
    h = await Harness.create(make_settings(tmp_path))
    with contextlib.suppress(UnexpectedRequest):  # as a sender loop that logs and carries on would
        await h.bot.send_dice(7001)
    with pytest.raises(UnexpectedRequest, match="sendDice"):
        await h.close()


async def test_known_calls_pass(harness: Harness) -> None:
    await harness.send(7001, "/help")
    assert "What I can do" in harness.last_text(7001)
    assert harness.session.unexpected == []
