"""Registration use cases: the conversation's steps, saving the delegate, editing, language, forgetting.

Each use case changes the conversation state and the database through the unit of work and commits; the
handler renders and replies after, so what the bot says about a step is durable before it is said (with the
SQL state storage the state is written in the same transaction; with Redis it is written at once).

Conversation data: `answers` (what the person typed so far), `mode` ("register" step by step, "summary"
fixing one answer before confirming, "profile" changing one field of a stored registration), `started_at`,
`lang` (the language chosen before registering), `tz_pending` (a zone waiting for "is that your zone?"),
`held` (a text that read as a question at a step: "Use it" or typing it again takes it as the answer),
`city_pending` (a city found from a shared location, waiting for "is that right?").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain import choices
from domain import registration as reg
from domain import timezones as tzs
from domain.event import Event
from domain.i18n_marks import N_
from domain.matchmaking import can_host
from domain.registration import InputError, Profile
from domain.when import parse_when
from services import matchmaking
from services.errors import ServiceError
from services.ports import Conversation, UnitOfWork

GROUP = "Reg"
# Conversation states besides the answer steps.
SUMMARY, CHOOSE_FIELD, TIMEZONE_CONFIRM, FORGET = "summary", "choose_field", "timezone_confirm", "forget"
# Data kept when a registration is paused with /cancel.
KEPT_ON_PAUSE = ("lang", "answers", "started_at")

NOT_REGISTERED = N_("You are not registered yet. Send /start to register.")
CLOSED_BEFORE_START = N_("Sorry, registration closed before you started. Please contact the organisers.")


def state_of(step: str) -> str:
    """The stored name of a step's state ("Reg:full_name"); handlers/registration.py's states use the same."""
    return f"{GROUP}:{step}"


def step_of(state: str | None) -> str | None:
    """The step of a registration state, None outside the conversation."""
    if state is None or not state.startswith(GROUP + ":"):
        return None
    return state.split(":", 1)[1]


@dataclass(frozen=True)
class Draft:
    """What the conversation holds, read once."""

    step: str | None
    mode: str
    answers: dict[str, Any]
    data: dict[str, Any]


async def draft(conv: Conversation) -> Draft:
    data = await conv.get_data()
    return Draft(step_of(await conv.get_state()), data.get("mode", "register"), dict(data.get("answers", {})), data)


# -- moving through the conversation ----------------------------------------------------------------------------

async def go_to(uow: UnitOfWork, conv: Conversation, step: str, **data: Any) -> Draft:
    """Put the conversation on `step` (an answer step or one of the states above) and commit."""
    if await conv.get_state() != state_of(step):
        await conv.set_state(state_of(step))
    if data:
        await conv.update_data(**data)
    await uow.commit()
    return await draft(conv)


async def record(conv: Conversation, **values: Any) -> dict[str, Any]:
    """Add answers to the draft (not committed: the step that follows commits with them)."""
    answers = reg.merge_answers((await conv.get_data()).get("answers", {}), **values)
    await conv.update_data(answers=answers, held=None, city_pending=None)
    return answers


async def hold(uow: UnitOfWork, conv: Conversation, step: str, text: str) -> None:
    """A text that read as a question at `step` (answered, not taken): kept, so that "Use it" or the same
    text typed again takes it as the answer after all."""
    await conv.update_data(held={"step": step, "text": text})
    await uow.commit()


async def held(conv: Conversation, step: str) -> str | None:
    """The text held at `step`, if the conversation is still on that step."""
    if step_of(await conv.get_state()) != step:
        return None
    h = (await conv.get_data()).get("held") or {}
    return str(h["text"]) if h.get("step") == step and h.get("text") else None


async def back(uow: UnitOfWork, conv: Conversation) -> str | None:
    """"Back" during the registration: the previous step, its answer kept (None: nowhere to go back to)."""
    d = await draft(conv)
    if d.mode != "register" or d.step is None:
        return None
    prev = "timezone" if d.step == TIMEZONE_CONFIRM else reg.previous_step(d.step, d.answers)
    if prev is None:
        return None
    await go_to(uow, conv, prev, tz_pending=None, held=None, city_pending=None)
    return prev


async def propose_city(uow: UnitOfWork, conv: Conversation, city: str, country: str, city_id: str | None,
                       zone: str) -> None:
    """A city found from a shared location, asked "is that right?" before it is taken."""
    await conv.update_data(city_pending={"city": city, "country": country, "city_id": city_id, "zone": zone})
    await uow.commit()


async def accept_city(conv: Conversation) -> dict[str, Any] | None:
    """"Yes" on the city from a location: it becomes the answer (committed with the step that follows)."""
    d = await draft(conv)
    pending = d.data.get("city_pending")
    if d.step != "city" or not pending:
        return None
    await record(conv, city=pending["city"], country=pending["country"], city_id=pending["city_id"])
    await conv.update_data(tz_hint=pending.get("zone"))
    return dict(pending)


async def may_register(uow: UnitOfWork, event: Event, user_id: int, when: datetime, *, is_admin: bool) -> bool:
    return reg.registration_open(event, when, is_admin=is_admin, has_pass=await uow.late_passes.has(user_id))


async def begin(uow: UnitOfWork, conv: Conversation, now: datetime) -> str:
    """Start (or restart) the registration; returns the first step still to answer."""
    data = await conv.get_data()
    answers = dict(data.get("answers", {}))
    if data.get("lang"):
        answers["language"] = data["lang"]
    await conv.update_data(mode="register", started_at=now.isoformat(), answers=answers)
    step = reg.next_step(answers) or "language"
    await go_to(uow, conv, step)
    return step


@dataclass(frozen=True)
class Next:
    """Where the conversation goes after a valid answer: ask `step`, show the summary, or the profile was
    saved (`saved`, with the field that changed)."""

    step: str | None = None
    summary: bool = False
    saved: Profile | None = None
    hosting: matchmaking.HostingChange | None = None  # what the saved edit did to the city's matchmaking


async def after_answer(uow: UnitOfWork, conv: Conversation, event: Event, step: str, user_id: int,
                       now: datetime) -> Next:
    """Move on after a valid answer to `step`, according to the mode, and commit."""
    d = await draft(conv)
    if d.mode in ("profile", "summary") and step == "participant_type" and reg.needs_matchmaking_answer(d.answers):
        await go_to(uow, conv, "matchmaking")  # the new type asks for matchmaking
        return Next(step="matchmaking")
    if d.mode == "profile":
        saved, hosting = await save_edit(uow, conv, event, user_id, now)
        return Next(saved=saved, hosting=hosting)
    nxt = None if d.mode == "summary" else reg.next_step(d.answers, after=step)
    if nxt is None:
        await to_summary(uow, conv)
        return Next(summary=True)
    await go_to(uow, conv, nxt)
    return Next(step=nxt)


async def to_summary(uow: UnitOfWork, conv: Conversation) -> Draft:
    return await go_to(uow, conv, SUMMARY, mode="summary")


async def propose_zone(uow: UnitOfWork, conv: Conversation, zone: str, place: str | None) -> None:
    """Ask "is that your time zone?" about `zone`; nothing is stored as the answer until "Yes"."""
    await go_to(uow, conv, TIMEZONE_CONFIRM, tz_pending={"zone": zone, "place": place})


async def accept_zone(conv: Conversation, is_valid: Any) -> str | None:
    """"Yes" on the time zone check: the pending zone becomes the answer (None: no valid zone pending); it is
    committed with the step that follows (`after_answer`)."""
    d = await draft(conv)
    zone = (d.data.get("tz_pending") or {}).get("zone")
    if d.step != TIMEZONE_CONFIRM or not zone or not is_valid(zone):
        return None
    await record(conv, timezone=zone)
    await conv.update_data(tz_pending=None)
    return str(zone)


async def decline_consent(uow: UnitOfWork, conv: Conversation) -> None:
    """"I do not agree": nothing is stored, the draft is discarded (the chosen language stays)."""
    lang = (await conv.get_data()).get("lang")
    await conv.set_state(None)
    await conv.set_data({"lang": lang} if lang else {})
    await uow.commit()


async def pause(uow: UnitOfWork, conv: Conversation, *, registered: bool) -> int | None:
    """/cancel. Returns None when there was nothing to cancel, -1 when a profile edit was dropped, else the
    number of registration answers kept for /start to resume with."""
    state = await conv.get_state()
    if state is None:
        return None
    data = await conv.get_data()
    await conv.set_state(None)
    if not state.startswith("Reg:"):
        # Another feature's step (an organiser's broadcast draft): drop it, keep any registration answers.
        await conv.set_data({k: v for k, v in data.items() if k in KEPT_ON_PAUSE})
        await uow.commit()
        return -1
    if data.get("mode") == "profile" or registered:
        await conv.set_data({})
        await uow.commit()
        return -1
    await conv.set_data({k: v for k, v in data.items() if k in KEPT_ON_PAUSE})
    await uow.commit()
    return len([k for k in data.get("answers", {}) if k in reg.STEPS])


# -- saving --------------------------------------------------------------------------------------------------

async def complete(uow: UnitOfWork, conv: Conversation, event: Event, user_id: int, username: str | None,
                   now: datetime, *, is_admin: bool) -> Profile | str:
    """"Confirm" on the summary: store the delegate and end the conversation.

    Returns the stored profile, or the step still to answer (the conversation is put back on it). Raises
    ServiceError("closed") when registration closed before the person started.
    """
    d = await draft(conv)
    missing = reg.missing_steps(d.answers)
    if missing or not d.answers.get("consent"):
        await conv.update_data(mode="register")
        step = missing[0] if missing else "consent"
        await go_to(uow, conv, step)
        return step
    started = datetime.fromisoformat(d.data["started_at"]) if d.data.get("started_at") else now
    if not await may_register(uow, event, user_id, started, is_admin=is_admin):
        raise ServiceError("closed", CLOSED_BEFORE_START)
    profile = await uow.delegates.save(reg.profile_from(d.answers, user_id, username), now)
    # A "yes" offers every slot (narrowed later in /availability); after the availability deadline it offers
    # none: organisers decide then (the welcome says so).
    await matchmaking.offer_every_slot(uow, event, profile, now)
    await uow.guests.delete(user_id)  # a guest let in late: the delegate row takes over (follows stay theirs)
    await conv.set_state(None)
    await conv.set_data({})
    await uow.commit()
    return profile


async def begin_edit(uow: UnitOfWork, conv: Conversation, profile: Profile) -> None:
    """"Edit a field" on /profile: a draft holding the stored answers, then the field choice."""
    await conv.set_data({"mode": "profile", "answers": reg.answers_from(profile)})
    await go_to(uow, conv, CHOOSE_FIELD)


async def save_edit(uow: UnitOfWork, conv: Conversation, event: Event, user_id: int, now: datetime
                    ) -> tuple[Profile, matchmaking.HostingChange | None]:
    """Store the edited answers of a registered person and end the edit; with what it did to their city's
    matchmaking (a "yes" offers every slot as at registration, a "no" leaves the directory)."""
    answers = (await conv.get_data()).get("answers", {})
    values = reg.stored_values(answers)
    before = await uow.delegates.get(user_id)
    profile = await uow.delegates.update_fields(user_id, now, **values)
    if profile is not None and before is not None and reg.claim_changed(before, values):
        # A new type or city: pending again for an EXCOM member city (an organiser decides again), else none.
        profile = await uow.delegates.set_excom_status(user_id, reg.claim_status(values["participant_type"]),
                                                       by=None, at=None)
    hosting = None
    if profile is not None and before is not None:
        hosting = await matchmaking.hosting_changed(uow, event, before, profile, now)
    if profile is not None and not can_host(profile):
        # Not a host city (type changed, or "not available" now): their free, unbooked slots go.
        await uow.matchmaking.clear_availability(user_id)
    await conv.set_state(None)
    await conv.set_data({})
    await uow.commit()
    if profile is None:
        raise ServiceError("not_registered", NOT_REGISTERED)
    return profile, hosting


async def leave_edit(uow: UnitOfWork, conv: Conversation, user_id: int) -> Profile | None:
    """"Back" out of a profile edit: nothing changes; returns the stored profile."""
    await conv.set_state(None)
    await uow.commit()
    return await uow.delegates.get(user_id)


async def set_language(uow: UnitOfWork, conv: Conversation, profile: Profile | None, lang: str,
                       now: datetime) -> None:
    """/language: stored at once for a delegate; for someone registering, kept in the draft."""
    reg.check_language(lang)
    if profile is not None:
        await uow.delegates.update_fields(profile.user_id, now, language=lang)
    else:
        data = await conv.get_data()
        await conv.update_data(lang=lang)
        if data.get("answers") is not None:
            await conv.update_data(answers={**data["answers"], "language": lang})
    await uow.commit()


async def choose_language(uow: UnitOfWork, conv: Conversation, lang: str) -> None:
    """The language step of the registration (committed with the step that follows: `after_answer`)."""
    reg.check_language(lang)
    await conv.update_data(lang=lang)
    await record(conv, language=lang)


# -- forgetting ----------------------------------------------------------------------------------------------

async def ask_forget(uow: UnitOfWork, conv: Conversation) -> None:
    await go_to(uow, conv, FORGET)


async def forget(uow: UnitOfWork, conv: Conversation, user_id: int, *, event: Event | None = None,
                 now: datetime | None = None) -> int:
    """Delete every row about the person and their conversation; returns how many rows went. With the event
    and the clock, the other side of each matchmaking meeting they had is told it was cancelled."""
    if event is not None and now is not None:
        await matchmaking.withdraw(uow, event, user_id, now)
    deleted = await uow.forget(user_id)
    await conv.clear()
    await uow.commit()
    return deleted


async def keep(uow: UnitOfWork, conv: Conversation) -> None:
    """"No, keep it" (or a stale delete button): leave the question, nothing deleted."""
    await conv.set_state(None)
    await uow.commit()


async def discard(uow: UnitOfWork, conv: Conversation) -> None:
    """/forget from someone not registered: an unfinished registration is discarded."""
    await conv.clear()
    await uow.commit()


# -- one call in, one result out ------------------------------------------------------------------------------
#
# The conversation's steps are decided here: the handler parses what the person did into a `Given` (a typed
# text, a button, a shared location), calls `answer` once, and renders the `Result` it returns.

ASK, CONFIRM_ZONE, CONFIRM_CITY, SHOW_SUMMARY, FIELDS, SAVED, REGISTERED, DECLINED, REFUSED, QUESTION, PROFILE = (
    "ask", "confirm_zone", "confirm_city", "summary", "fields", "saved", "registered", "declined", "refused",
    "question", "profile")
NOTHING = "nothing"  # a stale button outside the conversation: only the notice
TEXT_STEPS = ("full_name", "position", "organisation", "city", "email", "timezone")
# Text steps where a typed question is answered instead of being taken as the answer.
QUESTION_STEPS = TEXT_STEPS
NO_COUNTRY = N_("Please add the country after a comma, for example: Kazan, Russia.")
BAD_ZONE = N_("I could not find a time zone for “{value}”. Type a nearby big city, or your city and country after "
              "a comma (for example: Kazan, Russia), a zone like Europe/Moscow, an offset like UTC+3, or share "
              "your location.")
NO_ZONE_THERE = N_("I could not find a time zone at that location. Please type your city.")
NO_CITY_THERE = N_("I could not tell the city from that location. Please type your city and country.")


@dataclass(frozen=True)
class Given:
    """What the person did at a registration step: typed `text`, pressed (or named by typing) the button
    `action` with `value`, or shared a location (`latitude`, `longitude`)."""

    text: str | None = None
    action: str | None = None
    value: str = ""
    latitude: float | None = None
    longitude: float | None = None
    # The text is "Back" in some language: the previous step, if there is one (else the text is the answer).
    back: bool = False


@dataclass(frozen=True)
class Result:
    """What to show after `answer`.

    `show` is one of ASK (the question of `step`, after `note` if an answer was refused, with a "Use «…»"
    button for `insist`), CONFIRM_ZONE (`zone`, `place`), CONFIRM_CITY (`city`, `country`), SHOW_SUMMARY,
    FIELDS (which field to change), SAVED (a profile edit stored: `profile`, the field `step`), REGISTERED
    (`profile`), DECLINED (consent refused, nothing stored), REFUSED (`error`), QUESTION (`insist` read as a
    question at `step`: answer it, then ask the step again), PROFILE (an edit left: show `profile`).
    `accepted` names the step whose answer was just taken and `value` that answer (the handler confirms it:
    language, type, zone; a saved profile edit has ended its draft, so the draft no longer holds it).
    `stale`: the button belonged to an earlier step; nothing changed, the current step is shown again."""

    show: str
    draft: Draft
    step: str | None = None
    accepted: str | None = None
    value: Any = None
    note: ServiceError | None = None
    insist: str | None = None
    zone: str | None = None
    place: str | None = None
    city: str | None = None
    country: str | None = None
    profile: Profile | None = None
    error: ServiceError | None = None
    stale: bool = False
    # What the welcome adds (REGISTERED): a host city's slots, or that organisers decide after the deadline.
    notice: ServiceError | None = None
    # What a saved edit (SAVED) did to the city's matchmaking: opened (`opened`, as the welcome says) or stopped.
    hosting: matchmaking.HostingChange | None = None


async def current(conv: Conversation, *, note: ServiceError | None = None, stale: bool = False) -> Result | None:
    """The step the person is on, to show again (None: not in the registration conversation)."""
    d = await draft(conv)
    if d.step is None:
        return None
    if d.step == TIMEZONE_CONFIRM:
        pending = d.data.get("tz_pending") or {}
        if pending.get("zone"):
            return Result(CONFIRM_ZONE, d, note=note, zone=pending["zone"], place=pending.get("place"), stale=stale)
        return Result(ASK, d, step="timezone", note=note, stale=stale)  # never a default zone "Yes" would store
    if d.step == SUMMARY:
        return Result(SHOW_SUMMARY, d, note=note, stale=stale)
    if d.step == CHOOSE_FIELD:
        return Result(FIELDS, d, note=note, stale=stale)
    return Result(ASK, d, step=d.step, note=note, stale=stale)


async def ask_step(uow: UnitOfWork, conv: Conversation, step: str, *, note: ServiceError | None = None,
                   insist: str | None = None, accepted: str | None = None) -> Result:
    """Put the conversation on `step` and say to ask it."""
    return Result(ASK, await go_to(uow, conv, step), step=step, note=note, insist=insist, accepted=accepted)


async def _stale(conv: Conversation) -> Result:
    return await current(conv, stale=True) or Result(NOTHING, await draft(conv), stale=True)


async def _moved_on(uow: UnitOfWork, conv: Conversation, event: Event, step: str, user_id: int, now: datetime
                    ) -> Result:
    """After a valid answer to `step`: the next step, the summary, or the saved edit (committed)."""
    value = (await draft(conv)).answers.get(step)
    try:
        nxt = await after_answer(uow, conv, event, step, user_id, now)
    except ServiceError as err:  # a profile edit of someone no longer registered
        return Result(REFUSED, await draft(conv), error=err, accepted=step, value=value)
    if nxt.saved is not None:
        return Result(SAVED, await draft(conv), step=step, profile=nxt.saved, accepted=step, value=value,
                      hosting=nxt.hosting)
    if nxt.summary:
        return Result(SHOW_SUMMARY, await draft(conv), accepted=step, value=value)
    assert nxt.step is not None
    return Result(ASK, await draft(conv), step=nxt.step, accepted=step, value=value)


def _reads_as_question(step: str, text: str, event: Event, lang: str) -> bool:
    """Conservative: a question mark, an interrogative word (en, ru, ko) or a question about time; at the
    e-mail and time zone steps a valid address or zone typed with a "?" is still the answer."""
    if not (choices.reads_as_question(text) or parse_when(text, lang, event) is not None):
        return False
    if step == "email":
        try:
            reg.clean_email(text)
            return False
        except InputError:
            return True
    if step == "timezone":
        return tzs.resolve(text, event) is None
    return True


async def _take_text(uow: UnitOfWork, conv: Conversation, event: Event, user_id: int, step: str, text: str,
                     lang: str, now: datetime) -> Result:
    try:
        if step in ("full_name", "position", "organisation"):
            await record(conv, **{step: reg.clean_text(text)})
        elif step == "city":
            city, country = reg.split_city(text)
            city_id = reg.match_city(event, city)
            known = event.city(city_id) if city_id else None
            if not country:
                if known is None:
                    raise InputError("no_country", NO_COUNTRY)
                country = known.country.get(lang)
            await record(conv, city=city, country=reg.clean_text(country), city_id=city_id)
        elif step == "email":
            await record(conv, email=reg.clean_email(text))
        else:  # timezone: "is that your zone?" before it is taken
            match = tzs.resolve(text, event)
            if match is None:
                raise InputError("bad_zone", BAD_ZONE, value=text[:60])
            place = event.city(match.city_id) if match.city_id else None
            return await _propose_zone(uow, conv, match.zone, place.name.get(lang) if place else None)
    except InputError as err:
        return await ask_step(uow, conv, step, note=err)
    return await _moved_on(uow, conv, event, step, user_id, now)


async def _propose_zone(uow: UnitOfWork, conv: Conversation, zone: str, place: str | None) -> Result:
    await propose_zone(uow, conv, zone, place)
    return Result(CONFIRM_ZONE, await draft(conv), zone=zone, place=place)


async def answer(uow: UnitOfWork, conv: Conversation, event: Event, given: Given, *, user_id: int,
                 username: str | None, lang: str, now: datetime, is_admin: bool = False) -> Result:
    """Whatever the person did at a registration step, decided in one place and committed: returns what to
    show. Buttons of an earlier step are stale (`Result.stale`): they change nothing."""
    d = await draft(conv)
    step = d.step
    action, value = given.action, given.value
    if action is None and given.latitude is not None and given.longitude is not None:
        match = tzs.from_location(given.latitude, given.longitude)
        if step == "timezone":
            if match is None:
                return await ask_step(uow, conv, "timezone", note=ServiceError("no_zone", NO_ZONE_THERE))
            return await _propose_zone(uow, conv, match.zone, None)
        place = tzs.place_of_zone(match.zone, lang) if match else None
        if match is None or place is None:
            return await ask_step(uow, conv, "city", note=ServiceError("no_city", NO_CITY_THERE))
        city, country = place
        city_id = reg.match_city(event, city)
        known = event.city(city_id) if city_id else None
        if known is not None:
            city, country = known.name.get(lang), known.country.get(lang)
        await propose_city(uow, conv, city, country, city_id, match.zone)
        return Result(CONFIRM_CITY, await draft(conv), city=city, country=country)
    if action is None:
        text = given.text or ""
        if given.back and d.mode == "register" and (prev := await back(uow, conv)) is not None:
            return Result(ASK, await draft(conv), step=prev)
        if step not in TEXT_STEPS:
            return await _stale(conv)
        if step in QUESTION_STEPS and text.strip() != (await held(conv, step) or "").strip() \
                and _reads_as_question(step, text, event, lang):
            await hold(uow, conv, step, text)
            return Result(QUESTION, await draft(conv), step=step, insist=text)
        return await _take_text(uow, conv, event, user_id, step, text, lang, now)
    if action == "prev":
        # A Back button carries the step it was shown at: one from an earlier step is stale (issue 20 bug 7).
        if value and value != step:
            return await _stale(conv)
        prev = await back(uow, conv)
        if prev is None:
            return await _stale(conv)
        return Result(ASK, await draft(conv), step=prev)
    if action == "use":
        kept = await held(conv, value)
        if kept is None:
            return await _stale(conv)
        return await _take_text(uow, conv, event, user_id, value, kept, lang, now)
    if action == "keep":
        if step != value or value not in d.answers:
            return await _stale(conv)
        return await _moved_on(uow, conv, event, value, user_id, now)
    if action == "lang":
        if step != "language":
            return await _stale(conv)
        await choose_language(uow, conv, value)
        return await _moved_on(uow, conv, event, "language", user_id, now)
    if action in ("type", "mm", "consent"):
        expected = {"type": "participant_type", "mm": "matchmaking", "consent": "consent"}[action]
        if step != expected:
            return await _stale(conv)
        if action == "type":
            if value not in reg.PARTICIPANT_TYPES:
                return await _stale(conv)
            await record(conv, participant_type=value)
            return await _moved_on(uow, conv, event, "participant_type", user_id, now)
        if action == "mm":
            await record(conv, matchmaking=value == "1")
            return await _moved_on(uow, conv, event, "matchmaking", user_id, now)
        if value != "1":
            await decline_consent(uow, conv)
            return Result(DECLINED, await draft(conv))
        await record(conv, consent=True)
        return Result(SHOW_SUMMARY, await to_summary(uow, conv), accepted="consent")
    if action in ("tz_ok", "tz_no", "tz_use"):
        if action == "tz_use":
            if step != "timezone":
                return await _stale(conv)
            if not tzs.is_valid_zone(value):
                return await ask_step(uow, conv, "timezone")
            return await _propose_zone(uow, conv, value, None)
        if step != TIMEZONE_CONFIRM:
            return await _stale(conv)
        zone = await accept_zone(conv, tzs.is_valid_zone) if action == "tz_ok" else None
        if zone is None:
            return await ask_step(uow, conv, "timezone")
        return await _moved_on(uow, conv, event, "timezone", user_id, now)
    if action in ("city_ok", "city_no"):
        if step != "city":
            return await _stale(conv)
        if action == "city_ok" and await accept_city(conv) is not None:
            return await _moved_on(uow, conv, event, "city", user_id, now)
        return await ask_step(uow, conv, "city")
    if action in ("confirm", "edit"):
        if step != SUMMARY:
            return await _stale(conv)
        if action == "edit":
            return Result(FIELDS, await go_to(uow, conv, CHOOSE_FIELD))
        try:
            done = await complete(uow, conv, event, user_id, username, now, is_admin=is_admin)
        except ServiceError as err:
            return Result(REFUSED, await draft(conv), error=err)
        if isinstance(done, str):  # a step is still unanswered: ask it
            return Result(ASK, await draft(conv), step=done)
        return Result(REGISTERED, await draft(conv), profile=done,
                      notice=matchmaking.after_registering(event, done, now))
    if action in ("field", "back"):
        if step != CHOOSE_FIELD:
            return await _stale(conv)
        if action == "field":
            if value not in reg.EDITABLE:
                return Result(FIELDS, d)
            return await ask_step(uow, conv, value)
        if d.mode == "profile":
            return Result(PROFILE, d, profile=await leave_edit(uow, conv, user_id))
        return Result(SHOW_SUMMARY, await to_summary(uow, conv))
    return await _stale(conv)
