"""/console: an organiser gets a one-time link that signs them in to the web console (services/console.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from domain.clock import Clock
from handlers.ui import ORGANISER_ONLY
from services import console as console_uc
from services.ports import UnitOfWork

if TYPE_CHECKING:
    from bot.config import Settings  # the wiring's settings, handed in by keyword


async def on_console(message: Message, uow: UnitOfWork, clock: Clock, settings: Settings, app: Any,
                     is_admin: bool) -> None:
    """/console from an organiser: a sign-in link (10 minutes, once); everyone else: the neutral line."""
    assert message.from_user is not None  # a private chat's message has its sender
    address = app.console_url or (settings.public_url if settings.web_port is not None else None)
    if not address:
        await message.answer(_("The web console is not served by this bot (WEB_PORT is not set)."))
        return
    token = await console_uc.make_link(uow, message.from_user.id, admin_ids=settings.admin_ids,
                                       key=app.console_key, now=clock.now())
    link = f"{address}/console/signin?t={token}"
    # A URL button needs a public address; Telegram refuses 127.0.0.1 in buttons, so the link is also text.
    markup = None
    if address.startswith("https://"):
        markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=_("Open the console"), url=link)]])
    await message.answer(_("Your sign-in link to the organisers' console. It works once, for 10 minutes, and "
                           "only for you: do not forward it.\n{link}").format(link=link), reply_markup=markup)


def make_router() -> Router:
    router = Router(name="console")
    router.message.register(on_console, Command("console"), flags=ORGANISER_ONLY)
    return router
