"""Program use cases that touch stored data: what a reader follows, following a session from its card."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain import program as prog
from domain.event import Event, ProgramItem
from domain.i18n_marks import N_
from domain.registration import Profile
from domain.when import WhenQuery, parse_when
from services import reminders as rem
from services.errors import ServiceError
from services.ports import UnitOfWork

GONE = N_("This session is no longer in the program. Send /program for the current one.")
NOT_REGISTERED = N_("Register with /start to get reminders.")
MEMBERS_ONLY = N_("Reminders for this session are for EXCOM member cities.")
OVER = N_("This session is over.")


# parse_when's answers per loaded event: {id(event): (event, {(text, language): query})}.
_WHEN: dict[int, tuple[Event, dict[tuple[str, str], WhenQuery | None]]] = {}
WHEN_MEMO_SIZE = 4096


def question_about_time(text: str, lang: str, event: Event) -> WhenQuery | None:
    """`domain.when.parse_when`, remembered: reading a text as a question about time was most of a free
    question's own work (about 0.8 ms, issue 18), and people ask the same few questions ("when is the
    quiz?"). The result depends only on the text, the language and the event file (frozen, loaded once),
    and is a frozen value; what the clock says is applied after, by `answer_when`."""
    entry = _WHEN.get(id(event))
    if entry is None or entry[0] is not event:
        if len(_WHEN) >= 8:  # tests load many events; a bot one
            _WHEN.clear()
        entry = _WHEN[id(event)] = (event, {})
    memo = entry[1]
    key = (text, lang)
    if key in memo:
        return memo[key]
    if len(memo) >= WHEN_MEMO_SIZE:
        memo.clear()
    query = memo[key] = parse_when(text, lang, event)
    return query


async def followed(uow: UnitOfWork, event: Event, profile: Profile | None) -> set[str]:
    """Items the reader is reminded of: those they chose, and the whole program if they follow it."""
    if profile is None:
        return set()
    settings = await uow.reminders.settings(profile.user_id)
    explicit = await uow.follows.items(profile.user_id)
    return {i.id for i in rem.followed_items(event, explicit, follow_all=bool(settings and settings.follow_all),
                                             member=profile.is_member, matchmaking=profile.matchmaking)}


@dataclass(frozen=True)
class CardFollow:
    """How a card offers reminders: covered by "the whole program" (with the lead and on/off), or a
    per-session toggle showing whether the reader follows it."""

    whole_program: bool
    following: bool
    lead: int
    reminders_on: bool


async def card_follow(uow: UnitOfWork, item: ProgramItem, profile: Profile | None) -> CardFollow:
    if profile is None:
        return CardFollow(False, False, rem.DEFAULT_LEAD, False)
    settings = await uow.reminders.settings(profile.user_id)
    if (settings is not None and settings.follow_all and rem.in_whole_program(item, profile.matchmaking)
            and prog.can_follow(item, profile)):
        return CardFollow(True, True, settings.lead, settings.on)
    following = await uow.follows.is_following(profile.user_id, item.id)
    return CardFollow(False, following, settings.lead if settings else rem.DEFAULT_LEAD,
                      bool(settings and settings.on))


async def follow(uow: UnitOfWork, event: Event, profile: Profile | None, item_id: str, on: bool,
                 now: datetime) -> ProgramItem:
    """"Remind me" (on) / "Don't remind me" on a session card; returns the item."""
    item = event.item(item_id)
    if item is None:
        raise ServiceError("gone", GONE)
    if profile is None:
        raise ServiceError("not_registered", NOT_REGISTERED)
    if not prog.can_follow(item, profile):
        raise ServiceError("members_only", MEMBERS_ONLY)
    if on:
        if item.ends <= now:
            raise ServiceError("over", OVER)
        await uow.follows.follow(profile.user_id, item.id, now)
    else:
        await uow.follows.unfollow(profile.user_id, item.id)
    await uow.commit()
    return item
