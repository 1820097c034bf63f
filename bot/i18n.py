"""Localisation: the gettext catalogs (via aiogram's I18n) and how a reader's language is chosen."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import CallbackQuery, TelegramObject, User
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n.middleware import I18nMiddleware

from domain.languages import LANGS, detect_language, supported
from domain.text import attach_particles

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"


def make_i18n(path: Path = LOCALES_DIR) -> I18n:
    return I18n(path=path, default_locale="en", domain="messages")


def telegram_language(user: User | None) -> str:
    """Map Telegram's language_code ("ru", "ko-KR", "en-GB", "de") to a supported language."""
    return supported(user.language_code if user else None)


class LocaleMiddleware(I18nMiddleware):
    """The reader's language: their profile, else their choice during registration, else the language of
    the bot's message whose button was pressed (after /forget nothing is stored, yet an old button should
    answer in the language the person last used), else Telegram's."""

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        profile = data.get("profile") or data.get("guest")
        if profile is not None:
            return str(profile.language)
        state = data.get("state")
        in_conversation = False
        if state is not None:
            lang = (await state.get_data()).get("lang")
            if lang in LANGS:
                return str(lang)
            in_conversation = await state.get_state() is not None
        fallback = telegram_language(data.get("event_from_user"))
        if in_conversation or data.get("is_admin"):
            # An organiser's tools, or a step under way: a message's language is its content's (a broadcast's
            # Russian preview), not the reader's.
            return fallback
        # A button on an earlier message, pressed by someone the bot keeps nothing about (after /forget): the
        # answer is in the language that message was written in, the person's last one.
        query = getattr(event, "callback_query", None) or (event if isinstance(event, CallbackQuery) else None)
        message = getattr(query, "message", None) if query is not None else None
        text = getattr(message, "text", None) or getattr(message, "caption", None)
        if isinstance(text, str) and text:
            return detect_language(text, fallback)
        return fallback

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        lang = await self.get_locale(event=event, data=data)
        data["lang"] = lang
        data["i18n"] = self.i18n
        data["i18n_middleware"] = self
        with self.i18n.context(), self.i18n.use_locale(lang):
            return await handler(event, data)


class KoreanParticles(BaseRequestMiddleware):
    """Every outgoing text and caption gets its Korean particle markers resolved ("{title}을(를)" ->
    "퀴즈를"), once the names are in (domain.text.attach_particles); other languages have no markers."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        for field in ("text", "caption"):
            value = getattr(method, field, None)
            if isinstance(value, str) and "(" in value:
                setattr(method, field, attach_particles(value))
        return await make_request(bot, method)
