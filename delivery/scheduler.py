"""The scheduler: APScheduler wakes the bot at instants of the bot's clock, under deterministic job ids.

Instants come from the event file and the database and are on the bot's clock; APScheduler runs on the real
clock, so each instant is converted with `clock.to_real` when the job is added (in a replay at CLOCK_SPEED=10
a job ten bot-minutes ahead runs one real minute ahead). The jobs live in memory and are rebuilt at every
start-up: the ids (e.g. "reminder:opening:10") make adding one twice a replacement, not a second job.

Only one process runs the scheduler: on PostgreSQL the holder of an advisory lock, on SQLite the one process.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.clock import Clock

log = logging.getLogger(__name__)

# pg_advisory_lock key of the scheduler (any constant shared by all processes of the bot).
LOCK_KEY = 0x5EED_0004

Job = Callable[..., Awaitable[Any]]


class LeaderLock(Protocol):
    async def acquire(self) -> bool: ...

    async def release(self) -> None: ...


class SingleProcess:
    """SQLite: one process serves the bot, so it leads."""

    async def acquire(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class PgAdvisoryLock:
    """PostgreSQL: a session-level advisory lock, held on a dedicated connection for the process's life.

    If the process dies, its connection closes and the lock is free for another process.
    """

    def __init__(self, engine: AsyncEngine, key: int = LOCK_KEY) -> None:
        self.engine = engine
        self.key = key
        self._conn: AsyncConnection | None = None

    async def acquire(self) -> bool:
        if self._conn is not None:
            return True
        conn = await self.engine.connect()
        try:
            got = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}))
            await conn.commit()
        except BaseException:
            await conn.close()
            raise
        if not got:
            await conn.close()
            return False
        self._conn = conn
        return True

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await conn.scalar(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            await conn.commit()
        finally:
            await conn.close()


def make_lock(engine: AsyncEngine) -> LeaderLock:
    return PgAdvisoryLock(engine) if engine.dialect.name == "postgresql" else SingleProcess()


class Scheduler:
    """Jobs at bot-clock instants. `planned` keeps what was asked (bot-clock instants), for tests and logs."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.planned: dict[str, datetime] = {}
        self._aps = AsyncIOScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1,
                                                                 "misfire_grace_time": None})

    @property
    def running(self) -> bool:
        return bool(self._aps.running)

    def start(self) -> None:
        if not self._aps.running:
            self._aps.start()

    def at(self, job_id: str, instant: datetime, func: Job, *args: Any) -> None:
        """Run `func(*args)` when the bot's clock shows `instant` (replaces a job with the same id)."""
        self.planned[job_id] = instant
        self._aps.add_job(func, DateTrigger(run_date=self.clock.to_real(instant)), args=args, id=job_id,
                          replace_existing=True)

    def every(self, job_id: str, seconds: float, func: Job, *args: Any) -> None:
        """Run `func(*args)` every `seconds` of real time."""
        self._aps.add_job(func, IntervalTrigger(seconds=seconds, timezone=UTC), args=args, id=job_id,
                          replace_existing=True)

    def real_run_time(self, job_id: str) -> datetime | None:
        job = self._aps.get_job(job_id)
        return getattr(job, "next_run_time", None) if job else None

    def job_ids(self) -> set[str]:
        return {job.id for job in self._aps.get_jobs()}

    def shutdown(self) -> None:
        if self._aps.running:
            self._aps.shutdown(wait=False)
