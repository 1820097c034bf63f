"""Matchmaking rules, free of Telegram and of the database: slots, phases, who may host and book, and the
booking check over an in-memory view of the bookings.

The process (seed brochure): local governments say at registration whether they are available, by the
availability deadline (23 Oct); then attending cities and sponsoring institutions and corporations book
meetings with them, first come, first served, in the window of the event file (10:40-11:30 GMT+3, cut
into slots); WeGO publishes the final schedule by the final-schedule date (10 Nov); demand beyond the
slots is met outside the event on a date the parties agree.

Refusals raise domain.errors.ServiceError with a stable code and an English msgid (marked with N_, so
they land in the catalog `matchmaking.po`). Params that are datetimes (`deadline`) are aware UTC
instants: the caller formats them in the reader's language and zone before filling the msgid.

Design note: from these rules to database constraints
------------------------------------------------------
The checks here run first so people get a clear answer; the database must still hold the rules when
50 people press the same slot at the same instant, because each of them passed these checks against a
view that was already stale. Tables (later, in storage/):

- ``mm_availability(host_id, slot_id)``: primary key (host_id, slot_id); a row means "free at that slot".
- ``mm_booking(id, host_id, requester_id, slot_id, pair_lo, pair_hi, status, created_at)`` with
  ``pair_lo = min(host, requester)``, ``pair_hi = max(...)`` computed in Python (portable; no expression
  index needed) and ``CHECK (host_id <> requester_id)``. A foreign key (host_id, slot_id) ->
  mm_availability makes "the host marked that slot free" a constraint too (SQLite needs
  ``PRAGMA foreign_keys=ON``, which storage/db.py sets).
- ``mm_seat(user_id, slot_id, booking_id)``: two rows per booking, one for the host and one for the
  requester, primary key (user_id, slot_id). This is "nobody is in two meetings in one slot" across
  roles: unique (host_id, slot_id) and unique (requester_id, slot_id) on the booking alone would still let
  A host at 10:50 and book someone else at 10:50.
- Unique (host_id, slot_id) and unique (pair_lo, pair_hi) on mm_booking: one meeting per host slot, one
  meeting per pair (either way round). Cancelling or declining deletes the booking and its seats (the
  notices to both sides are outbox rows, which keep the history), so every constraint stays a plain one.
  If cancelled bookings must stay as rows instead, the unique indexes become partial
  (``WHERE status = 'confirmed'``; SQLite and PostgreSQL both have them, SQLAlchemy ``sqlite_where=`` /
  ``postgresql_where=``), cancelling still deletes the seats, and the foreign key to mm_availability
  must not block unmarking a slot whose booking was cancelled.
- ``mm_state(event_id, published_at)``: one row; "published" is the freeze.
- The host rule is checked when availability is written (`check_host`); when a host changes their
  profile to "not available", the use case deletes their free (unbooked) availability rows.

One booking is one transaction (the use case commits, as every use case does):

1. Lock the state row for share and read ``published`` (PostgreSQL ``SELECT ... FOR SHARE``; "Publish"
   takes ``FOR UPDATE`` on it, so a publish waits for bookings in flight and every booking after it sees
   the freeze). Check the phase with `check_action` by the bot's clock.
2. Lock the requester's delegate row (``SELECT ... FOR UPDATE``) and count their live bookings: the
   "at most N per person" rule is a count, which no unique index expresses, so the requester's own
   bookings are serialised by this lock (the same person pressing two hosts' same slot in two chats
   is caught by the seat key anyway). Lock in one order only (state, then requester) so two bookings
   cannot deadlock; the host's row is not locked: the unique keys settle the race for the host's slot.
3. Insert the booking and its two seats and flush. Of 50 concurrent inserts for one (host, slot),
   PostgreSQL lets the first commit and makes the other 49 wait on the index entry, then fail with a
   unique violation (READ COMMITTED is enough; no SERIALIZABLE retries needed). The repository turns
   IntegrityError into "taken", the use case rolls back, re-reads the board and offers
   `next_free_slots`. Exactly one booking exists afterwards.
4. Commit, with the outbox row that tells the host in the same transaction.

On SQLite there is one writer at a time, and FOR UPDATE does not exist: the booking transaction must begin
with ``BEGIN IMMEDIATE``, so that the reads of steps 1-2 and the write of step 3 cannot interleave with
another writer. The driver's default begins a transaction only at the first write, so the count of step 2
would be read outside it; an explicit deferred ``BEGIN`` makes two readers both try to upgrade and one fails
with SQLITE_BUSY at once (busy_timeout does not apply to that). With SQLAlchemy: set the DBAPI
connection's ``isolation_level = None`` on connect and emit ``BEGIN IMMEDIATE`` from the engine's
``begin`` event (for the booking engine or connection only, so readers elsewhere are not serialised).
busy_timeout (30 s in storage/db.py) queues the other 49; each then fails on the seat or (host, slot) key
and gets the alternatives. The unique keys hold either way, so a bug in the locking still cannot produce
two bookings of one slot; only the per-person limit depends on the lock.

Checked with a throwaway script (these tables, aiosqlite and asyncpg, 50 concurrent transactions):
50 requesters on one host slot -> 1 booking, 49 unique violations (SQLite and PostgreSQL, with or
without the locks); one requester on 5 hosts' same slot -> 1 booking; one requester on 10 hosts at once
with a limit of 3 -> 3 bookings with the locks above, but 5 on SQLite without BEGIN IMMEDIATE and 5 on
PostgreSQL without the requester's FOR UPDATE. The concurrency tests of the storage work should cover
all three cases.

A host marking a slot busy deletes its availability row: with the foreign key, that fails while a live
booking holds the slot (so `check_availability_change` asks them to decline first), and on PostgreSQL the
foreign-key check's KEY SHARE lock orders it against a booking being inserted for that slot.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

from domain.errors import ServiceError
from domain.event import Event, Matchmaking, ProgramItem
from domain.i18n_marks import N_
from domain.registration import LOCAL_GOVERNMENTS, Profile, offers_matchmaking

# Who may book: cities (every local-government type) and the institutions and corporations sponsoring
# the event (seed: "Cities attending the event, as well as institutions and corporations sponsoring it").
BOOKER_TYPES = LOCAL_GOVERNMENTS | {"partner", "institution"}

# Program items a meeting may overlap without a mark: the meetings themselves and the coffee break they are
# held in.
_NO_CLASH_KINDS = frozenset({"matchmaking", "break"})

# -- messages (English msgids, translated where shown) ---------------------------------------------------------

NO_MATCHMAKING = N_("This event has no matchmaking meetings.")
NOT_OPEN = N_("Booking opens after {deadline}, once the cities have said when they are available.")
CLOSED = N_("Booking closed on {deadline}. WeGO is preparing the final schedule; to change a meeting, please "
            "contact the organisers.")
FROZEN = N_("The final schedule has been published, so meetings can no longer be changed here. Please contact "
            "the organisers.")
AVAILABILITY_CLOSED = N_("The final schedule has been published, so your available times can no longer be "
                         "changed here. Please contact the organisers.")
ALREADY_PUBLISHED = N_("The schedule has already been published.")
NOT_REGISTERED = N_("Register with /start to take part in matchmaking meetings.")
NOT_LOCAL_GOVERNMENT = N_("Matchmaking meetings are hosted by local governments; your profile does not say you "
                          "represent one.")
# At registration or later in /profile: the message does not say which.
HOST_DECLINED = N_("You said your city is not available for matchmaking meetings. Change this in /profile to offer "
                   "meetings.")
NOT_ELIGIBLE = N_("Matchmaking meetings are for cities and for the institutions and corporations sponsoring the "
                  "event. If this is a mistake, please contact the organisers.")
UNKNOWN_SLOT = N_("That time slot does not exist (any more). Please choose one of the slots shown.")
SELF = N_("You cannot book a meeting with yourself.")
NOT_HOST = N_("This city does not offer matchmaking meetings.")
LIMIT = N_("You already have {max} meetings, the most one person can book. Cancel one to book another.")
PAIR_MET = N_("You already have a meeting with this city: each pair meets once.")
REQUESTER_BUSY = N_("You already have a meeting at this time. Please choose another slot.")
HOST_UNAVAILABLE = N_("This city is not available at this time.")
SLOT_TAKEN = N_("Sorry, someone has just booked this slot.")
SLOT_BOOKED = N_("You have a meeting in this slot. Decline it first to free the slot.")
SLOT_BUSY_ELSEWHERE = N_("You have booked a meeting with another city at this time, so you cannot receive "
                         "one then.")
NOT_YOURS = N_("This meeting is not one of yours.")
ONLY_HOST_DECLINES = N_("Only the city you are meeting can decline this meeting; you can cancel it.")
HAS_FREE_SLOTS = N_("This city still has free slots for you: please book one of them.")
PLACEHOLDER_LINK = N_("The schedule was not published: the meeting link is still the event file's placeholder "
                      "({link}), so every participant would get an address that leads nowhere. Set meeting_link "
                      "in the [matchmaking] section of {file} to your video platform's address, keeping "
                      "{{meeting_id}} where each meeting's id goes, restart the bot, then publish.")

TOO_LONG = N_("Please keep it to one line of at most {n} characters (this one has {length}).")
EMPTY_LINE = N_("Please send a line of text.")
UNKNOWN_TOPIC = N_("This topic is not in the list any more. Please choose one of those shown.")

LATE_HOST = N_("Cities said whether they are open for meetings until {deadline}. Since then the organisers "
              "decide whether a city can still offer meetings: please ask them ({contact}).")
NOBODY_FOUND = N_("No registered delegate has this e-mail or Telegram id.")
NOT_A_CITY = N_("{name} is not registered as a local government, so they cannot offer meetings.")

# A city's line about itself in the directory, and a booker's note to the host.
ABOUT_MAX = 200
NOTE_MAX = 150

# Domains reserved for examples and tests (RFC 2606, RFC 6761): a link there is a placeholder, never a meeting.
_PLACEHOLDER_DOMAINS = ("example.org", "example.com", "example.net")
_PLACEHOLDER_TLDS = ("example", "test", "invalid", "localhost")


class Phase(StrEnum):
    """Where matchmaking stands by the bot's clock."""

    AVAILABILITY = "availability"  # until the availability deadline: hosts declare when they are free
    BOOKING = "booking"  # the directory is open: first come, first served
    CLOSED = "closed"  # the final-schedule date passed, not yet published: no new bookings
    FROZEN = "frozen"  # the schedule is published: only organisers change meetings


