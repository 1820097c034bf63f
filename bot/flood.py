"""Flood control: one person sending very fast is slowed down, with one notice, without affecting others.

Telegram lets a bot send about one message a second to a chat: twenty answers a second to one person
would queue behind each other and end in 429s that delay everybody's replies. Each person has a bucket
of BURST updates that refills at RATE a second; an update that finds the bucket empty is not handled.

The decision is made before any work (issue 17 item 8: 1,000 presses in half a second held another
person's /now to 4.4 s and cost 1,000 answerCallbackQuery calls): `FloodControl` runs right after the
arrival stamp, before the person's lock, the database session and the profile. A refused update costs a
dictionary lookup. The first refusal of a flood goes on, marked, to `FloodNotice` (after the locale), which
answers it with one notice in the person's language instead of handling it; the rest of the flood is dropped
without an answer (a pressed button's spinner stops by itself on the client after a few seconds).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Chat, Message, TelegramObject, Update, User
from aiogram.utils.i18n import gettext as _

log = logging.getLogger(__name__)

# A person may send BURST updates at once (an album of 10 photos arrives as 10 updates, a long text split
# in parts, quick taps through a form), then RATE a second on average: above what typing or tapping
# produces, far below a script. Settings FLOOD_BURST and FLOOD_RATE.
BURST = 20
RATE = 1.0
# Buckets untouched this long are forgotten (they would be full again anyway).
IDLE_SECONDS = 600.0
# A flood ends when nothing was refused for this long; the next one gets a notice of its own.
QUIET_SECONDS = 10.0


@dataclass
class Bucket:
    tokens: float
    at: float
    last_refused: float | None = None


FLOODED = "flood_notice"


class FloodControl(BaseMiddleware):
    """Outer update middleware, registered before the person lock: refused updates do no work at all.

    `now` gives seconds on a monotonic scale: real time (a flood is about people, not the rehearsal clock,
    which may run faster); tests hand it a frozen clock. `enabled` False lets every update through (the test
    harness, whose scripted people type faster than anyone).
    """

    def __init__(self, now: Callable[[], float] = time.monotonic, *, burst: int = BURST, rate: float = RATE
                 ) -> None:
        self.now = now
        self.burst = burst
        self.rate = rate
        self.enabled = burst > 0
        self.buckets: dict[int, Bucket] = {}
        self.dropped = 0

    def _seconds(self) -> float:
        return self.now()

    def allow(self, user_id: int) -> tuple[bool, bool]:
        """(handle it?, first refusal of this flood?) for one update from `user_id`."""
        now = self._seconds()
        bucket = self.buckets.get(user_id)
        if bucket is None:
            if len(self.buckets) > 10_000:
                self._forget_idle(now)
            bucket = self.buckets[user_id] = Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + max(0.0, now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return True, False
        first = bucket.last_refused is None or now - bucket.last_refused >= QUIET_SECONDS
        bucket.last_refused = now
        return False, first

    def _forget_idle(self, now: float) -> None:
        for uid in [u for u, b in self.buckets.items() if now - b.at > IDLE_SECONDS]:
            del self.buckets[uid]

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        if not self.enabled or user is None or (chat is not None and chat.type != "private") \
                or not isinstance(event, Update):
            return await handler(event, data)
        allowed, first = self.allow(user.id)
        if allowed:
            return await handler(event, data)
        self.dropped += 1
        if not first:
            return None
        log.info("flood from user %s: updates dropped for a few seconds", user.id)
        data[FLOODED] = True  # answered with the notice by FloodNotice, in the person's language
        return await handler(event, data)


class FloodNotice(BaseMiddleware):
    """Registered after the locale: the first refused update of a flood gets the notice, not its handler."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not data.get(FLOODED) or not isinstance(event, Update):
            return await handler(event, data)
        notice = _("You are sending messages very fast. Please wait a few seconds: I will answer again then.")
        if isinstance(event.callback_query, CallbackQuery):
            await event.callback_query.answer(notice)
        elif isinstance(event.message, Message):
            await event.message.answer(notice)
        return None
