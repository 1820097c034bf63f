"""The sender: drains due outbox rows into Telegram at a steady rate, and records each outcome.

Policy first, in plain classes that tests drive with a virtual timer:
- `Pacer`: a token bucket at SEND_RATE messages a second overall (Telegram allows about 30), and a global
  pause: a 429 carries retry_after, and Telegram's flood limit is per bot, so every send waits exactly that.
- `ChatSpacing`: at most one message a second to one chat.
- `classify`: what an error means. 429: wait retry_after and retry the same row. Timeouts, network errors
  and 5xx: retry later with bounded backoff (`Backoff`). 403: the person blocked the bot: mark them and
  stop sending to them. 400 and other refusals: record and do not retry.

The `Sender` claims due rows (a lease, so rows of a sender that died are claimed again), renders each row at
send time, sends it, and commits its outcome at once: a row is marked sent in the moment after Telegram
accepted it. A kill -9 between the two is the one window in which a message can go out twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.logsafe import Redactor
from delivery.outbox import Drop, Outbox, OutboxRow, Recipient, RenderContext, Rendered, Renderers
from domain.clock import Clock
from storage.repo import Delegates

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.utils.i18n import I18n

    from domain.event import Event

log = logging.getLogger(__name__)


# -- policy ----------------------------------------------------------------------------------------------------

class Timer:
    """Real time; tests pass a virtual one."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Pacer:
    """Spaces sends 1/rate apart (a token bucket holding at most `burst` tokens) and honours pauses."""

    def __init__(self, rate: float, timer: Timer | None = None, burst: float = 2.0) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self.burst = burst
        self.timer = timer or Timer()
        self._next: float | None = None
        self._pause_until = 0.0
        # How many pauses began so far: a send whose slot was taken before a pause began waits for it too.
        self.pauses = 0

    def reserve(self) -> float:
        """Take the next slot; returns the seconds to wait for it."""
        now = self.timer.monotonic()
        # Idle time earns at most `burst` slots: a sender that was late (a slow sleep) catches up a little,
        # never a whole second's worth.
        earliest = now - (self.burst - 1) * self.interval
        slot = max(self._next if self._next is not None else now, earliest, self._pause_until)
        self._next = slot + self.interval
        return max(0.0, slot - now)

    async def acquire(self) -> None:
        wait = self.reserve()
        if wait > 0:
            await self.timer.sleep(wait)

    def pause(self, seconds: float) -> None:
        """No send starts in the next `seconds` (from now)."""
        self.pauses += 1
        self._pause_until = max(self._pause_until, self.timer.monotonic() + seconds)

    def paused_for(self) -> float:
        return max(0.0, self._pause_until - self.timer.monotonic())


class ChatSpacing:
    """At most one message per `interval` seconds to a chat."""

    def __init__(self, interval: float = 1.0, timer: Timer | None = None) -> None:
        self.interval = interval
        self.timer = timer or Timer()
        self._last: dict[int, float] = {}

    def wait_for(self, chat_id: int) -> float:
        last = self._last.get(chat_id)
        if last is None:
            return 0.0
        return max(0.0, last + self.interval - self.timer.monotonic())

    def mark(self, chat_id: int) -> None:
        now = self.timer.monotonic()
        self._last[chat_id] = now
        if len(self._last) > 50_000:  # forget chats that are ready again
            self._last = {c: t for c, t in self._last.items() if t + self.interval > now}


@dataclass(frozen=True)
class Backoff:
    """Delays before retrying a transient failure: 2, 4, 8, 16 s..., at most `cap`, `max_attempts` tries."""

    base: float = 2.0
    factor: float = 2.0
    cap: float = 60.0
    max_attempts: int = 5

    def delay(self, attempts: int) -> float | None:
        """Seconds to wait after `attempts` failed tries, or None: give up."""
        if attempts >= self.max_attempts:
            return None
        return min(self.cap, self.base * self.factor ** max(0, attempts - 1))


Action = Literal["retry_after", "retry", "blocked", "rejected"]


@dataclass(frozen=True)
class Verdict:
    action: Action
    error: str
    retry_after: float = 0.0


# An error's text can quote the request URL, token included; it is stored on the row and logged.
_redact = Redactor()