class Action(StrEnum):
    SET_AVAILABILITY = "set_availability"  # a host marks a slot free or busy
    BOOK = "book"
    CANCEL = "cancel"  # either side
    DECLINE = "decline"  # the host
    REQUEST_OUTSIDE = "request_outside"  # ask to meet outside the event (no free slot)
    PUBLISH = "publish"  # organisers


# Which phases allow each action for participants (organisers may change meetings in any phase).
ALLOWED: dict[Action, frozenset[Phase]] = {
    Action.SET_AVAILABILITY: frozenset({Phase.AVAILABILITY, Phase.BOOKING, Phase.CLOSED}),
    Action.BOOK: frozenset({Phase.BOOKING}),
    Action.CANCEL: frozenset({Phase.BOOKING, Phase.CLOSED}),
    Action.DECLINE: frozenset({Phase.BOOKING, Phase.CLOSED}),
    Action.REQUEST_OUTSIDE: frozenset({Phase.BOOKING, Phase.CLOSED, Phase.FROZEN}),
    Action.PUBLISH: frozenset({Phase.BOOKING, Phase.CLOSED}),
}
# Actions an organiser may take whatever the phase (they keep the schedule right after publishing).
_ORGANISER_ANYTIME = frozenset({Action.SET_AVAILABILITY, Action.BOOK, Action.CANCEL, Action.DECLINE})


