"""The delivery engine of a running bot: the outbox's renderers, the sender and the scheduler's jobs.

It starts with the bot (a Dispatcher startup hook, so it runs under polling, a webhook and the offline chat)
and stops with it. It knows no feature: at wiring time (bot/app.py) each feature that sends messages later
registers the renderers of its message kinds (`delivery.renderers.register(kind, renderer)`) and, when it
has scheduled work, a planner (`delivery.add_planner(planner)`, see delivery/jobs.py). Features add rows to
the outbox inside their unit of work (`Outbox(db).add(...)`) or with `Delivery.enqueue`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from datetime import datetime
from typing import Any, Protocol

from aiogram import Bot
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from delivery.jobs import Planner
from delivery.limiter import Limiter, limiter_of
from delivery.rendering import Renderers
from delivery.scheduler import LeaderLock, Scheduler, make_lock
from delivery.sender import Sender
from domain.clock import Clock
from domain.event import Event
from domain.messages import NewMessage, TopicCounts
from storage.outbox import Outbox
from storage.uow import UnitOfWorkFactory

log = logging.getLogger(__name__)


class DeliverySettings(Protocol):
    """What the engine reads of the bot's settings (bot.config.Settings has it)."""

    send_rate: float
    redis_url: str | None

# How often (real seconds) the leader tries to take over when another process leads.
LEADER_RETRY = 3.0  # a dead leader's lock is free at once (its connection closed): take over within seconds
JOB_GRACE = 5.0  # seconds a running job may take to finish when the engine stops


# What a feature does at wiring time: register its kinds and planners with the engine.
Feature = Callable[["Delivery"], object]


class Delivery:
    def __init__(self, *, settings: DeliverySettings, event: Event, clock: Clock, engine: AsyncEngine,
                 sessions: async_sessionmaker[AsyncSession], i18n: I18n, features: Iterable[Feature] = ()) -> None:
        self.settings = settings
        self.event = event
        self.clock = clock
        self.engine = engine
        self.sessions = sessions
        self.uows = UnitOfWorkFactory(sessions)
        self.i18n = i18n
        self.renderers = Renderers()
        self.planners: dict[str, Planner] = {}
        self.scheduler = Scheduler(clock)
        self.lock: LeaderLock = make_lock(engine)
        self.sender: Sender | None = None
        # A limiter made here because the bot had none (closed with the engine).
        self._own_limiter: Limiter | None = None
        self.is_leader = False
        self._tasks: set[asyncio.Task[Any]] = set()
        # Each feature registers its message kinds and planners (bot/app.py delivery_features).
        for feature in features:
            feature(self)

    def add_planner(self, planner: Planner) -> None:
        if planner.name in self.planners:
            raise ValueError(f"a planner named {planner.name!r} is already registered")
        self.planners[planner.name] = planner

    # -- what planners see (delivery.jobs.Jobs) ------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def at(self, job_id: str, instant: datetime, job: Callable[..., Awaitable[Any]], *args: Any) -> None:
        self.scheduler.at(job_id, instant, self._fire, job, *args)

    def is_planned(self, job_id: str) -> bool:
        return job_id in self.scheduler.planned

    @property
    def single_process(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def sync_interval(self) -> float:
        """Real seconds between catch-up passes: a bot-clock minute, at least five real seconds."""
        return max(5.0, 60.0 / self.clock.speed)

    def make_sender(self, bot: Bot, **options: Any) -> Sender:
        """A sender pacing itself with the bot's own limiter (the one its replies pass), unless the options
        ask for a limiter of its own (a rate or a timer: tests and benchmarks)."""
        if not {"limiter", "rate", "timer"} & options.keys():
            limiter = limiter_of(bot)
            if limiter is None:
                limiter = self._own_limiter = Limiter.from_settings(self.settings)
            options["limiter"] = limiter
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
        # Rows a dead process had claimed are claimed again once their lease ends (SENDER_LEASE).
        self.sender = self.make_sender(bot, lease=getattr(self.settings, "sender_lease", 120.0))
        if self.single_process:
            # Rows still claimed were claimed by this bot before it stopped (or was killed): claim them again.
            async with self.sessions() as s:
                fresh, unknown = await Outbox(s).release_all_claims(self.clock.now())
                await s.commit()
            if fresh or unknown:
                # Only the second kind can be a duplicate: at most the sends in flight when the bot stopped.
                log.warning("%s outbox rows were claimed but not started when the bot stopped: sending them now; "
                            "%s were being sent (outcome unknown): sending them again once their first "
                            "attempt can no longer land", fresh, unknown)
        self.scheduler.start()
        await self._try_lead()
        if not self.is_leader:
            log.info("another process runs the scheduler; trying again every %.0f s", LEADER_RETRY)
            self.scheduler.every("leader", LEADER_RETRY, self._fire, self._try_lead)
        self.sender.start()

    async def stop(self) -> None:
        self.scheduler.shutdown()
        if self._tasks:
            # A job in the middle of its transaction finishes it (as the sender finishes its sends in flight);
            # cancelled mid-statement, its aiosqlite connection could keep SQLite's write lock.
            await asyncio.wait(list(self._tasks), timeout=JOB_GRACE)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.sender is not None:
            await self.sender.stop()
            self.sender = None
        if self._own_limiter is not None:
            await self._own_limiter.close()
            self._own_limiter = None
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

    async def cancel(self, topic: str) -> int:
        """Cancel the rows of `topic` not sent yet (e.g. a broadcast); returns how many."""
        async with self.sessions() as s:
            cancelled = await Outbox(s).cancel(topic, self.clock.now())
            await s.commit()
        return cancelled

    async def counts(self, topic: str) -> TopicCounts:
        """Where the rows of `topic` stand right now (queued, sending, sent, failed, blocked, ...)."""
        async with self.sessions() as s:
            return await Outbox(s).counts(topic)

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
        """Rebuild every job from the features' planners (at start-up, in the leading process)."""
        for planner in self.planners.values():
            await planner.plan(self)
        await self.sync()
        self.scheduler.every("sync", self.sync_interval, self._fire, self.sync)

    async def sync(self) -> None:
        """Let every planner catch up on what was due but not done and add jobs for what is new."""
        for planner in self.planners.values():
            try:
                await planner.sync(self)
            except Exception:
                log.exception("planner %s failed to sync", planner.name)

