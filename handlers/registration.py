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
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from aiogram.utils.i18n import I18n, ngettext
from aiogram.utils.i18n import gettext as _

from domain import choices, excom, menu
from domain import registration as reg
from domain import timezones as tzs
from domain.clock import Clock
from domain.event import LANGS, Event
from domain.languages import LANGUAGE_NAMES, LANGUAGES
from domain.registration import InputError, Profile
from domain.text import normalize
from handlers import program as program_handlers
from handlers.reminders import follow_all_markup
from handlers.ui import GuestCb, LangCb, RegCb, button, esc, language_keyboard, main_menu, on_a_message, refusal, rows
from services import matchmaking
from services import registration as flow
from services.errors import ServiceError
from services.ports import UnitOfWork

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
TEXT_STEPS = flow.TEXT_STEPS
ALL_STATES = tuple(Reg.__all_states__)
# Where buttons are expected: typed text is matched to them (in every language).
BUTTON_STATES = ("language", "participant_type", "matchmaking", "consent", "timezone_confirm", "summary",
                 "choose_field", "forget")
# Steps whose own keyboard shares a location (Back is a keyboard button there, not an inline one).
LOCATION_STEPS = ("city", "timezone")
# Button labels cut to this in "Use «…» as my name" and "Keep «…»".
SHOWN_CHARS = 24


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
                         "(10:40–11:30 GMT+3, during the first coffee break)?\n\nIf yes, the cities, institutions "
                         "and corporations that may book meetings see your city, country and organisation (and the "
                         "topics and line you may add) in the list of cities open for meetings, and whoever books a "
                         "meeting with you also sees your name and position."),
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
    if step in LOCATION_STEPS:
        return ReplyKeyboardMarkup(
            keyboard=[[KeyboardButton(text=_("📍 Share my location"), request_location=True)]],
            resize_keyboard=True, one_time_keyboard=True, is_persistent=False,
        )
    return ReplyKeyboardRemove() if step == "full_name" else None


def _short(text: str, limit: int = SHOWN_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _use_label(step: str, text: str) -> str:
    shown = _short(text)
    return {
        "full_name": _("Use «{text}» as my name"),
        "position": _("Use «{text}» as my position"),
        "organisation": _("Use «{text}» as my organisation"),
        "city": _("Use «{text}» as my city"),
    }[step].format(text=shown)


def _kept(step: str, answers: dict[str, Any]) -> str | None:
    """The answer a step already has (shown when the person comes back to it), or None."""
    if step not in answers or step == "consent" or answers.get(step) is None:
        return None
    return _value_text(step, answers, Clock.wall_now())


def _with_nav(step: str, answers: dict[str, Any], conf: Event, *, nav: bool, insist: str | None) -> Any:
    """The step's own keyboard, with "Use «…»" (a question held), "Keep «…»" (an answer given before) and
    "Back" (the previous step) during the registration."""
    base = _step_markup(step, answers, conf)
    back = nav and reg.previous_step(step, answers) is not None
    if step in LOCATION_STEPS and insist is None:
        if not back:
            return base
        # The keyboard that shares a location carries Back; "Keep" follows in a message of its own.
        location = [KeyboardButton(text=_("📍 Share my location"), request_location=True)]
        return ReplyKeyboardMarkup(keyboard=[location, [KeyboardButton(text=_("↩️ Back"))]],
                                   resize_keyboard=True, one_time_keyboard=True, is_persistent=False)
    extra = []
    if insist is not None and step in ("full_name", "position", "organisation", "city"):
        extra.append(button(_use_label(step, insist), RegCb(action="use", value=step)))
    kept = _kept(step, answers) if nav else None
    if kept is not None:
        extra.append(button(_("✔️ Keep «{value}»").format(value=_short(kept)), RegCb(action="keep", value=step)))
    if back:
        # The step it was shown at: pressed later, on another step, it is stale (issue 20 bug 7).
        extra.append(button(_("↩️ Back"), RegCb(action="prev", value=step)))
    if not extra:
        return base
    own = base.inline_keyboard if isinstance(base, InlineKeyboardMarkup) else []
    return InlineKeyboardMarkup(inline_keyboard=[*own, *([b] for b in extra if b is not None)])


def _guess_zone(answers: dict[str, Any], conf: Event, hint: str | None = None) -> tzs.ZoneMatch | None:
    """A zone suggested from a shared location (`hint`) or the city the person gave."""
    if hint and tzs.is_valid_zone(hint):
        return tzs.ZoneMatch(hint, "location", hint)
    for text in (answers.get("city", ""), f"{answers.get('city', '')}, {answers.get('country', '')}"):
        match = tzs.resolve(text, conf) if text.strip(", ") else None
        if match:
            return match
    # A city the zone list does not know ("Kazan, Russia"): the zone of the country's capital, as an offer.
    return tzs.resolve_country(str(answers.get("country") or ""), capitals=True)


async def _location_step_extras(message: Message, step: str, answers: dict[str, Any], data: dict[str, Any],
                                conf: Event, kept: str | None) -> None:
    """At the city and time zone steps (whose keyboard shares a location): the suggested zone and "Keep"."""
    buttons = []
    text = None
    if step == "timezone":
        guess = _guess_zone(answers, conf, data.get("tz_hint"))
        if guess and ":" not in guess.zone and guess.zone != answers.get("timezone"):
            place = tzs.zone_name(guess.zone, _lang())
            text = _("Or use the time zone of {place}:").format(place=esc(place))
            buttons.append(button(_("Use {place}").format(place=place), RegCb(action="tz_use", value=guess.zone[:40])))
    if kept is not None:
        text = text or _("Or keep your answer:")
        buttons.append(button(_("✔️ Keep «{value}»").format(value=_short(kept)), RegCb(action="keep", value=step)))
    if text is not None:
        await message.answer(text, reply_markup=rows(*buttons, width=1))


def _lang() -> str:
    from aiogram.utils.i18n import get_i18n

    return get_i18n().current_locale


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
        for f in reg.SHOWN_FIELDS if reg.applies(f, answers)
    )