def config(event: Event) -> Matchmaking:
    """The event's matchmaking section, or ServiceError("no_matchmaking")."""
    if event.matchmaking is None:
        raise ServiceError("no_matchmaking", NO_MATCHMAKING)
    return event.matchmaking


# -- slots -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """One meeting slot. `id` is the local start "HHMM" (stable, short enough for callback data)."""

    id: str
    index: int
    starts: datetime
    ends: datetime

    def overlaps(self, starts: datetime, ends: datetime) -> bool:
        return self.starts < ends and starts < self.ends


# The slots of each event's matchmaking section, made once (the directory asks for them per host and slot).
_SLOTS: dict[int, tuple[Matchmaking, tuple[Slot, ...]]] = {}


def slots(event: Event) -> tuple[Slot, ...]:
    """The window cut into slots, as aware UTC instants (empty for an event without matchmaking)."""
    mm = event.matchmaking
    if mm is None:
        return ()
    if mm.start is None:  # only a Matchmaking built outside an Event lacks it
        return ()
    known = _SLOTS.get(id(mm))
    if known is not None and known[0] is mm:
        return known[1]
    made = _make_slots(event, mm)
    if len(_SLOTS) > 64:  # event files loaded again and again (tests): keep the memo small
        _SLOTS.clear()
    _SLOTS[id(mm)] = (mm, made)
    return made


