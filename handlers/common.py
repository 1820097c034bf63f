"""Commands that work anywhere (/help, /language, /cancel), the last-resort fallback and the error handler."""

from __future__ import annotations

import contextlib
import logging

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, ExceptionTypeFilter, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, ErrorEvent, Message, ReplyKeyboardRemove
from aiogram.utils.i18n import I18n, ngettext
from aiogram.utils.i18n import gettext as _

from domain import excom
from domain.clock import Clock
from domain.event import Event
from domain.languages import LANGUAGE_NAMES
from domain.registration import Profile
from handlers import registration as reg_handlers
from handlers.ui import LangCb, esc, language_keyboard, main_menu, on_a_message
from services import guests, matchmaking, quiz
from services import registration as flow
from services.errors import ServiceError
from services.ports import UnitOfWork

log = logging.getLogger(__name__)


def help_text(conf: Event, lang: str, registered: bool, is_admin: bool, *, closed: bool = False) -> str:
    """`closed`: the person cannot register any more (they can set a time zone instead)."""
    if registered:
        first = _("/profile — see and change your data")
    elif closed:
        first = _("/timezone — your time zone: the program and reminders use it")
    else:
        first = _("/start — register for the event (or continue your registration)")
    lines = [
        _("I am the assistant of {event}. What I can do:").format(event=esc(conf.name.get(lang))),
        "",
        first,
        _("/program — the program in your time zone"),
        _("/now — what is on now and what comes next"),
        _("/next — what comes next, and how soon"),
        _("/reminders — reminders before the sessions you follow"),
        _(matchmaking.HELP_LINE),
        _(quiz.HELP_PLAY),
        _("/language — change the language (English, Русский, 한국어)"),
        _("/forget — delete your data"),
        _("/cancel — stop the current step"),
        _("/myid — your Telegram user id (for the organisers)"),
        "",
        _("You can also just ask a question, for example “When is the quiz?”."),
        _("Contact: {name}, {email}").format(name=esc(conf.contact.name.get(lang)), email=esc(conf.contact.email)),
    ]
    if is_admin:
        lines += ["", _("Organiser commands: /admit &lt;user id&gt; lets a person register after the deadline."),
                  _(excom.ORGANISER_HELP), _(matchmaking.ORGANISER_HELP), _(quiz.HELP_ORGANISER),
                  _("/broadcast, /broadcasts, /people, /stats, /export, /audit — broadcasts, registrations, "
                    "figures, CSV files and the log of organiser actions")]
    return "\n".join(lines)


async def _closed(uow: UnitOfWork, conf: Event, message: Message, clock: Clock, is_admin: bool) -> bool:
    """The person cannot register any more (by the bot's clock; organisers and late passes can)."""
    if message.from_user is None or conf.registration_open(clock.now()):
        return False
    return not await flow.may_register(uow, conf, message.from_user.id, clock.now(), is_admin=is_admin)


async def on_help(message: Message, state: FSMContext, uow: UnitOfWork, conf: Event, lang: str,
                  profile: Profile | None, is_admin: bool, clock: Clock) -> None:
    """/help: what the bot can do; in the middle of a step, the step's question follows."""
    # A registered person outside a step gets the persistent menu with it (it may have been hidden).
    shows_menu = profile is not None and await state.get_state() is None
    closed = profile is None and await _closed(uow, conf, message, clock, is_admin)
    await message.answer(help_text(conf, lang, profile is not None, is_admin, closed=closed),
                         reply_markup=main_menu() if shows_menu else None)
    await reg_handlers.reprompt(message, state, uow, conf, clock,
                                note=_("Your registration is waiting for this answer:"))


async def on_language(message: Message) -> None:
    """/language: offer the three languages."""
    await message.answer(_("Choose your language:"), reply_markup=language_keyboard())


async def on_language_set(query: CallbackQuery, callback_data: LangCb, state: FSMContext, uow: UnitOfWork,
                          conf: Event, clock: Clock, i18n: I18n, profile: Profile | None) -> None:
    """A language button outside the registration's language step: switch at once."""
    lang = callback_data.code
    try:
        await flow.set_language(uow, state, profile, lang, clock.now())
        if profile is None:  # a guest's language is stored with their zone (their reminders are written in it)
            await guests.set_language(uow, query.from_user.id, lang, clock.now())
    except ServiceError:
        await query.answer(_("This button is no longer active."))
        return
    await query.answer()
    assert isinstance(query.message, Message)
    with i18n.use_locale(lang):
        with contextlib.suppress(TelegramBadRequest):  # a double tap: "message is not modified"
            await query.message.edit_text(_("Language: {name}.").format(name=LANGUAGE_NAMES[lang]))
        await reg_handlers.reprompt(query.message, state, uow, conf, clock)


async def on_cancel(message: Message, state: FSMContext, uow: UnitOfWork, profile: Profile | None) -> None:
    """/cancel: leave the current step; registration answers are kept so /start resumes."""
    given = await flow.pause(uow, state, registered=profile is not None)
    if given is None:
        await message.answer(_("There is nothing to cancel."), reply_markup=ReplyKeyboardRemove())
        return
    if given < 0:
        await message.answer(_("Cancelled. Your data is unchanged."),
                             reply_markup=main_menu() if profile is not None else ReplyKeyboardRemove())
        return
    if not given:
        await message.answer(_("Registration paused. Send /start whenever you want to begin."),
                             reply_markup=ReplyKeyboardRemove())
        return
    await message.answer(ngettext("Registration paused. Your {n} answer is kept: send /start to continue where "
                                  "you left off.",
                                  "Registration paused. Your {n} answers are kept: send /start to continue where "
                                  "you left off.", given).format(n=given), reply_markup=ReplyKeyboardRemove())


async def on_unhandled_text(message: Message, conf: Event, lang: str, profile: Profile | None,
                            is_admin: bool, uow: UnitOfWork, clock: Clock) -> None:
    """Anything no feature claimed: say what the bot can do instead of staying silent."""
    closed = profile is None and await _closed(uow, conf, message, clock, is_admin)
    await message.answer(_("Sorry, I did not understand that.") + "\n\n"
                         + help_text(conf, lang, profile is not None, is_admin, closed=closed))


async def on_unhandled_callback(query: CallbackQuery) -> None:
    """A button no handler knows (an old message, a forged payload)."""
    await query.answer(_("This button is no longer active."), show_alert=False)


async def on_error(error: ErrorEvent, i18n: I18n, lang: str = "en") -> bool:
    """Log the failure and tell the person, in their language, instead of going silent."""
    log.error("update %s failed", error.update.update_id, exc_info=error.exception)
    with i18n.context(), i18n.use_locale(lang):
        text = _("Sorry, something went wrong on my side. Please try again in a moment.")
    update = error.update
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(text, show_alert=True)
        elif update.message is not None:
            await update.message.answer(text)
    except Exception:  # the report itself failing must not hide the original error
        log.exception("could not report the error to the user")
    return True


def make_router() -> Router:
    router = Router(name="common")
    router.message.register(on_help, Command("help"))
    router.message.register(on_language, Command("language"))
    router.message.register(on_cancel, Command("cancel"))
    router.callback_query.register(on_language_set, LangCb.filter(), ~StateFilter(reg_handlers.Reg.language),
                                   on_a_message)
    router.errors.register(on_error, ExceptionTypeFilter(Exception))
    return router


def make_fallback_router() -> Router:
    router = Router(name="fallback")
    router.message.register(on_unhandled_text)
    router.callback_query.register(on_unhandled_callback)
    return router
