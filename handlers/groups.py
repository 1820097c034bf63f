"""Group and supergroup chats: the bot points people to its private chat and never posts personal data.

Personal commands, the registration and every button that touches a person's data work in private chats
only (`private_only`, applied at wiring in `bot/app.py`). In a group the bot answers a command, a mention or
a reply to itself with one line and a deep link to its private chat; other talk in the group is not its
business. Channels get silence. The quiz's group mode (handlers/quiz.py: /quiz_group, poll answers) adds its
handlers to `make_router` before the catch-alls.
"""

from __future__ import annotations

import re

from aiogram import Bot, F, Router
from aiogram.enums import ChatType, MessageEntityType
from aiogram.filters import Command, CommandObject, Filter
from aiogram.types import CallbackQuery, Message
from aiogram.utils.deep_linking import create_start_link
from aiogram.utils.i18n import gettext as _

from domain.event import Event
from handlers import quiz
from handlers.ui import esc

GROUP_CHATS = (ChatType.GROUP, ChatType.SUPERGROUP)
# A /start payload may hold A-Z, a-z, 0-9, _ and - (64 at most); a command name always fits.
_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")


class PrivateChat(Filter):
    """A message in a private chat, or a press of a button on a private message. A coroutine, so aiogram runs
    it on the event loop (a plain predicate would go to a worker thread on every update)."""

    async def __call__(self, event: Message | CallbackQuery) -> bool:
        chat = event.chat if isinstance(event, Message) else (event.message.chat if event.message else None)
        return chat is not None and chat.type == ChatType.PRIVATE


class GroupChat(Filter):
    """A message in a group or supergroup (a coroutine, like PrivateChat: this router sees every message)."""

    async def __call__(self, message: Message) -> bool:
        return message.chat.type in GROUP_CHATS


def private_only(router: Router) -> Router:
    """Let `router` see only messages in private chats and presses of buttons on private messages."""
    for observer in (router.message, router.edited_message, router.callback_query):
        observer.filter(PrivateChat())
    return router


class AddressedToBot(Filter):
    """A group message that mentions the bot (@username or a text mention) or replies to one of its messages."""

    async def __call__(self, message: Message, bot: Bot) -> bool:
        me = await bot.me()  # cached by aiogram after the first call
        replied = message.reply_to_message
        if replied is not None and replied.from_user is not None and replied.from_user.id == me.id:
            return True
        text = message.text or message.caption or ""
        for entity in message.entities or message.caption_entities or []:
            if entity.type == MessageEntityType.MENTION and me.username \
                    and entity.extract_from(text).lower() == f"@{me.username.lower()}":
                return True
            if entity.type == MessageEntityType.TEXT_MENTION and entity.user and entity.user.id == me.id:
                return True
        return False


async def private_link(bot: Bot, payload: str = "group") -> str:
    """https://t.me/<bot>?start=<payload>: opens the private chat and sends /start <payload>."""
    return await create_start_link(bot, payload if _PAYLOAD.fullmatch(payload) else "group")


async def on_group_help(message: Message, bot: Bot, conf: Event, lang: str) -> None:
    """/help in a group: what the bot is, in one line, and the way to its private chat."""
    await message.reply(_("I am the assistant of {event}. Registration, the program in your time zone and "
                          "reminders are in a private chat with me: {link}").format(
        event=esc(conf.name.get(lang)), link=await private_link(bot, "help")))


async def _go_private(message: Message, bot: Bot, payload: str) -> None:
    await message.reply(_("I keep your data out of groups. Please write to me in a private chat: {link}")
                        .format(link=await private_link(bot, payload)))


async def on_group_command(message: Message, bot: Bot, command: CommandObject) -> None:
    """Any other command for this bot in a group: the private chat's deep link, nothing personal."""
    await _go_private(message, bot, command.command.lower())


async def on_group_mention(message: Message, bot: Bot) -> None:
    """A mention of the bot, or a reply to it, in a group: the private chat's deep link."""
    await _go_private(message, bot, "group")


async def on_foreign_button(query: CallbackQuery, bot: Bot) -> None:
    """A button pressed outside a private chat: open the private chat instead of touching anyone's data."""
    await query.answer(_("Please open a private chat with me for this."), url=await private_link(bot))


def make_router() -> Router:
    """The router for groups and supergroups; dispatched before every private-only router."""
    router = Router(name="groups")
    router.message.filter(GroupChat())
    router.message.register(on_group_help, Command("help"))
    # The quiz's group mode (/quiz_group, poll answers): before the catch-all for commands.
    quiz.add_group_handlers(router)
    # Any command addressed to this bot (aiogram checks an @mention against the bot's username).
    router.message.register(on_group_command, Command(re.compile(r".+")))
    router.message.register(on_group_mention, AddressedToBot())
    # Buttons on messages outside private chats (none of ours carry personal actions there).
    router.callback_query.register(on_foreign_button, ~(F.message.chat.type == ChatType.PRIVATE))
    return router
