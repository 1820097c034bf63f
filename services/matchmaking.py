"""Matchmaking use cases: hosts mark free slots, requesters book them first come first served, either side
cancels until the schedule is published, hosts decline, organisers publish; and the messages that are not
direct replies (the host's booking notice, cancellations, declines with alternatives, the directory opening,
each participant's schedule with an .ics file, 5-minute meeting reminders), rendered when sent.

The rules are in domain/matchmaking.py; the database decides races (storage/matchmaking.py): a use case that
changes bookings takes `uow.matchmaking.lock` first, checks the rules on the board it then reads, writes,
and commits with its outbox rows.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from domain import matchmaking as rules
from domain import timezones as tzs
from domain.calendar import build_meetings_ics
from domain.csvfile import csv_bytes
from domain.event import Event
from domain.i18n_marks import N_
from domain.matchmaking import Action, Board, CityProfile, Meeting, Phase, Slot, SlotUnavailable
from domain.messages import Button, Document, Drop, FileRef, NewMessage, Priority, Rendered
from domain.registration import Profile, offers_matchmaking
from domain.text import esc, normalize, translate
from services.audit import audit
from services.errors import ServiceError
from services.reminders import in_whole_program

if TYPE_CHECKING:
    from delivery.jobs import Jobs
    from delivery.rendering import RenderContext, Renderers
    from domain.messages import OutboxRow, Recipient
    from services.ports import Conversation, UnitOfWork

PAGE_SIZE = 8
# A bot that was down at the directory's opening announces it at start-up within this time.
CATCH_UP = timedelta(days=1)
REMIND_BEFORE = timedelta(minutes=5)
KIND_BOOKED, KIND_CANCELLED, KIND_DECLINED = "mm_booked", "mm_cancelled", "mm_declined"
KIND_SCHEDULE, KIND_SCHEDULE_ICS, KIND_REMINDER, KIND_OPEN = (
    "mm_schedule", "mm_schedule_ics", "mm_reminder", "mm_directory")
# Callback data of buttons in outbox messages (handlers/matchmaking.py's CallbackData factories read them).
DECLINE_CALLBACK = "mmx:dec:{id}"
BOOK_CALLBACK = "mmb:{host}:{slot}"
DIRECTORY_CALLBACK = "mml:0:-1:-1"

# The command menu and /help (bot/app.py, handlers/common.py).
MEET_COMMAND = N_("Book a matchmaking meeting with a city")
HELP_LINE = N_("/meet — book a matchmaking meeting with a city (cities open for meetings mark their free "
               "times with /availability)")
ORGANISER_HELP = N_("/matchmaking — the matchmaking grid, requests outside the event, CSV export and publishing "
                    "the schedule")
GONE = N_("This meeting no longer exists: it was cancelled or declined.")
ALREADY_ASKED = N_("You have already asked to meet this city outside the event. The organisers have it.")
NOT_PUBLISHED = N_("The final schedule is not published yet; the calendar file comes with it.")

BOOKED_NOTICE = N_("📅 <b>New matchmaking meeting</b> at {time} ({zone}):\n{name}, {position}, {organisation}, "
                   "{city}.\nIf you cannot meet then, decline it below; the slot becomes free again.")
DECLINE_BUTTON = N_("Decline this meeting")
CANCELLED_NOTICE = N_("Your matchmaking meeting with {name} at {time} ({zone}) was cancelled by them. The slot "
                      "is free again.")
WITHDRAWN_NOTICE = N_("Your matchmaking meeting at {time} ({zone}) was cancelled: the other participant "
                      "withdrew from the bot.")
DECLINED_NOTICE = N_("{city} declined the matchmaking meeting at {time} ({zone}).")
DECLINED_ALTERNATIVES = N_("These slots of theirs are still free for you; tap one to book it:")
DECLINED_NONE = N_("They have no other slot free for you. Send /meet to choose another city.")
OPEN_NOTICE = N_("🤝 <b>Matchmaking meetings are open.</b> Cities open for one-on-one online meetings "
                 "during the first coffee break ({window}): {n}. Book up to {max} meetings, first come, first "
                 "served, until {deadline}.")
OPEN_BUTTON = N_("🤝 See the cities")
SCHEDULE_HEAD = N_("📅 <b>Your matchmaking schedule</b> ({event}), in your time zone ({zone}):")
SCHEDULE_LINE = N_("{time}: {name}, {organisation}, {city}\nLink: {link}")
SCHEDULE_NONE = N_("You have no matchmaking meetings in the final schedule.")
SCHEDULE_FOOT = N_("I will remind you 5 minutes before each meeting. The calendar file follows.")
ICS_CAPTION = N_("Your matchmaking meetings, for your calendar.")
ICS_SUMMARY = N_("Matchmaking meeting: {name} ({city})")
REMINDER = N_("⏰ Your matchmaking meeting with {name} ({city}) starts at {time}, in 5 minutes.\nLink: {link}")
NO_LINK = N_("the organisers will send it")
NOTE_NOTICE = N_("✉️ A note from {name} ({city}) about your meeting at {time}:\n«{note}»")
KIND_NOTE = "mm_note"
# Conversation states of the two one-line answers (handlers/matchmaking.py reads them).
S_ABOUT, S_NOTE, S_OPEN_CITY = "Mm:about", "Mm:note", "Mm:open_city"
KIND_OPENED = "mm_opened"
KIND_HOST_STOPPED = "mm_host_stopped"
OPENED_NOTICE = N_("🤝 The organisers opened your city for matchmaking meetings: every slot of the window is "
                   "offered to bookers. Send /availability to see your slots, narrow them, and describe your "
                   "city for the directory.")


P = ParamSpec("P")
R = TypeVar("R")


def _undo_on_refusal(use_case: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """A refusal after the locks were taken rolls back (the lock wrote on SQLite), so the handler's answer
    leaves nothing uncommitted behind and the write lock is released at once."""
    @functools.wraps(use_case)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await use_case(*args, **kwargs)
        except ServiceError:
            uow = cast("UnitOfWork", args[0])  # every use case takes the unit of work first
            await uow.rollback()
            raise
    return run


# -- reading ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class State:
    phase: Phase
    published_at: datetime | None


async def state(uow: UnitOfWork, event: Event, now: datetime) -> State:
    published = await uow.matchmaking.published_at(event.id)
    return State(rules.phase(event, now, published=published is not None), published)


def city_name(event: Event, profile: Profile, lang: str) -> str:
    """The host's city as the reader knows it: the event file's name in their language when it is one of its
    cities, else what the person typed."""
    city = event.city(profile.city_id) if profile.city_id else None
    return city.name.get(lang) if city else profile.city


def country_of(event: Event, profile: Profile) -> str:
    """A stable key for the country filter (English name for the event's cities, else what was typed)."""
    city = event.city(profile.city_id) if profile.city_id else None
    return city.country.en if city else profile.country.strip()


def country_name(event: Event, key: str, lang: str) -> str:
    for city in event.cities:
        if city.country.en == key:
            return city.country.get(lang)
    return key


def _search_terms(event: Event, profile: Profile) -> str:
    city = event.city(profile.city_id) if profile.city_id else None
    words = [profile.city, profile.organisation, profile.country]
    if city is not None:
        words += [city.name.en, city.name.ru, city.name.ko, city.country.en, city.country.ru, city.country.ko,
                  *city.aliases]
    return " ".join(normalize(w) for w in words if w)


def deadline_text(value: datetime, zone: str, lang: str) -> str:
    """A deadline with its date, time and offset in the reader's zone (23:59 GMT+3 on 10 Nov is 05:59 on
    11 Nov in Seoul, so the date alone would mislead)."""
    return f"{tzs.fmt_long_date(value, zone, lang)}, {tzs.fmt_time(value, zone, lang)} " \
           f"({tzs.utc_offset_label(value, zone)})"


def slot_label(slot: Slot, zone: str, lang: str, now: datetime) -> str:
    """"10:40–10:50" in the reader's zone, with the date unless it is the reader's today by the bot's clock:
    read on 28 Oct, a Mexico City host's first slot is "17 Nov, 01:40–01:50", not a bare "01:40"."""
    return f"{when(slot.starts, zone, lang, now)}–{tzs.fmt_time(slot.ends, zone, lang)}"


def when(instant: datetime, zone: str, lang: str, now: datetime) -> str:
    """A time in the reader's zone, with its date unless it falls on the reader's today."""
    return tzs.fmt_when(instant, zone, lang, now, zone)


@dataclass(frozen=True)
class HostEntry:
    profile: Profile
    free: int  # slots free for the reader
    city: CityProfile = field(default_factory=CityProfile)


@dataclass(frozen=True)
class Directory:
    hosts: tuple[HostEntry, ...]
    page: int
    pages: int
    total: int
    countries: tuple[str, ...]  # keys of the countries that have hosts with free slots
    topics: tuple[str, ...] = ()  # ids of the topics such hosts named, in the event file's order


async def _host_profiles(uow: UnitOfWork, board: Board) -> dict[int, Profile]:
    people = await uow.delegates.find(user_ids=board.availability)
    return {p.user_id: p for p in people if rules.can_host(p)}


async def directory(uow: UnitOfWork, event: Event, reader: int | None, *, query: str = "", country: str = "",
                    topic: str = "", page: int = 0) -> Directory:
    """Cities open for meetings with a slot free for the reader, by city name; `query` matches names in
    en/ru/ko and the city's own line, `country` and `topic` filter."""
    mm = rules.config(event)
    board = await uow.matchmaking.board()
    hosts = await _host_profiles(uow, board)
    cities = await uow.matchmaking.profiles(hosts)
    entries = []
    countries: set[str] = set()
    topics: set[str] = set()
    needle = normalize(query).strip()
    for uid, p in hosts.items():
        if uid == reader:
            continue
        free = len(rules.free_slots(event, board, uid, reader))
        if not free:
            continue
        city = cities.get(uid, CityProfile())
        countries.add(country_of(event, p))
        topics.update(city.topics)
        if country and country_of(event, p) != country:
            continue
        if topic and topic not in city.topics:
            continue
        if needle and needle not in f"{_search_terms(event, p)} {normalize(city.about)}":
            continue
        entries.append(HostEntry(p, free, city))
    entries.sort(key=lambda e: (normalize(city_name(event, e.profile, "en")), e.profile.user_id))
    pages = max(1, -(-len(entries) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    return Directory(tuple(entries[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]), page, pages, len(entries),
                     tuple(sorted(countries)), tuple(t.id for t in mm.topics if t.id in topics))


@dataclass(frozen=True)
class HostCard:
    profile: Profile
    free: tuple[Slot, ...]  # free for the reader too
    clashes: dict[str, list[Any]]  # slot id -> followed program items it overlaps
    met: bool  # the reader already has a meeting with this host
    asked_outside: bool
    city: CityProfile = field(default_factory=CityProfile)


async def host_card(uow: UnitOfWork, event: Event, reader: int, host: int, followed: Iterable[str]) -> HostCard:
    rules.config(event)
    profile = await uow.delegates.get(host)
    board = await uow.matchmaking.board((host, reader))
    if profile is None or not rules.can_host(profile) or not board.is_host(host):
        raise ServiceError("not_host", rules.NOT_HOST)
    asked = any(r.host == host and r.requester == reader for r in await uow.matchmaking.outside_requests())
    city = (await uow.matchmaking.profiles([host])).get(host, CityProfile())
    return HostCard(profile, tuple(rules.free_slots(event, board, host, reader)), rules.clash_marks(event, followed),
                    board.met(host, reader) is not None, asked, city)


async def followed(uow: UnitOfWork, event: Event, person: int) -> set[str]:
    """The program items a person follows, "the whole program" included (for the clash marks)."""
    items = await uow.follows.items(person)
    settings = await uow.reminders.settings(person)
    if settings is not None and settings.follow_all:
        items |= {i.id for i in event.program if in_whole_program(i)}
    return items


@dataclass(frozen=True)
class MeetingView:
    meeting: Meeting
    slot: Slot
    other: Profile | None
    hosting: bool


async def my_meetings(uow: UnitOfWork, event: Event, person: int) -> list[MeetingView]:
    found = await uow.matchmaking.meetings_of(person)
    others = {p.user_id: p for p in await uow.delegates.find(user_ids=[m.other(person) for m in found])}
    known = {s.id: s for s in rules.slots(event)}
    return sorted((MeetingView(m, known[m.slot], others.get(m.other(person)), m.host == person)
                   for m in found if m.slot in known), key=lambda v: v.slot.index)


# -- availability -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Availability:
    phase: Phase
    free: frozenset[str]
    booked: dict[str, Meeting]  # slot id -> the meeting held there (as host or requester)
    city: CityProfile = field(default_factory=CityProfile)


async def availability(uow: UnitOfWork, event: Event, profile: Profile | None, now: datetime) -> Availability:
    """What /availability shows; refuses people who do not host."""
    rules.config(event)
    rules.check_host(profile)
    assert profile is not None
    st = await state(uow, event, now)
    free = await uow.matchmaking.free_slots(profile.user_id)
    booked = {m.slot: m for m in await uow.matchmaking.meetings_of(profile.user_id)}
    city = (await uow.matchmaking.profiles([profile.user_id])).get(profile.user_id, CityProfile())
    return Availability(st.phase, frozenset(free), booked, city)


# -- the city's profile in the directory ---------------------------------------------------------------------------

async def toggle_topic(uow: UnitOfWork, event: Event, profile: Profile | None, topic_id: str, now: datetime
                       ) -> Availability:
    """Add or take away a topic of the city's directory profile; commits."""
    view = await availability(uow, event, profile, now)
    assert profile is not None
    await uow.matchmaking.set_profile(profile.user_id, rules.toggled_topic(event, view.city, topic_id), now)
    await uow.commit()
    return await availability(uow, event, profile, now)


async def want_about(uow: UnitOfWork, conv: Conversation, event: Event, profile: Profile | None,
                     now: datetime) -> Availability:
    """The city will type its line for the directory."""
    view = await availability(uow, event, profile, now)
    await conv.set_state(S_ABOUT)
    await uow.commit()
    return view


async def take_about(uow: UnitOfWork, conv: Conversation, event: Event, profile: Profile | None, text: str,
                     now: datetime) -> Availability:
    """The city's line for the directory (replaces the earlier one); commits."""
    view = await availability(uow, event, profile, now)
    assert profile is not None
    about = rules.one_line(text, rules.ABOUT_MAX)
    await uow.matchmaking.set_profile(profile.user_id, CityProfile(view.city.topics, about), now)
    await conv.set_state(None)
    await uow.commit()
    return await availability(uow, event, profile, now)


@_undo_on_refusal
async def toggle(uow: UnitOfWork, event: Event, profile: Profile | None, slot_id: str, now: datetime) -> Availability:
    """Mark a slot free if it was not, busy if it was; commits."""
    rules.check_host(profile)
    assert profile is not None
    published = await uow.matchmaking.lock(event.id, profile.user_id)
    rules.check_action(event, Action.SET_AVAILABILITY, now, published=published is not None)
    board = await uow.matchmaking.board((profile.user_id,))
    free = board.is_host(profile.user_id) and slot_id in board.availability[profile.user_id]
    if not free and not rules.offers_by_itself(event, now):
        raise late_host(event, profile)  # after the deadline a city only narrows; organisers add
    rules.check_availability_change(event, board, profile.user_id, slot_id, not free)
    await uow.matchmaking.set_free(profile.user_id, slot_id, not free, now)
    await uow.commit()
    return await availability(uow, event, profile, now)


AFTER_YES = N_("🤝 Your city is open for matchmaking meetings and offers every slot ({window}). Send /availability "
               "to narrow them (until {deadline}) and to describe your city for the directory.")


def late_host(event: Event, profile: Profile | None) -> ServiceError:
    """After the availability deadline: organisers decide whether a city can still offer meetings."""
    mm = rules.config(event)
    zone = tzs.reader_zone(profile, event)
    lang = profile.language if profile is not None else "en"
    return ServiceError("late_host", rules.LATE_HOST, deadline=deadline_text(mm.availability_deadline, zone, lang),
                        contact=event.contact.email)


def after_registering(event: Event, profile: Profile, now: datetime) -> ServiceError | None:
    """What the welcome adds for a local government: its city offers every slot (narrow them in /availability),
    or, after the availability deadline, the organisers decide. The params are formatted for the person."""
    if event.matchmaking is None or not offers_matchmaking(profile.participant_type):
        return None
    zone, lang = profile.timezone, profile.language
    if profile.matchmaking is not True:
        return None
    if not rules.offers_by_itself(event, now):
        return late_host(event, profile)
    slots = rules.slots(event)
    window = f"{when(slots[0].starts, zone, lang, now)}–{tzs.fmt_time(slots[-1].ends, zone, lang)}"
    return ServiceError("open", AFTER_YES, window=window,
                        deadline=deadline_text(event.matchmaking.availability_deadline, zone, lang))


async def offer_every_slot(uow: UnitOfWork, event: Event, profile: Profile, now: datetime, *,
                           organiser: bool = False) -> int:
    """A city that says it is open for meetings offers every slot of the window until it narrows them in
    /availability (seed: a city that says it is available is available), if it says so by the availability
    deadline; after it only an organiser opens a city. Does not commit; returns how many slots were added."""
    if event.matchmaking is None or not rules.can_host(profile):
        return 0
    if not organiser and not rules.offers_by_itself(event, now):
        return 0
    board = await uow.matchmaking.board((profile.user_id,))
    added = 0
    for slot in rules.slots(event):
        held = board.busy(profile.user_id, slot.id)
        if held is not None and held.requester == profile.user_id:
            continue  # they are at another city's meeting then (as /availability refuses: busy_elsewhere)
        added += await uow.matchmaking.set_free(profile.user_id, slot.id, True, now)
    return added


def ngettext(singular: str, plural: str) -> tuple[str, str]:
    """Mark a plural message for extraction (`ngettext` is the extractor's keyword); chosen by n when shown."""
    return singular, plural


STOPPED = N_("Your city is no longer in the matchmaking directory: nobody can book a new meeting with it.")
STOPPED_KEPT = ngettext("Your {n} booked meeting stays: if you cannot hold it, cancel it in /meet (“My meetings”), "
                        "and the other side is told.",
                        "Your {n} booked meetings stay: if you cannot hold one, cancel it in /meet (“My "
                        "meetings”), and the other side is told.")
HOST_STOPPED_NOTICE = N_("🤝 {city} no longer takes new matchmaking meetings. Your meeting with them at {time} "
                         "({zone}) stays booked.")


@dataclass(frozen=True)
class HostingChange:
    """What a profile edit did to a city's matchmaking: it opened (`opened`: the note the welcome gives, every
    slot offered or, after the deadline, organisers decide) or it stopped (`kept`: upcoming meetings booked
    with it, which stay)."""

    opened: ServiceError | None = None
    stopped: bool = False
    kept: int = 0


async def hosting_changed(uow: UnitOfWork, event: Event, before: Profile, after: Profile, now: datetime
                          ) -> HostingChange | None:
    """After a profile edit (type or matchmaking answer): a "yes" by the availability deadline offers every slot
    as at registration (seed: a city that says it is available is available); a "no" takes the city out of the
    directory (its free slots go) and keeps the meetings already booked, telling each booker theirs stands.
    None when the edit changed nothing here. Does not commit."""
    if event.matchmaking is None or rules.can_host(before) == rules.can_host(after):
        return None
    if rules.can_host(after):
        await offer_every_slot(uow, event, after, now)
        return HostingChange(opened=after_registering(event, after, now))
    await uow.matchmaking.clear_availability(after.user_id)
    kept = []
    for m in await uow.matchmaking.meetings_of(after.user_id):
        slot = next((s for s in rules.slots(event) if s.id == m.slot), None)
        if m.host == after.user_id and slot is not None and slot.starts > now:
            kept.append(NewMessage(f"mm:stopped:{m.id}:{_stamp(now)}", m.requester, KIND_HOST_STOPPED,
                                   f"mm:stopped:{m.requester}", now, _payload(m), expires_at=slot.starts,
                                   priority=Priority.TIMELY))
    if kept:
        await uow.outbox.add(kept, now)
    return HostingChange(stopped=True, kept=len(kept))


@dataclass(frozen=True)
class Opened:
    profile: Profile
    slots: int  # slots added (every slot of the window)


async def open_city(uow: UnitOfWork, conv: Conversation, event: Event, by: int, who: str, now: datetime) -> Opened:
    """An organiser opens a registered local government for meetings (after the availability deadline only
    they can): it offers every slot; commits with the audit entry. `who`: an e-mail or a Telegram id."""
    rules.config(event)
    text = who.strip()
    found: list[Profile] = []
    if text.isascii() and text.isdigit() and len(text) < 16:
        profile = await uow.delegates.get(int(text))
        found = [profile] if profile is not None else []
    elif "@" in text:
        found = await uow.delegates.find(emails=[text])
    if not found:
        raise ServiceError("nobody", rules.NOBODY_FOUND)
    profile = found[0]
    if not offers_matchmaking(profile.participant_type):
        raise ServiceError("not_a_city", rules.NOT_A_CITY, name=profile.full_name)
    if profile.matchmaking is not True:
        updated = await uow.delegates.update_fields(profile.user_id, now, matchmaking=True)
        profile = updated or profile
    slots = await offer_every_slot(uow, event, profile, now, organiser=True)
    await uow.outbox.add([NewMessage(f"mm:opened:{profile.user_id}:{_stamp(now)}", profile.user_id, KIND_OPENED,
                                     f"mm:opened:{profile.user_id}", now, {}, priority=Priority.TIMELY)], now)
    await audit(uow, by, "mm_open_city", f"user {profile.user_id}: {slots} slots", now)
    await conv.set_state(None)
    await uow.commit()
    return Opened(profile, slots)


async def want_open_city(uow: UnitOfWork, conv: Conversation) -> None:
    """An organiser will send the e-mail or id of the city to open for meetings."""
    await conv.set_state(S_OPEN_CITY)
    await uow.commit()


async def render_opened(ctx: RenderContext, row: OutboxRow, who: Recipient | None) -> Rendered | Drop:
    if who is None:
        return Drop("not registered")
    return Rendered(translate(ctx.i18n, who.language, OPENED_NOTICE))


# -- booking ----------------------------------------------------------------------------------------------------

def _stamp(instant: datetime) -> str:
    return f"{instant:%Y%m%dT%H%M%S%f}"


@_undo_on_refusal
async def book(uow: UnitOfWork, event: Event, requester: Profile | None, host: int, slot_id: str, now: datetime,
               *, organiser: bool = False) -> Meeting:
    """Book `host` at `slot_id` for the requester; commits with the host's notice.

    Exactly one of many simultaneous presses on one slot wins (the database's keys); the others get
    SlotUnavailable with the host's next slots free for them."""
    rules.check_requester(requester)
    assert requester is not None
    published = await uow.matchmaking.lock(event.id, requester.user_id)
    rules.check_action(event, Action.BOOK, now, published=published is not None, organiser=organiser)
    board = await uow.matchmaking.board((host, requester.user_id))
    host_profile = await uow.delegates.get(host)
    if not rules.can_host(host_profile):
        raise ServiceError("not_host", rules.NOT_HOST)
    slot = rules.check_booking(event, board, host, requester.user_id, slot_id)
    meeting = await uow.matchmaking.add_booking(host, requester.user_id, slot_id, now)
    if meeting is None:  # someone else's booking committed between our read and our write
        await uow.rollback()
        board = await uow.matchmaking.board((host, requester.user_id))
        raise SlotUnavailable("slot_taken", rules.SLOT_TAKEN,
                              rules.next_free_slots(event, board, host, requester.user_id, slot_id))
    await uow.outbox.add([NewMessage(f"mm:booked:{meeting.id}:{_stamp(now)}", host, KIND_BOOKED,
                                     f"mm:booked:{host}", now, _payload(meeting), expires_at=slot.starts,
                                     priority=Priority.TIMELY)], now)
    await uow.commit()
    return meeting


def _payload(m: Meeting) -> dict[str, Any]:
    return {"booking": m.id, "host": m.host, "requester": m.requester, "slot": m.slot}


async def _same(uow: UnitOfWork, payload: dict[str, Any]) -> Meeting | None:
    """The booking a notice is about, if it still exists as it was."""
    m = await uow.matchmaking.get(int(payload.get("booking", 0)))
    if m is None or (m.host, m.requester, m.slot) != (payload.get("host"), payload.get("requester"),
                                                       payload.get("slot")):
        return None
    return m


@_undo_on_refusal
async def cancel(uow: UnitOfWork, event: Event, person: int, booking_id: int, now: datetime, *,
                 decline: bool = False, organiser: bool = False) -> Meeting:
    """Either side cancels (the host may decline); the other side is told; commits."""
    published = await uow.matchmaking.lock(event.id, person)
    meeting = await uow.matchmaking.get(booking_id)
    if meeting is None:
        raise ServiceError("gone", GONE)
    rules.check_action(event, Action.DECLINE if decline else Action.CANCEL, now,
                       published=published is not None, organiser=organiser)
    if not organiser:
        rules.check_cancel(meeting.booking, person, decline=decline)
    # The other side may be ending the same meeting at this instant (their own lock is not ours): whoever's
    # delete removed the row ended it; the other is told it is gone, and no second notice goes out.
    if not await uow.matchmaking.delete_booking(meeting.id):
        raise ServiceError("gone", GONE)
    slot = rules.slot(event, meeting.slot)
    if decline:
        notice = NewMessage(f"mm:declined:{meeting.id}:{_stamp(now)}", meeting.requester, KIND_DECLINED,
                            f"mm:declined:{meeting.requester}", now, _payload(meeting), expires_at=slot.starts)
    else:
        other = meeting.other(person)
        notice = NewMessage(f"mm:cancelled:{meeting.id}:{other}:{_stamp(now)}", other, KIND_CANCELLED,
                            f"mm:cancelled:{other}", now, {**_payload(meeting), "by": person},
                            expires_at=slot.starts)
    await uow.outbox.add([notice], now)
    await uow.commit()
    return meeting


async def want_note(uow: UnitOfWork, conv: Conversation, person: int, booking_id: int) -> Meeting:
    """The requester will type a note for the host about their booking."""
    meeting = await uow.matchmaking.get(booking_id)
    if meeting is None:
        raise ServiceError("gone", GONE)
    if meeting.requester != person:
        raise ServiceError("not_yours", rules.NOT_YOURS)
    await conv.set_state(S_NOTE)
    await conv.update_data(mm_note=booking_id)
    await uow.commit()
    return meeting


async def take_note(uow: UnitOfWork, conv: Conversation, event: Event, person: int, text: str, now: datetime
                    ) -> Meeting:
    """The note on the booking, told to the host; commits. A second note replaces the first (and is told)."""
    booking_id = int((await conv.get_data()).get("mm_note") or 0)
    note = rules.one_line(text, rules.NOTE_MAX)
    meeting = await uow.matchmaking.get(booking_id)
    if meeting is None or not await uow.matchmaking.set_note(booking_id, person, note):
        await conv.set_state(None)
        await uow.commit()
        raise ServiceError("gone", GONE)
    slot = rules.slot(event, meeting.slot)
    await uow.outbox.add([NewMessage(f"mm:note:{meeting.id}:{_stamp(now)}", meeting.host, KIND_NOTE,
                                     f"mm:booked:{meeting.host}", now, _payload(meeting), expires_at=slot.starts,
                                     priority=Priority.TIMELY)], now)
    await conv.set_state(None)
    await uow.commit()
    return meeting


async def resend_calendar(uow: UnitOfWork, event: Event, person: int, now: datetime) -> int:
    """"Send the calendar file again" from My meetings once the schedule is published; commits. Returns the
    number of meetings in it."""
    published = await uow.matchmaking.published_at(event.id)
    if published is None:
        raise ServiceError("not_published", NOT_PUBLISHED)
    meetings = await uow.matchmaking.meetings_of(person)
    if not meetings:
        raise ServiceError("no_meetings", SCHEDULE_NONE)
    await uow.outbox.add([NewMessage(f"mm:schedule_ics:{person}:{_stamp(now)}", person, KIND_SCHEDULE_ICS,
                                     f"mm:schedule:{event.id}", now, {}, priority=Priority.TIMELY)], now)
    await uow.commit()
    return len(meetings)


async def withdraw(uow: UnitOfWork, event: Event, person: int, now: datetime) -> int:
    """Before a person's data is deleted (/forget): cancel their meetings and tell the other side (without
    naming them: their data is gone). Does not commit (the forgetting does)."""
    if event.matchmaking is None:
        return 0
    gone = await uow.matchmaking.forget(person)
    notices = []
    for m in gone:
        other = m.other(person)
        slot = next((s for s in rules.slots(event) if s.id == m.slot), None)
        if slot is None or slot.starts <= now:
            continue
        notices.append(NewMessage(f"mm:withdrawn:{m.id}:{other}:{_stamp(now)}", other, KIND_CANCELLED,
                                  f"mm:cancelled:{other}", now, {"slot": m.slot, "withdrawn": True},
                                  expires_at=slot.starts))
    if notices:
        await uow.outbox.add(notices, now)
    return len(gone)


@_undo_on_refusal
async def request_outside(uow: UnitOfWork, event: Event, requester: Profile | None, host: int,
                          now: datetime) -> bool:
    """"Ask to meet outside the event" for a host with no slot free for the requester; commits. False when
    asked before."""
    rules.check_requester(requester)
    assert requester is not None
    published = await uow.matchmaking.lock(event.id, requester.user_id)
    rules.check_action(event, Action.REQUEST_OUTSIDE, now, published=published is not None)
    board = await uow.matchmaking.board((host, requester.user_id))
    if not rules.can_host(await uow.delegates.get(host)):
        raise ServiceError("not_host", rules.NOT_HOST)
    rules.check_outside_request(event, board, host, requester.user_id)
    if any(r.host == host and r.requester == requester.user_id for r in await uow.matchmaking.outside_requests()):
        raise ServiceError("already_asked", ALREADY_ASKED)
    added = await uow.matchmaking.add_outside(host, requester.user_id, now)
    await uow.commit()
    return added


# -- organisers -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Overview:
    phase: Phase
    published_at: datetime | None
    hosts: tuple[tuple[Profile, frozenset[str], frozenset[str]], ...]  # host, free slots, booked slots
    bookings: int
    outside: tuple[tuple[Profile | None, Profile | None, datetime], ...]


async def overview(uow: UnitOfWork, event: Event, now: datetime) -> Overview:
    st = await state(uow, event, now)
    board = await uow.matchmaking.board()
    hosts = await _host_profiles(uow, board)
    rows = []
    for uid, p in sorted(hosts.items(), key=lambda kv: normalize(city_name(event, kv[1], "en"))):
        booked = frozenset(b.slot for b in board.bookings if b.host == uid)
        rows.append((p, board.availability.get(uid, frozenset()), booked))
    requests = await uow.matchmaking.outside_requests()
    people = {p.user_id: p for p in await uow.delegates.find(
        user_ids={r.host for r in requests} | {r.requester for r in requests})}
    return Overview(st.phase, st.published_at, tuple(rows), len(board.bookings),
                    tuple((people.get(r.host), people.get(r.requester), r.created_at) for r in requests))


@_undo_on_refusal
async def publish(uow: UnitOfWork, event: Event, by: int, now: datetime) -> int:
    """Freeze the bookings and queue every participant's schedule, calendar file and meeting reminders;
    commits. Returns how many participants are told."""
    rules.check_publishable(event)
    published = await uow.matchmaking.lock(event.id, exclusive=True)
    rules.check_action(event, Action.PUBLISH, now, published=published is not None, organiser=True)
    await uow.matchmaking.publish(event.id, now, by)
    meetings = await uow.matchmaking.meetings()
    people = await participant_ids(uow)
    known = {s.id: s for s in rules.slots(event)}
    topic = f"mm:schedule:{event.id}"
    messages = []
    for uid in sorted(people):
        messages.append(NewMessage(f"mm:schedule:{uid}", uid, KIND_SCHEDULE, topic, now, {}, priority=Priority.TIMELY))
        if any(m.host == uid or m.requester == uid for m in meetings):
            # Same due time: rows are claimed in the order they were made, so the text comes first.
            messages.append(NewMessage(f"mm:schedule_ics:{uid}", uid, KIND_SCHEDULE_ICS, topic, now, {},
                                       priority=Priority.TIMELY))
    for m in meetings:
        slot = known.get(m.slot)
        if slot is None:
            continue
        for uid in (m.host, m.requester):
            messages.append(NewMessage(f"mm:remind:{m.id}:{uid}", uid, KIND_REMINDER, f"mm:remind:{m.slot}",
                                       slot.starts - REMIND_BEFORE, _payload(m), expires_at=slot.starts,
                                       priority=Priority.TIMELY))
    await uow.outbox.add(messages, now)
    await audit(uow, by, "schedule_publish", f"{len(meetings)} meetings, {len(people)} participants", now)
    await uow.commit()
    return len(people)


async def publish_preview(uow: UnitOfWork, event: Event, now: datetime) -> int:
    """Before the organiser confirms publishing: how many participants would be told, or the refusal that
    publishing would meet (a placeholder meeting link, already published, booking not open yet)."""
    rules.check_publishable(event)
    st = await state(uow, event, now)
    rules.check_action(event, Action.PUBLISH, now, published=st.published_at is not None, organiser=True)
    return len(await participant_ids(uow))


async def participant_ids(uow: UnitOfWork) -> set[int]:
    """Hosts with availability and requesters with bookings."""
    return await uow.matchmaking.participant_ids()


async def meetings_booked(uow: UnitOfWork) -> int:
    return await uow.matchmaking.count()


CSV_HEADERS = ("slot start UTC", "slot local GMT+3", "host name", "host city", "requester name", "requester city",
               "status", "booked at UTC")


async def meetings_csv(uow: UnitOfWork, event: Event) -> bytes:
    """Every booking as CSV (UTF-8 with a BOM so spreadsheet programs read it right)."""
    meetings = await uow.matchmaking.meetings()
    people = {p.user_id: p for p in await uow.delegates.find(
        user_ids={m.host for m in meetings} | {m.requester for m in meetings})}
    published = await uow.matchmaking.published_at(event.id)
    known = {s.id: s for s in rules.slots(event)}
    rows = []
    for m in sorted(meetings, key=lambda m: (m.slot, m.host)):
        slot = known.get(m.slot)
        host, req = people.get(m.host), people.get(m.requester)
        rows.append([
            f"{slot.starts:%Y-%m-%d %H:%M}" if slot else m.slot,
            f"{slot.starts.astimezone(event.tz):%H:%M}" if slot else m.slot,
            host.full_name if host else "", host.city if host else "",
            req.full_name if req else "", req.city if req else "",
            "published" if published else "confirmed",
            f"{m.created_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}",
        ])
    return csv_bytes(CSV_HEADERS, rows)


# -- the directory opening (a planner: one fan-out at the availability deadline) --------------------------------

async def announce_directory(uow: UnitOfWork, event: Event, now: datetime) -> int:
    """Tell every registered person who may book that the directory is open (keys make it once each)."""
    mm = rules.config(event)
    if rules.phase(event, now, published=await uow.matchmaking.published_at(event.id) is not None) is not Phase.BOOKING:
        return 0
    people = await uow.matchmaking.people(sorted(rules.BOOKER_TYPES))
    topic = f"mm:directory:{event.id}"
    known = await uow.outbox.existing_keys(topic)
    messages = [NewMessage(key, uid, KIND_OPEN, topic, now, {}, expires_at=mm.schedule_deadline,
                           priority=Priority.BULK)
                for uid in people if (key := f"mm:directory:{uid}") not in known]
    return await uow.outbox.add(messages, now)


class DirectoryPlanner:
    name = "matchmaking"

    def __init__(self, jobs: Jobs, event: Event) -> None:
        self.jobs = jobs
        self.event = event

    async def plan(self, jobs: Jobs) -> None:
        mm = self.event.matchmaking
        if mm is None:
            return
        opens = mm.availability_deadline + timedelta(seconds=1)
        if jobs.now() < opens:
            jobs.at("mm:directory", opens, self.run)
            return
        if jobs.now() > opens + CATCH_UP:  # long past: people have heard of it (the FAQ, /help)
            return
        async with jobs.uows() as uow:
            done = await uow.outbox.existing_keys(f"mm:directory:{self.event.id}")
        if not done:  # the bot was down at the opening: the announcement is made now
            await self.run()

    async def sync(self, jobs: Jobs) -> None:
        return None

    async def run(self) -> int:
        async with self.jobs.uows() as uow:
            created = await announce_directory(uow, self.event, self.jobs.now())
            await uow.commit()
        if created:
            self.jobs.wake()
        return created


# -- renderers (in the reader's language and zone when sent) ----------------------------------------------------

def _time(ctx: RenderContext, who: Recipient, slot_id: str) -> tuple[str, str]:
    slot = rules.slot(ctx.event, slot_id)
    return (slot_label(slot, who.timezone, who.language, ctx.now),
            tzs.zone_name(who.timezone, who.language, slot.starts))


async def render_booked(ctx: RenderContext, row: OutboxRow, who: Recipient | None) -> Rendered | Drop:
    if who is None:
        return Drop("not registered")
    async with ctx.uows() as uow:
        m = await _same(uow, row.payload)
        req = await uow.delegates.get(m.requester) if m else None
    if m is None or req is None:
        return Drop("the meeting was cancelled before the notice was sent")
    time, zone = _time(ctx, who, m.slot)
    lang = who.language
    text = translate(ctx.i18n, lang, BOOKED_NOTICE, time=time, zone=esc(zone), name=esc(req.full_name),
                     position=esc(req.position), organisation=esc(req.organisation),
                     city=esc(city_name(ctx.event, req, lang)))
    button = Button(translate(ctx.i18n, lang, DECLINE_BUTTON), DECLINE_CALLBACK.format(id=m.id))
    return Rendered(text, ((button,),))


async def render_cancelled(ctx: RenderContext, row: OutboxRow, who: Recipient | None) -> Rendered | Drop:
    if who is None:
        return Drop("not registered")
    time, zone = _time(ctx, who, str(row.payload.get("slot")))
    if row.payload.get("withdrawn"):
        return Rendered(translate(ctx.i18n, who.language, WITHDRAWN_NOTICE, time=time, zone=esc(zone)))
    async with ctx.uows() as uow:
        by = await uow.delegates.get(int(row.payload.get("by", 0)))
    name = city_name(ctx.event, by, who.language) if by and by.user_id == row.payload.get("host") else (
        by.full_name if by else "—")
    return Rendered(translate(ctx.i18n, who.language, CANCELLED_NOTICE, name=esc(name), time=time, zone=esc(zone)))


async def render_declined(ctx: RenderContext, row: OutboxRow, who: Recipient | None) -> Rendered | Drop:
    if who is None:
        return Drop("not registered")
    host = int(row.payload.get("host", 0))
    async with ctx.uows() as uow:
        profile = await uow.delegates.get(host)
        board = await uow.matchmaking.board((host, who.user_id))
        published = await uow.matchmaking.published_at(ctx.event.id)
    lang = who.language
    time, zone = _time(ctx, who, str(row.payload.get("slot")))
    name = city_name(ctx.event, profile, lang) if profile else "—"
    lines = [translate(ctx.i18n, lang, DECLINED_NOTICE, city=esc(name), time=time, zone=esc(zone))]
    open_ = rules.phase(ctx.event, ctx.now, published=published is not None) is Phase.BOOKING
    alternatives = rules.next_free_slots(ctx.event, board, host, who.user_id) if open_ and profile else []
    buttons: tuple[tuple[Button, ...], ...] = ()
    if alternatives:
        lines.append(translate(ctx.i18n, lang, DECLINED_ALTERNATIVES))
        buttons = tuple((Button(slot_label(s, who.timezone, lang, ctx.now),
                                BOOK_CALLBACK.format(host=host, slot=s.id)),) for s in alternatives)
    else:
        lines.append(translate(ctx.i18n, lang, DECLINED_NONE))
    return Rendered("\n\n".join(lines), buttons)


def _link(ctx: RenderContext, m: Meeting, lang: str) -> str:
    link = rules.meeting_link(ctx.event, m.booking)
    return esc(link) if link else translate(ctx.i18n, lang, NO_LINK)


async def _schedule(ctx: RenderContext, who: Recipient) -> list[MeetingView]:
    async with ctx.uows() as uow:
        return await my_meetings(uow, ctx.event, who.user_id)


async def render_schedule(ctx: RenderContext, row: OutboxRow, who: Recipient | None) -> Rendered | Drop:
    if who is None:
        return Drop("not registered")
    views = await _schedule(ctx, who)
    lang = who.language
    zone = tzs.zone_name(who.timezone, lang, ctx.event.starts)
    if not views:
        return Rendered(translate(ctx.i18n, lang, SCHEDULE_NONE))
    lines = [translate(ctx.i18n, lang, SCHEDULE_HEAD, event=esc(ctx.event.name.get(lang)), zone=esc(zone))]
    for v in views:
        other = v.other
        lines.append(translate(ctx.i18n, lang, SCHEDULE_LINE, time=slot_label(v.slot, who.timezone, lang, ctx.now),
                               name=esc(other.full_name if other else "—"),
                               organisation=esc(other.organisation if other else "—"),
                               city=esc(city_name(ctx.event, other, lang) if other else "—"),
                               link=_link(ctx, v.meeting, lang)))
    lines.append(translate(ctx.i18n, lang, SCHEDULE_FOOT))
    return Rendered("\n\n".join(lines))


async def render_schedule_ics(ctx: RenderContext, row: OutboxRow, who: Recipient | None) -> Document | Drop:
    if who is None:
        return Drop("not registered")
    views = await _schedule(ctx, who)
    if not views:
        return Drop("no meetings")
    lang = who.language
    entries = []
    for v in views:
        other = v.other
        city = city_name(ctx.event, other, lang) if other else "—"
        link = rules.meeting_link(ctx.event, v.meeting.booking)
        entries.append((f"{ctx.event.id}-mm-{rules.meeting_id(ctx.event, v.meeting.booking)}@delegate-bot",
                        v.slot.starts, v.slot.ends,
                        translate(ctx.i18n, lang, ICS_SUMMARY, name=other.full_name if other else "—", city=city),
                        link or ""))
    data = build_meetings_ics(ctx.event, entries, lang, now=ctx.now,
                              alarm=who.reminder_lead if who.reminders_on else None)
    return Document(FileRef(data=data, filename=f"{ctx.event.id}-matchmaking.ics"),
                    translate(ctx.i18n, lang, ICS_CAPTION))


async def render_reminder(ctx: RenderContext, row: OutboxRow, who: Recipient | None) -> Rendered | Drop:
    if who is None:
        return Drop("not registered")
    async with ctx.uows() as uow:
        m = await _same(uow, row.payload)
        other = await uow.delegates.get(m.other(who.user_id)) if m else None
    if m is None:
        return Drop("the meeting was cancelled")
    lang = who.language
    slot = rules.slot(ctx.event, m.slot)
    return Rendered(translate(ctx.i18n, lang, REMINDER, name=esc(other.full_name if other else "—"),
                              city=esc(city_name(ctx.event, other, lang) if other else "—"),
                              time=when(slot.starts, who.timezone, lang, ctx.now), link=_link(ctx, m, lang)))


async def render_open(ctx: RenderContext, row: OutboxRow, who: Recipient | None) -> Rendered | Drop:
    if who is None:
        return Drop("not registered")
    async with ctx.uows() as uow:
        published = await uow.matchmaking.published_at(ctx.event.id)
        found = await directory(uow, ctx.event, who.user_id)
    if rules.phase(ctx.event, ctx.now, published=published is not None) is not Phase.BOOKING:
        return Drop("booking is no longer open")
    if not found.total:
        return Drop("no city has a slot free for them")
    mm = rules.config(ctx.event)
    lang, zone = who.language, who.timezone
    slots = rules.slots(ctx.event)
    window = (f"{when(slots[0].starts, zone, lang, ctx.now)}–"
              f"{tzs.fmt_time(slots[-1].ends, zone, lang)}")
    text = translate(ctx.i18n, lang, OPEN_NOTICE, n=found.total, window=window, max=mm.max_bookings,
                     deadline=deadline_text(mm.schedule_deadline, zone, lang))
    return Rendered(text, ((Button(translate(ctx.i18n, lang, OPEN_BUTTON), DIRECTORY_CALLBACK),),))


async def render_note(ctx: RenderContext, row: OutboxRow, who: Recipient | None) -> Rendered | Drop:
    if who is None:
        return Drop("not registered")
    async with ctx.uows() as uow:
        m = await _same(uow, row.payload)
        req = await uow.delegates.get(m.requester) if m else None
    if m is None or req is None or not m.note:
        return Drop("the meeting was cancelled before the note was sent")
    lang = who.language
    time = slot_label(rules.slot(ctx.event, m.slot), who.timezone, lang, ctx.now)
    return Rendered(translate(ctx.i18n, lang, NOTE_NOTICE, name=esc(req.full_name),
                              city=esc(city_name(ctx.event, req, lang)), time=time, note=esc(m.note)))


async def render_host_stopped(ctx: RenderContext, row: OutboxRow, who: Recipient | None) -> Rendered | Drop:
    if who is None:
        return Drop("not registered")
    async with ctx.uows() as uow:
        m = await _same(uow, row.payload)
        host = await uow.delegates.get(m.host) if m else None
    if m is None or host is None:
        return Drop("the meeting was cancelled before the notice was sent")
    time, zone = _time(ctx, who, m.slot)
    return Rendered(translate(ctx.i18n, who.language, HOST_STOPPED_NOTICE,
                              city=esc(city_name(ctx.event, host, who.language)), time=time, zone=esc(zone)))


def register_renderers(renderers: Renderers) -> None:
    renderers.register(KIND_HOST_STOPPED, render_host_stopped)
    renderers.register(KIND_NOTE, render_note)
    renderers.register(KIND_OPENED, render_opened)
    renderers.register(KIND_BOOKED, render_booked)
    renderers.register(KIND_CANCELLED, render_cancelled)
    renderers.register(KIND_DECLINED, render_declined)
    renderers.register(KIND_SCHEDULE, render_schedule)
    renderers.register(KIND_SCHEDULE_ICS, render_schedule_ics)
    renderers.register(KIND_REMINDER, render_reminder)
    renderers.register(KIND_OPEN, render_open)


def register(delivery: Any) -> None:
    """Wiring (bot/app.py `delivery_features`): matchmaking's message kinds and the directory-opening job."""
    register_renderers(delivery.renderers)
    delivery.add_planner(DirectoryPlanner(delivery, delivery.event))
