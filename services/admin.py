"""Organisers' use cases: letting a person register after the deadline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.i18n_marks import N_
from services.errors import ServiceError
from services.ports import UnitOfWork

# Telegram user ids are positive and fit in 52 bits (the Bot API's own promise).
MAX_USER_ID = 2**52

ADMIT_USAGE = N_("Usage: /admit &lt;numeric Telegram user id&gt;. The person can find their id with /myid.")
ALREADY_REGISTERED = N_("User {id} is already registered.")


@dataclass(frozen=True)
class Admitted:
    user_id: int
    new: bool


def parse_user_id(text: str) -> int | None:
    """A Telegram user id typed by an organiser (ASCII digits only: "²" is a digit to str.isdigit)."""
    text = text.strip()
    if not text or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if 0 < value < MAX_USER_ID else None


async def admit(uow: UnitOfWork, arg: str, *, by: int, now: datetime) -> Admitted:
    """Grant a late pass; granting twice is harmless."""
    user_id = parse_user_id(arg)
    if user_id is None:
        raise ServiceError("usage", ADMIT_USAGE)
    if await uow.delegates.get(user_id) is not None:
        raise ServiceError("registered", ALREADY_REGISTERED, id=user_id)
    new = await uow.late_passes.grant(user_id, by, now)
    await uow.commit()
    return Admitted(user_id, new)
