"""The delivery engine of a running bot: the outbox's renderers, the sender and the scheduler's jobs.

It starts with the bot (a Dispatcher startup hook, so it runs under polling, a webhook and the offline chat)
and stops with it. Features that send messages later add rows to the outbox (`Outbox(db).add(...)` inside
their unit of work, or `Delivery.enqueue`) and register a renderer for their kind in `_renderers` below.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiogram import Bot
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from delivery.outbox import NewMessage, Outbox, Renderers
from delivery.scheduler import LeaderLock, Scheduler, make_lock
from delivery.sender import Sender
from domain.clock import Clock
from domain.event import Event
from services import reminders
from storage.repo import Reminders

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

# How often (real seconds) the leader tries to take over when another process leads.
LEADER_RETRY = 30.0


def _renderers() -> Renderers:
    renderers = Renderers()
    reminders.register_renderers(renderers)
    return renderers


class Delivery:
    def __init__(self, *, settings: Settings, event: Event, clock: Clock, engine: AsyncEngine,
                 sessions: async_sessionmaker[AsyncSession], i18n: I18n) -> None:
        self.settings = settings
        self.event = event
        self.clock = clock
        self.engine = engine
        self.sessions = sessions
        self.i18n = i18n
        self.renderers = _renderers()
        self.scheduler = Scheduler(clock)
        self.lock: LeaderLock = make_lock(engine)
        self.sender: Sender | None = None
        self.is_leader = False
        self._tasks: set[asyncio.Task[Any]] = set()

    @classmethod
    def for_app(cls, app: App) -> Delivery:
        return cls(settings=app.settings, event=app.event, clock=app.clock, engine=app.engine,
                   sessions=app.sessions, i18n=app.i18n)

    @property
    def single_process(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def sync_interval(self) -> float:
        """Real seconds between catch-up passes: a bot-clock minute, at least five real seconds."""
        return max(5.0, 60.0 / self.clock.speed)

    def make_sender(self, bot: Bot, **options: Any) -> Sender:
        options.setdefault("rate", self.settings.send_rate)
        return Sender(bot=bot, sessions=self.sessions, clock=self.clock, event=self.event, i18n=self.i18n,
                      renderers=self.renderers, **options)

    # -- life cycle --------------------------------------------------------------------------------------------

    async def on_startup(self, bot: Bot) -> None:
        """Dispatcher startup: start sending and scheduling."""
        await self.start(bot)

    async def on_shutdown(self) -> None:
        """Dispatcher shutdown: finish the sends in flight and stop."""
        await self.stop()

    async def start(self, bot: Bot) -> None:
        if self.sender is not None:
            return
        self.sender = self.make_sender(bot)
        if self.single_process:
            # Rows still claimed were claimed by this bot before it stopped (or was killed): claim them again.
            async with self.sessions() as s:
                released = await Outbox(s).release_all_claims(self.clock.now())
                await s.commit()
            if released:
                log.warning("%s outbox rows were being sent when the bot stopped; sending them again", released)
        self.scheduler.start()
        await self._try_lead()
        if not self.is_leader:
            log.info("another process runs the scheduler; trying again every %.0f s", LEADER_RETRY)
            self.scheduler.every("leader", LEADER_RETRY, self._fire, self._try_lead)
        self.sender.start()

    async def stop(self) -> None:
        self.scheduler.shutdown()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.sender is not None:
            await self.sender.stop()
            self.sender = None
        if self.is_leader:
            await self.lock.release()
            self.is_leader = False
        await asyncio.sleep(0)  # let APScheduler's shutdown (queued on the loop) run

    def wake(self) -> None:
        """New rows may be due now."""
        if self.sender is not None:
            self.sender.wake()

    async def enqueue(self, messages: Iterable[NewMessage]) -> int:
        """Create rows in a unit of work of their own; returns how many were new."""
        async with self.sessions() as s:
            created = await Outbox(s).add(messages, self.clock.now())
            await s.commit()
        self.wake()
        return created

    async def _try_lead(self) -> None:
        if self.is_leader or not await self.lock.acquire():
            return
        self.is_leader = True
        log.info("this process runs the scheduler")
        await self.plan()

    async def _fire(self, func: Any, *args: Any) -> None:
        """What APScheduler runs: start the work as a task of ours, so that stopping can wait for it."""
        self._spawn(func(*args))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("scheduled job failed", exc_info=task.exception())

    # -- the plan --------------------------------------------------------------------------------------------

    async def plan(self) -> None:
        """Rebuild every job from the event file and the database (at start-up, in the leading process)."""
        now = self.clock.now()
        async with self.sessions() as s:
            notices = await reminders.notify_moves(s, self.event, now)
            await s.commit()
        if notices:
            log.info("the program changed since the last start: %s time-change notices queued", notices)
        for fan in reminders.fan_outs(self.event):
            if fan.at > now:
                self.scheduler.at(fan.job_id, fan.at, self._fire, self.run_reminder, fan.item_id, fan.lead)
        await self.sync()
        self.scheduler.every("sync", self.sync_interval, self._fire, self.sync)

    async def sync(self) -> None:
        """Catch up on reminders due but not fanned out, and add the day-before jobs of new time zones."""
        for fan in reminders.catch_up(self.event, self.clock.now()):
            await self.run_reminder(fan.item_id, fan.lead)
        await self.schedule_day_before()

    async def schedule_day_before(self) -> None:
        async with self.sessions() as s:
            zones = await Reminders(s).zones()
        now = self.clock.now()
        for at in reminders.day_before_groups(self.event, zones):
            job_id = reminders.day_before_job_id(at)
            if at > now and job_id not in self.scheduler.planned:
                self.scheduler.at(job_id, at, self._fire, self.run_day_before, at)

    # -- jobs ------------------------------------------------------------------------------------------------

    async def run_reminder(self, item_id: str, lead: int) -> int:
        """Fan out the reminders of one item and lead time."""
        async with self.sessions() as s:
            created = await reminders.fan_out_reminder(s, self.event, item_id, lead, self.clock.now())
            await s.commit()
        if created:
            log.info("reminder %s:%s: %s messages queued", item_id, lead, created)
            self.wake()
        return created

    async def run_day_before(self, at: datetime) -> int:
        """Fan out the evening-before notes of the zones whose 18:00 is `at`."""
        async with self.sessions() as s:
            zones = reminders.day_before_groups(self.event, await Reminders(s).zones()).get(at, [])
            created = await reminders.fan_out_day_before(s, self.event, zones, self.clock.now()) if zones else 0
            await s.commit()
        if created:
            log.info("day-before notes for %s: %s messages queued", ", ".join(zones), created)
            self.wake()
        return created


def get_delivery(app: App) -> Delivery:
    delivery = app.extras["delivery"]
    assert isinstance(delivery, Delivery)
    return delivery
