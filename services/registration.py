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

from domain import registration as reg
from domain.event import Event
from domain.i18n_marks import N_
from domain.matchmaking import can_host
from domain.registration import Profile
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


async def after_answer(uow: UnitOfWork, conv: Conversation, step: str, user_id: int, now: datetime) -> Next:
    """Move on after a valid answer to `step`, according to the mode, and commit."""
    d = await draft(conv)
    if d.mode in ("profile", "summary") and step == "participant_type" and reg.needs_matchmaking_answer(d.answers):
        await go_to(uow, conv, "matchmaking")  # the new type asks for matchmaking
        return Next(step="matchmaking")
    if d.mode == "profile":
        return Next(saved=await save_edit(uow, conv, user_id, now))
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


async def save_edit(uow: UnitOfWork, conv: Conversation, user_id: int, now: datetime) -> Profile:
    """Store the edited answers of a registered person and end the edit."""
    answers = (await conv.get_data()).get("answers", {})
    values = reg.stored_values(answers)
    before = await uow.delegates.get(user_id)
    profile = await uow.delegates.update_fields(user_id, now, **values)
    if profile is not None and before is not None and reg.claim_changed(before, values):
        # A new type or city: pending again for an EXCOM member city (an organiser decides again), else none.
        profile = await uow.delegates.set_excom_status(user_id, reg.claim_status(values["participant_type"]),
                                                       by=None, at=None)
    if profile is not None and not can_host(profile):
        # No longer a host city (type changed, or "not available" now): their free, unbooked slots go.
        await uow.matchmaking.clear_availability(user_id)
    await conv.set_state(None)
    await conv.set_data({})
    await uow.commit()
    if profile is None:
        raise ServiceError("not_registered", NOT_REGISTERED)
    return profile


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