async def show_profile(message: Message, profile: Profile) -> None:
    text = _("<b>Your registration</b>") + "\n\n" + profile_lines(reg.answers_from(profile), Clock.wall_now())
    if (claim := excom.status_text(profile)) is not None:
        text += f"\n<b>{esc(_(excom.STATUS_LABEL))}:</b> {esc(_(claim))}"
    markup = rows(button(_("✏️ Edit a field"), RegCb(action="pedit")),
                  button(_("🗑 Delete my data"), RegCb(action="forget")))
    await message.answer(text, reply_markup=markup)


# -- handlers --------------------------------------------------------------------------------------------

def _person(event: Message | CallbackQuery) -> int:
    """The person (never the chat: in a group the chat is not the person)."""
    assert event.from_user is not None
    return event.from_user.id


def _resumed(_: Message, resumed: bool = False) -> bool:
    """The "/start" that bot.polling makes after a restart for someone whose last reply may have been lost."""
    return resumed


async def on_resumed(message: Message, state: FSMContext, uow: UnitOfWork, conf: Event, clock: Clock) -> None:
    """After a kill: this person's last message was stored, but the answer may not have reached them."""
    if await reprompt(message, state, uow, conf, clock, note=_(
            "Sorry, I restarted just as I was answering you. What you sent me was saved; let us go on from here.")):
        return
    await message.answer(_("Sorry, I restarted just as I was answering you. What you sent me was saved. "
                           "Send /help to see everything I can do."))