def classify(exc: BaseException) -> Verdict:
    """What a failed send means for its row."""
    text = _redact(f"{type(exc).__name__}: {exc}")
    match exc:
        case TelegramRetryAfter():
            return Verdict("retry_after", f"429: retry after {exc.retry_after}", float(exc.retry_after))
        case TelegramForbiddenError():
            return Verdict("blocked", f"403: {exc.message}")
        case TelegramEntityTooLarge():
            return Verdict("rejected", f"413: {exc.message}")
        case TelegramNetworkError() | TelegramServerError() | asyncio.TimeoutError() | OSError():
            return Verdict("retry", text)
        case ClientDecodeError():
            # Not JSON: a proxy's HTML error page (a 502 from nginx), not Telegram's answer. Transient.
            return Verdict("retry", f"undecodable answer: {exc.message}")
        case TelegramUnauthorizedError():
            # A wrong or revoked token: nothing gets through until an organiser fixes it; keep retrying.
            return Verdict("retry", f"401: {exc.message}")
        case TelegramBadRequest():
            return Verdict("rejected", f"400: {exc.message}")
        case TelegramAPIError():
            return Verdict("rejected", text)
    return Verdict("rejected", text)


def to_markup(rendered: Rendered) -> InlineKeyboardMarkup | None:
    if not rendered.buttons:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=b.text, callback_data=b.callback_data, url=b.url) for b in row]
        for row in rendered.buttons
    ])


def _requeue(queue: deque[OutboxRow], row: OutboxRow) -> None:
    """Put a row back in its place (due order), ahead of the rows that were due after it."""
    order = (row.next_at, row.id)
    for i, other in enumerate(queue):
        if (other.next_at, other.id) > order:
            queue.insert(i, row)
            return
    queue.append(row)


# -- the sender ----------------------------------------------------------------------------------------------

@dataclass
class SenderStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0
    blocked: int = 0
    rate_limited: int = 0


