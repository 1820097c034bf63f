"""Shared pieces of the Telegram interface: callback data, keyboards, escaping."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Annotated, Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.flags import get_flag
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext
from pydantic import Field, field_validator

from domain import menu
from domain.languages import LANGUAGE_NAMES
from domain.text import esc
from services.errors import ServiceError, error_text

__all__ = ["ButtonData", "FollowCb", "GuestCb", "Id", "Index", "LangCb", "Page", "RegCb", "button", "esc", "grid",
           "language_keyboard", "main_menu", "refusal", "rows"]

INT64_MAX = 2**63 - 1


def refusal(err: ServiceError, *, html: bool = True, shown: Mapping[str, Any] | None = None) -> str:
    """A use case's refusal in the person's language (services.errors.error_text, the one renderer).

    `html`: for a message (parameters escaped); False for a callback answer or alert, which is plain text.
    `shown`: parameters this handler rendered itself (a time in the reader's zone), used as they are.
    """
    return error_text(err, _, ngettext, escape=esc if html else None, shown=shown)


class ButtonData(CallbackData, prefix="~"):
    """The base of every button's callback data (never packed itself).

    Callback data come from the client and can be forged: an int field outside signed 64 bits reached the
    database as an OverflowError (SQLite) or a DataError quoting the value (PostgreSQL) (issue 17 item 9).
    Every int field is bounded here, at parsing, so a forged value fails aiogram's filter like any unknown
    button (the fallback's polite answer); `Id`, `Page` and `Index` narrow a field to its real range.
    """

    @field_validator("*", mode="after")
    @classmethod
    def _within_int64(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and not -INT64_MAX - 1 <= value <= INT64_MAX:
            raise ValueError("out of range")
        return value


# A row's or a person's id (0: none).
Id = Annotated[int, Field(ge=0, le=INT64_MAX)]
# A page of a list.
Page = Annotated[int, Field(ge=0, le=9_999)]
# A position in a short list (a question, an option, a day, a country filter; -1: none or "now").
Index = Annotated[int, Field(ge=-1, le=999)]


class LangCb(ButtonData, prefix="lang"):
    """A language button (/language and the first registration step)."""

    code: str


class RegCb(ButtonData, prefix="reg"):
    """A button inside the registration conversation or the profile editor."""

    action: str
    value: str = ""


async def on_a_message(query: CallbackQuery) -> bool:
    """A filter: the button's message is one the bot can still see and edit.

    Telegram sends an InaccessibleMessage for some old messages and no message for inline-mode ones;
    handlers that edit or answer the message skip those, and the fallback answers "no longer active".
    A coroutine: it is also a router-level filter, which aiogram would otherwise run in a worker thread.
    """
    return isinstance(query.message, Message)


def language_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=name, callback_data=LangCb(code=code).pack())
        for code, name in LANGUAGE_NAMES.items()
    ]])


def button(text: str, cb: CallbackData) -> InlineKeyboardButton | None:
    """A button, or None when the payload would not fit Telegram's 64 bytes (an overlong id in the file)."""
    data = cb.pack()
    if len(data.encode()) > 64:
        return None
    return InlineKeyboardButton(text=text, callback_data=data)


def grid(buttons: Sequence[InlineKeyboardButton | None], width: int) -> list[list[InlineKeyboardButton]]:
    """Lay buttons out `width` to a row, leaving out the ones that could not be made."""
    real = [b for b in buttons if b is not None]
    return [real[i:i + width] for i in range(0, len(real), width)]


def pager(page: int, pages: int, to: Callable[[int], CallbackData]) -> list[list[InlineKeyboardButton]]:
    """◀️ / ▶️ for a list shown a page at a time (pages from 0; `to(n)` is page n's callback data); no row for
    a single page."""
    nav = []
    if page > 0:
        nav.append(button("◀️", to(page - 1)))
    if page < pages - 1:
        nav.append(button("▶️", to(page + 1)))
    return grid(nav, 2)


def rows(*buttons: InlineKeyboardButton | None, width: int = 2) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=grid(buttons, width))


class GuestCb(ButtonData, prefix="gst"):
    """"Set my time zone" for someone who cannot register any more (handlers/guests.py)."""

    action: str


class FollowCb(ButtonData, prefix="fol"):
    """"Remind me" / "Don't remind me" on a session card."""

    item: str
    on: bool


def main_menu() -> ReplyKeyboardMarkup:
    """The persistent menu in the current language: the main actions as a reply keyboard (it stays until a
    step that needs its own keyboard replaces it; handlers/menu.py routes the labels)."""
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=_(menu.LABELS[action])) for action in row] for row in menu.LAYOUT],
        resize_keyboard=True, is_persistent=True)


# `flags=ORGANISER_ONLY` on a handler's registration: only organisers run it (`OrganiserOnly`).
ORGANISER_ONLY: dict[str, Any] = {"organiser_only": True}


class OrganiserOnly(BaseMiddleware):
    """The one rights check: an inner middleware (on the Dispatcher's message and callback_query observers, so
    every router's handlers pass it after their filters matched) that lets a handler registered with
    `flags=ORGANISER_ONLY` run for an organiser only (`is_admin`, set by ProfileMiddleware); everyone else gets
    the neutral line and nothing else happens. tests/test_rights.py enumerates the flagged handlers."""

    async def __call__(self, handler: Callable[[Any, dict[str, Any]], Awaitable[Any]], event: Any,
                       data: dict[str, Any]) -> Any:
        if get_flag(data, "organiser_only") and not data.get("is_admin"):
            await refuse_non_organiser(event)
            return None
        return await handler(event, data)


async def refuse_non_organiser(event: Message | CallbackQuery) -> None:
    """The one neutral line an organiser command or button gives everyone else."""
    if isinstance(event, CallbackQuery):
        await event.answer(_("This button is for the organisers."), show_alert=True)
    else:
        await event.answer(_("This command is for the organisers."))