async def on_start(message: Message, state: FSMContext, uow: UnitOfWork, conf: Event, clock: Clock,
                   profile: Profile | None, is_admin: bool) -> None:
    """/start: greet; lead a new person into registration, or resume it, or show a registered one home."""
    if profile is not None:
        await flow.discard(uow, state)  # leave any half-done profile edit
        await message.answer(
            _("Welcome back, {name}! You are registered for {event}.").format(
                name=esc(profile.full_name), event=esc(conf.name.get(profile.language)))
            + "\n\n" + _("Send /program for the program in your time zone, /profile for your data, "
                         "/help for everything I can do."),
            reply_markup=main_menu())
        return
    if await reprompt(message, state, uow, conf, clock, note=_("Let us continue where you left off.")):
        return
    lang = _lang()
    if not await flow.may_register(uow, conf, _person(message), clock.now(), is_admin=is_admin):
        c = conf.contact
        text = _(
            "Registration for {event} closed on {date}. If you need to take part, please write to "
            "{name}: {email}, {phone}."
        ).format(event=esc(conf.name.get(lang)),
                 date=tzs.fmt_long_date(conf.registration.deadline, conf.timezone, lang),
                 name=esc(c.name.get(lang)), email=esc(c.email), phone=esc(c.phone))
        # What they can still do: the program in their own time, and reminders (services/guests.py).
        text += "\n\n" + _("You can still see the program in your own time zone and be reminded of sessions: "
                            "set your time zone, then open the program and press “Remind me” on the sessions "
                            "you want.")
        await message.answer(text, reply_markup=rows(
            button(_("🕘 Set my time zone"), GuestCb(action="tz")),
            button(_("📋 Program"), program_handlers.ProgramCb(n=-1, edit=False)), width=1))
        return
    step = await flow.begin(uow, state, clock.now())
    d = await flow.draft(state)
    await message.answer(_(
        "Hello! I am the assistant of {event} — “{theme}”, online, {date}.\n\n"
        "I will register you in a few short steps, then show you the program in your own time zone."
    ).format(event=esc(conf.name.get(lang)), theme=esc(conf.theme.get(lang)),
             date=esc(tzs.fmt_long_date(conf.starts, conf.timezone, lang))))
    await _show_step(message, d, step, conf)


async def on_profile(message: Message, state: FSMContext, uow: UnitOfWork, conf: Event, clock: Clock,
                     profile: Profile | None) -> None:
    """/profile: show the stored data with Edit and Delete buttons."""
    if profile is None:
        if await reprompt(message, state, uow, conf, clock,
                          note=_("You are not registered yet. Let us finish first.")):
            return
        await message.answer(_(flow.NOT_REGISTERED))
        return
    await show_profile(message, profile)


async def on_profile_action(query: CallbackQuery, callback_data: RegCb, state: FSMContext, uow: UnitOfWork,
                            profile: Profile | None) -> None:
    """Edit a field / Delete my data, from /profile."""
    await query.answer()
    assert isinstance(query.message, Message)
    if profile is None:
        await query.message.answer(_(flow.NOT_REGISTERED))
        return
    if callback_data.action == "forget":
        await flow.ask_forget(uow, state)
        await _ask_forget(query.message)
        return
    await flow.begin_edit(uow, state, profile)
    await _choose_field(query.message, await flow.draft(state))


async def _ask_forget(message: Message, note: str | None = None) -> None:
    text = _("Delete all your data (your registration and everything the bot keeps about you)? This cannot "
             "be undone.")
    await message.answer(f"{note}\n\n{text}" if note else text,
                         reply_markup=rows(button(_("Yes, delete everything"), RegCb(action="forget_yes")),
                                           button(_("No, keep it"), RegCb(action="forget_no"))))


async def on_forget(message: Message, state: FSMContext, uow: UnitOfWork, profile: Profile | None,
                    guest: Profile | None = None) -> None:
    """/forget: ask for confirmation before deleting (a guest's language, zone and follows go at once)."""
    if profile is None and guest is not None:
        await flow.forget(uow, state, _person(message))
        await message.answer(_("Deleted: your language, your time zone and the sessions you followed. I keep "
                               "nothing about you now."), reply_markup=ReplyKeyboardRemove())
        return
    if profile is None:
        await flow.discard(uow, state)
        await message.answer(_("I keep no data about you: you are not registered. Any unfinished "
                               "registration has been discarded."), reply_markup=ReplyKeyboardRemove())
        return
    await flow.ask_forget(uow, state)
    await _ask_forget(message)