def _make_slots(event: Event, mm: Matchmaking) -> tuple[Slot, ...]:
    assert mm.start is not None
    first = datetime.combine(event.date, mm.start, event.tz).astimezone(UTC)
    step = timedelta(minutes=mm.slot_minutes)
    result = []
    for n in range(mm.slot_count):
        starts = first + n * step
        local = starts.astimezone(event.tz)
        result.append(Slot(id=f"{local:%H%M}", index=n, starts=starts, ends=starts + step))
    return tuple(result)


def slot(event: Event, slot_id: str) -> Slot:
    """The slot with this id, or ServiceError("unknown_slot") (a stale button, an edited event file)."""
    for s in slots(event):
        if s.id == slot_id:
            return s
    raise ServiceError("unknown_slot", UNKNOWN_SLOT)


# -- phases ----------------------------------------------------------------------------------------------------


def phase(event: Event, now: datetime, *, published: bool) -> Phase:
    """The phase at `now` (the bot's clock). Deadlines are inclusive: 23:59:59 on the day still counts."""
    mm = config(event)
    if published:
        return Phase.FROZEN
    if now <= mm.availability_deadline:
        return Phase.AVAILABILITY
    if now <= mm.schedule_deadline:
        return Phase.BOOKING
    return Phase.CLOSED


def check_action(event: Event, action: Action, now: datetime, *, published: bool,
                 organiser: bool = False) -> Phase:
    """The phase, if `action` is allowed in it; else ServiceError saying why and until/since when."""
    mm = config(event)
    current = phase(event, now, published=published)
    if current in ALLOWED[action] or (organiser and action in _ORGANISER_ANYTIME):
        return current
    if action is Action.PUBLISH and current is Phase.FROZEN:
        raise ServiceError("already_published", ALREADY_PUBLISHED)
    if current is Phase.AVAILABILITY:
        raise ServiceError("not_open", NOT_OPEN, deadline=mm.availability_deadline)
    if current is Phase.CLOSED:
        raise ServiceError("closed", CLOSED, deadline=mm.schedule_deadline)
    if action is Action.SET_AVAILABILITY:
        raise ServiceError("frozen", AVAILABILITY_CLOSED)
    raise ServiceError("frozen", FROZEN)


# -- who takes part --------------------------------------------------------------------------------------------


def can_host(profile: Profile | None) -> bool:
    """A registered local government that said yes to matchmaking (the registration rule decides who is asked)."""
    return profile is not None and offers_matchmaking(profile.participant_type) and profile.matchmaking is True


def check_host(profile: Profile | None) -> Profile:
    if profile is None:
        raise ServiceError("not_registered", NOT_REGISTERED)
    if not offers_matchmaking(profile.participant_type):
        raise ServiceError("not_local_government", NOT_LOCAL_GOVERNMENT)
    if profile.matchmaking is not True:
        raise ServiceError("host_declined", HOST_DECLINED)
    return profile


def can_book(profile: Profile | None) -> bool:
    """Registered cities, and the institutions and corporations sponsoring the event."""
    return profile is not None and profile.participant_type in BOOKER_TYPES


def check_requester(profile: Profile | None) -> Profile:
    if profile is None:
        raise ServiceError("not_registered", NOT_REGISTERED)
    if profile.participant_type not in BOOKER_TYPES:
        raise ServiceError("not_eligible", NOT_ELIGIBLE)
    return profile


# -- the board: availability and bookings in memory -------------------------------------------------------------


@dataclass(frozen=True)
class Booking:
    host: int
    requester: int
    slot: str

    def involves(self, person: int) -> bool:
        return person in (self.host, self.requester)

    @property
    def pair(self) -> frozenset[int]:
        return frozenset((self.host, self.requester))


