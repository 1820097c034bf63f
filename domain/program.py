"""The program as a reader sees it: their zone, pages by part of the day, what is on now and next.

Plain rules over the event file (no Telegram here). The handlers render the results; every instant is
UTC and is shown in the reader's zone (a registered delegate's own, otherwise the event's).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from domain.event import Event, ProgramItem
from domain.i18n_marks import N_
from domain.registration import EXCOM_REJECTED, Profile
from domain.timezones import to_local

# Telegram's limit for one message's text.
MESSAGE_LIMIT = 4096
# A page lists at most this many items (each also gets a button; keyboards stay usable on a phone).
MAX_ITEMS_PER_PAGE = 16

# The command menu's entry for /next (bot/app.py lists it with the others).
NEXT_COMMAND = N_("What comes next")


@dataclass(frozen=True)
class Part:
    """A part of the day, by the start hour of its items in the reader's zone (a Seoul reader's 14:00 is
    afternoon even though it is 08:00 morning in Moscow)."""

    key: str
    label: str  # msgid
    from_hour: int


PARTS: tuple[Part, ...] = (
    # A reader far west or east of the event may see items between midnight and six.
    Part("night", N_("Night"), 0),
    Part("morning", N_("Morning"), 6),
    Part("afternoon", N_("Afternoon"), 12),
    Part("evening", N_("Evening"), 18),
)


@dataclass(frozen=True)
class View:
    """How times are shown to one reader."""

    zone: str
    # False when the reader is not registered and sees the event's zone instead of their own.
    own: bool


def reader_view(conf: Event, profile: Profile | None) -> View:
    # A guest who followed a session before choosing a zone has the event's, not one of their own.
    if profile is not None and profile.timezone and profile.extra.get("zone_chosen", True):
        return View(profile.timezone, True)
    return View(conf.timezone, False)


def part_of(conf: Event, item: ProgramItem, zone: str | None = None) -> Part:
    """The part of the day `item` starts in, in `zone` (default: the event's)."""
    hour = to_local(item.starts, zone or conf.timezone).hour
    return [p for p in PARTS if p.from_hour <= hour][-1]


@dataclass(frozen=True)
class Page:
    """Items shown together; `part` is None when the whole program fits in one page."""

    part: Part | None
    items: tuple[ProgramItem, ...]
    # 1-based number of this page within its part when a part needs several pages, else 0.
    sub: int = 0


def paginate(conf: Event, measure: Callable[[Page], int], limit: int = MESSAGE_LIMIT,
             max_items: int = MAX_ITEMS_PER_PAGE, zone: str | None = None) -> list[Page]:
    """The program in pages whose rendered text (`measure`) fits `limit`.

    One page when everything fits; otherwise a page per part of the day in the reader's `zone` (in
    program order: a Mexico City reader's evening of the 16th comes before the night of the 17th), and a
    part that is still too long is cut between items, never inside one.
    """
    whole = Page(None, conf.program)
    if len(conf.program) <= max_items and measure(whole) <= limit:
        return [whole]
    runs: list[tuple[Part, list[ProgramItem]]] = []
    for item in conf.program:
        part = part_of(conf, item, zone)
        if runs and runs[-1][0] == part:
            runs[-1][1].append(item)
        else:
            runs.append((part, [item]))
    pages: list[Page] = []
    for part, items in runs:
        chunks: list[list[ProgramItem]] = [[]]
        for item in items:
            trial = [*chunks[-1], item]
            if chunks[-1] and (len(trial) > max_items or measure(Page(part, tuple(trial), 1)) > limit):
                chunks.append([item])
            else:
                chunks[-1] = trial
        numbered = len(chunks) > 1
        pages += [Page(part, tuple(c), n if numbered else 0) for n, c in enumerate(chunks, 1)]
    return pages


def page_for(pages: Sequence[Page], instant: datetime) -> int:
    """The page to open first: the one with what is on (or next) at `instant`, else the first."""
    for n, page in enumerate(pages):
        if any(i.ends > instant for i in page.items):
            return n
    return 0


def is_parallel(conf: Event, item: ProgramItem) -> bool:
    """True when an item listed before this one starts at the same time (another track)."""
    for other in conf.program:
        if other.id == item.id:
            return False
        if other.starts == item.starts:
            return True
    return False


def alongside(conf: Event, item: ProgramItem) -> list[ProgramItem]:
    """Items on other tracks that start at the same time as `item`."""
    return [i for i in conf.program if i.id != item.id and i.starts == item.starts]


def local_date_differs(conf: Event, instant: datetime, zone: str) -> bool:
    """The reader's local date at `instant` is not the event's date (then the date is shown)."""
    return to_local(instant, zone).date() != conf.date


def can_see_join(item: ProgramItem, profile: Profile | None) -> bool:
    """Join details of a members-only item are for EXCOM member cities an organiser confirmed."""
    return not item.members_only or (profile is not None and profile.is_member)


def in_whole_calendar(item: ProgramItem, profile: Profile | None) -> bool:
    """The whole-program calendar file holds members-only items (the Closed Session) only for people who
    represent an EXCOM member city: confirmed, or claimed and waiting for an organiser (they may be confirmed
    before the day; the event then says the join details are for confirmed members)."""
    if not item.members_only:
        return True
    return profile is not None and (profile.is_member or (profile.is_excom and profile.excom_status != EXCOM_REJECTED))


def can_follow(item: ProgramItem, profile: Profile | None) -> bool:
    """Reminders are for registered delegates, and only for the items they may join."""
    return profile is not None and can_see_join(item, profile)


@dataclass(frozen=True)
class Status:
    phase: Literal["before", "during", "after"]
    now: tuple[ProgramItem, ...]
    next: tuple[ProgramItem, ...]
    # How long until the next items start (None when nothing follows).
    until_next: timedelta | None


def status(conf: Event, instant: datetime) -> Status:
    """What is on at `instant` (every parallel item) and what starts next."""
    upcoming = tuple(conf.up_next(instant))
    until = upcoming[0].starts - instant if upcoming else None
    if instant < conf.starts:
        phase: Literal["before", "during", "after"] = "before"
    elif instant >= conf.ends:
        phase = "after"
    else:
        phase = "during"
    return Status(phase, tuple(conf.now_on(instant)), upcoming, until)


def split_duration(delta: timedelta) -> list[tuple[str, int]]:
    """The two largest units of a duration, for "starts in 16 days 4 hours" / "in 1 hour 5 minutes".

    Minutes are rounded up, so an item never "starts in 0 minutes" before it has started.
    """
    minutes = max(1, -(-int(delta.total_seconds()) // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return [("day", days)] + ([("hour", hours)] if hours else [])
    if hours:
        return [("hour", hours)] + ([("minute", mins)] if mins else [])
    return [("minute", mins)]