async def _take_forget(msg: Message, state: FSMContext, uow: UnitOfWork, conf: Event, clock: Clock, user_id: int,
                       action: str, *, edit: bool) -> None:
    if action == "forget_no":
        await flow.keep(uow, state)
        if edit:
            with contextlib.suppress(TelegramBadRequest):
                await msg.edit_reply_markup(reply_markup=None)
        await msg.answer(_("Nothing was deleted."))
        return
    await flow.forget(uow, state, user_id, event=conf, now=clock.now())
    if edit:
        with contextlib.suppress(TelegramBadRequest):
            await msg.edit_reply_markup(reply_markup=None)
    await msg.answer(_("All your data has been deleted. Thank you for using the bot. If you want "
                       "to register again, send /start."), reply_markup=ReplyKeyboardRemove())


async def on_forget_answer(query: CallbackQuery, callback_data: RegCb, state: FSMContext, uow: UnitOfWork,
                           conf: Event, clock: Clock) -> None:
    """Yes/No on deleting one's data."""
    assert isinstance(query.message, Message)
    if flow.step_of(await state.get_state()) != flow.FORGET:  # a second tap, or an old message
        await query.answer(_("This button is no longer active."))
        with contextlib.suppress(TelegramBadRequest):  # already without buttons: "message is not modified"
            await query.message.edit_reply_markup(reply_markup=None)
        return
    await query.answer()
    await _take_forget(query.message, state, uow, conf, clock, _person(query), callback_data.action, edit=True)


# -- typed text where buttons are expected --------------------------------------------------------------------

def _everywhere(i18n: I18n, *msgids: str) -> list[str]:
    """A label in every language (typed text is matched to any of them)."""
    return [i18n.gettext(m, locale=lang) for m in msgids for lang in LANGS]


def _typed_options(step: str, answers: dict[str, Any], i18n: I18n) -> tuple[dict[str, list[str]], list[str]]:
    """For a step with buttons: what typed text may name (action:value -> labels and synonyms in every
    language), and the buttons' labels as the person sees them."""
    yes, no = list(choices.YES), list(choices.NO)
    if step == "language":
        opts = {f"lang:{c}": [n, *LANGUAGES[c].called] for c, n in LANGUAGE_NAMES.items()}
        return opts, list(LANGUAGE_NAMES.values())
    if step == "participant_type":
        opts = {f"type:{t}": _everywhere(i18n, reg.PARTICIPANT_LABELS[t]) for t in reg.PARTICIPANT_TYPES}
        return opts, [_(reg.PARTICIPANT_LABELS[t]) for t in reg.PARTICIPANT_TYPES]
    pairs = {
        "matchmaking": (("mm:1", "Yes, available"), ("mm:0", "No")),
        "consent": (("consent:1", "I agree"), ("consent:0", "I do not agree")),
        "timezone_confirm": (("tz_ok:", "Yes"), ("tz_no:", "No, another one")),
        "forget": (("forget_yes:", "Yes, delete everything"), ("forget_no:", "No, keep it")),
        "summary": (("confirm:", "✅ Confirm"), ("edit:", "✏️ Edit")),
    }
    if step in pairs:
        (yes_key, yes_label), (no_key, no_label) = pairs[step]
        opts = {yes_key: [*_everywhere(i18n, yes_label), *yes], no_key: [*_everywhere(i18n, no_label), *no]}
        return opts, [_(yes_label), _(no_label)]
    # choose_field
    fields = [f for f in reg.EDITABLE if reg.applies(f, answers)]
    opts = {f"field:{f}": _everywhere(i18n, reg.FIELD_LABELS[f]) for f in fields}
    opts["back:"] = _everywhere(i18n, "↩️ Back")
    return opts, [*(_(reg.FIELD_LABELS[f]) for f in fields), _("↩️ Back")]


async def on_wrong_input(message: Message, state: FSMContext, uow: UnitOfWork, conf: Event, clock: Clock) -> None:
    """A sticker, photo, voice note, command or anything unexpected in the middle of a step."""
    step = flow.step_of(await state.get_state())
    if message.text and message.text.startswith("/"):
        note = _("Let us finish this step first (or send /cancel to stop).")
    elif step in BUTTON_STATES:
        note = _("Please use the buttons below.")
    else:
        note = _("I can only take a typed answer or a button here.")
    await reprompt(message, state, uow, conf, clock, note="⚠️ " + note)


# -- rendering what the use case decided -----------------------------------------------------------------