@dataclass(frozen=True)
class Board:
    """What is known at one moment: the slots each host marked free, and the live bookings."""

    availability: Mapping[int, frozenset[str]] = field(default_factory=dict)
    bookings: tuple[Booking, ...] = ()

    def is_host(self, person: int) -> bool:
        return person in self.availability

    def busy(self, person: int, slot_id: str) -> Booking | None:
        """The meeting `person` has in that slot, as host or requester."""
        return next((b for b in self.bookings if b.slot == slot_id and b.involves(person)), None)

    def host_free(self, host: int, slot_id: str) -> bool:
        return slot_id in self.availability.get(host, frozenset()) and self.busy(host, slot_id) is None

    def booked_by(self, requester: int) -> list[Booking]:
        return [b for b in self.bookings if b.requester == requester]

    def met(self, a: int, b: int) -> Booking | None:
        pair = frozenset((a, b))
        return next((x for x in self.bookings if x.pair == pair), None)

    def with_booking(self, booking: Booking) -> Board:
        return Board(self.availability, (*self.bookings, booking))


def free_slots(event: Event, board: Board, host: int, requester: int | None = None) -> list[Slot]:
    """The host's free slots in time order; with a requester, only those the requester is free in too."""
    return [s for s in slots(event) if board.host_free(host, s.id)
            and (requester is None or board.busy(requester, s.id) is None)]


def next_free_slots(event: Event, board: Board, host: int, requester: int, wanted: str | None = None,
                    limit: int = 3) -> list[Slot]:
    """Alternatives when a slot was taken: the host's slots free for both, the ones after `wanted` first."""
    free = free_slots(event, board, host, requester)
    if wanted is not None:
        at = next((s.index for s in slots(event) if s.id == wanted), -1)
        free = [s for s in free if s.index > at] + [s for s in free if s.index <= at]
    return free[:limit]


class SlotUnavailable(ServiceError):
    """The host is not free in that slot; `alternatives` are the host's next slots free for both."""

    def __init__(self, code: str, message: str, alternatives: list[Slot]) -> None:
        super().__init__(code, message)
        self.alternatives = alternatives


def check_booking(event: Event, board: Board, host: int, requester: int, slot_id: str) -> Slot:
    """Whether `requester` may book `host` at `slot_id` on this board; the slot, or ServiceError.

    Checked in the order that gives the most useful answer: a person at the limit is told so rather than
    offered other slots, and a taken slot comes with alternatives (SlotUnavailable)."""
    mm = config(event)
    wanted = slot(event, slot_id)
    if host == requester:
        raise ServiceError("self", SELF)
    if not board.is_host(host):
        raise ServiceError("not_host", NOT_HOST)
    if len(board.booked_by(requester)) >= mm.max_bookings:
        raise ServiceError("limit", LIMIT, max=mm.max_bookings)
    if board.met(host, requester) is not None:
        raise ServiceError("pair_met", PAIR_MET)
    if board.busy(requester, slot_id) is not None:
        raise ServiceError("requester_busy", REQUESTER_BUSY)
    if not board.host_free(host, slot_id):
        code, message = (("slot_taken", SLOT_TAKEN) if board.busy(host, slot_id)
                         else ("host_unavailable", HOST_UNAVAILABLE))
        raise SlotUnavailable(code, message, next_free_slots(event, board, host, requester, slot_id))
    return wanted


def check_availability_change(event: Event, board: Board, host: int, slot_id: str, free: bool) -> Slot:
    """A host marking a slot free or busy: a booked slot is freed by declining, not by unmarking."""
    wanted = slot(event, slot_id)
    meeting = board.busy(host, slot_id)
    if meeting is not None:
        if not free and meeting.host == host:
            raise ServiceError("slot_booked", SLOT_BOOKED)
        if free and meeting.requester == host:
            raise ServiceError("busy_elsewhere", SLOT_BUSY_ELSEWHERE)
    return wanted


def check_cancel(booking: Booking, person: int, *, decline: bool = False) -> Booking:
    """Either side cancels; only the host declines."""
    if not booking.involves(person):
        raise ServiceError("not_yours", NOT_YOURS)
    if decline and booking.host != person:
        raise ServiceError("only_host_declines", ONLY_HOST_DECLINES)
    return booking


def check_outside_request(event: Event, board: Board, host: int, requester: int) -> None:
    """"Ask to meet outside the event" is for a host with no slot free for the requester."""
    config(event)
    if host == requester:
        raise ServiceError("self", SELF)
    if not board.is_host(host):
        raise ServiceError("not_host", NOT_HOST)
    if board.met(host, requester) is not None:
        raise ServiceError("pair_met", PAIR_MET)
    if free_slots(event, board, host, requester):
        raise ServiceError("has_free_slots", HAS_FREE_SLOTS)


