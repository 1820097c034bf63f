"""Registration conversation, the profile (view, edit one field) and /forget.

Answers live in the FSM data ("answers") until the person confirms; only then is a row stored. The same
step prompts and checks serve three modes: "register" (step by step), "summary" (fix one answer before
confirming) and "profile" (change one field of a stored registration).
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime
from typing import Any

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import LANGUAGE_NAMES
from domain import registration as reg
from domain import timezones as tzs
from domain.clock import Clock
from domain.event import Event
from domain.i18n_marks import N_
from domain.registration import InputError, Profile
from handlers.reminders import follow_all_markup
from handlers.ui import LangCb, RegCb, button, esc, language_keyboard, on_a_message, rows
from storage.repo import Delegates, LatePasses, forget_person

log = logging.getLogger(__name__)


class Reg(StatesGroup):
    language = State()
    full_name = State()
    position = State()
    organisation = State()
    city = State()
    participant_type = State()
    email = State()
    timezone = State()
    timezone_confirm = State()
    matchmaking = State()
    consent = State()
    summary = State()
    choose_field = State()
    forget = State()


STEP_STATES: dict[str, State] = {s: getattr(Reg, s) for s in reg.STEPS}
TEXT_STEPS = ("full_name", "position", "organisation", "city", "email", "timezone")
ALL_STATES = tuple(Reg.__all_states__)


# -- prompts -------------------------------------------------------------------------------------------

def _question(step: str) -> str:
    return {
        "language": _("Please choose your language."),
        "full_name": _("What is your full name?"),
        "position": _("What is your position (job title)?"),
        "organisation": _("Which organisation do you represent?"),
        "city": _("Which city and country are you from? For example: <i>Seoul, Republic of Korea</i>."),
        "participant_type": _("Which type of participant are you?"),
        "email": _("What is your e-mail address? The organisers use it only for this event."),
        "timezone": _("Which time zone are you in? Type your city (e.g. <i>Seoul</i>), a time zone such as "
                      "<i>Asia/Seoul</i> or an offset such as <i>UTC+9</i>, or share your location with "
                      "the button below. I will show every time in your time zone."),
        "matchmaking": _("Is your city available for one-on-one matchmaking meetings with other participants "
                         "(10:40–11:30 GMT+3, during the first coffee break)?"),
        "consent": _("May we store the data you entered (name, position, organisation, city, participant "
                     "type, e-mail, time zone, language) for this event? The organisers use it to run the "
                     "event, and you can see, change or delete it at any time with /profile and /forget. "
                     "If you say no, nothing is stored."),
    }[step]


def _step_markup(step: str, answers: dict[str, Any], conf: Event) -> Any:
    if step == "language":
        return language_keyboard()
    if step == "participant_type":
        return rows(*(button(_(reg.PARTICIPANT_LABELS[t]), RegCb(action="type", value=t))
                      for t in reg.PARTICIPANT_TYPES), width=2)
    if step == "matchmaking":
        return rows(button(_("Yes, available"), RegCb(action="mm", value="1")),
                    button(_("No"), RegCb(action="mm", value="0")))
    if step == "consent":
        return rows(button(_("I agree"), RegCb(action="consent", value="1")),
                    button(_("I do not agree"), RegCb(action="consent", value="0")))
    if step == "timezone":
        return ReplyKeyboardMarkup(
            keyboard=[[KeyboardButton(text=_("📍 Share my location"), request_location=True)]],
            resize_keyboard=True, one_time_keyboard=True, is_persistent=False,
        )
    return ReplyKeyboardRemove() if step == "full_name" else None


def _guess_zone(answers: dict[str, Any], conf: Event) -> tzs.ZoneMatch | None:
    """A zone suggested from the city the person gave."""
    for text in (answers.get("city", ""), f"{answers.get('city', '')}, {answers.get('country', '')}"):
        match = tzs.resolve(text, conf) if text.strip(", ") else None
        if match:
            return match
    return None


async def ask(message: Message, state: FSMContext, step: str, conf: Event, *, note: str | None = None) -> None:
    """Put the conversation on `step` and ask its question (after an optional note, e.g. an error)."""
    data = await state.get_data()
    answers = data.get("answers", {})
    await state.set_state(STEP_STATES[step])
    text = _question(step)
    if data.get("mode", "register") == "register" and step != "language":
        n, total = reg.step_number(step, answers)
        text = _("Step {n} of {total}.").format(n=n, total=total) + "\n" + text
    if note:
        text = f"{note}\n\n{text}"
    await message.answer(text, reply_markup=_step_markup(step, answers, conf))
    if step == "timezone":
        guess = _guess_zone(answers, conf)
        if guess and ":" not in guess.zone:
            await message.answer(
                _("Or use the time zone of {place}:").format(place=esc(tzs.zone_name(guess.zone, _lang()))),
                reply_markup=rows(button(_("Use {place}").format(place=tzs.zone_name(guess.zone, _lang())),
                                         RegCb(action="tz_use", value=guess.zone[:40]))),
            )


def _lang() -> str:
    from aiogram.utils.i18n import get_i18n

    return get_i18n().current_locale


async def reprompt(message: Message, state: FSMContext, conf: Event, note: str | None = None) -> bool:
    """Ask the current step's question again; False when the person is not in this conversation."""
    current = await state.get_state()
    if current is None or not current.startswith("Reg:"):
        return False
    step = current.split(":", 1)[1]
    if step in STEP_STATES:
        await ask(message, state, step, conf, note=note)
    elif step == "timezone_confirm":
        data = await state.get_data()
        pending = data.get("tz_pending") or {}
        if pending.get("zone"):
            await _confirm_zone(message, state, pending["zone"], note=note, place=pending.get("place"))
        elif data.get("mode", "register") != "profile" and data.get("answers", {}).get("timezone"):
            # The zone was confirmed and stored, then the process stopped before the next step: go on from
            # there (never offer a default zone that "Yes" would store over the confirmed one).
            answers = data["answers"]
            nxt = reg.next_step(answers, after="timezone") if data.get("mode", "register") == "register" \
                else None
            if nxt is None:
                await show_summary(message, state, conf, note=note)
            else:
                await ask(message, state, nxt, conf, note=note)
        else:
            await ask(message, state, "timezone", conf, note=note)
    elif step == "summary":
        await show_summary(message, state, conf, note=note)
    elif step == "choose_field":
        await _choose_field(message, state, note=note)
    elif step == "forget":
        await _ask_forget(message, note=note)
    return True