def _note(err: ServiceError | None) -> str | None:
    """A refused answer's reason, shown above the question asked again."""
    return None if err is None else "⚠️ " + refusal(err)


async def _show_step(message: Message, d: flow.Draft, step: str, conf: Event, *, note: str | None = None,
                     insist: str | None = None) -> None:
    """Ask `step`'s question (after an optional note, e.g. an error). During the registration the question
    shows the answer given before, if any, with "Keep" and "Back"; `insist` is a text that read as a question
    and was answered: a button takes it as the answer after all."""
    answers = d.answers
    nav = d.mode == "register"
    text = _question(step)
    if nav and step != "language":
        n, total = reg.step_number(step, answers)
        text = _("Step {n} of {total}.").format(n=n, total=total) + "\n" + text
    kept = _kept(step, answers) if nav else None
    if kept is not None:
        text += "\n\n" + _("Your answer so far: {value}").format(value=f"<b>{esc(kept)}</b>")
    if note:
        text = f"{note}\n\n{text}"
    await message.answer(text, reply_markup=_with_nav(step, answers, conf, nav=nav, insist=insist))
    if step in LOCATION_STEPS and insist is None:
        await _location_step_extras(message, step, answers, d.data, conf, kept)


async def ask(message: Message, state: FSMContext, uow: UnitOfWork, step: str, conf: Event, *,
              note: str | None = None, insist: str | None = None) -> None:
    """Put the conversation on `step` and ask its question (other features hand a person over with it)."""
    result = await flow.ask_step(uow, state, step)
    await _show_step(message, result.draft, step, conf, note=note, insist=insist)


async def reprompt(message: Message, state: FSMContext, uow: UnitOfWork, conf: Event, clock: Clock,
                   note: str | None = None) -> bool:
    """Ask the current step's question again; False when the person is not in this conversation."""
    result = await flow.current(state)
    if result is None:
        return False
    await render(message, result, conf, note=note, clock=clock)
    return True


async def show_summary(message: Message, d: flow.Draft, note: str | None = None) -> None:
    text = _("Please check your registration:") + "\n\n" + profile_lines(d.answers, Clock.wall_now())
    if note:
        text = f"{note}\n\n{text}"
    await message.answer(text, reply_markup=rows(button(_("✅ Confirm"), RegCb(action="confirm")),
                                                 button(_("✏️ Edit"), RegCb(action="edit"))))


async def _choose_field(message: Message, d: flow.Draft, note: str | None = None) -> None:
    fields = [f for f in reg.EDITABLE if reg.applies(f, d.answers)]
    markup = rows(*(button(_(reg.FIELD_LABELS[f]), RegCb(action="field", value=f)) for f in fields),
                  button(_("↩️ Back"), RegCb(action="back")), width=2)
    text = _("Which field do you want to change?")
    await message.answer(f"{note}\n\n{text}" if note else text, reply_markup=markup)


async def _confirm_zone(message: Message, zone: str, clock: Clock, note: str | None = None,
                        place: str | None = None) -> None:
    # The person compares this with their own watch: the real time of day (on a rehearsal's date). The clock is
    # required: a fallback to the machine's date showed "6 Dec" when the check was asked again in a rehearsal.
    now = clock.watch_now(tzs.get_tz(zone))
    # The zone's offset as the bot's clock has it (a rehearsal's date), not at the watch time: near a summer-time
    # change the two can differ by an hour, and the offset is what the program will be shown in.
    at = clock.now()
    shown = f"{place} ({tzs.utc_offset_label(at, zone)})" if place else tzs.zone_name(zone, _lang(), at)
    text = _("In {place} it is now <b>{time}</b> ({date}). Is that your time zone?").format(
        place=esc(shown),
        time=tzs.fmt_time(now, zone, _lang()),
        date=tzs.fmt_date(now, zone, _lang()),
    )
    if note:
        text = f"{note}\n\n{text}"
    await message.answer(text, reply_markup=rows(button(_("Yes"), RegCb(action="tz_ok")),
                                                 button(_("No, another one"), RegCb(action="tz_no"))))


