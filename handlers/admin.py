"""Organiser commands (rights come from ADMIN_IDS, numeric Telegram ids)."""

from __future__ import annotations

import re

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from domain.clock import Clock
from handlers.ui import ORGANISER_ONLY, refusal
from services import admin as people
from services.errors import ServiceError
from services.organiser import Sources
from services.ports import UnitOfWork

# Telegram user ids: ASCII digits, positive, well inside a 64-bit column (str.isdigit also accepts "²").
USER_ID = re.compile(r"[0-9]{1,16}")


async def on_admit(message: Message, command: CommandObject, bot: Bot, uow: UnitOfWork, clock: Clock,
                   sources: Sources, is_admin: bool) -> None:
    """/admit <user id>: let a person register after the deadline, and tell them."""
    assert message.from_user is not None
    me = await bot.me()
    try:
        result = await people.admit(uow, command.args or "", by=message.from_user.id, now=clock.now(),
                                    bot_username=me.username)
    except ServiceError as err:
        await message.answer(refusal(err))
        return
    text = _("User {id} can now register with /start, even after the deadline.") if result.new else \
        _("User {id} could already register after the deadline.")
    lines = [text.format(id=result.user_id)]
    if result.notified:
        lines.append(_("I am telling them, with a button to register. If they never started this bot, Telegram "
                       "will not let me write first: I will let you know, with a link to send them."))
        if sources.admitted is not None:
            sources.admitted(result.user_id)
    await message.answer("\n".join(lines))


async def on_myid(message: Message) -> None:
    """/myid: the person's numeric id, to give to an organiser."""
    assert message.from_user is not None
    await message.answer(_("Your Telegram user id is <code>{id}</code>.").format(id=message.from_user.id))


def make_router() -> Router:
    router = Router(name="admin")
    router.message.register(on_admit, Command("admit"), flags=ORGANISER_ONLY)
    router.message.register(on_myid, Command("myid"))
    return router
