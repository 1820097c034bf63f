"""The persistent menu (handlers.ui.main_menu): a tapped label arrives as text and is routed here to the
command it stands for, in any of the three languages. Registered before the conversation steps, so a tap in
the middle of a step works too (the step's question follows)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from aiogram.utils.i18n import I18n

from domain import menu
from domain.clock import Clock
from domain.event import LANGS, Event
from domain.registration import Profile
from handlers import common, program, registration, reminders
from services.ports import UnitOfWork

_INDEX: dict[int, dict[str, str]] = {}


async def menu_action(message: Message, i18n: I18n) -> dict[str, str] | bool:
    """A filter: the text is a menu label; gives the handler `menu_action`."""
    index = _INDEX.get(id(i18n))
    if index is None:
        index = _INDEX[id(i18n)] = menu.label_index(lambda m, lang: i18n.gettext(m, locale=lang), LANGS)
    action = menu.action_of(message.text or "", index)
    return {"menu_action": action} if action else False


async def deep_link(message: Message, command: CommandObject, profile: Profile | None = None
                    ) -> dict[str, str] | bool:
    """A filter: "/start <command>" from a group's deep link names a menu action; gives `menu_action`."""
    action = menu.deep_link_action(command.args, profile is not None)
    return {"menu_action": action} if action else False


async def on_menu(message: Message, menu_action: str, state: FSMContext, uow: UnitOfWork, conf: Event,
                  clock: Clock, profile: Profile | None, lang: str, is_admin: bool,
                  guest: Profile | None = None) -> None:
    """A tap on the menu: the command it stands for."""
    if menu_action == menu.HELP:
        await common.on_help(message, state, uow, conf, lang, profile, is_admin, clock)
        return
    if menu_action == menu.PROFILE:
        await registration.on_profile(message, state, uow, conf, clock, profile)
        return
    if menu_action == menu.PROGRAM:
        await program.on_program(message, conf, clock, profile, lang, uow, guest)
    elif menu_action == menu.NOW:
        await program.on_now(message, conf, clock, profile, lang, guest)
    else:
        await reminders.on_reminders(message, uow, conf, clock, profile, guest)
    await registration.reprompt(message, state, uow, conf, clock)  # in the middle of a step: ask it again


def make_router() -> Router:
    router = Router(name="menu")
    router.message.register(on_menu, F.text, ~F.text.startswith("/"), menu_action)
    router.message.register(on_menu, CommandStart(deep_link=True), deep_link)
    return router
