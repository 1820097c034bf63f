"""The inbox: updates received from Telegram, stored before their offset is acknowledged.

At least once: the poller stores a batch in one transaction and only then asks for the next one (which tells
Telegram the batch arrived); a restart handles again what is stored and not marked handled.
At most one effect: an update is marked in the same transaction as its first commit (the `before_commit`
hook below), so an update whose effects are durable is never handled a second time. A person's update in a
private chat is marked "committed" then (its raw payload replaced by the sender's id, name and language) and
"handled" shortly after its handler returned, i.e. after the reply went out: a kill in between leaves a
committed, unanswered update, and the restart tells that person where they are instead of handling it again
(bot/intake.py). Other updates are marked handled with their first commit. A read-only update is marked
shortly after it was answered (a crash in between repeats its answer, nothing else). A redelivered update
(Telegram sends again what was not acknowledged) is recognised by its update_id.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, event, func, null, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from storage.models import InboxUpdate

KEEP_HANDLED = timedelta(days=2)  # handled rows are kept this long to recognise a repeat

# The Bot API's update ids start again (lower) after a week of silence, with a new Bot API server, or when the
# fake server of a rehearsal restarts on the same database. A row's key is numbering * NUMBERING + update_id,
# and a repeat is recognised only within the current numbering (the highest key's): an id that is stored
# already but far below the last one received, or whose message was sent after the stored one arrived, starts
# a new numbering (issue 17 item 10).
NUMBERING = 1 << 40
RENUMBERED_BELOW = 1000  # ids: more than Telegram's reordering (a batch, the webhook's parallel connections)
DATE_SKEW = timedelta(seconds=5)  # between Telegram's clock and ours
log = logging.getLogger(__name__)


RESUME = "resume"  # the payload key of a committed, not yet answered update: the sender to tell where they are


class Ticket:
    """One update from the inbox while it is handled; `marked` once its handling committed the mark.

    `who` is the sender of a private-chat update (Telegram's user fields, no message text): such an update is
    only marked committed by its first commit, and handled once its handler returned."""

    __slots__ = ("key", "marked", "who")

    def __init__(self, key: int, who: dict[str, Any] | None = None) -> None:
        self.key = key  # the inbox row's key (key_of: the update_id within its numbering)
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
_TOP = select(func.max(_T.c.update_id))
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
        session.execute(_MARK_COMMITTED, {"i_id": ticket.key, "i_payload": {RESUME: ticket.who}})
    else:
        session.execute(_MARK_HANDLED, {"i_id": ticket.key, "i_at": datetime.now(UTC)})
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

    async def receive(self, updates: list[tuple[int, dict[str, Any]]], handled: list[int]) -> dict[int, int]:
        """Store a batch (and mark `handled` keys) in one transaction; returns {update_id: key} of the updates
        not seen before in the current numbering (see `key_of`)."""
        now = datetime.now(UTC)
        async with self.sessions() as s, s.begin():
            if handled:
                await self._mark(s, handled, now)
            if not updates:
                return {}
            top = await s.scalar(_TOP)
            numbering, last = divmod(top, NUMBERING) if top is not None else (0, None)
            keys = {uid: numbering * NUMBERING + uid for uid, _ in updates}
            rows = await s.execute(select(_T.c.update_id, _T.c.received_at).where(_T.c.update_id.in_(keys.values())))
            seen = {key: at for key, at in rows}
            if seen and last is not None and any(renumbered(uid, payload, last, seen.get(keys[uid]))
                                                 for uid, payload in updates):
                numbering += 1
                log.warning("the Bot API's update ids started again (update %d after %d): a new numbering; "
                            "repeats are recognised within it", min(keys), last)
                keys = {uid: numbering * NUMBERING + uid for uid, _ in updates}
            values = [{"update_id": keys[uid], "payload": payload, "received_at": now} for uid, payload in updates]
            insert = _insert_for(s)
            stored = await s.scalars(insert(_T).values(values).on_conflict_do_nothing(index_elements=["update_id"])
                                     .returning(_T.c.update_id))
            new = set(stored)
        return {uid: key for uid, key in keys.items() if key in new}

    async def mark_handled(self, keys: list[int]) -> None:
        async with self.sessions() as s, s.begin():
            await self._mark(s, keys, datetime.now(UTC))

    @staticmethod
    async def _mark(s: AsyncSession, keys: list[int], now: datetime) -> None:
        await s.execute(update(InboxUpdate).where(InboxUpdate.update_id.in_(keys), InboxUpdate.handled_at.is_(None))
                        .values(handled_at=now, payload=null()))

    async def pending(self) -> list[tuple[int, dict[str, Any]]]:
        """Updates stored and not handled (a previous run stopped while they were in hand), oldest first, as
        (key, payload): a raw update, or {RESUME: sender} for one committed and maybe not answered."""
        async with self.sessions() as s:
            rows = await s.execute(select(InboxUpdate.update_id, InboxUpdate.payload)
                                   .where(InboxUpdate.handled_at.is_(None)).order_by(InboxUpdate.update_id))
            return [(key, p) for key, p in rows if p]

    async def take_orphans(self, lease: timedelta) -> list[tuple[int, dict[str, Any]]]:
        """Several processes: claim the unhandled updates whose holder stopped renewing them (it died), oldest
        first. The claim renews `received_at`, so two processes never take the same row."""
        now = datetime.now(UTC)
        async with self.sessions() as s, s.begin():
            rows = await s.execute(
                update(_T).where(_T.c.handled_at.is_(None), _T.c.payload.is_not(None), _T.c.received_at < now - lease)
                .values(received_at=now).returning(_T.c.update_id, _T.c.payload))
            return sorted((key, p) for key, p in rows if p)

    async def renew(self, keys: list[int]) -> None:
        """Several processes: the updates in hand here are still held (see `take_orphans`)."""
        if not keys:
            return
        async with self.sessions() as s, s.begin():
            await s.execute(update(_T).where(_T.c.update_id.in_(keys), _T.c.handled_at.is_(None))
                            .values(received_at=datetime.now(UTC)))

    async def prune(self) -> int:
        from storage.db import rowcount

        async with self.sessions() as s, s.begin():
            before = datetime.now(UTC) - KEEP_HANDLED
            result = await s.execute(delete(InboxUpdate).where(InboxUpdate.handled_at < before))
            return rowcount(result)


def key_of(update_id: int, numbering: int = 0) -> int:
    return numbering * NUMBERING + update_id


def renumbered(update_id: int, payload: dict[str, Any], last: int, seen_at: datetime | None) -> bool:
    """Whether an update whose id is stored already (received at `seen_at`) is a new one of a new numbering
    rather than a repeat: its id is far below the last one received, or it was sent after the stored one
    arrived (a repeat is never younger than its first arrival)."""
    if seen_at is None:
        return False
    if update_id < last - RENUMBERED_BELOW:
        return True
    sent = sent_at(payload)
    return sent is not None and sent > seen_at + DATE_SKEW


def sent_at(payload: dict[str, Any]) -> datetime | None:
    """When Telegram received the update's message (its `date`, or `edit_date` for an edit), when it has one."""
    for kind in ("message", "edited_message", "channel_post", "edited_channel_post", "business_message"):
        event = payload.get(kind)
        if isinstance(event, dict):
            stamp = event.get("edit_date") or event.get("date")
            if isinstance(stamp, int | float):
                return datetime.fromtimestamp(stamp, UTC)
    return None


def _insert_for(s: AsyncSession) -> Any:
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert
