"""The check that what the bot says is durable before it is said.

Use cases commit their unit of work when they have decided; handlers reply after. This Bot request
middleware looks before every outgoing call: if the update being handled still holds uncommitted writes, a
handler is about to tell the person something the database does not hold yet. In tests (`strict`) that
fails the test; in production it is logged as an error and committed first, so that a person never hears of
a step that a crash would undo.
"""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

from storage.db import has_unsaved_work
from storage.fsm import CURRENT_SESSION

log = logging.getLogger(__name__)

# Calls that tell nobody anything.
_SILENT = frozenset({"GetMe", "GetUpdates", "DeleteWebhook", "SetMyCommands", "GetFile", "SetWebhook"})


class UncommittedReply(AssertionError):
    """A handler replied before the use case committed what the reply announces."""


class DurableBeforeSend(BaseRequestMiddleware):
    def __init__(self, *, strict: bool = False) -> None:
        self.strict = strict

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        session = CURRENT_SESSION.get()
        if session is not None and type(method).__name__ not in _SILENT and has_unsaved_work(session):
            what = f"{type(method).__name__} sent before the update's work was committed"
            if self.strict:
                raise UncommittedReply(what)
            log.error("%s: committing first (a use case should have)", what)
            await session.commit()
        return await make_request(bot, method)