# -- summary and saving --------------------------------------------------------------------------------

def _value_text(field: str, answers: dict[str, Any], now: datetime) -> str:
    value = answers.get(field)
    if field == "language":
        return LANGUAGE_NAMES.get(str(value), str(value))
    if field == "participant_type":
        return _(reg.PARTICIPANT_LABELS.get(str(value), "Other"))
    if field == "timezone":
        return tzs.zone_name(str(value), _lang(), now)
    if field == "matchmaking":
        return _("available") if value else _("not available")
    if field == "city":
        country = answers.get("country")
        return f"{value}, {country}" if country else str(value)
    return str(value or "—")


def profile_lines(answers: dict[str, Any], now: datetime) -> str:
    return "\n".join(
        f"<b>{esc(_(reg.FIELD_LABELS[f]))}:</b> {esc(_value_text(f, answers, now))}"
        for f in ("full_name", "position", "organisation", "city", "participant_type", "email", "timezone",
                  "matchmaking", "language")
        if f != "matchmaking" or answers.get("participant_type") in reg.LOCAL_GOVERNMENTS
    )


async def show_summary(message: Message, state: FSMContext, conf: Event, note: str | None = None) -> None:
    data = await state.get_data()
    await state.set_state(Reg.summary)
    await state.update_data(mode="summary")
    text = _("Please check your registration:") + "\n\n" + profile_lines(data.get("answers", {}),
                                                                          Clock.wall_now())
    if note:
        text = f"{note}\n\n{text}"
    await message.answer(text, reply_markup=rows(button(_("✅ Confirm"), RegCb(action="confirm")),
                                                 button(_("✏️ Edit"), RegCb(action="edit"))))


