"""Reminder preferences (/reminders): lead time, on/off, the whole program, unfollowing a session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.event import Event
from services import reminders as rem
from services.ports import UnitOfWork


@dataclass(frozen=True)
class Preferences:
    lead: int
    on: bool
    follow_all: bool
    explicit: frozenset[str]


async def preferences(uow: UnitOfWork, user_id: int) -> Preferences | None:
    settings = await uow.reminders.settings(user_id)
    if settings is None:
        return None
    explicit = await uow.follows.items(user_id)
    return Preferences(settings.lead, settings.on, settings.follow_all, frozenset(explicit))


async def change(uow: UnitOfWork, event: Event, user_id: int, action: str, value: str, now: datetime) -> bool:
    """Apply one button of the panel; False when the button is not (or no longer) valid.

    lead <minutes>, all 0|1 (follow the whole program; "reg" is the same offered after registering),
    on 0|1, unf <item id>; "open" changes nothing.
    """
    if action == "lead" and value.isdigit() and int(value) in rem.LEADS:
        await uow.reminders.update(user_id, now, lead=int(value))
    elif action in ("all", "reg") and value in ("0", "1"):
        await uow.reminders.update(user_id, now, follow_all=value == "1")
    elif action == "on" and value in ("0", "1"):
        await uow.reminders.update(user_id, now, on=value == "1")
    elif action == "unf" and event.item(value) is not None:
        await uow.follows.unfollow(user_id, value)
    elif action != "open":
        return False
    await uow.commit()
    return True