# -- the program around a slot ---------------------------------------------------------------------------------


def clashes(event: Event, slot_: Slot, followed: Iterable[str]) -> list[ProgramItem]:
    """Program items the person follows that overlap the slot (the Open Session from 11:00), to mark the slot
    before they book. The meetings themselves and the coffee break they are held in do not count."""
    ids = set(followed)
    return [i for i in event.program
            if i.id in ids and i.kind not in _NO_CLASH_KINDS and slot_.overlaps(i.starts, i.ends)]


def clash_marks(event: Event, followed: Iterable[str]) -> dict[str, list[ProgramItem]]:
    """For every slot with a clash: its id -> the followed items it overlaps."""
    ids = set(followed)
    return {s.id: found for s in slots(event) if (found := clashes(event, s, ids))}


# -- the meeting itself ----------------------------------------------------------------------------------------


def meeting_id(event: Event, booking: Booking) -> str:
    """A stable id for the meeting link: the same booking always gets the same id, and it does not show
    Telegram ids in a URL."""
    key = f"{event.id}:{booking.host}:{booking.requester}:{booking.slot}".encode()
    return hashlib.sha256(key).hexdigest()[:12]


def placeholder_link(event: Event) -> str | None:
    """The event file's meeting link when it is a placeholder (a reserved example domain), else None."""
    template = config(event).meeting_link
    if not template:
        return None
    host = (urlsplit(template).hostname or "").lower().rstrip(".")
    if host.endswith(_PLACEHOLDER_DOMAINS) or host.rsplit(".", 1)[-1] in _PLACEHOLDER_TLDS:
        return template
    return None


def check_publishable(event: Event) -> None:
    """Publishing sends every participant their meeting links: refused while the link is a placeholder, naming
    the setting to change and the file it is in."""
    link = placeholder_link(event)
    if link is not None:
        raise ServiceError("placeholder_link", PLACEHOLDER_LINK, link=link, file=event.file)


def meeting_link(event: Event, booking: Booking) -> str | None:
    """The meeting's address from the event file's template (None while the file has no template)."""
    return config(event).link(meeting_id(event, booking))


@dataclass(frozen=True)
class Meeting:
    """A stored booking: the rule's `Booking` with its row id and when it was made, and the requester's note."""

    id: int
    host: int
    requester: int
    slot: str
    created_at: datetime
    note: str = ""

    @property
    def booking(self) -> Booking:
        return Booking(self.host, self.requester, self.slot)

    def other(self, person: int) -> int:
        return self.requester if person == self.host else self.host


@dataclass(frozen=True)
class OutsideRequest:
    """"Ask to meet outside the event", recorded for the organisers."""

    host: int
    requester: int
    created_at: datetime


# -- what a city open for meetings says of itself -----------------------------------------------------------------


@dataclass(frozen=True)
class CityProfile:
    """Topics of collaboration (ids from the event file's list) and a line of the city's own words."""

    topics: tuple[str, ...] = ()
    about: str = ""


def one_line(text: str, limit: int) -> str:
    """Free text made one line (whitespace collapsed); refused when empty or longer than `limit`."""
    line = " ".join(text.split())
    if not line:
        raise ServiceError("empty", EMPTY_LINE)
    if len(line) > limit:
        raise ServiceError("too_long", TOO_LONG, n=limit, length=len(line))
    return line


def toggled_topic(event: Event, profile: CityProfile, topic_id: str) -> CityProfile:
    """The profile with `topic_id` added or taken away (in the event file's order); unknown ids are refused."""
    mm = config(event)
    if mm.topic(topic_id) is None:
        raise ServiceError("unknown_topic", UNKNOWN_TOPIC)
    chosen = set(profile.topics) ^ {topic_id}
    return CityProfile(tuple(t.id for t in mm.topics if t.id in chosen), profile.about)


def offers_by_itself(event: Event, now: datetime) -> bool:
    """Whether a city may still say by itself that it is open for meetings (until the availability deadline;
    after it only an organiser opens a city, seed: "local governments indicate their availability ... by
    October 23")."""
    return event.matchmaking is not None and now <= event.matchmaking.availability_deadline
