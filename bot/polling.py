"""Long polling through the inbox, with a cap on the updates handled at once.

aiogram's own polling acknowledges a batch (the next getUpdates' offset) as soon as it has started a task
for each update, so a process killed while handling loses what it had in hand (issue 8 item 3). Here a
batch is stored in the inbox (storage.inbox) before the next getUpdates acknowledges it; what a killed
process left unhandled is handled when the next one starts, before anything new; what came back from
Telegram although stored already is skipped.

At most `limit` updates are handled at once (the poller waits for a slot before starting the next one, and
asks for more only when the batch is started), so a flood waits at Telegram instead of in memory as one task
per update. Updates are started in arrival order; PersonLockMiddleware keeps each person's in that order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.dispatcher.dispatcher import DEFAULT_BACKOFF_CONFIG
from aiogram.enums import ChatType
from aiogram.methods import GetUpdates
from aiogram.types import Update
from aiogram.utils.backoff import Backoff, BackoffConfig

from storage.inbox import RESUME, Inbox, Ticket

log = logging.getLogger(__name__)
DEFAULT_LIMIT = 64
FLUSH_DELAY = 0.05  # read-only updates are marked handled in batches, this long after the first one ends
PRUNE_EVERY = 3600.0


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


def _resume_update(bot: Bot, update_id: int, who: dict[str, Any]) -> Update:
    """A "/start" from `who`, handled with `resumed=True`: handlers.registration answers it with where the
    person is (the step prompt again, or that what they sent was saved)."""
    return Update.model_validate({"update_id": update_id, "message": {
        "message_id": 0, "date": int(time.time()), "chat": {"id": who["id"], "type": "private"},
        "from": who, "text": "/start", "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}},
        context={"bot": bot})


class InboxDispatcher(Dispatcher):
    """aiogram's Dispatcher whose polling goes through an inbox (when one is set)."""

    inbox: Inbox | None = None

    async def _polling(self, bot: Bot, polling_timeout: int = 30, handle_as_tasks: bool = True,
                       backoff_config: BackoffConfig = DEFAULT_BACKOFF_CONFIG,
                       allowed_updates: list[str] | None = None, tasks_concurrency_limit: int | None = None,
                       **kwargs: Any) -> None:
        config = backoff_config
        if self.inbox is None:
            await super()._polling(bot, polling_timeout=polling_timeout, handle_as_tasks=handle_as_tasks,
                                   backoff_config=config, allowed_updates=allowed_updates,
                                   tasks_concurrency_limit=tasks_concurrency_limit, **kwargs)
            return
        poller = InboxPoller(self, bot, self.inbox, tasks_concurrency_limit or DEFAULT_LIMIT, kwargs)
        await poller.run(polling_timeout, config, allowed_updates)