async def _choose_field(message: Message, state: FSMContext, note: str | None = None) -> None:
    data = await state.get_data()
    answers = data.get("answers", {})
    await state.set_state(Reg.choose_field)
    fields = [f for f in reg.EDITABLE
              if f != "matchmaking" or answers.get("participant_type") in reg.LOCAL_GOVERNMENTS]
    markup = rows(*(button(_(reg.FIELD_LABELS[f]), RegCb(action="field", value=f)) for f in fields),
                  button(_("↩️ Back"), RegCb(action="back")), width=2)
    text = _("Which field do you want to change?")
    await message.answer(f"{note}\n\n{text}" if note else text, reply_markup=markup)


def _answers_from(profile: Profile) -> dict[str, Any]:
    keys = ("language", "full_name", "position", "organisation", "city", "country", "participant_type",
            "email", "timezone", "matchmaking", "city_id")
    return {k: getattr(profile, k) for k in keys}


async def _after_answer(message: Message, state: FSMContext, step: str, conf: Event, db: AsyncSession,
                        clock: Clock) -> None:
    """Move on after a valid answer, according to the mode."""
    data = await state.get_data()
    mode = data.get("mode", "register")
    answers = data.get("answers", {})
    if mode == "profile":
        # Changing the participant type may make the matchmaking question apply.
        if step == "participant_type" and answers.get("participant_type") in reg.LOCAL_GOVERNMENTS \
                and answers.get("matchmaking") is None:
            await ask(message, state, "matchmaking", conf)
            return
        await _save_profile(message, state, db, clock, answers, step)
        return
    if mode == "summary":
        if step == "participant_type" and answers.get("participant_type") in reg.LOCAL_GOVERNMENTS \
                and "matchmaking" not in answers:
            await ask(message, state, "matchmaking", conf)
            return
        await show_summary(message, state, conf)
        return
    nxt = reg.next_step(answers, after=step)
    if nxt is None:
        await show_summary(message, state, conf)
    else:
        await ask(message, state, nxt, conf)


async def _store_answer(state: FSMContext, **values: Any) -> dict[str, Any]:
    data = await state.get_data()
    answers = dict(data.get("answers", {}))
    answers.update(values)
    if answers.get("participant_type") not in reg.LOCAL_GOVERNMENTS:
        answers.pop("matchmaking", None)
    await state.update_data(answers=answers)
    return answers


async def _save_profile(message: Message, state: FSMContext, db: AsyncSession, clock: Clock,
                        answers: dict[str, Any], step: str) -> None:
    user = message.chat
    repo = Delegates(db)
    current = await repo.get(user.id)
    if current is None:
        await state.clear()
        await message.answer(_("You are not registered yet. Send /start to register."),
                             reply_markup=ReplyKeyboardRemove())
        return
    values = {k: answers.get(k) for k in ("full_name", "position", "organisation", "city", "country",
                                          "participant_type", "email", "timezone", "city_id", "language")}
    values["matchmaking"] = answers.get("matchmaking") if answers.get("participant_type") in \
        reg.LOCAL_GOVERNMENTS else None
    profile = await repo.update_fields(user.id, clock.now(), **values)
    await state.set_state(None)
    await state.set_data({})
    assert profile is not None
    await message.answer(_("Saved: {field}.").format(field=esc(_(reg.FIELD_LABELS.get(step, step)))),
                         reply_markup=ReplyKeyboardRemove())
    await show_profile(message, profile)


async def show_profile(message: Message, profile: Profile) -> None:
    text = _("<b>Your registration</b>") + "\n\n" + profile_lines(_answers_from(profile), Clock.wall_now())
    markup = rows(button(_("✏️ Edit a field"), RegCb(action="pedit")),
                  button(_("🗑 Delete my data"), RegCb(action="forget")))
    await message.answer(text, reply_markup=markup)


