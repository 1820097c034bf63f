"""The intake: updates from any transport (long polling, a webhook) go through the inbox (storage.inbox).

Transport-neutral and on aiogram's public API (`Dispatcher.feed_update`): a transport stores what it received
(`Intake.store`) before it acknowledges it to Telegram (the next getUpdates, or the webhook's 200), then
hands each new update to `Intake.submit`, which starts handling it once a slot is free. At least once: what a
stopped process left unhandled is handled again (`resume` at start-up with one process; with several, the
updates whose holder stopped renewing its lease are taken over, `take_orphans`). One effect per update_id: an
update is marked in the transaction of its first commit (storage.inbox), and an update_id already stored in
the current numbering is not handled again.

At most `limit` updates are handled at once: `submit` waits for a free slot, so a flood waits at Telegram
(the poller asks for more only when its batch is started; a webhook request is answered once its update has a
slot) instead of in memory. Updates are started in arrival order; PersonLockMiddleware keeps each person's in
that order. A handler whose reply must wait for the send limiter gives its slot back for that wait
(`delivery.limiter.ON_WAIT`; at most `waiting_limit` at once; not while its session holds a database
connection, except one that only read with Core statements, which is rolled back first): waiting for
Telegram's rate costs no work, and while 64 handlers waited there (a 1,000-player quiz at 25 messages a
second) the poller stopped taking updates, so quiz presses reached the bot, and were stamped `arrived_at`, a
minute after they were made (issue 17 item 3).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.enums import ChatType
from aiogram.methods import TelegramMethod
from aiogram.types import Update

from delivery.limiter import ON_WAIT
from storage.db import has_unsaved_work
from storage.fsm import CURRENT_SESSION
from storage.inbox import RESUME, Inbox, Ticket

log = logging.getLogger(__name__)
DEFAULT_LIMIT = 64
# Handlers waiting for the send limiter without a slot, at most (each is a task and its update in memory).
WAITING_PER_SLOT = 32
FLUSH_DELAY = 0.05  # read-only updates are marked handled in batches, this long after the first one ends
PRUNE_EVERY = 3600.0
# Several processes: an update in hand is renewed this often; one not renewed for LEASE is taken over.
LEASE = timedelta(seconds=20)


def private_sender(update: Update) -> dict[str, Any] | None:
    """The sender of a message or button press in a private chat (Telegram's user fields), else None."""
    event = update.message or update.edited_message
    chat = event.chat if event else None
    user = event.from_user if event else None
    if update.callback_query is not None:
        user = update.callback_query.from_user
        chat = update.callback_query.message.chat if update.callback_query.message else None
    if user is None or chat is None or chat.type != ChatType.PRIVATE or chat.id != user.id:
        return None
    return user.model_dump(mode="json", include={"id", "is_bot", "first_name", "language_code"},
                           exclude_none=True)


def _resume_update(bot: Bot, key: int, who: dict[str, Any]) -> Update:
    """A "/start" from `who`, handled with `resumed=True`: handlers.registration answers it with where the
    person is (the step prompt again, or that what they sent was saved)."""
    return Update.model_validate({"update_id": key, "message": {
        "message_id": 0, "date": int(time.time()), "chat": {"id": who["id"], "type": "private"},
        "from": who, "text": "/start", "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}},
        context={"bot": bot})


class Intake:
    """Store, then handle at least once with one effect per update, whatever brought the update."""

    def __init__(self, dp: Dispatcher, bot: Bot, inbox: Inbox, *, limit: int = DEFAULT_LIMIT,
                 shared: bool = False, lease: timedelta = LEASE, data: dict[str, Any] | None = None,
                 waiting_limit: int | None = None) -> None:
        self.dp, self.bot, self.inbox = dp, bot, inbox
        self.data = data or {}
        self.limit = limit
        self.waiting_limit = limit * WAITING_PER_SLOT if waiting_limit is None else waiting_limit
        self.waiting = 0  # handlers that gave their slot back while they wait for the send limiter
        self.given_back = 0
        self.kept = 0  # handlers that waited for the limiter holding their slot (their session held work)
        self.shared = shared  # several processes take updates from one inbox (webhook workers)
        self.lease = lease
        self.slots = asyncio.Semaphore(limit)
        self.tasks: set[asyncio.Task[None]] = set()
        self.in_hand: set[int] = set()  # keys of the updates handled here now (renewed when shared)
        self.done: list[int] = []  # handled, not marked by their own commit: marked in the next batch
        self.done_event = asyncio.Event()
        self.handled = 0
        self._loops: list[asyncio.Task[None]] = []

    # -- life cycle -------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start marking handled updates, and handle what a previous run left: everything unhandled with one
        process; with several, what no living process holds."""
        self._loops.append(asyncio.create_task(self._flush_loop(), name="inbox-flush"))
        with contextlib.suppress(Exception):
            await self.inbox.prune()
        if self.shared:
            self._loops.append(asyncio.create_task(self._lease_loop(), name="inbox-lease"))
            left = await self.inbox.take_orphans(self.lease)
        else:
            left = await self.inbox.pending()
        if left:
            log.warning("handling %d update(s) a previous run received and did not finish", len(left))
        await self._handle_left(left)

    async def stop(self, timeout: float = 10.0) -> None:
        """Let what is in hand finish (up to `timeout`), then record it, so a restart repeats nothing."""
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=timeout)
        for loop in self._loops:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        self._loops.clear()
        with contextlib.suppress(Exception):
            await self._flush()

    # -- what transports call ---------------------------------------------------------------------------------

    async def store(self, batch: list[tuple[int, dict[str, Any]]]) -> dict[int, int]:
        """Store received updates (raw, as Telegram sent them) with the marks waiting to be written; returns
        {update_id: key} of those not seen before. Raises when the database is away: acknowledge nothing."""
        handled, self.done = self.done, []
        try:
            return await self.inbox.receive(batch, handled)
        except BaseException:
            self.done = handled + self.done
            raise

    async def submit(self, update: Update, key: int, received: float | None = None) -> None:
        """Start handling a stored update once a slot is free. `received` (time.monotonic()) is when it
        reached the bot: the quiz scores by arrival (bot.middlewares.ArrivalStamp)."""
        await self._start(update, key, received)

    # -- handling ---------------------------------------------------------------------------------------------

    async def _handle_left(self, left: list[tuple[int, dict[str, Any]]]) -> None:
        """What a stopped run left: raw updates are handled; a committed one whose reply may have been lost is
        not handled again (its effects are durable): its sender is told where they are, once, unless a later
        update of theirs is about to be answered anyway."""
        updates = [(key, Update.model_validate(p, context={"bot": self.bot})) for key, p in left if RESUME not in p]
        later = {who["id"] for _key, u in updates if (who := private_sender(u))}
        told: set[int] = set()
        for key, payload in left:
            if RESUME not in payload:
                continue
            who = payload[RESUME]
            if who["id"] in later or who["id"] in told:
                self.done.append(key)
                self.done_event.set()
                continue
            told.add(who["id"])
            await self._start(_resume_update(self.bot, key, who), key, resumed=True)
        for key, update in updates:
            await self._start(update, key)

    async def _start(self, update: Update, key: int, received: float | None = None, *,
                     resumed: bool = False) -> None:
        await self.slots.acquire()
        self.in_hand.add(key)
        task = asyncio.create_task(self._handle(update, key, received, resumed=resumed))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _handle(self, update: Update, key: int, received: float | None, *, resumed: bool = False) -> None:
        ticket = None if resumed else Ticket(key, private_sender(update))
        extra: dict[str, Any] = {"received_mono": received} if received is not None else {}
        if resumed:  # not from the inbox's payload: handled in its own right, marked when done
            extra["resumed"] = True
        else:
            extra["inbox_ticket"] = ticket
        held = True

        async def give_back() -> None:
            """The handler waits for the send limiter: the next update may start meanwhile, unless it holds a
            database connection (the pool has a few). A session that only read with Core statements (no ORM
            object to expire) is rolled back first, which ends its transaction at no cost; one with writes not
            committed, or with ORM objects it may still use, keeps its slot."""
            nonlocal held
            if not held:
                return
            if self.waiting >= self.waiting_limit:
                self.kept += 1
                return
            session = CURRENT_SESSION.get()
            if session is not None and session.in_transaction():
                if has_unsaved_work(session) or len(session.identity_map):
                    self.kept += 1
                    if self.kept in (1, 100, 1000):
                        log.warning("a handler waits for the send limiter holding its update slot and a database "
                                    "connection (%d so far): its session holds %s", self.kept,
                                    "unsaved writes" if has_unsaved_work(session) else
                                    sorted({type(o).__name__ for o in session.identity_map.values()}))
                    return
                try:
                    await session.rollback()
                except Exception:
                    log.warning("could not end a session before waiting for the limiter", exc_info=True)
                    return
            held = False
            self.waiting += 1
            self.given_back += 1
            self.slots.release()

        ON_WAIT.set(give_back)  # this task's own context
        try:
            # A handler's exception is logged (and answered by our error handler): the update counts as
            # handled, so a poisonous update is not retried forever.
            response = await self.dp.feed_update(self.bot, update, **extra, **self.data)
            if isinstance(response, TelegramMethod):  # an answer meant for a webhook's response: send it
                await self.bot(response)
        except Exception:
            log.exception("update %s failed", update.update_id)
        finally:
            if held:
                self.slots.release()
            else:
                self.waiting -= 1
            self.handled += 1
            if ticket is None or ticket.answered_later:
                self.done.append(key)
                self.done_event.set()
            else:
                self.in_hand.discard(key)

    async def _flush(self) -> None:
        keys, self.done = self.done, []
        self.done_event.clear()
        if not keys:
            return
        try:
            await self.inbox.mark_handled(keys)
        except Exception:
            self.done = keys + self.done
            raise
        self.in_hand.difference_update(keys)

    async def _flush_loop(self) -> None:
        pruned = time.monotonic()
        while True:
            await self.done_event.wait()
            await asyncio.sleep(FLUSH_DELAY)
            try:
                await self._flush()
                if time.monotonic() - pruned > PRUNE_EVERY:
                    pruned = time.monotonic()
                    await self.inbox.prune()
            except Exception as exc:
                log.warning("could not mark handled updates - %s: %s; again in 1 s", type(exc).__name__, exc)
                await asyncio.sleep(1)

    async def _lease_loop(self) -> None:
        """Several processes: renew what is in hand here, and take over what a dead process held."""
        every = self.lease.total_seconds() / 4
        while True:
            await asyncio.sleep(every)
            try:
                await self.inbox.renew(sorted(self.in_hand))
                left = await self.inbox.take_orphans(self.lease)
                if left:
                    log.warning("taking over %d update(s) another process received and did not finish", len(left))
                    await self._handle_left(left)
            except Exception as exc:
                log.warning("could not renew the updates in hand - %s: %s", type(exc).__name__, exc)
