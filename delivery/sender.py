"""The sender: drains due outbox rows into Telegram through the one rate limiter, and records each outcome.

Policy first, in plain pieces that tests drive with a virtual timer:
- the limiter (`delivery.limiter.Limiter`): SEND_RATE overall, rows served by priority, per-chat spacing
  (one a second to a person, 20 a minute to a group), a 429's retry_after honoured exactly (for the chat,
  or for every chat when 429s show the limit met is the bot's);
- `classify`: what an error means. 429: wait retry_after and send the same row again. Timeouts, network
  errors and 5xx: retry later with backoff capped at about a minute (`infra.backoff.SENDER`), for as long as the message
  is worth sending: until its expires_at, or, without one, until it is sent or its topic is cancelled.
  403: the person blocked the bot: the row is `blocked`, the person marked, nothing more is sent to them.
  400 and other refusals: record and do not retry.

The `Sender` claims due rows by priority (a lease, so rows of a sender that died are claimed again): the
time-bound ones in batches of about two seconds of sending, bulk ones about one second at a time, so a
reminder that falls due during a broadcast is claimed ahead of the rest of the broadcast within a second.
Each row is rendered at send time into a payload (text, photo, document, poll, edit), sent, and its outcome
committed at once: a row is marked sent in the moment after Telegram accepted it. Before each request the row
is marked "request started" (`Outbox.start_attempt`, its own commit): a kill -9 between the start and the
"sent" commit is the one window in which a message can go out twice, so a kill doubles at most the requests
in flight at that instant (`max_in_flight`); rows claimed but not started are sent again at once and cannot
be duplicates. A request whose outcome is unknown (a timeout, a connection lost mid-request, a kill) is not
sent again until `request_timeout + UNKNOWN_MARGIN` have passed, so a first attempt that still lands is not
doubled by a hasty retry.

A claimed row is held by one claim of one process at a time (issue 17 item 1): a claim never returns a row
this sender still holds, and a row that cannot get its turn at the limiter before its lease ends (replies
taking the rate, a long pause) is handed back untried (`release`), due again at once, instead of being
claimed again behind the sender's back. Time-bound rows get their share of the rate from the limiter.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

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
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from delivery.limiter import GROUP_INTERVAL, PACED, PRIVATE_INTERVAL, Limiter, Timer, is_group
from delivery.rendering import RenderContext, Renderers
from domain.clock import Clock
from domain.messages import (
    Buttons,
    Document,
    Drop,
    Edit,
    FileRef,
    OutboxRow,
    Payload,
    Photo,
    Poll,
    Priority,
    Recipient,
    Rendered,
    Sent,
)
from infra.backoff import SENDER, Backoff
from infra.logsafe import Redactor
from storage.outbox import Outbox
from storage.repo import Delegates, Guests
from storage.uow import UnitOfWorkFactory

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.utils.i18n import I18n

    from domain.event import Event

__all__ = ["Sender", "SenderStats", "Timer", "Verdict", "classify", "to_markup"]

log = logging.getLogger(__name__)
# Seconds added to the request timeout before a request whose outcome is unknown is made again.
UNKNOWN_MARGIN = 5.0
# A claimed row must have its turn at the limiter this long before its lease ends, or it is handed back.
LEASE_MARGIN = 10.0
# A person in a conversation (a reply to them within CONVERSATION seconds) is sent an outbox message best right
# after a reply to them (within the chat's second plus WELCOME seconds): the second passes while they read it.
# At another moment their next message may come within that second and its reply wait for it (bench/mixed.py:
# 30-38 of 400 replies held up to a second under a fan-out). Such a row lets other rows of its claim go
# first, for at most DEFER seconds; a reply waiting in line for the same person goes before it. Only time-bound
# and bulk rows (reminders, broadcasts): an interactive one (a quiz question, a progress edit) is awaited now.
CONVERSATION = 15.0
WELCOME = 1.5
DEFER = 5.0
NOT_MODIFIED = "message is not modified"


# -- policy ----------------------------------------------------------------------------------------------------

Action = Literal["retry_after", "retry", "blocked", "rejected"]


@dataclass(frozen=True)
class Verdict:
    action: Action
    error: str
    retry_after: float = 0.0
    # The request may have reached Telegram (a timeout, a connection lost mid-request): it may still land.
    unknown: bool = False


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
        case TelegramServerError() | ConnectionRefusedError():
            # Telegram answered, or the request never left: not delivered.
            return Verdict("retry", text)
        case TelegramNetworkError() if exc.message.startswith("ClientConnector"):
            return Verdict("retry", text)  # no connection was made (refused, DNS): not delivered
        case TelegramNetworkError() | asyncio.TimeoutError() | OSError():
            return Verdict("retry", text, unknown=True)
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


def to_markup(buttons: Buttons | Rendered) -> InlineKeyboardMarkup | None:
    rows = buttons.buttons if isinstance(buttons, Rendered) else buttons
    if not rows:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=b.text, callback_data=b.callback_data, url=b.url) for b in row]
        for row in rows
    ])


def _input_file(file: FileRef) -> BufferedInputFile | str:
    if file.data is not None:
        return BufferedInputFile(file.data, filename=file.filename)
    return str(file.file_id or file.url)


# -- the sender ----------------------------------------------------------------------------------------------

@dataclass
class SenderStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0
    blocked: int = 0
    rate_limited: int = 0
    postponed: int = 0


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
        limiter: Limiter | None = None,
        rate: float = 25.0,
        chat_interval: float = PRIVATE_INTERVAL,
        group_interval: float = GROUP_INTERVAL,
        max_in_flight: int = 8,
        batch: int | None = None,
        bulk_batch: int | None = None,
        lease: float = 120.0,
        request_timeout: float = 15.0,
        poll_interval: float = 2.0,
        max_chat_wait: float = 1.5,
        backoff: Backoff | None = None,
        timer: Timer | None = None,
    ) -> None:
        self.bot = bot
        self.sessions = sessions
        self.uows = UnitOfWorkFactory(sessions)
        self.clock = clock
        self.event = event
        self.i18n = i18n
        self.renderers = renderers
        self.timer = timer or (limiter.timer if limiter else Timer())
        self.limiter = limiter or Limiter(rate, timer=self.timer, private_interval=chat_interval,
                                          group_interval=group_interval)
        self.backoff = backoff or SENDER
        self.max_in_flight = max_in_flight
        rate = self.limiter.rate
        # About two seconds of sending per claim of time-bound rows, one second of bulk rows: a row that
        # falls due meanwhile is claimed, ahead of the bulk, within a second or two.
        self.batch = batch or max(1, min(500, int(rate * 2)))
        self.bulk_batch = bulk_batch or max(1, min(self.batch, int(rate)))
        self.lease = timedelta(seconds=lease)
        self.request_timeout = request_timeout
        # How long a request whose outcome is unknown may still land: not sent again before that.
        self.unknown_wait = request_timeout + UNKNOWN_MARGIN
        self.poll_interval = poll_interval
        # A row whose chat must wait longer than this (a busy group) goes back to the outbox until then,
        # instead of holding up the rows behind it.
        self.max_chat_wait = max_chat_wait
        self.stats = SenderStats()
        self._wake = asyncio.Event()
        self._blocked: set[int] = set()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        # Claims, outcomes and marks under way in the database right now (tests' virtual timers wait for them
        # before moving on: time must not jump while a thread does the database's work).
        self.writing = 0
        # Ids of the rows this sender holds (claimed, not yet settled or released): never claimed twice.
        self._held: set[int] = set()
        # When a held row was first put off because its person is in a conversation (`_pick`), on the timer;
        # whether the last pick found only such rows; when to claim more for them again (`_claim_more`).
        self._deferred: dict[int, float] = {}
        self._put_off = False
        self._claim_again_at = 0.0
        # When each held row's claim was made, on the timer (the lease ends `lease` later).
        self._claimed_mono: dict[int, float] = {}
        # The next claim, made while the last rows of the current one are sent.
        self._next: asyncio.Task[tuple[list[OutboxRow], dict[int, Recipient]]] | None = None
        self.prefetch_at = 2

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
        try:
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
            await self._wind_down()
        finally:
            for task in (*self._in_flight, *([self._next] if self._next else [])):
                task.cancel()

    async def settled(self) -> None:
        """Wait until the sends in flight have finished and recorded their outcome."""
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)


    async def _wind_down(self) -> None:
        """Give back rows claimed ahead, let the sends in flight finish."""
        if self._next is not None:
            task, self._next = self._next, None
            rows, _ = await task
            await self._release(rows)
        await self.settled()

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

    async def claim(self) -> tuple[list[OutboxRow], dict[int, Recipient]]:
        """Claim due rows, higher priorities first; bulk rows only a second's worth at a time."""
        now, wall = self.clock.now(), self.clock.wall_now()
        mono = self.timer.monotonic()
        held = frozenset(self._held)
        self.writing += 1
        try:
            async with self.sessions() as s:
                outbox = Outbox(s)
                rows = await outbox.claim(now, wall, self.lease, self.batch, priorities=(0, Priority.BULK - 1),
                                          exclude=held)
                if len(rows) < self.batch:
                    rows += await outbox.claim(now, wall, self.lease,
                                               min(self.bulk_batch, self.batch - len(rows)),
                                               priorities=(Priority.BULK, 1_000), exclude=held)
                who = await outbox.recipients(r.user_id for r in rows) if rows else {}
                await s.commit()
        finally:
            self.writing -= 1
        for r in rows:
            self._held.add(r.id)
            self._claimed_mono[r.id] = mono
        return rows, who

    def _let_go(self, row: OutboxRow) -> None:
        self._held.discard(row.id)
        self._claimed_mono.pop(row.id, None)
        self._deferred.pop(row.id, None)

    def _turn_deadline(self, row: OutboxRow) -> float | None:
        """On the timer: the latest instant the row's request may start within its lease."""
        claimed = self._claimed_mono.get(row.id)
        if claimed is None:
            return None
        return claimed + self.lease.total_seconds() - min(LEASE_MARGIN, self.lease.total_seconds() / 4)

    async def drain_once(self) -> int:
        """Send one claim of due rows; settle each of them (sent, retried later, failed, blocked or dropped).

        The next claim is made while the last rows of this one are being sent, so the sending does not stop
        between claims; sends still in flight finish in the background. Returns how many rows were claimed;
        0 (nothing due) only once every send has finished.
        """
        if self._next is not None:
            task, self._next = self._next, None
            rows, who = await task
        else:
            rows, who = await self.claim()
        if not rows:
            if self._in_flight:
                await asyncio.gather(*self._in_flight, return_exceptions=True)
            return 0
        queue: deque[OutboxRow] = deque(rows)
        while queue:
            if self._stopping or self.limiter.paused_for() > self.lease.total_seconds() / 2:
                await self._release(list(queue))
                queue.clear()
                break
            if (len(queue) <= self.prefetch_at and self._next is None
                    and self.timer.monotonic() >= self._claim_again_at):
                self._next = asyncio.create_task(self.claim())
            if len(self._in_flight) >= self.max_in_flight:
                await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
                continue
            row = await self._pick(queue)
            if row is None:
                if self._put_off:
                    await self._claim_more(queue, who)
                continue
            payload = await self._prepare(row, who.get(row.user_id) if row.user_id is not None else None)
            if payload is None:
                continue
            if not await self.limiter.acquire(row.priority, row.chat_id, order=_order(row),
                                              deadline=self._turn_deadline(row)):
                # No turn before the lease ends: hand it back (and the rest of this claim, later still)
                # rather than hold rows another claim would take again.
                log.warning("outbox: %d claimed rows had no turn within their lease; handed back",
                            len(queue) + 1)
                await self._release([row, *queue])
                queue.clear()
                break
            await self._start_attempt(row, row.attempts + 1)
            sending = asyncio.create_task(self._deliver(row, payload))
            self._in_flight.add(sending)
            sending.add_done_callback(self._in_flight.discard)
        return len(rows)

    async def _claim_more(self, queue: deque[OutboxRow], who: dict[int, Recipient]) -> None:
        """Only rows put off for people in a conversation are left in this claim: the next claim's rows join it
        (in priority order), so the rest of a fan-out goes on meanwhile; with none due, look again shortly."""
        if self._next is None and self.timer.monotonic() >= self._claim_again_at and len(queue) < 4 * self.batch:
            self._next = asyncio.create_task(self.claim())
        if self._next is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._next), 0.1)
            if self._next.done():
                task, self._next = self._next, None
                rows, more = task.result()
                if rows:
                    queue.extend(rows)
                    ordered = sorted(queue, key=lambda r: (r.priority, _order(r)))
                    queue.clear()
                    queue.extend(ordered)
                    who.update(more)
                    return
                self._claim_again_at = self.timer.monotonic() + 1.0  # nothing more due: not every 0.1 s
        await self.timer.sleep(0.1)

    def _welcome(self, row: OutboxRow, at: float, replying: set[int]) -> bool:
        """Whether a message to the row's chat at `at` (on the timer) is not likely to hold up a reply: the person
        is not in a conversation with the bot, or a reply to them has just gone (see CONVERSATION)."""
        chat = row.chat_id
        if is_group(chat) or row.priority < Priority.TIMELY:  # a quiz question or a progress edit: awaited now
            return True
        if chat in replying:
            return False
        replied = self.limiter.replied_at(chat)
        if replied is None:
            return True
        since = at - replied
        return since >= CONVERSATION or since <= self.limiter.private_interval + WELCOME

    async def _pick(self, queue: deque[OutboxRow]) -> OutboxRow | None:
        """The first row (priority order) whose chat may receive a message now, else the first whose chat is
        ready soon; rows whose chat must wait long (a busy group) go back to the outbox until then. A row to a
        person in a conversation waits for the moment after a reply to them (`_welcome`), at most DEFER
        seconds, while the others go first."""
        soon: int | None = None
        put_off = False
        mono = self.timer.monotonic()
        replying = self.limiter.replies_waiting()
        for i, row in enumerate(queue):
            wait = self.limiter.chat_wait(row.chat_id)
            if wait <= self.max_chat_wait and not self._welcome(row, mono + max(0.0, wait), replying):
                since = self._deferred.setdefault(row.id, mono)
                if mono - since < DEFER:
                    put_off = True
                    continue
            if wait <= 0:
                del queue[i]
                return row
            if wait <= self.max_chat_wait and soon is None:
                soon = i
        if soon is not None:
            row = queue[soon]
            del queue[soon]
            return row
        self._put_off = put_off
        if put_off:  # only rows to people in a conversation are left: the next rows go meanwhile
            return None
        row = queue.popleft()
        now = self.clock.now()
        later = now + timedelta(seconds=self.limiter.chat_wait(row.chat_id) * self.clock.speed)
        await self._settle(lambda o: o.postpone(row, now, later))
        self._let_go(row)
        self.stats.postponed += 1
        return None

    def _context(self, now: datetime) -> RenderContext:
        return RenderContext(self.event, self.i18n, now, self.sessions, self.uows)

    async def _prepare(self, row: OutboxRow, who: Recipient | None) -> Payload | None:
        """Render the row, or settle it without sending (expired, blocked, dropped by its renderer)."""
        payload = await self._render(row, who)
        if payload is None:
            self._let_go(row)
        return payload

    async def _render(self, row: OutboxRow, who: Recipient | None) -> Payload | None:
        now = self.clock.now()
        outcome: Payload | Drop
        if row.chat_id in self._blocked or (who is not None and who.blocked and row.chat_id == who.user_id):
            await self._settle(lambda o: o.mark_blocked(row, now, "blocked the bot", row.attempts))
            self.stats.blocked += 1
            return None
        if row.expires_at is not None and now >= row.expires_at:
            outcome = Drop("expired" if not row.attempts else f"expired after {row.attempts} tries")
        elif (renderer := self.renderers.get(row.kind)) is None:
            outcome = Drop(f"no renderer for {row.kind!r}")
        else:
            try:
                outcome = await renderer(self._context(now), row, who)
            except Exception as exc:
                log.exception("rendering outbox row %s (%s) failed", row.id, row.key)
                error = f"render: {exc!r}"
                await self._settle(lambda o: o.mark_failed(row, now, error, row.attempts))
                self.stats.failed += 1
                return None
        if isinstance(outcome, Drop):
            reason = outcome.reason
            await self._settle(lambda o: o.mark_dropped(row, now, reason))
            self.stats.dropped += 1
            return None
        return outcome

    async def send(self, chat_id: int, payload: Payload) -> int | None:
        """One Bot API call for a payload; returns the message id Telegram gave (the edited one for an edit)."""
        return (await self._send(chat_id, payload)).message_id

    async def _send(self, chat_id: int, payload: Payload) -> Sent:
        timeout = int(self.request_timeout) or 1
        result: Any
        match payload:
            case Rendered():
                result = await self.bot.send_message(chat_id=chat_id, text=payload.text,
                                                     reply_markup=to_markup(payload.buttons),
                                                     request_timeout=timeout)
            case Photo():
                result = await self.bot.send_photo(chat_id=chat_id, photo=_input_file(payload.file),
                                                   caption=payload.caption or None,
                                                   reply_markup=to_markup(payload.buttons), request_timeout=timeout)
            case Document():
                result = await self.bot.send_document(chat_id=chat_id, document=_input_file(payload.file),
                                                      caption=payload.caption or None,
                                                      reply_markup=to_markup(payload.buttons),
                                                      request_timeout=timeout)
            case Poll():
                result = await self.bot.send_poll(
                    chat_id=chat_id, question=payload.question, options=list(payload.options),
                    type="quiz" if payload.is_quiz else "regular", is_anonymous=payload.is_anonymous,
                    correct_option_id=payload.correct_option, explanation=payload.explanation,
                    open_period=payload.open_period,
                    allows_multiple_answers=payload.allows_multiple_answers if not payload.is_quiz else None,
                    request_timeout=timeout)
            case Edit():
                try:
                    await self.bot.edit_message_text(chat_id=chat_id, message_id=payload.message_id,
                                                     text=payload.text, reply_markup=to_markup(payload.buttons),
                                                     request_timeout=timeout)
                except TelegramBadRequest as exc:
                    if NOT_MODIFIED not in exc.message:
                        raise
                return Sent(payload.message_id)
            case _:
                raise TypeError(f"not a payload the sender knows: {payload!r}")
        if not isinstance(result, Message):
            return Sent(None)
        file_id = result.photo[-1].file_id if result.photo else (
            result.document.file_id if result.document is not None else None)
        return Sent(result.message_id, result.poll.id if result.poll is not None else None, file_id)

    async def _deliver(self, row: OutboxRow, payload: Payload) -> None:
        """Send one claimed row until it is settled (429s retried in place); the row is let go after."""
        try:
            await self._deliver_held(row, payload)
        finally:
            self._let_go(row)

    async def _deliver_held(self, row: OutboxRow, payload: Payload) -> None:
        PACED.set(True)  # this task's own context: the request middleware does not pace it again
        tries = row.attempts  # this claim's count; the row's own is settled with the outcome
        while True:
            tries += 1
            try:
                sent = await self._send(row.chat_id, payload)
                self.limiter.landed(row.chat_id, outbox=True)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                verdict = classify(exc)
                if verdict.action != "retry_after":
                    await self._failed(row, verdict, tries)
                    return
                # Exactly retry_after for this chat (for every chat when the limit met is the bot's), then
                # this row again, in its place among the waiting ones.
                now = self.clock.now()
                self.limiter.refused(verdict.retry_after, row.chat_id)
                self.stats.rate_limited += 1
                log.warning("429 from Telegram for chat %s: waiting %s s", row.chat_id, verdict.retry_after)
                if self._stopping or self.limiter.paused_for() > self.lease.total_seconds() / 2:
                    await self._settle(functools.partial(Outbox.retry_later, row=row, now=now, next_at=now,
                                                         error="429: paused for long", attempts=tries))
                    return
                # Its place in the line at once, ahead of the rows that fell due after it (the try is counted
                # when the row is settled).
                if not await self.limiter.acquire(row.priority, row.chat_id, order=_order(row),
                                                  deadline=self._turn_deadline(row)):
                    now = self.clock.now()
                    await self._settle(functools.partial(Outbox.retry_later, row=row, now=now, next_at=now,
                                                         error="429: no turn within the lease", attempts=tries))
                    return
                await self._start_attempt(row, tries + 1)
                continue
            now = self.clock.now()
            sent_id = sent.message_id
            await self._settle(functools.partial(Outbox.mark_sent, row=row, now=now, message_id=sent_id,
                                                 attempts=tries))
            self.stats.sent += 1
            if (after := self.renderers.after_sent(row.kind)) is not None:
                try:
                    await after(self._context(now), row, sent)
                except Exception:
                    log.exception("after sending outbox row %s (%s)", row.id, row.key)
            return

    async def _start_attempt(self, row: OutboxRow, tries: int) -> None:
        """Committed right before the request (after the row's turn at the limiter): a kill from here on leaves
        the row "outcome unknown", not sent again before `unknown_wait` has passed (a row claimed but not
        started is sent again at once)."""
        started = self.clock.now()
        unknown_until = started + timedelta(seconds=self.unknown_wait * self.clock.speed)
        await self._settle(lambda o: o.start_attempt(row, started, unknown_until, tries))

    async def _failed(self, row: OutboxRow, verdict: Verdict, tries: int) -> None:
        now = self.clock.now()
        if verdict.action == "retry":
            delay = self.backoff.delay(tries)
            if verdict.unknown:
                delay = max(delay, self.unknown_wait)  # the first attempt may still land meanwhile
            next_at = now + timedelta(seconds=delay * self.clock.speed)
            if row.expires_at is not None and next_at >= row.expires_at:
                reason = f"expired after {tries} tries: {verdict.error}"
                await self._settle(lambda o: o.mark_dropped(row, now, reason))
                self.stats.dropped += 1
                return
            await self._settle(lambda o: o.retry_later(row, now, next_at, verdict.error, tries))
            self.stats.retried += 1
            self.wake()
            return
        if verdict.action == "blocked":
            self._blocked.add(row.chat_id)
            async with self.sessions() as s:
                if row.user_id is not None and row.user_id == row.chat_id and not is_group(row.chat_id):
                    await Delegates(s).mark_blocked(row.user_id, now)
                    await Guests(s).mark_blocked(row.user_id, now)
                await Outbox(s).mark_blocked(row, now, verdict.error, tries)
                await Outbox(s).block_pending_for(row.chat_id, now, "blocked the bot")
                await s.commit()
            self.stats.blocked += 1
            return
        log.warning("outbox row %s (%s) refused: %s", row.id, row.key, verdict.error)
        await self._settle(lambda o: o.mark_failed(row, now, verdict.error, tries))
        self.stats.failed += 1

    async def _settle(self, change: _Change) -> None:
        self.writing += 1
        try:
            async with self.sessions() as s:
                await change(Outbox(s))
                await s.commit()
        finally:
            self.writing -= 1

    async def _release(self, rows: Iterable[OutboxRow]) -> None:
        rows = list(rows)
        if rows:
            await self._settle(lambda o: o.release(rows, self.clock.now()))
            for row in rows:
                self._let_go(row)


def _order(row: OutboxRow) -> tuple[float, int]:
    """Within a priority, rows go in the order they fell due."""
    return (row.next_at.timestamp(), row.id)


if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    _Change = Callable[[Outbox], Awaitable[object]]
