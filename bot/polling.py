"""Long polling through the intake (bot.intake): each getUpdates batch is stored in the inbox before the next
getUpdates acknowledges it.

aiogram's own polling acknowledges a batch (the next getUpdates' offset) as soon as it has started a task
for each update, so a process killed while handling loses what it had in hand (issue 8 item 3). Here what a
killed process left unhandled is handled when the next one starts, before anything new; what comes back from
Telegram although stored already is skipped. Only aiogram's public API is used: the Bot API call, the
dispatcher's start-up and shut-down hooks and `feed_update` (through the intake).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.methods import GetUpdates

from bot.intake import DEFAULT_LIMIT, Intake
from infra.backoff import POLLING, Backoff
from storage.inbox import Inbox

log = logging.getLogger(__name__)


class Poller:
    """getUpdates in a loop until `stop()`; each batch stored, then handled through the intake."""

    def __init__(self, dp: Dispatcher, bot: Bot, inbox: Inbox, *, limit: int = DEFAULT_LIMIT,
                 polling_timeout: int = 30, allowed_updates: list[str] | None = None,
                 backoff: Backoff = POLLING, **data: Any) -> None:
        self.dp, self.bot = dp, bot
        self.intake = Intake(dp, bot, inbox, limit=limit, data=data)
        self.polling_timeout = polling_timeout
        self.allowed_updates = dp.resolve_used_update_types() if allowed_updates is None else allowed_updates
        self.backoff = backoff
        self.stopping = asyncio.Event()

    def stop(self) -> None:
        self.stopping.set()

    async def run(self, *, handle_signals: bool = False) -> None:
        """Start the dispatcher (its startup hooks: the delivery engine), handle what a previous run left,
        poll until stopped (SIGTERM/SIGINT with `handle_signals`), let what is in hand finish, shut down."""
        loop = asyncio.get_running_loop()
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stop)
        workflow = {"dispatcher": self.dp, "bots": [self.bot], **self.dp.workflow_data}
        await self.dp.emit_startup(bot=self.bot, **workflow)
        try:
            user = await self.bot.me()
            log.info("polling through the inbox for @%s, at most %d updates at once", user.username,
                     self.intake.limit)
            await self.intake.start()
            poll = asyncio.create_task(self._poll(), name="poll")
            stopped = asyncio.create_task(self.stopping.wait())
            await asyncio.wait({poll, stopped}, return_when=asyncio.FIRST_COMPLETED)
            for task in (poll, stopped):  # a failed poll raises here
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        finally:
            # Stopping: let what is in hand finish, then record it, so a restart repeats nothing.
            await self.intake.stop()
            try:
                await self.dp.emit_shutdown(bot=self.bot, **workflow)
            finally:
                if handle_signals:
                    for sig in (signal.SIGTERM, signal.SIGINT):
                        loop.remove_signal_handler(sig)

    async def _poll(self) -> None:
        failures = 0  # failed tries in a row (getUpdates or storing its batch), for the backoff
        get_updates = GetUpdates(timeout=self.polling_timeout, allowed_updates=self.allowed_updates)
        kwargs: dict[str, Any] = {}
        if self.bot.session.timeout:
            kwargs["request_timeout"] = int(self.bot.session.timeout + self.polling_timeout)
        while True:
            try:
                updates = await self.bot(get_updates, **kwargs)
            except Exception as exc:  # Telegram unreachable: keep trying, never stop polling
                failures += 1
                delay = self.backoff.delay(failures)
                log.error("failed to fetch updates - %s: %s; again in %.1f s", type(exc).__name__, exc, delay)
                await asyncio.sleep(delay)
                continue
            received = time.monotonic()  # the quiz scores by arrival (bot.middlewares.ArrivalStamp)
            if not updates:
                failures = 0
                continue
            batch = [(u.update_id, u.model_dump(mode="json", exclude_unset=True)) for u in updates]
            while True:
                try:
                    new = await self.intake.store(batch)
                    break
                except Exception as exc:  # the database is away: do not acknowledge what is not stored
                    failures += 1
                    delay = self.backoff.delay(failures)
                    log.error("could not store received updates - %s: %s; again in %.1f s", type(exc).__name__,
                              exc, delay)
                    await asyncio.sleep(delay)
            failures = 0
            get_updates.offset = updates[-1].update_id + 1  # the next getUpdates acknowledges the batch
            for u in updates:
                if u.update_id in new:
                    await self.intake.submit(u, new[u.update_id], received)
