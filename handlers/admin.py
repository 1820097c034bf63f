"""Organiser commands (rights come from ADMIN_IDS, numeric Telegram ids)."""

from __future__ import annotations

import re

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from domain.clock import Clock
from storage.repo import Delegates, LatePasses

# Telegram user ids: ASCII digits, positive, well inside a 64-bit column (str.isdigit also accepts "²").
USER_ID = re.compile(r"[0-9]{1,16}")


async def on_admit(message: Message, command: CommandObject, db: AsyncSession, clock: Clock,
                   is_admin: bool) -> None:
    """/admit <user id>: let a person register after the deadline."""
    if not is_admin:
        await message.answer(_("This command is for the organisers."))
        return
    arg = (command.args or "").strip()
    if not USER_ID.fullmatch(arg) or int(arg) == 0:
        await message.answer(_("Usage: /admit &lt;numeric Telegram user id&gt;. The person can find their id "
                               "with /myid."))
        return
    user_id = int(arg)
    if await Delegates(db).get(user_id) is not None:
        await message.answer(_("User {id} is already registered.").format(id=user_id))
        return
    new = await LatePasses(db).grant(user_id, message.chat.id, clock.now())
    text = _("User {id} can now register with /start, even after the deadline.") if new else \
        _("User {id} could already register after the deadline.")
    await message.answer(text.format(id=user_id))


async def on_myid(message: Message) -> None:
    """/myid: the person's numeric id, to give to an organiser."""
    await message.answer(_("Your Telegram user id is <code>{id}</code>.").format(id=message.chat.id))


def make_router() -> Router:
    router = Router(name="admin")
    router.message.register(on_admit, Command("admit"))
    router.message.register(on_myid, Command("myid"))
    return router
