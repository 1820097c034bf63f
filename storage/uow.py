"""The unit of work: one AsyncSession, the repositories over it, and an explicit commit.

Handlers get one per update (`bot.middlewares.DbSessionMiddleware`); background jobs open their own with
`UnitOfWorkFactory`. Repositories only flush; the use case that decided calls `commit()`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.console import ConsoleTokens
from storage.db import has_unsaved_work
from storage.matchmaking import MatchmakingRepo
from storage.organiser import AuditLog, Broadcasts, People, Uploads
from storage.outbox import Outbox
from storage.quiz import QuizRepo
from storage.repo import Delegates, Follows, Guests, LatePasses, Reminders, forget_person


class SqlUnitOfWork:
    """Each repository is made when first used: every update gets a unit of work, and most use one or two of
    the thirteen (issue 18)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @cached_property
    def delegates(self) -> Delegates:
        return Delegates(self.session)

    @cached_property
    def late_passes(self) -> LatePasses:
        return LatePasses(self.session)

    @cached_property
    def follows(self) -> Follows:
        return Follows(self.session)

    @cached_property
    def reminders(self) -> Reminders:
        return Reminders(self.session)

    @cached_property
    def outbox(self) -> Outbox:
        return Outbox(self.session)

    @cached_property
    def matchmaking(self) -> MatchmakingRepo:
        return MatchmakingRepo(self.session)

    @cached_property
    def guests(self) -> Guests:
        return Guests(self.session)

    @cached_property
    def quiz(self) -> QuizRepo:
        return QuizRepo(self.session)

    @cached_property
    def broadcasts(self) -> Broadcasts:
        return Broadcasts(self.session)

    @cached_property
    def audit(self) -> AuditLog:
        return AuditLog(self.session)

    @cached_property
    def people(self) -> People:
        return People(self.session)

    @cached_property
    def console(self) -> ConsoleTokens:
        return ConsoleTokens(self.session)

    @cached_property
    def uploads(self) -> Uploads:
        return Uploads(self.session)

    async def forget(self, user_id: int) -> int:
        # Bookings first: their key to the host's availability would refuse forget_person's order.
        gone = len(await self.matchmaking.forget(user_id))
        return gone + await forget_person(self.session, user_id)

    async def commit(self) -> None:
        if has_unsaved_work(self.session):  # nothing written: no commit (on SQLite, no fsync)
            await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()


class UnitOfWorkFactory:
    """`async with uows() as uow:` -- a unit of work of its own (jobs, the sender, tests)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[SqlUnitOfWork]:
        async with self.sessions() as session:
            yield SqlUnitOfWork(session)