async def _unbutton(message: Message) -> None:
    """Take the buttons off the message that was answered (already without them: nothing to do)."""
    with contextlib.suppress(TelegramBadRequest):
        await message.edit_reply_markup(reply_markup=None)


async def render(msg: Message, result: flow.Result, conf: Event, *, note: str | None = None,
                 pressed: bool = False, free: Any = None, clock: Clock) -> None:
    """Show what `flow.answer` decided. `pressed`: the result answers a button on `msg`, whose buttons go once
    it is answered; `note` (the handler's own, e.g. "use the buttons") replaces the result's; `free` answers a
    text that read as a question (QUESTION)."""
    from aiogram.utils.i18n import get_i18n

    if result.accepted == "language":
        lang = str(result.value or result.draft.answers.get("language") or _lang())
        with get_i18n().use_locale(lang):
            # The language confirmation also clears a keyboard left from an earlier step or a paused registration.
            await msg.answer(_("Language: {name}.").format(name=LANGUAGE_NAMES[lang]),
                             reply_markup=ReplyKeyboardRemove())
            await _render(msg, result, conf, note, pressed, free, clock)
        return
    await _render(msg, result, conf, note, pressed, free, clock)


async def _render(msg: Message, result: flow.Result, conf: Event, note: str | None, pressed: bool,
                  free: Any, clock: Clock) -> None:
    d = result.draft
    note = note or _note(result.note)
    if pressed and not result.stale and result.accepted in ("participant_type", "matchmaking", "consent", "city"):
        await _unbutton(msg)
    if result.accepted == "participant_type" and result.value in reg.PARTICIPANT_LABELS:
        await msg.answer("✔️ " + esc(_(reg.PARTICIPANT_LABELS[result.value])))
    elif result.accepted == "timezone" and result.show != flow.REFUSED and result.value:
        zone = str(result.value)
        await msg.answer(_("Time zone set: {zone}.").format(zone=esc(tzs.zone_name(zone, _lang()))),
                         reply_markup=ReplyKeyboardRemove())
    show = result.show
    if show == flow.ASK and result.step == flow.FORGET:
        # /forget's confirmation asked again (a typed button number it does not have): it is no form step.
        await _ask_forget(msg, note)
    elif show == flow.ASK:
        assert result.step is not None
        await _show_step(msg, d, result.step, conf, note=note, insist=result.insist)
    elif show == flow.QUESTION:
        assert result.step is not None and result.insist is not None
        reply, markup = free
        await msg.answer(reply, reply_markup=markup)
        if result.step in ("full_name", "position", "organisation", "city"):
            note = _("☝️ That read like a question, so I answered it. If it was your answer, press the button "
                     "below or send it again.")
        else:
            note = _("☝️ That read like a question, so I answered it. Now back to the registration:")
        await _show_step(msg, d, result.step, conf, note=note, insist=result.insist)
    elif show == flow.CONFIRM_ZONE:
        assert result.zone is not None
        await _confirm_zone(msg, result.zone, clock, note=note, place=result.place)
    elif show == flow.CONFIRM_CITY:
        shown = f"{result.city}, {result.country}" if result.country else str(result.city)
        await msg.answer(
            _("Your location is in the time zone of <b>{place}</b>. Shall I write that as your city?").format(
                place=esc(shown)),
            reply_markup=rows(button(_("Yes"), RegCb(action="city_ok")),
                              button(_("No, I will type it"), RegCb(action="city_no")), width=1))
    elif show == flow.SHOW_SUMMARY:
        await show_summary(msg, d, note=note)
    elif show == flow.FIELDS:
        await _choose_field(msg, d, note=note)
    elif show == flow.SAVED:
        assert result.profile is not None and result.step is not None
        text = _("Saved: {field}.").format(field=esc(_(reg.FIELD_LABELS.get(result.step, result.step))))
        for line in _hosting_lines(result.hosting):
            text += "\n\n" + line
        await msg.answer(text, reply_markup=main_menu())
        await show_profile(msg, result.profile)
    elif show == flow.PROFILE:
        if result.profile is not None:
            await show_profile(msg, result.profile)
    elif show == flow.REFUSED:
        assert result.error is not None
        await msg.answer(_(result.error.message), reply_markup=ReplyKeyboardRemove())
    elif show == flow.DECLINED:
        if pressed:
            await _unbutton(msg)
        await msg.answer(_("Understood: nothing has been stored. You can still ask me about the program "
                           "with /program. If you change your mind, send /start."),
                         reply_markup=ReplyKeyboardRemove())
    elif show == flow.REGISTERED:
        assert result.profile is not None
        if pressed:
            await _unbutton(msg)
        await _welcome(msg, result.profile, conf, result.notice)


