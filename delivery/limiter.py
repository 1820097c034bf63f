"""One rate limiter for everything the bot sends: direct replies and the outbox alike.

- A token bucket at SEND_RATE messages a second (Telegram allows about 30 in bulk), holding at most `burst`
  tokens, so idle time never turns into a second's worth of messages at once. With REDIS_URL the bucket is
  a Redis key updated by a Lua script (with Redis's own clock), shared by every process of the bot.
- Waiters are served by priority (domain.messages.Priority: replies, then interactive, then time-bound,
  then bulk), so a reply never queues behind a broadcast; equal priorities in the order given. Time-bound
  waiters (reminders, meeting notices) are never starved by replies and quiz edits: while one waits, at
  least `timely_share` of the slots (a quarter by default) go to them (issue 17 item 1: under 15 updates a
  second of chatter, reminders went out 22 minutes late).
- A waiter may carry a deadline: when it passes before a slot is granted, the waiter gets False and gives
  up its place (the sender then hands the row back instead of holding it past its lease).
- Per-chat spacing: about one message a second to a private chat, 20 a minute to a group (Telegram's
  limits). Replies wait for it only in groups, or after an outbox message to that chat: in a private chat
  the person is waiting for the answer and a handler's two messages in a row are allowed; the outbox keeps
  its distance from replies, and a reply its distance from a reminder or broadcast that just went to the
  same person (else Telegram's 429 for that chat, and a second one elsewhere, pause every send for a
  second: under a broadcast the chatter's replies took a second more). Whether a waiter must keep its
  chat's second is decided when its slot comes, not when it joined the line (a reminder may go to the
  person while their reply waits behind others), and the second counts from when the last send to the
  chat finished as well as from its grant (`landed`: a request reaches Telegram a little after its grant).
- A 429 carries retry_after: nothing more goes to that chat for exactly that long. Telegram does not say
  whether the limit met was the chat's or the bot's: a second 429 for another chat within that time means
  the bot's, and then every send pauses for retry_after (in every process, with Redis). Pausing everything
  on a chat's 429 would silence every conversation for a second each time one person's chat is busy.

The outbox sender acquires with each row's priority and marks the call as paced (`PACED`), so the Bot
request middleware (`LimiterMiddleware`, which paces direct replies) does not count it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

from domain.messages import Priority

if TYPE_CHECKING:
    from aiogram import Bot

    from domain.clock import Clock

log = logging.getLogger(__name__)

PRIVATE_INTERVAL = 1.0      # about one message a second to one person
GROUP_INTERVAL = 60.0 / 20  # 20 a minute to one group
# The least share of the slots time-bound messages get while they wait, whatever the reply load.
TIMELY_SHARE = 0.25
# Methods that put something into a chat: they pass the limiter. Not answerCallbackQuery, getMe, getUpdates,
# setMyCommands and the like: Telegram does not count them against the sending limits.
SENDING_METHODS = frozenset({
    "sendMessage", "sendPhoto", "sendDocument", "sendPoll", "sendAudio", "sendVideo", "sendAnimation",
    "sendVoice", "sendVideoNote", "sendMediaGroup", "sendLocation", "sendVenue", "sendContact", "sendDice",
    "sendSticker", "copyMessage", "copyMessages", "forwardMessage", "forwardMessages", "editMessageText",
    "editMessageCaption", "editMessageMedia", "editMessageReplyMarkup", "stopPoll",
})
# Set while the outbox sender makes a call it has already paced.
PACED: ContextVar[bool] = ContextVar("delivery_paced", default=False)
# time.monotonic() when the limiter last let a reply of this task go out: a handler that must know when its
# message was actually sent (the quiz starts a question's time then, not when it was queued) reads it after
# the call (`granted_at`).
GRANTED: ContextVar[float | None] = ContextVar("delivery_granted", default=None)
# Set by what handles an update in one of a bounded number of slots (bot.intake): called when a reply must
# wait for its turn, so that the wait does not hold the slot. With 64 slots and replies queued 40 s deep at
# 25/s, the poller stopped taking updates, and quiz presses were stamped a minute after they were made
# (issue 17 item 3: 0 of 1,959 answers in time at 1,000 players).
ON_WAIT: ContextVar[Callable[[], Awaitable[None]] | None] = ContextVar("delivery_on_wait", default=None)
# Set by `ReplyTurn`: the next sending call of this task already had its turn at the limiter.
TURN_TAKEN: ContextVar[bool] = ContextVar("delivery_turn_taken", default=False)


class SentClock:
    """`sent_at()`, called right after a reply: when it went out, on the bot's clock: the instant the limiter
    let it go (its wait in the limiter is not the reader's time), else now (no limiter)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def __call__(self) -> datetime:
        now = self.clock.now()
        granted = GRANTED.get()
        if granted is None:
            return now
        return now - timedelta(seconds=max(0.0, time.monotonic() - granted) * self.clock.speed)


class ReplyTurn:
    """`async with reply_turn(bot, chat_id) as at:` wait for a reply's turn at the send limiter first, then make
    the reply inside: `at` (on the bot's clock) is when it goes out, so the reply can say it (a quiz question
    says until what time it may be answered, in the reader's zone). The next sending call of the block uses
    that turn; a 429 on it is retried as any reply's. Without a limiter (the in-process API) `at` is now."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    @contextlib.asynccontextmanager
    async def __call__(self, bot: Bot, chat_id: int | None) -> AsyncIterator[datetime]:
        limiter = limiter_of(bot)
        if limiter is None or PACED.get():
            yield self.clock.now()
            return
        await _wait_turn(limiter, chat_id, space_chat=False)
        GRANTED.set(time.monotonic())
        token = TURN_TAKEN.set(True)
        try:
            yield self.clock.now()
        finally:
            TURN_TAKEN.reset(token)


async def _wait_turn(limiter: Limiter, chat_id: int | None, *, space_chat: bool) -> None:
    """A reply's turn; a handler that must wait for it gives its update slot back meanwhile (ON_WAIT)."""
    ticket = limiter.queue(Priority.REPLY, chat_id, space_chat=space_chat)
    if not ticket.waiter.future.done():
        await asyncio.sleep(0)  # a free slot is granted at once: no waiting, nothing to give back
        if not ticket.waiter.future.done() and (give_back := ON_WAIT.get()) is not None:
            await give_back()
    await limiter.wait(ticket)


class Timer:
    """Real time; tests pass a virtual one."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def sleep_unless(self, event: asyncio.Event, seconds: float) -> None:
        """Sleep, but wake early when `event` is set."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)


def is_group(chat_id: int) -> bool:
    return chat_id < 0


# -- the bucket ------------------------------------------------------------------------------------------------

class Bucket(Protocol):
    async def reserve(self) -> float:
        """Take the next send slot; returns the seconds to wait for it (0: now)."""
        ...

    async def pause(self, seconds: float) -> None:
        """No slot starts in the next `seconds`."""
        ...

    async def close(self) -> None: ...


class LocalBucket:
    """The bucket in this process: slots 1/rate apart, at most `burst` at once after idle time."""

    def __init__(self, rate: float, timer: Timer, burst: float = 2.0) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self.burst = burst
        self.timer = timer
        self._next: float | None = None
        self._pause_until = 0.0

    async def reserve(self) -> float:
        now = self.timer.monotonic()
        earliest = now - (self.burst - 1) * self.interval
        slot = max(self._next if self._next is not None else now, earliest, self._pause_until)
        self._next = slot + self.interval
        return max(0.0, slot - now)

    async def pause(self, seconds: float) -> None:
        self.pause_now(seconds)

    def pause_now(self, seconds: float) -> None:
        self._pause_until = max(self._pause_until, self.timer.monotonic() + seconds)

    async def close(self) -> None:
        return None


_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
local slot = math.max(tat, now - (burst - 1) * interval, paused)
redis.call('SET', KEYS[1], string.format('%.6f', slot + interval), 'EX', 3600)
return string.format('%.6f', slot - now)
"""

_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local till = now + tonumber(ARGV[1])
local paused = tonumber(redis.call('GET', KEYS[1]) or '0')
if till > paused then
  redis.call('SET', KEYS[1], string.format('%.6f', till), 'EX', 3600)
  paused = till
end
return string.format('%.6f', paused - now)
"""


class RedisBucket:
    """The bucket shared by every process: a slot time and a pause time in Redis, moved by Lua scripts.

    Redis's clock decides (TIME inside the script), so processes on machines whose clocks differ agree.
    """

    def __init__(self, url: str, rate: float, *, burst: float = 2.0, key: str = "delegate-bot:limiter") -> None:
        from redis.asyncio import Redis

        if rate <= 0:
            raise ValueError("rate must be positive")
        self.redis: Any = Redis.from_url(url)
        self.interval = 1.0 / rate
        self.burst = burst
        self.keys = (f"{key}:slot", f"{key}:pause")
        self._reserve = self.redis.register_script(_RESERVE)
        self._pause = self.redis.register_script(_PAUSE)

    async def reserve(self) -> float:
        wait = await self._reserve(keys=list(self.keys), args=[repr(self.interval), repr(self.burst)])
        return max(0.0, float(wait))

    async def pause(self, seconds: float) -> None:
        await self._pause(keys=[self.keys[1]], args=[repr(float(seconds))])

    async def close(self) -> None:
        await self.redis.aclose()


# -- the limiter -------------------------------------------------------------------------------------------------

@dataclass(order=True)
class _Waiter:
    priority: int
    order: tuple[float, int]
    seq: int
    chat_id: int | None = field(compare=False)
    future: asyncio.Future[bool] = field(compare=False)
    # On the limiter's timer: past it, the waiter is answered False instead of waiting on.
    deadline: float | None = field(default=None, compare=False)
    # Always keeps its chat's spacing (the outbox, a retry); else only in groups and after an outbox message
    # to the chat, as things stand when its slot comes (not when it joined the line).
    space_chat: bool = field(default=True, compare=False)


@dataclass(frozen=True)
class Ticket:
    waiter: _Waiter
    chat_id: int | None


@dataclass
class LimiterStats:
    granted: dict[int, int] = field(default_factory=dict)
    pauses: int = 0
    chat_pauses: int = 0
    retried_replies: int = 0
    # Slots given to a time-bound waiter ahead of a higher priority (its guaranteed share).
    floor_grants: int = 0
    expired: int = 0


class Limiter:
    """Acquire before every send: `await limiter.acquire(Priority.TIMELY, chat_id)`."""

    def __init__(self, rate: float, *, timer: Timer | None = None, burst: float = 2.0,
                 private_interval: float = PRIVATE_INTERVAL, group_interval: float = GROUP_INTERVAL,
                 bucket: Bucket | None = None, timely_share: float = TIMELY_SHARE) -> None:
        if not 0 <= timely_share <= 1:
            raise ValueError("timely_share is a fraction of the slots")
        self.rate = rate
        self.timely_share = timely_share
        # Grows by timely_share for each slot a higher priority took while a time-bound waiter was ready;
        # at 1 the next slot is the time-bound one's. Never banked while no time-bound waiter waits.
        self._timely_credit = 0.0
        self.timer = timer or Timer()
        self.bucket: Bucket = bucket or LocalBucket(rate, self.timer, burst)
        self.private_interval = private_interval
        self.group_interval = group_interval
        self.stats = LimiterStats()
        # A heap; a waiter answered (granted, expired, cancelled) stays in it until it reaches the top or the
        # next full pass (`_prune`). Time-bound waiters and those with a deadline are also listed apart, so
        # that the common grant (the best waiter's chat is ready, no time-bound one waits, no deadline) looks
        # at the top only: with hundreds of replies waiting, each grant walked every waiter several times
        # (a fifth of a known person's update in bench.http, issue 18).
        self._waiters: list[_Waiter] = []
        self._timely: list[_Waiter] = []
        self._deadlined: list[_Waiter] = []
        self._seq = itertools.count()
        self._last: dict[int, float] = {}
        # Chats the outbox (not a reply) sent to last: a reply there keeps the chat's spacing.
        self._outbox_last: set[int] = set()
        # When the last reply to each private chat was granted: the sender times outbox messages to a person
        # in a conversation by it (`Sender._pick`).
        self._replied: dict[int, float] = {}
        self._pause_until = 0.0
        self._pauses = 0
        self._chat_pause: dict[int, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()

    @classmethod
    def from_settings(cls, settings: Any, **options: Any) -> Limiter:
        """SEND_RATE; shared through Redis when REDIS_URL is set."""
        rate = float(settings.send_rate)
        if settings.redis_url:
            options.setdefault("bucket", RedisBucket(settings.redis_url, rate, burst=options.get("burst", 2.0)))
        return cls(rate, **options)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.bucket.close()

    # -- per chat ------------------------------------------------------------------------------------------------

    def interval_for(self, chat_id: int) -> float:
        return self.group_interval if is_group(chat_id) else self.private_interval

    def chat_wait(self, chat_id: int | None) -> float:
        """Seconds until `chat_id` may receive the next message."""
        if chat_id is None:
            return 0.0
        now = self.timer.monotonic()
        wait = max(0.0, self._chat_pause.get(chat_id, 0.0) - now)
        if (last := self._last.get(chat_id)) is not None:
            wait = max(wait, last + self.interval_for(chat_id) - now)
        return wait

    def waiter_wait(self, waiter: _Waiter) -> float:
        """Seconds until `waiter`'s chat may take it. Decided when asked, not when the waiter joined the line:
        a reply that waited behind other replies while a reminder went to the same person keeps that chat's
        second (the fake's per-chat 429 in bench/mixed.py, and a second 429 elsewhere paused every send); a
        429's pause for the chat holds every kind (a reply sent into it meets another 429)."""
        chat_id = waiter.chat_id
        if chat_id is None:
            return 0.0
        if waiter.space_chat or is_group(chat_id) or chat_id in self._outbox_last:
            return self.chat_wait(chat_id)
        return max(0.0, self._chat_pause.get(chat_id, 0.0) - self.timer.monotonic())

    def landed(self, chat_id: int | None, *, outbox: bool = False) -> None:
        """A send to `chat_id` finished: its chat's second counts from now. The slot was granted earlier, and
        the request reached Telegram some time after the grant (a database commit, the network, a busy event
        loop): counted from the grant, the next message could arrive less than a second after it."""
        if chat_id is None:
            return
        self._last[chat_id] = max(self._last.get(chat_id, 0.0), self.timer.monotonic())
        if outbox:  # a reply landing leaves the mark as it is: an outbox message may have been granted since
            self._outbox_last.add(chat_id)

    def mark_chat(self, chat_id: int, *, outbox: bool = False) -> None:
        now = self.timer.monotonic()
        self._last[chat_id] = now
        if outbox:
            self._outbox_last.add(chat_id)
        else:
            self._outbox_last.discard(chat_id)
            self._replied[chat_id] = now
        if len(self._last) > 50_000:  # forget chats that are ready again
            self._last = {c: t for c, t in self._last.items() if t + self.interval_for(c) > now}
            self._chat_pause = {c: t for c, t in self._chat_pause.items() if t > now}
            self._outbox_last &= self._last.keys()
        if len(self._replied) > 50_000:
            self._replied = {c: t for c, t in self._replied.items() if t + 60.0 > now}

    def replied_at(self, chat_id: int) -> float | None:
        """When a reply to `chat_id` was last granted (on the timer), if lately."""
        return self._replied.get(chat_id)

    def replies_waiting(self) -> set[int]:
        """The chats replies are waiting in line for."""
        return {w.chat_id for w in self._live() if w.priority == Priority.REPLY and w.chat_id is not None}

    # -- pauses ----------------------------------------------------------------------------------------------------

    def refused(self, seconds: float, chat_id: int | None) -> None:
        """A 429 with retry_after `seconds` for a message to `chat_id`: that chat waits; when another chat
        met a 429 within that time too, the limit is the bot's and every send waits."""
        now = self.timer.monotonic()
        if chat_id is None:
            self.pause(seconds)
            return
        self._chat_pause[chat_id] = max(self._chat_pause.get(chat_id, 0.0), now + seconds)
        recent = {c for c, until in self._chat_pause.items() if until > now}
        self.stats.chat_pauses += 1
        if len(recent) > 1:
            self.pause(seconds)
        self._kick()

    def pause(self, seconds: float) -> None:
        """The bot's limit: no send starts in the next `seconds` (in every process, with Redis)."""
        self._pauses += 1
        self.stats.pauses += 1
        self._pause_until = max(self._pause_until, self.timer.monotonic() + seconds)
        if isinstance(self.bucket, LocalBucket):
            self.bucket.pause_now(seconds)  # before any other slot is reserved
        else:
            task = asyncio.ensure_future(self.bucket.pause(seconds))
            task.add_done_callback(_log_failure)
        self._kick()

    def paused_for(self) -> float:
        return max(0.0, self._pause_until - self.timer.monotonic())

    # -- acquiring -------------------------------------------------------------------------------------------------

    async def acquire(self, priority: int = Priority.REPLY, chat_id: int | None = None, *,
                      order: tuple[float, int] = (0.0, 0), space_chat: bool = True,
                      deadline: float | None = None) -> bool:
        """Wait for a send slot. Higher priorities (lower numbers) are served first, then lower `order`.

        `space_chat`: also wait until the chat may receive a message (one a second, 20 a minute in groups).
        `deadline` (on the timer's monotonic scale): give up then; returns False when it did.
        """
        return await self.wait(self.queue(priority, chat_id, order=order, space_chat=space_chat,
                                          deadline=deadline))

    def queue(self, priority: int = Priority.REPLY, chat_id: int | None = None, *,
              order: tuple[float, int] = (0.0, 0), space_chat: bool = True,
              deadline: float | None = None) -> Ticket:
        """Take a place in the line now (without waiting yet); `wait` for it later."""
        waiter = _Waiter(int(priority), order, next(self._seq), chat_id,
                         asyncio.get_running_loop().create_future(), deadline, space_chat)
        heapq.heappush(self._waiters, waiter)
        if waiter.priority == Priority.TIMELY:
            self._timely.append(waiter)
        if deadline is not None:
            self._deadlined.append(waiter)
        self._arrived.set()
        self._kick()
        return Ticket(waiter, chat_id)

    async def wait(self, ticket: Ticket) -> bool:
        future = ticket.waiter.future
        try:
            granted = await future
        except asyncio.CancelledError:
            if not future.done():
                future.cancel()
            raise
        return granted  # the chat was marked when the slot was granted (`_grant`)

    def _kick(self) -> None:
        if self._waiters and (self._task is None or self._task.done()):
            self._task = asyncio.ensure_future(self._grant())

    def _live(self) -> Iterator[_Waiter]:
        return (w for w in self._waiters if not w.future.done())

    def _top(self) -> _Waiter | None:
        """The best waiter still waiting (answered ones on top are dropped)."""
        waiters = self._waiters
        while waiters and waiters[0].future.done():
            heapq.heappop(waiters)
        return waiters[0] if waiters else None

    def _prune(self) -> None:
        """Drop every answered waiter (a full pass)."""
        self._waiters = [w for w in self._waiters if not w.future.done()]
        heapq.heapify(self._waiters)

    def _timely_waits(self) -> bool:
        self._timely = [w for w in self._timely if not w.future.done()]
        return bool(self._timely)

    def _best_ready(self) -> _Waiter | None:
        """The best waiter whose chat is ready; a time-bound one instead when its share is due."""
        top = self._top()
        if top is None:
            return None
        if self.waiter_wait(top) <= 0 and (top.priority >= Priority.TIMELY or not self._timely_waits()):
            # The best of all is ready, and no time-bound waiter is owed a slot ahead of it: what the full
            # pass below would choose.
            self._timely_credit = 0.0
            return top
        ready = [w for w in self._live() if self.waiter_wait(w) <= 0]
        if not ready:
            return None
        best = min(ready)
        timely = [w for w in ready if w.priority == Priority.TIMELY]
        if not timely or best.priority >= Priority.TIMELY:
            self._timely_credit = 0.0  # nothing held back: nothing to make up for later
            return best
        self._timely_credit += self.timely_share
        if self._timely_credit >= 1.0 - 1e-9:
            self._timely_credit -= 1.0
            self.stats.floor_grants += 1
            return min(timely)
        return best

    def _expire(self) -> float | None:
        """Answer False to waiters whose deadline passed; returns the seconds to the next deadline."""
        if not self._deadlined:
            return None
        now = self.timer.monotonic()
        nearest: float | None = None
        for w in self._deadlined:
            if w.future.done() or w.deadline is None:
                continue
            if w.deadline <= now:
                w.future.set_result(False)
                self.stats.expired += 1
            elif nearest is None or w.deadline - now < nearest:
                nearest = w.deadline - now
        self._deadlined = [w for w in self._deadlined if not w.future.done()]
        return nearest

    async def _grant(self) -> None:
        """Hand out slots one by one, each to the best waiter whose chat is ready, until nobody waits."""
        while True:
            next_deadline = self._expire()
            top = self._top()
            if top is None:
                return
            # Spend no slot while every waiter's chat must wait (the best one's is ready: no need to look).
            chat_wait = self.waiter_wait(top)
            if chat_wait > 0:
                self._prune()
                chat_wait = min(self.waiter_wait(w) for w in self._waiters)
            if chat_wait > 0:
                if next_deadline is not None:
                    chat_wait = min(chat_wait, next_deadline)
                # A newcomer (a reply) may be ready at once: do not make it wait for another chat.
                self._arrived.clear()
                if type(self.timer) is Timer:
                    await self.timer.sleep_unless(self._arrived, chat_wait)
                else:  # a virtual timer: time moves only by sleeping
                    await self.timer.sleep(chat_wait)
                continue
            pauses = self._pauses
            try:
                wait = await self.bucket.reserve()
            except Exception:  # Redis away: fall back to this process's own pace rather than stop sending
                log.warning("the shared rate limiter is unreachable; pacing locally", exc_info=True)
                wait = 1.0 / self.rate
            wait = max(wait, self.paused_for())
            if wait > 0:
                await self.timer.sleep(wait)
            if self._pauses != pauses:  # a 429 arrived meanwhile: its pause applies to this slot too
                continue
            self._expire()
            waiter = self._best_ready()
            if waiter is None:
                continue
            waiter.future.set_result(True)
            if waiter.chat_id is not None:  # at once: the next slot may be decided before the waiter wakes
                self.mark_chat(waiter.chat_id, outbox=waiter.priority != Priority.REPLY)
            self.stats.granted[waiter.priority] = self.stats.granted.get(waiter.priority, 0) + 1
            # Let the granted sender start its request before the next slot is handed out.
            await asyncio.sleep(0)


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("could not share a pause through Redis: %r", task.exception())


# -- direct replies ----------------------------------------------------------------------------------------------

def chat_of(method: TelegramMethod[Any]) -> int | None:
    chat = getattr(method, "chat_id", None)
    return chat if isinstance(chat, int) else None


class LimiterMiddleware(BaseRequestMiddleware):
    """Every call that puts something into a chat waits for the limiter (as a reply, the first priority).

    A reply that meets a 429 anyway waits retry_after (pausing every send, since the limit is the bot's)
    and is sent again: never dropped. Calls made by the outbox sender are already paced (`PACED`).
    """

    def __init__(self, limiter: Limiter, max_retries: int = 20) -> None:
        self.limiter = limiter
        self.max_retries = max_retries

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if PACED.get() or method.__api_method__ not in SENDING_METHODS:
            return await make_request(bot, method)
        chat = chat_of(method)
        for tries in itertools.count(1):
            if tries == 1 and TURN_TAKEN.get():  # its turn was taken before it was made (ReplyTurn)
                TURN_TAKEN.set(False)
            else:
                # A retry waits for its chat too (the 429 may have paused only that chat).
                await _wait_turn(self.limiter, chat, space_chat=tries > 1)
                GRANTED.set(time.monotonic())
            try:
                response = await make_request(bot, method)
                self.limiter.landed(chat)
                return response
            except TelegramRetryAfter as exc:
                if tries >= self.max_retries:
                    raise
                self.limiter.stats.retried_replies += 1
                log.warning("429 on a reply (%s): waiting %s s and sending it again", method.__api_method__,
                            exc.retry_after)
                self.limiter.refused(float(exc.retry_after), chat)
        raise AssertionError("unreachable")  # pragma: no cover


def limiter_of(bot: Bot) -> Limiter | None:
    """The limiter a bot's session paces its calls with (make_bot installs one)."""
    for middleware in bot.session.middleware._middlewares:  # aiogram keeps the list there
        if isinstance(middleware, LimiterMiddleware):
            return middleware.limiter
    return None
