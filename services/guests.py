"""Guests: people who cannot register any more (the deadline passed and no organiser let them in) keep a
language and a time zone, see the program in their time and follow sessions with reminders. Nothing else
about them is stored (table `guests`; /forget deletes it like everything else)."""

from __future__ import annotations

from datetime import datetime

from domain import timezones as tzs
from domain.event import Event
from domain.i18n_marks import N_
from domain.registration import Profile, guest_profile
from services import registration as flow
from services.errors import ServiceError
from services.ports import UnitOfWork

REGISTER_INSTEAD = N_("Registration is open: your time zone is part of it. Send /start to register.")
BAD_ZONE = flow.BAD_ZONE  # the same answer as at the registration's time zone step


async def can_be_guest(uow: UnitOfWork, event: Event, user_id: int, now: datetime, *, is_admin: bool) -> bool:
    """Only someone who cannot register becomes a guest (who can, registers: the zone is part of it)."""
    return not await flow.may_register(uow, event, user_id, now, is_admin=is_admin)


def prospective(event: Event, user_id: int, lang: str) -> Profile:
    """How someone who could become a guest is shown a card (with "Remind me"): nothing is stored yet."""
    return guest_profile(user_id, lang, event.timezone, zone_chosen=False)


async def set_zone(uow: UnitOfWork, event: Event, user_id: int, lang: str, zone: str, now: datetime, *,
                   is_admin: bool) -> Profile:
    """/timezone for someone who cannot register: store their language and zone."""
    if not tzs.is_valid_zone(zone):
        raise ServiceError("bad_zone", BAD_ZONE, value=zone[:60])
    if not await can_be_guest(uow, event, user_id, now, is_admin=is_admin):
        raise ServiceError("register", REGISTER_INSTEAD)
    profile = await uow.guests.save(user_id, now, language=lang, timezone=zone, zone_chosen=True)
    await uow.commit()
    return profile


async def set_language(uow: UnitOfWork, user_id: int, lang: str, now: datetime) -> Profile | None:
    """/language of a guest: stored with their zone (reminders are written in it)."""
    if await uow.guests.get(user_id) is None:
        return None
    profile = await uow.guests.save(user_id, now, language=lang)
    await uow.commit()
    return profile


async def become(uow: UnitOfWork, event: Event, user_id: int, lang: str, now: datetime, *,
                 is_admin: bool) -> Profile | None:
    """"Remind me" from someone who cannot register and is not a guest yet: they become one (the event's zone
    until they choose theirs). Not committed: the follow commits with it. None: they can register instead."""
    existing = await uow.guests.get(user_id)
    if existing is not None:
        return existing
    if not await can_be_guest(uow, event, user_id, now, is_admin=is_admin):
        return None
    return await uow.guests.save(user_id, now, language=lang, timezone=event.timezone, zone_chosen=False)

# The command menu's entry for /timezone (bot/app.py lists it with the others).
TIMEZONE_COMMAND = N_("Set your time zone")
