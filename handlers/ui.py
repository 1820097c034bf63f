"""Shared pieces of the Telegram interface: callback data, keyboards, escaping."""

from __future__ import annotations

import html

from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.i18n import LANGUAGE_NAMES


class LangCb(CallbackData, prefix="lang"):
    """A language button (/language and the first registration step)."""

    code: str


class RegCb(CallbackData, prefix="reg"):
    """A button inside the registration conversation or the profile editor."""

    action: str
    value: str = ""


def on_a_message(query: CallbackQuery) -> bool:
    """A filter: the button's message is one the bot can still see and edit.

    Telegram sends an InaccessibleMessage for some old messages and no message for inline-mode ones;
    handlers that edit or answer the message skip those, and the fallback answers "no longer active".
    """
    return isinstance(query.message, Message)


def esc(value: object) -> str:
    """Escape text for HTML parse mode (names and event texts may contain <, > or &)."""
    return html.escape(str(value), quote=False)


def language_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=name, callback_data=LangCb(code=code).pack())
        for code, name in LANGUAGE_NAMES.items()
    ]])


def rows(*buttons: InlineKeyboardButton, width: int = 2) -> InlineKeyboardMarkup:
    """Lay buttons out `width` to a row."""
    grid = [list(buttons[i:i + width]) for i in range(0, len(buttons), width)]
    return InlineKeyboardMarkup(inline_keyboard=grid)


def button(text: str, cb: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=cb.pack())


class FollowCb(CallbackData, prefix="fol"):
    """"Remind me" / "Don't remind me" on a session card."""

    item: str
    on: bool
