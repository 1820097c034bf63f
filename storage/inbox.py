"""The inbox: updates received from Telegram, stored before their offset is acknowledged.

At least once: the poller stores a batch in one transaction and only then asks for the next one (which tells
Telegram the batch arrived); a restart handles again what is stored and not marked handled.
At most one effect: an update is marked in the same transaction as its first commit (the `before_commit`
hook below), so an update whose effects are durable is never handled a second time. A person's update in a
private chat is marked "committed" then (its raw payload replaced by the sender's id, name and language) and
"handled" shortly after its handler returned, i.e. after the reply went out: a kill in between leaves a
committed, unanswered update, and the restart tells that person where they are instead of handling it again
(bot/polling.py). Other updates are marked handled with their first commit. A read-only update is marked
shortly after it was answered (a crash in between repeats its answer, nothing else). A redelivered update
(Telegram sends again what was not acknowledged) is recognised by its update_id.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, event, null, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from storage.models import InboxUpdate

KEEP_HANDLED = timedelta(days=2)  # Telegram's update ids restart at random only after a week of silence


RESUME = "resume"  # the payload key of a committed, not yet answered update: the sender to tell where they are


class Ticket:
    """One update from the inbox while it is handled; `marked` once its handling committed the mark.

    `who` is the sender of a private-chat update (Telegram's user fields, no message text): such an update is
    only marked committed by its first commit, and handled once its handler returned."""

    __slots__ = ("marked", "update_id", "who")

    def __init__(self, update_id: int, who: dict[str, Any] | None = None) -> None:
        self.update_id = update_id
        self.who = who
        self.marked = False

    @property
    def answered_later(self) -> bool:
        """True when the handled mark still has to be written after the handler returned."""
        return not self.marked or self.who is not None


def attach(session: AsyncSession, ticket: Ticket) -> None:
    """The update being handled in `session` came from the inbox: its first commit marks it handled."""
    session.info["inbox_ticket"] = ticket


# Every update's first commit runs one of these: built once, with bound parameters.
_T = cast(Table, InboxUpdate.__table__)  # a Table (declarative models type __table__ as a FromClause)
_MARK_COMMITTED = update(_T).where(_T.c.update_id == bindparam("i_id")).values(
    payload=bindparam("i_payload", type_=_T.c.payload.type))
_MARK_HANDLED = update(_T).where(_T.c.update_id == bindparam("i_id")).values(
    handled_at=bindparam("i_at", type_=_T.c.handled_at.type), payload=null())


@event.listens_for(Session, "before_commit")
def _mark_with_the_first_commit(session: Session) -> None:
    ticket: Ticket | None = session.info.get("inbox_ticket")
    if ticket is None or ticket.marked:
        return
    from storage.db import has_unsaved_work

    if not has_unsaved_work(session):
        return  # nothing to commit: no statement, no connection
    if ticket.who is not None:  # committed; "handled" once the reply is out (Inbox.mark_handled)
        session.execute(_MARK_COMMITTED, {"i_id": ticket.update_id, "i_payload": {RESUME: ticket.who}})
    else:
        session.execute(_MARK_HANDLED, {"i_id": ticket.update_id, "i_at": datetime.now(UTC)})
    session.info["inbox_marking"] = ticket


@event.listens_for(Session, "after_commit")
def _marked(session: Session) -> None:
    ticket: Ticket | None = session.info.pop("inbox_marking", None)
    if ticket is not None:
        ticket.marked = True


@event.listens_for(Session, "after_rollback")
def _not_marked(session: Session) -> None:
    session.info.pop("inbox_marking", None)


class Inbox:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def receive(self, updates: list[tuple[int, dict[str, Any]]], handled: list[int]) -> set[int]:
        """Store a batch (and mark `handled` ids) in one transaction; returns the ids not seen before."""
        now = datetime.now(UTC)
        async with self.sessions() as s, s.begin():
            if handled:
                await self._mark(s, handled, now)
            if not updates:
                return set()
            ids = [uid for uid, _ in updates]
            seen = set(await s.scalars(select(InboxUpdate.update_id).where(InboxUpdate.update_id.in_(ids))))
            new = [InboxUpdate(update_id=uid, payload=payload, received_at=now)
                   for uid, payload in updates if uid not in seen]
            s.add_all(new)
        return {row.update_id for row in new}

    async def mark_handled(self, ids: list[int]) -> None:
        async with self.sessions() as s, s.begin():
            await self._mark(s, ids, datetime.now(UTC))

    @staticmethod
    async def _mark(s: AsyncSession, ids: list[int], now: datetime) -> None:
        await s.execute(update(InboxUpdate).where(InboxUpdate.update_id.in_(ids), InboxUpdate.handled_at.is_(None))
                        .values(handled_at=now, payload=null()))

    async def pending(self) -> list[tuple[int, dict[str, Any]]]:
        """Updates stored and not handled (a previous run stopped while they were in hand), oldest first, as
        (update_id, payload): a raw update, or {RESUME: sender} for one committed and maybe not answered."""
        async with self.sessions() as s:
            rows = await s.execute(select(InboxUpdate.update_id, InboxUpdate.payload)
                                   .where(InboxUpdate.handled_at.is_(None)).order_by(InboxUpdate.update_id))
            return [(uid, p) for uid, p in rows if p]

    async def prune(self) -> int:
        from storage.db import rowcount

        async with self.sessions() as s, s.begin():
            before = datetime.now(UTC) - KEEP_HANDLED
            result = await s.execute(delete(InboxUpdate).where(InboxUpdate.handled_at < before))
            return rowcount(result)