async def _confirm_zone(message: Message, state: FSMContext, zone: str, note: str | None = None,
                        place: str | None = None) -> None:
    await state.set_state(Reg.timezone_confirm)
    await state.update_data(tz_pending={"zone": zone, "place": place})
    # The person compares this with their own watch, so it is the real time, not the rehearsal clock.
    now = Clock.wall_now()
    shown = f"{place} ({tzs.utc_offset_label(now, zone)})" if place else tzs.zone_name(zone, _lang(), now)
    text = _("In {place} it is now <b>{time}</b> ({date}). Is that your time zone?").format(
        place=esc(shown),
        time=tzs.fmt_time(now, zone, _lang()),
        date=tzs.fmt_date(now, zone, _lang()),
    )
    if note:
        text = f"{note}\n\n{text}"
    await message.answer(text, reply_markup=rows(button(_("Yes"), RegCb(action="tz_ok")),
                                                 button(_("No, another one"), RegCb(action="tz_no"))))


# -- handlers --------------------------------------------------------------------------------------------

async def on_start(message: Message, state: FSMContext, conf: Event, clock: Clock, db: AsyncSession,
                   profile: Profile | None, is_admin: bool) -> None:
    """/start: greet; lead a new person into registration, or resume it, or show a registered one home."""
    if profile is not None:
        await state.clear()  # leave any half-done profile edit
        await message.answer(
            _("Welcome back, {name}! You are registered for {event}.").format(
                name=esc(profile.full_name), event=esc(conf.name.get(profile.language)))
            + "\n\n" + _("Send /program for the program in your time zone, /profile for your data, "
                         "/help for everything I can do."),
            reply_markup=ReplyKeyboardRemove())
        return
    if await reprompt(message, state, conf, note=_("Let us continue where you left off.")):
        return
    data = await state.get_data()
    lang = _lang()
    has_pass = await LatePasses(db).has(message.chat.id)
    if not reg.registration_open(conf, clock.now(), is_admin=is_admin, has_pass=has_pass):
        c = conf.contact
        await message.answer(_(
            "Registration for {event} closed on {date}. If you need to take part, please write to "
            "{name}: {email}, {phone}."
        ).format(event=esc(conf.name.get(lang)),
                 date=tzs.fmt_long_date(conf.registration.deadline, conf.timezone, lang),
                 name=esc(c.name.get(lang)), email=esc(c.email), phone=esc(c.phone)))
        return
    answers = data.get("answers", {})
    await state.update_data(mode="register", started_at=clock.now().isoformat(),
                            answers={**answers, **({"language": data["lang"]} if data.get("lang") else {})})
    await message.answer(_(
        "Hello! I am the assistant of {event} — “{theme}”, online, {date}.\n\n"
        "I will register you in a few short steps, then show you the program in your own time zone."
    ).format(event=esc(conf.name.get(lang)), theme=esc(conf.theme.get(lang)),
             date=esc(tzs.fmt_long_date(conf.starts, conf.timezone, lang))))
    nxt = reg.next_step((await state.get_data())["answers"])
    await ask(message, state, nxt or "language", conf)


async def on_language_chosen(query: CallbackQuery, callback_data: LangCb, state: FSMContext, conf: Event,
                             clock: Clock, db: AsyncSession) -> None:
    """A language button during registration."""
    from aiogram.utils.i18n import get_i18n

    try:
        lang = reg.check_language(callback_data.code)
    except InputError as err:
        await query.answer(_(err.message), show_alert=True)
        return
    await query.answer()
    await state.update_data(lang=lang)
    await _store_answer(state, language=lang)
    assert isinstance(query.message, Message)
    with get_i18n().use_locale(lang):
        await query.message.answer(_("Language: {name}.").format(name=LANGUAGE_NAMES[lang]))
        await _after_answer(query.message, state, "language", conf, db, clock)


