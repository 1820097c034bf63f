"""How a feature plugs scheduled work into the delivery engine, in plain Python (no aiogram, no SQLAlchemy).

A feature that sends messages at instants of its own (reminders before sessions, quiz rounds, meeting
notices) writes a `Planner` and registers it at wiring time (bot/app.py) with `delivery.add_planner`. In the
process that runs the scheduler, the engine calls `plan` once at start-up (add the jobs: deterministic ids,
instants on the bot's clock) and `sync` every bot-minute (catch up on what was missed, add jobs for what is
new). A job usually fans out: it creates outbox rows and calls `jobs.wake()`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, Protocol

from domain.messages import NewMessage


class Jobs(Protocol):
    """What the engine offers a planner."""

    @property
    def uows(self) -> Any:
        """Units of work (`async with jobs.uows() as uow`: a services.ports.UnitOfWork)."""
        ...

    def now(self) -> datetime:
        """The bot's clock."""
        ...

    def at(self, job_id: str, instant: datetime, job: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run `job(*args)` at `instant` of the bot's clock (a job with the same id is replaced)."""
        ...

    def is_planned(self, job_id: str) -> bool: ...

    def wake(self) -> None:
        """New outbox rows may be due now."""
        ...

    async def enqueue(self, messages: Iterable[NewMessage]) -> int:
        """Create rows in a unit of work of their own; returns how many were new."""
        ...


class Planner(Protocol):
    name: str

    async def plan(self, jobs: Jobs) -> None:
        """At start-up, in the process that runs the scheduler: add this feature's jobs."""
        ...

    async def sync(self, jobs: Jobs) -> None:
        """Every bot-minute: catch up on what was due but not done, add jobs for what is new."""
        ...
