"""Program use cases that touch stored data: what a reader follows, following a session from its card."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain import program as prog
from domain.event import Event, ProgramItem
from domain.i18n_marks import N_
from domain.registration import Profile
from services import reminders as rem
from services.errors import ServiceError
from services.ports import UnitOfWork

GONE = N_("This session is no longer in the program. Send /program for the current one.")
NOT_REGISTERED = N_("Register with /start to get reminders.")
MEMBERS_ONLY = N_("Reminders for this session are for EXCOM member cities.")
OVER = N_("This session is over.")


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