class InboxPoller:
    def __init__(self, dp: Dispatcher, bot: Bot, inbox: Inbox, limit: int, data: dict[str, Any]) -> None:
        self.dp, self.bot, self.inbox, self.data = dp, bot, inbox, data
        self.slots = asyncio.Semaphore(limit)
        self.tasks: set[asyncio.Task[None]] = set()
        self.done: list[int] = []  # handled, not marked by their own commit: marked in the next batch
        self.done_event = asyncio.Event()
        self.handled = 0

    async def run(self, polling_timeout: int, backoff_config: BackoffConfig,
                  allowed_updates: list[str] | None) -> None:
        user = await self.bot.me()
        log.info("polling through the inbox for @%s, at most %d updates at once", user.username,
                 self.slots._value)
        flusher = asyncio.create_task(self._flush_loop(), name="inbox-flush")
        try:
            with contextlib.suppress(Exception):
                await self.inbox.prune()
            left = await self.inbox.pending()
            if left:
                log.warning("handling %d update(s) a previous run received and did not finish", len(left))
            await self._handle_left(left)
            await self._poll(polling_timeout, backoff_config, allowed_updates)
        finally:
            # Stopping (SIGTERM): let what is in hand finish, then record it, so a restart repeats nothing.
            if self.tasks:
                await asyncio.wait(self.tasks, timeout=10)
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            with contextlib.suppress(Exception):
                await self._flush()

    async def _poll(self, polling_timeout: int, backoff_config: BackoffConfig,
                    allowed_updates: list[str] | None) -> None:
        backoff = Backoff(config=backoff_config)
        get_updates = GetUpdates(timeout=polling_timeout, allowed_updates=allowed_updates)
        kwargs: dict[str, Any] = {}
        if self.bot.session.timeout:
            kwargs["request_timeout"] = int(self.bot.session.timeout + polling_timeout)
        while True:
            try:
                updates = await self.bot(get_updates, **kwargs)
            except Exception as exc:  # Telegram unreachable: keep trying, never stop polling
                log.error("failed to fetch updates - %s: %s; again in %.1f s", type(exc).__name__, exc,
                          backoff.next_delay)
                await backoff.asleep()
                continue
            received = time.monotonic()  # the quiz scores by arrival (bot.middlewares.ArrivalStamp)
            if not updates:
                backoff.reset()
                continue
            batch = [(u.update_id, u.model_dump(mode="json", exclude_unset=True)) for u in updates]
            while True:
                handled, self.done = self.done, []
                try:
                    new = await self.inbox.receive(batch, handled)
                    break
                except Exception as exc:  # the database is away: do not acknowledge what is not stored
                    self.done = handled + self.done
                    log.error("could not store received updates - %s: %s; again in %.1f s", type(exc).__name__,
                              exc, backoff.next_delay)
                    await backoff.asleep()
            backoff.reset()
            get_updates.offset = updates[-1].update_id + 1  # the next getUpdates acknowledges the batch
            for u in updates:
                if u.update_id in new:
                    await self._start(u, received)

    async def _handle_left(self, left: list[tuple[int, dict[str, Any]]]) -> None:
        """What a killed run left: raw updates are handled; a committed one whose reply may have been lost is
        not handled again (its effects are durable): its sender is told where they are, once, unless a later
        update of theirs is about to be answered anyway."""
        updates = [(uid, Update.model_validate(p, context={"bot": self.bot})) for uid, p in left if RESUME not in p]
        later = {who["id"] for _uid, u in updates if (who := private_sender(u))}
        told: set[int] = set()
        for uid, payload in left:
            if RESUME not in payload:
                continue
            who = payload[RESUME]
            if who["id"] in later or who["id"] in told:
                self.done.append(uid)
                continue
            told.add(who["id"])
            await self._start(_resume_update(self.bot, uid, who), resumed=True)
        for _uid, update in updates:
            await self._start(update)

    async def _start(self, update: Update, received: float | None = None, *, resumed: bool = False) -> None:
        await self.slots.acquire()
        task = asyncio.create_task(self._handle(update, received, resumed=resumed))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _handle(self, update: Update, received: float | None, *, resumed: bool = False) -> None:
        if resumed:  # not from the inbox's payload: handled in its own right, marked when done
            try:
                await self.dp._process_update(bot=self.bot, update=update, resumed=True, **self.data)
            finally:
                self.slots.release()
                self.done.append(update.update_id)
                self.done_event.set()
            return
        ticket = Ticket(update.update_id, private_sender(update))
        extra: dict[str, Any] = {"received_mono": received} if received is not None else {}
        try:
            # Exceptions are logged by aiogram (and answered by our error handler): the update counts as
            # handled, a poisonous update is not retried forever.
            await self.dp._process_update(bot=self.bot, update=update, inbox_ticket=ticket, **extra, **self.data)
        finally:
            self.slots.release()
            self.handled += 1
            if ticket.answered_later:
                self.done.append(update.update_id)
                self.done_event.set()

    async def _flush(self) -> None:
        ids, self.done = self.done, []
        self.done_event.clear()
        if not ids:
            return
        try:
            await self.inbox.mark_handled(ids)
        except Exception:
            self.done = ids + self.done
            raise

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