async def on_text_step(message: Message, state: FSMContext, conf: Event, clock: Clock, db: AsyncSession
                       ) -> None:
    """A typed answer to a text step: validate, store, move on; re-ask with the reason when invalid."""
    step = (await state.get_state() or "").split(":", 1)[1]
    text = message.text
    try:
        if step in ("full_name", "position", "organisation"):
            await _store_answer(state, **{step: reg.clean_text(text)})
        elif step == "city":
            city, country = reg.split_city(text or "")
            city_id = reg.match_city(conf, city)
            known = conf.city(city_id) if city_id else None
            if not country:
                if known is None:
                    raise InputError("no_country", N_("Please add the country after a comma, for example: "
                                                   "Kazan, Russia."))
                country = known.country.get(_lang())
            country = reg.clean_text(country)
            await _store_answer(state, city=city, country=country, city_id=city_id)
        elif step == "email":
            await _store_answer(state, email=reg.clean_email(text))
        elif step == "timezone":
            match = tzs.resolve(text or "", conf)
            if match is None:
                raise InputError("bad_zone", N_("I could not find a time zone for “{value}”. Try your city, "
                                             "a zone like Europe/Moscow, an offset like UTC+3, "
                                             "or share your location."), value=(text or "")[:60])
            city = conf.city(match.city_id) if match.city_id else None
            await _confirm_zone(message, state, match.zone, place=city.name.get(_lang()) if city else None)
            return
        else:  # a button step answered with text
            await reprompt(message, state, conf, note=_("Please use the buttons below."))
            return
    except InputError as err:
        await ask(message, state, step, conf, note="⚠️ " + esc(_(err.message).format(**err.params)))
        return
    await _after_answer(message, state, step, conf, db, clock)


async def on_location(message: Message, state: FSMContext, conf: Event) -> None:
    """A shared location at the time zone step."""
    assert message.location is not None
    match = tzs.from_location(message.location.latitude, message.location.longitude)
    if match is None:
        await ask(message, state, "timezone", conf,
                  note="⚠️ " + _("I could not find a time zone at that location. Please type your city."))
        return
    await _confirm_zone(message, state, match.zone)


async def on_zone_answer(query: CallbackQuery, callback_data: RegCb, state: FSMContext, conf: Event,
                         clock: Clock, db: AsyncSession) -> None:
    """Yes / No on the time zone check, or the suggested zone button."""
    await query.answer()
    assert isinstance(query.message, Message)
    msg = query.message
    if callback_data.action == "tz_use":
        if not tzs.is_valid_zone(callback_data.value):
            await ask(msg, state, "timezone", conf)
            return
        await _confirm_zone(msg, state, callback_data.value)
        return
    if callback_data.action == "tz_no":
        await ask(msg, state, "timezone", conf)
        return
    pending = (await state.get_data()).get("tz_pending") or {}
    zone = pending.get("zone")
    if not zone or not tzs.is_valid_zone(zone):
        await ask(msg, state, "timezone", conf)
        return
    await _store_answer(state, timezone=zone)
    await state.update_data(tz_pending=None)
    await msg.answer(_("Time zone set: {zone}.").format(zone=esc(tzs.zone_name(zone, _lang()))),
                     reply_markup=ReplyKeyboardRemove())
    await _after_answer(msg, state, "timezone", conf, db, clock)


async def on_choice(query: CallbackQuery, callback_data: RegCb, state: FSMContext, conf: Event,
                    clock: Clock, db: AsyncSession) -> None:
    """Participant type, matchmaking and consent buttons."""
    assert isinstance(query.message, Message)
    msg = query.message
    current = await state.get_state()
    expected = {"type": Reg.participant_type, "mm": Reg.matchmaking, "consent": Reg.consent}[callback_data.action]
    if current != expected.state:
        await query.answer(_("This button is no longer active."))
        await reprompt(msg, state, conf)
        return
    await query.answer()
    if callback_data.action == "type":
        if callback_data.value not in reg.PARTICIPANT_TYPES:
            await reprompt(msg, state, conf)
            return
        await _store_answer(state, participant_type=callback_data.value)
        await msg.edit_reply_markup(reply_markup=None)
        await msg.answer("✔️ " + esc(_(reg.PARTICIPANT_LABELS[callback_data.value])))
        await _after_answer(msg, state, "participant_type", conf, db, clock)
    elif callback_data.action == "mm":
        await _store_answer(state, matchmaking=callback_data.value == "1")
        await msg.edit_reply_markup(reply_markup=None)
        await _after_answer(msg, state, "matchmaking", conf, db, clock)
    else:
        await msg.edit_reply_markup(reply_markup=None)
        if callback_data.value != "1":
            lang = (await state.get_data()).get("lang")
            await state.set_state(None)
            await state.set_data({"lang": lang} if lang else {})
            await msg.answer(_("Understood: nothing has been stored. You can still ask me about the program "
                               "with /program. If you change your mind, send /start."),
                             reply_markup=ReplyKeyboardRemove())
            return
        await _store_answer(state, consent=True)
        await show_summary(msg, state, conf)