def _hosting_lines(change: matchmaking.HostingChange | None) -> list[str]:
    """What a saved profile edit did to the city's matchmaking: every slot offered (or, after the deadline, the
    organisers decide), or out of the directory with the booked meetings kept."""
    if change is None:
        return []
    if change.opened is not None:
        return [_(change.opened.message).format(**change.opened.params)]
    lines = [_(matchmaking.STOPPED)]
    if change.kept:
        lines.append(ngettext(*matchmaking.STOPPED_KEPT, n=change.kept).format(n=change.kept))
    return lines


async def _welcome(msg: Message, done: Profile, conf: Event, notice: ServiceError | None) -> None:
    lang = done.language
    text = _(
        "🎉 You are registered for {event}, {name}!\n\n"
        "All times I show you are in your time zone: {zone}. Try /program for the program, /now for what "
        "is on, /profile to see or change your data, /help for everything else."
    ).format(event=esc(conf.name.get(lang)), name=esc(done.full_name),
             zone=esc(tzs.zone_name(done.timezone, lang)))
    if done.is_excom and not done.is_member:
        text += "\n\n" + _(excom.AFTER_REGISTERING)
    if notice is not None:
        text += "\n\n" + refusal(notice)
    # The persistent menu first (a reply keyboard), so the welcome with its offer to follow everything is last.
    await msg.answer(_(menu.MENU_NOTE), reply_markup=main_menu())
    await msg.answer(text, reply_markup=follow_all_markup())


# -- one call in, one result out: every answer goes through flow.answer ------------------------------------

async def _answer(msg: Message, user: Any, state: FSMContext, uow: UnitOfWork, conf: Event, clock: Clock,
                  given: flow.Given, *, is_admin: bool = False) -> flow.Result:
    return await flow.answer(uow, state, conf, given, user_id=user.id, username=user.username, lang=_lang(),
                             now=clock.now(), is_admin=is_admin)


async def _free(result: flow.Result, conf: Event, clock: Clock, profile: Profile | None, i18n: I18n,
                uow: UnitOfWork) -> Any:
    """The free-question answer to a text that read as a question (QUESTION), else nothing."""
    if result.show != flow.QUESTION or result.insist is None:
        return None
    return await program_handlers.free_answer(result.insist, conf, clock.now(), profile, _lang(), i18n, uow)


async def on_press(query: CallbackQuery, callback_data: RegCb, state: FSMContext, uow: UnitOfWork, conf: Event,
                   clock: Clock, is_admin: bool, profile: Profile | None, i18n: I18n) -> None:
    """Every button of the registration steps (a stale one, from an earlier step, changes nothing)."""
    assert isinstance(query.message, Message)
    given = flow.Given(action=callback_data.action, value=callback_data.value)
    result = await _answer(query.message, query.from_user, state, uow, conf, clock, given, is_admin=is_admin)
    await query.answer(_("This button is no longer active.") if result.stale else None)
    await render(query.message, result, conf, pressed=True,
                 free=await _free(result, conf, clock, profile, i18n, uow), clock=clock)


async def on_language_chosen(query: CallbackQuery, callback_data: LangCb, state: FSMContext, uow: UnitOfWork,
                             conf: Event, clock: Clock) -> None:
    """A language button during registration."""
    try:
        lang = reg.check_language(callback_data.code)
    except InputError as err:
        await query.answer(refusal(err, html=False), show_alert=True)
        return
    assert isinstance(query.message, Message)
    result = await _answer(query.message, query.from_user, state, uow, conf, clock,
                           flow.Given(action="lang", value=lang))
    await query.answer(_("This button is no longer active.") if result.stale else None)
    await render(query.message, result, conf, clock=clock)


