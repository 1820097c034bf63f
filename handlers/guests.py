"""/timezone: the time zone of someone who cannot register any more (a guest: services/guests.py), or, for a
registered delegate, the profile's time zone. A guest then sees the program in their time and is reminded in
it; nothing else about them is stored."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, KeyboardButton, Message, ReplyKeyboardMarkup, ReplyKeyboardRemove
from aiogram.utils.i18n import gettext as _

from domain import timezones as tzs
from domain.clock import Clock
from domain.event import Event
from domain.registration import Profile
from handlers import registration
from handlers.program import ProgramCb
from handlers.ui import GuestCb, button, esc, refusal, rows
from services import guests
from services import registration as flow
from services.errors import ServiceError
from services.ports import UnitOfWork


class GuestStates(StatesGroup):
    timezone = State()


def _zone_keyboard() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text=_("📍 Share my location"), request_location=True)]],
                               resize_keyboard=True, one_time_keyboard=True, is_persistent=False)


async def _ask_zone(message: Message, state: FSMContext, uow: UnitOfWork, note: str | None = None) -> None:
    await state.set_state(GuestStates.timezone)
    await uow.commit()
    text = _("Which time zone are you in? Type your city (e.g. <i>Seoul</i>), a time zone such as "
             "<i>Asia/Seoul</i> or an offset such as <i>UTC+9</i>, or share your location with "
             "the button below. I will show every time in your time zone.")
    if note:
        text = f"{note}\n\n{text}"
    await message.answer(text + "\n\n" + _("Send /cancel to leave it as it is."), reply_markup=_zone_keyboard())


async def _start(message: Message, state: FSMContext, uow: UnitOfWork, conf: Event, clock: Clock, user_id: int,
                 profile: Profile | None, is_admin: bool) -> None:
    if profile is not None:  # a delegate: the time zone of their profile, through the profile editor
        await flow.begin_edit(uow, state, profile)
        await registration.ask(message, state, uow, "timezone", conf)
        return
    if not await guests.can_be_guest(uow, conf, user_id, clock.now(), is_admin=is_admin):
        await message.answer(_(guests.REGISTER_INSTEAD))
        return
    await _ask_zone(message, state, uow)


async def on_timezone(message: Message, state: FSMContext, uow: UnitOfWork, conf: Event, clock: Clock,
                      profile: Profile | None, is_admin: bool) -> None:
    """/timezone: set the time zone (a guest's, or a delegate's profile)."""
    assert message.from_user is not None
    if flow.step_of(await state.get_state()) is not None:  # in the middle of the registration: finish it
        await registration.reprompt(message, state, uow, conf, clock,
                                    note="⚠️ " + _("Let us finish this step first (or send /cancel to stop)."))
        return
    await _start(message, state, uow, conf, clock, message.from_user.id, profile, is_admin)


async def on_zone_button(query: CallbackQuery, state: FSMContext, uow: UnitOfWork, conf: Event, clock: Clock,
                         profile: Profile | None, is_admin: bool) -> None:
    """"Set my time zone" under the "registration closed" message."""
    await query.answer()
    if not isinstance(query.message, Message):
        return
    if flow.step_of(await state.get_state()) is not None:  # in the middle of the registration: its step
        await registration.reprompt(query.message, state, uow, conf, clock)
        return
    await _start(query.message, state, uow, conf, clock, query.from_user.id, profile, is_admin)


async def _save(message: Message, state: FSMContext, uow: UnitOfWork, conf: Event, clock: Clock, lang: str,
                is_admin: bool, zone: str) -> None:
    assert message.from_user is not None
    try:
        await state.set_state(None)
        saved = await guests.set_zone(uow, conf, message.from_user.id, lang, zone, clock.now(), is_admin=is_admin)
    except ServiceError as err:
        await uow.commit()  # leaves the step
        await message.answer(refusal(err), reply_markup=ReplyKeyboardRemove())
        return
    now = clock.watch_now(tzs.get_tz(saved.timezone))  # the person compares it with their own watch
    await message.answer(
        _("Time zone set: {zone}. It is now {time} there. /program shows the program in your time, and "
          "“Remind me” on a session reminds you before it.").format(
            zone=esc(tzs.zone_name(saved.timezone, lang, now)), time=tzs.fmt_time(now, saved.timezone, lang)),
        reply_markup=ReplyKeyboardRemove())
    await message.answer(_("What next?"), reply_markup=rows(button(_("📋 Program"), ProgramCb(n=-1, edit=False))))


async def on_zone_text(message: Message, state: FSMContext, uow: UnitOfWork, conf: Event, clock: Clock, lang: str,
                       is_admin: bool) -> None:
    """The zone typed."""
    text = message.text or ""
    match = tzs.resolve(text, conf)
    if match is None:
        await _ask_zone(message, state, uow, note="⚠️ " + esc(_(guests.BAD_ZONE).format(value=text[:60])))
        return
    await _save(message, state, uow, conf, clock, lang, is_admin, match.zone)


async def on_zone_location(message: Message, state: FSMContext, uow: UnitOfWork, conf: Event, clock: Clock,
                           lang: str, is_admin: bool) -> None:
    """The location shared."""
    assert message.location is not None
    match = tzs.from_location(message.location.latitude, message.location.longitude)
    if match is None:
        await _ask_zone(message, state, uow,
                        note="⚠️ " + _("I could not find a time zone at that location. Please type your city."))
        return
    await _save(message, state, uow, conf, clock, lang, is_admin, match.zone)


async def on_other(message: Message, state: FSMContext, uow: UnitOfWork) -> None:
    """A sticker, a command or anything else while the zone is asked."""
    await _ask_zone(message, state, uow, note="⚠️ " + _("I can only take a typed answer or a button here."))


def make_router() -> Router:
    router = Router(name="guests")
    router.message.register(on_timezone, Command("timezone"))
    router.callback_query.register(on_zone_button, GuestCb.filter())
    router.message.register(on_zone_location, StateFilter(GuestStates.timezone), F.location)
    router.message.register(on_zone_text, StateFilter(GuestStates.timezone), F.text, ~F.text.startswith("/"))
    router.message.register(on_other, StateFilter(GuestStates.timezone))
    return router