async def on_summary(query: CallbackQuery, callback_data: RegCb, state: FSMContext, conf: Event,
                     clock: Clock, db: AsyncSession, is_admin: bool) -> None:
    """Confirm, Edit, a field to edit, or Back, on the summary."""
    assert isinstance(query.message, Message)
    msg = query.message
    current = await state.get_state()
    action = callback_data.action
    valid = {"confirm": Reg.summary, "edit": Reg.summary, "field": Reg.choose_field, "back": Reg.choose_field}
    if current != valid[action].state:
        await query.answer(_("This button is no longer active."))
        await reprompt(msg, state, conf)
        return
    await query.answer()
    data = await state.get_data()
    if action == "edit":
        await _choose_field(msg, state)
        return
    if action == "back":
        if data.get("mode") == "profile":
            await state.set_state(None)
            profile = await Delegates(db).get(msg.chat.id)
            if profile:
                await show_profile(msg, profile)
            return
        await show_summary(msg, state, conf)
        return
    if action == "field":
        if callback_data.value not in reg.EDITABLE:
            await _choose_field(msg, state)
            return
        await ask(msg, state, callback_data.value, conf)
        return
    # confirm
    answers = data.get("answers", {})
    missing = [s for s in reg.STEPS if s not in ("consent",) and s not in answers
               and (s != "matchmaking" or answers.get("participant_type") in reg.LOCAL_GOVERNMENTS)]
    if missing or not answers.get("consent"):
        await state.update_data(mode="register")
        await ask(msg, state, missing[0] if missing else "consent", conf)
        return
    started = datetime.fromisoformat(data["started_at"]) if data.get("started_at") else clock.now()
    has_pass = await LatePasses(db).has(msg.chat.id)
    if not reg.registration_open(conf, started, is_admin=is_admin, has_pass=has_pass):
        await msg.answer(_("Sorry, registration closed before you started. Please contact the organisers."))
        return
    user = query.from_user
    profile = Profile(
        user_id=msg.chat.id, language=answers["language"], full_name=answers["full_name"],
        position=answers["position"], organisation=answers["organisation"], city=answers["city"],
        country=answers.get("country", ""), participant_type=answers["participant_type"],
        email=answers["email"], timezone=answers["timezone"], matchmaking=answers.get("matchmaking"),
        city_id=answers.get("city_id"), username=user.username if user else None,
    )
    await Delegates(db).save(profile, clock.now())
    await state.set_state(None)
    await state.set_data({})
    await msg.edit_reply_markup(reply_markup=None)
    lang = profile.language
    await msg.answer(_(
        "🎉 You are registered for {event}, {name}!\n\n"
        "All times I show you are in your time zone: {zone}. Try /program for the program, /now for what "
        "is on, /profile to see or change your data, /help for everything else."
    ).format(event=esc(conf.name.get(lang)), name=esc(profile.full_name),
             zone=esc(tzs.zone_name(profile.timezone, lang))), reply_markup=follow_all_markup())


async def on_profile(message: Message, state: FSMContext, conf: Event, profile: Profile | None) -> None:
    """/profile: show the stored data with Edit and Delete buttons."""
    if profile is None:
        if await reprompt(message, state, conf, note=_("You are not registered yet. Let us finish first.")):
            return
        await message.answer(_("You are not registered yet. Send /start to register."))
        return
    await show_profile(message, profile)


async def on_profile_action(query: CallbackQuery, callback_data: RegCb, state: FSMContext,
                            profile: Profile | None) -> None:
    """Edit a field / Delete my data, from /profile."""
    await query.answer()
    assert isinstance(query.message, Message)
    if profile is None:
        await query.message.answer(_("You are not registered yet. Send /start to register."))
        return
    if callback_data.action == "forget":
        await state.set_state(Reg.forget)
        await _ask_forget(query.message)
        return
    await state.set_data({"mode": "profile", "answers": _answers_from(profile)})
    await _choose_field(query.message, state)