def _is_back(text: str) -> bool:
    """"Back" typed or tapped (exactly: a name such as "Назар" is not "назад")."""
    return normalize(text) in {normalize(w) for w in (*choices.BACK, _("↩️ Back"))}


async def on_text_step(message: Message, state: FSMContext, uow: UnitOfWork, conf: Event, clock: Clock,
                       profile: Profile | None, i18n: I18n) -> None:
    """A typed answer to a text step: "Back", a question (answered, the step asked again), or the answer."""
    assert message.from_user is not None
    text = message.text or ""
    given = flow.Given(text=text, back=_is_back(text))
    result = await _answer(message, message.from_user, state, uow, conf, clock, given)
    await render(message, result, conf, free=await _free(result, conf, clock, profile, i18n, uow), clock=clock)


async def on_location(message: Message, state: FSMContext, uow: UnitOfWork, conf: Event, clock: Clock) -> None:
    """A shared location at the city step (the city its zone is named after, to confirm: a location says the
    zone, not the town) or at the time zone step."""
    assert message.location is not None and message.from_user is not None
    given = flow.Given(latitude=message.location.latitude, longitude=message.location.longitude)
    await render(message, await _answer(message, message.from_user, state, uow, conf, clock, given), conf,
                 clock=clock)


async def on_button_text(message: Message, state: FSMContext, uow: UnitOfWork, conf: Event, clock: Clock,
                         is_admin: bool, i18n: I18n) -> None:
    """Text typed where buttons are expected: taken as the button it names ("yes", "да", "네", "EXCOM member",
    "член EXCOM", a button's number), else the buttons are named and shown again."""
    d = await flow.draft(state)
    step = d.step or ""
    text = message.text or ""
    user = message.from_user
    assert user is not None
    if d.mode == "register" and step != flow.CHOOSE_FIELD and _is_back(text):
        result = await _answer(message, user, state, uow, conf, clock, flow.Given(action="prev"))
        if not result.stale:
            await render(message, result, conf, clock=clock)
            return
    options, shown = _typed_options(step, d.answers, i18n)
    picked = choices.match(text, options)
    if picked is None:
        note = _("Please press one of the buttons below: {buttons}.").format(
            buttons=", ".join(_("«{text}»").format(text=esc(label)) for label in shown))  # each language's quotes
        await reprompt(message, state, uow, conf, clock, note="⚠️ " + note)
        return
    action, _sep, value = picked.partition(":")
    if action in ("forget_yes", "forget_no"):
        await _take_forget(message, state, uow, conf, clock, user.id, action, edit=False)
        return
    given = flow.Given(action=action, value=value)
    await render(message, await _answer(message, user, state, uow, conf, clock, given, is_admin=is_admin), conf,
                 clock=clock)


def make_router() -> Router:
    router = Router(name="registration")
    router.callback_query.filter(on_a_message)
    router.message.register(on_resumed, CommandStart(), _resumed)
    router.message.register(on_start, CommandStart())
    router.message.register(on_profile, Command("profile"))
    router.message.register(on_forget, Command("forget"))
    router.callback_query.register(on_language_chosen, LangCb.filter(), StateFilter(Reg.language))
    router.callback_query.register(on_profile_action, RegCb.filter(F.action.in_({"pedit", "forget"})))
    router.callback_query.register(on_forget_answer, RegCb.filter(F.action.in_({"forget_yes", "forget_no"})))
    # Every other registration button: flow.answer decides, a button of an earlier step is stale.
    router.callback_query.register(on_press, RegCb.filter())
    router.message.register(on_location, StateFilter(Reg.timezone, Reg.city), F.location)
    router.message.register(on_text_step, StateFilter(*(STEP_STATES[s] for s in TEXT_STEPS)), F.text,
                            ~F.text.startswith("/"))
    router.message.register(on_button_text, StateFilter(*(getattr(Reg, s) for s in BUTTON_STATES)), F.text,
                            ~F.text.startswith("/"))
    router.message.register(on_wrong_input, StateFilter(*ALL_STATES))
    return router