class Sender:
    def __init__(
        self,
        *,
        bot: Bot,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        event: Event,
        i18n: I18n,
        renderers: Renderers,
        rate: float = 25.0,
        chat_interval: float = 1.0,
        max_in_flight: int = 8,
        batch: int | None = None,
        lease: float = 120.0,
        request_timeout: float = 15.0,
        poll_interval: float = 2.0,
        backoff: Backoff | None = None,
        timer: Timer | None = None,
    ) -> None:
        self.bot = bot
        self.sessions = sessions
        self.clock = clock
        self.event = event
        self.i18n = i18n
        self.renderers = renderers
        self.timer = timer or Timer()
        self.pacer = Pacer(rate, self.timer)
        self.spacing = ChatSpacing(chat_interval, self.timer)
        self.backoff = backoff or Backoff()
        self.max_in_flight = max_in_flight
        # About two seconds of sending per claim: a claimed row waits little before it is sent.
        self.batch = batch or max(1, min(500, int(rate * 2)))
        self.lease = timedelta(seconds=lease)
        self.request_timeout = request_timeout
        self.poll_interval = poll_interval
        self.stats = SenderStats()
        self._wake = asyncio.Event()
        self._blocked: set[int] = set()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    # -- running -------------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self.run(), name="outbox-sender")

    def wake(self) -> None:
        """New rows may be due: look now instead of at the next poll."""
        self._wake.set()

    async def stop(self, grace: float = 5.0) -> None:
        """Finish the sends in flight (up to `grace` seconds), give back claimed rows, stop."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), grace)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        while not self._stopping:
            try:
                handled = await self.drain_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the sender failed; retrying in %.0f s", self.poll_interval)
                handled = 0
                await self._idle(self.poll_interval)
                continue
            if handled == 0:
                await self._idle(await self._idle_delay())

    async def _idle_delay(self) -> float:
        async with self.sessions() as s:
            due = await Outbox(s).next_due()
        if due is None:
            return self.poll_interval
        return min(self.poll_interval, self.clock.real_delay(due))

    async def _idle(self, seconds: float) -> None:
        if seconds > 0 and not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    # -- one batch -------------------------------------------------------------------------------------------

    async def drain_once(self) -> int:
        """Claim due rows and settle each of them (sent, retried later, failed or dropped). Returns how many."""
        async with self.sessions() as s:
            rows = await Outbox(s).claim(self.clock.now(), self.clock.wall_now(), self.lease, self.batch)
            who = await Outbox(s).recipients(r.user_id for r in rows) if rows else {}
            await s.commit()
        if not rows:
            return 0
        queue: deque[OutboxRow] = deque(rows)
        attempts = {r.id: r.attempts for r in rows}
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while queue or in_flight:
                if self._stopping or self.pacer.paused_for() > self.lease.total_seconds() / 2:
                    await self._release(list(queue))
                    queue.clear()
                if not queue or len(in_flight) >= self.max_in_flight:
                    if in_flight:
                        _, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    continue
                if (paused := self.pacer.paused_for()) > 0:  # choose the next row once the pause is over
                    await self.timer.sleep(paused)
                    continue
                row, wait = self._pick(queue)
                if row is None:
                    await self.timer.sleep(wait)
                    continue
                rendered = await self._prepare(row, who.get(row.user_id))
                if rendered is None:
                    continue
                pauses = self.pacer.pauses
                await self.pacer.acquire()
                if self.pacer.pauses != pauses:  # a 429 arrived meanwhile: wait for its end, in row order
                    _requeue(queue, row)
                    continue
                self.spacing.mark(row.user_id)
                task = asyncio.create_task(self._deliver(row, rendered, attempts, queue))
                in_flight.add(task)
        finally:
            for task in in_flight:
                task.cancel()
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)
        return len(rows)

    def _pick(self, queue: deque[OutboxRow]) -> tuple[OutboxRow | None, float]:
        """The first row whose chat may receive a message now; else how long until one may."""
        soonest = float("inf")
        for i, row in enumerate(queue):
            wait = self.spacing.wait_for(row.user_id)
            if wait <= 0:
                del queue[i]
                return row, 0.0
            soonest = min(soonest, wait)
        return None, soonest

    async def _prepare(self, row: OutboxRow, who: Recipient | None) -> Rendered | None:
        """Render the row, or settle it without sending (expired, blocked, dropped by its renderer)."""
        now = self.clock.now()
        outcome: Rendered | Drop
        if row.expires_at is not None and now >= row.expires_at:
            outcome = Drop("expired")
        elif row.user_id in self._blocked or (who is not None and who.blocked):
            outcome = Drop("blocked the bot")
        elif (renderer := self.renderers.get(row.kind)) is None:
            outcome = Drop(f"no renderer for {row.kind!r}")
        else:
            try:
                outcome = await renderer(RenderContext(self.event, self.i18n, now, self.sessions), row, who)
            except Exception as exc:
                log.exception("rendering outbox row %s (%s) failed", row.id, row.key)
                error = f"render: {exc!r}"
                await self._settle(lambda o: o.mark_failed(row, now, error, row.attempts))
                self.stats.failed += 1
                return None
        if isinstance(outcome, Drop):
            await self._settle(lambda o: o.mark_dropped(row, now, outcome.reason))
            self.stats.dropped += 1
            return None
        return outcome

    async def _deliver(self, row: OutboxRow, rendered: Rendered, attempts: dict[int, int],
                       queue: deque[OutboxRow]) -> None:
        attempts[row.id] += 1
        tries = attempts[row.id]
        try:
            message = await self.bot.send_message(chat_id=row.user_id, text=rendered.text,
                                                  reply_markup=to_markup(rendered),
                                                  request_timeout=int(self.request_timeout) or 1)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._failed(row, classify(exc), tries, queue)
            return
        now = self.clock.now()
        await self._settle(lambda o: o.mark_sent(row, now, message.message_id, tries))
        self.stats.sent += 1

    async def _failed(self, row: OutboxRow, verdict: Verdict, tries: int, queue: deque[OutboxRow]) -> None:
        now = self.clock.now()
        if verdict.action == "retry_after":
            # Exactly retry_after for every send (the flood limit is the bot's), then this row again first.
            self.pacer.pause(verdict.retry_after)
            _requeue(queue, row)
            self.stats.rate_limited += 1
            log.warning("429 from Telegram: pausing all sends for %s s", verdict.retry_after)
            await self._settle(lambda o: o.note_attempt(row, now, verdict.error, tries))
            return
        if verdict.action == "retry":
            delay = self.backoff.delay(tries)
            if delay is not None:
                next_at = now + timedelta(seconds=delay * self.clock.speed)
                await self._settle(lambda o: o.retry_later(row, now, next_at, verdict.error, tries))
                self.stats.retried += 1
                self.wake()
                return
            await self._settle(lambda o: o.mark_failed(row, now, f"gave up after {tries} tries: {verdict.error}",
                                                       tries))
            self.stats.failed += 1
            return
        if verdict.action == "blocked":
            self._blocked.add(row.user_id)
            async with self.sessions() as s:
                await Delegates(s).mark_blocked(row.user_id, now)
                await Outbox(s).mark_failed(row, now, verdict.error, tries)
                await Outbox(s).drop_pending_for(row.user_id, now, "blocked the bot")
                await s.commit()
            self.stats.blocked += 1
            return
        log.warning("outbox row %s (%s) refused: %s", row.id, row.key, verdict.error)
        await self._settle(lambda o: o.mark_failed(row, now, verdict.error, tries))
        self.stats.failed += 1

    async def _settle(self, change: _Change) -> None:
        async with self.sessions() as s:
            await change(Outbox(s))
            await s.commit()

    async def _release(self, rows: Iterable[OutboxRow]) -> None:
        rows = list(rows)
        if rows:
            async with self.sessions() as s:
                await Outbox(s).release(rows, self.clock.now())
                await s.commit()


if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    _Change = Callable[[Outbox], Awaitable[object]]