async def _ask_forget(message: Message, note: str | None = None) -> None:
    text = _("Delete all your data (your registration and everything the bot keeps about you)? This cannot "
             "be undone.")
    await message.answer(f"{note}\n\n{text}" if note else text,
                         reply_markup=rows(button(_("Yes, delete everything"), RegCb(action="forget_yes")),
                                           button(_("No, keep it"), RegCb(action="forget_no"))))


async def on_forget(message: Message, state: FSMContext, profile: Profile | None) -> None:
    """/forget: ask for confirmation before deleting."""
    if profile is None:
        await state.clear()
        await message.answer(_("I keep no data about you: you are not registered. Any unfinished "
                               "registration has been discarded."), reply_markup=ReplyKeyboardRemove())
        return
    await state.set_state(Reg.forget)
    await _ask_forget(message)


async def on_forget_answer(query: CallbackQuery, callback_data: RegCb, state: FSMContext, db: AsyncSession
                           ) -> None:
    """Yes/No on deleting one's data."""
    assert isinstance(query.message, Message)
    if await state.get_state() != Reg.forget.state:  # a second tap, or an old message
        await query.answer(_("This button is no longer active."))
        with contextlib.suppress(TelegramBadRequest):  # already without buttons: "message is not modified"
            await query.message.edit_reply_markup(reply_markup=None)
        return
    await query.answer()
    with contextlib.suppress(TelegramBadRequest):
        await query.message.edit_reply_markup(reply_markup=None)
    if callback_data.action == "forget_no":
        await state.set_state(None)
        await query.message.answer(_("Nothing was deleted."))
        return
    await forget_person(db, query.message.chat.id)
    await state.clear()
    await query.message.answer(_("All your data has been deleted. Thank you for using the bot. If you want "
                                 "to register again, send /start."), reply_markup=ReplyKeyboardRemove())


async def on_wrong_input(message: Message, state: FSMContext, conf: Event) -> None:
    """A sticker, photo, voice note, command or anything unexpected in the middle of a step."""
    if message.text and message.text.startswith("/"):
        note = _("Let us finish this step first (or send /cancel to stop).")
    else:
        note = _("I can only take a typed answer or a button here.")
    await reprompt(message, state, conf, note="⚠️ " + note)


async def on_stale_button(query: CallbackQuery, state: FSMContext, conf: Event) -> None:
    """A registration button that no longer applies (an old message, or a forged one)."""
    await query.answer(_("This button is no longer active."))
    if isinstance(query.message, Message):
        await reprompt(query.message, state, conf)


def make_router() -> Router:
    router = Router(name="registration")
    router.callback_query.filter(on_a_message)
    router.message.register(on_start, CommandStart())
    router.message.register(on_profile, Command("profile"))
    router.message.register(on_forget, Command("forget"))
    router.callback_query.register(on_language_chosen, LangCb.filter(), StateFilter(Reg.language))
    router.callback_query.register(on_zone_answer, RegCb.filter(F.action.in_({"tz_ok", "tz_no"})),
                                   StateFilter(Reg.timezone_confirm))
    router.callback_query.register(on_zone_answer, RegCb.filter(F.action == "tz_use"), StateFilter(Reg.timezone))
    router.callback_query.register(on_choice, RegCb.filter(F.action.in_({"type", "mm", "consent"})))
    router.callback_query.register(on_summary, RegCb.filter(F.action.in_({"confirm", "edit", "field", "back"})))
    router.callback_query.register(on_profile_action, RegCb.filter(F.action.in_({"pedit", "forget"})))
    router.callback_query.register(on_forget_answer, RegCb.filter(F.action.in_({"forget_yes", "forget_no"})))
    router.callback_query.register(on_stale_button, RegCb.filter())
    router.message.register(on_location, StateFilter(Reg.timezone), F.location)
    router.message.register(on_text_step, StateFilter(*(STEP_STATES[s] for s in TEXT_STEPS)), F.text,
                            ~F.text.startswith("/"))
    router.message.register(on_wrong_input, StateFilter(*ALL_STATES))
    return router
