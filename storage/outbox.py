"""The outbox: every message that is not a direct reply is a row first, then the sender delivers it.

A row has a unique key (creating it twice is harmless), a chat to go to (a person's private chat or a group)
and the person it concerns, a kind with a JSON payload (what the renderer of that kind turns into a message
at send time, in the reader's current language and time zone), a priority, a topic (the fan-out or campaign
it belongs to: counted and cancellable), a due time, an optional expiry, a status and its outcome (attempts,
last error, sent_at, Telegram's message id). Rows are kept after sending: they are the delivery record
organisers read.

Status: pending -> sending (claimed, with a lease) -> sent | pending (retry later) | failed | blocked |
dropped; pending -> cancelled when its topic is cancelled. A row is claimed again only while pending or when
the lease of the sender that claimed it has run out, so a row marked sent is never sent again.

A claimed row is in one of two states, told apart by its next_at: "claimed, not started" (next_at is when it
fell due, in the past: nothing was asked of Telegram, safe to send again at once) and "request started,
outcome unknown" (`start_attempt` committed next_at = the start plus the request timeout and a margin, in the
future: the first attempt may still land until then, so it is not sent again before). A sender killed
mid-request leaves the second kind; `release_all_claims` and an expired lease keep that next_at.

Instants are on the bot's clock (due_at, next_at, expires_at, sent_at); the lease is on the real clock,
because it is about processes that die, not about the event day being replayed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.messages import (
    BLOCKED,
    CANCELLED,
    DROPPED,
    FAILED,
    PENDING,
    SENDING,
    SENT,
    STATUSES,
    NewMessage,
    OutboxRow,
    Recipient,
    TopicCounts,
)
from domain.registration import GUEST, is_member
from storage.db import rowcount
from storage.models import Delegate, Guest, OutboxMessage

_INSERT_CHUNK = 1000
_ERROR_LEN = 300


# -- the repository -------------------------------------------------------------------------------------------

def _insert_ignoring_duplicates(dialect: str) -> Any:
    """INSERT ... ON CONFLICT (key) DO NOTHING RETURNING id: the same statement on SQLite and PostgreSQL."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]  # the same API in SQLite's dialect
    return insert(OutboxMessage).on_conflict_do_nothing(index_elements=["key"]).returning(OutboxMessage.id)


_REARM_COLUMNS = ("key", "user_id", "chat_id", "priority", "kind", "topic", "payload", "due_at", "next_at",
                  "expires_at", "status", "attempts", "created_at", "updated_at")
_rearms: dict[str, Any] = {}


def _rearm_statement(dialect: str) -> Any:
    """INSERT ... ON CONFLICT (key) DO UPDATE (back to pending) unless a sender holds the row, RETURNING id;
    built once per dialect with bound parameters (it runs on every quiz press)."""
    stmt = _rearms.get(dialect)
    if stmt is not None:
        return stmt
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]  # the same API in SQLite's dialect
    table = cast(Table, OutboxMessage.__table__)  # a Table (declarative models type __table__ as a FromClause)
    stmt = insert(table).values({c: bindparam(f"r_{c}", type_=table.c[c].type) for c in _REARM_COLUMNS})
    again: dict[str, Any] = {c: stmt.excluded[c] for c in _REARM_COLUMNS if c not in ("key", "created_at")}
    again.update(claimed_at=None, lease_until=None, sent_at=None, message_id=None, error=None)
    stmt = stmt.on_conflict_do_update(index_elements=["key"], set_=again,
                                      where=table.c.status != SENDING).returning(table.c.id)
    _rearms[dialect] = stmt
    return stmt


def _clip(error: str) -> str:
    return error if len(error) <= _ERROR_LEN else error[: _ERROR_LEN - 1] + "…"


_ROW_COLUMNS = (OutboxMessage.id, OutboxMessage.key, OutboxMessage.user_id, OutboxMessage.chat_id,
                OutboxMessage.priority, OutboxMessage.kind,
                OutboxMessage.topic, OutboxMessage.payload, OutboxMessage.due_at, OutboxMessage.next_at,
                OutboxMessage.expires_at, OutboxMessage.attempts, OutboxMessage.claimed_at)


class Outbox:
    """Rows of the outbox. Flushes only; the caller commits (the sender commits each outcome at once)."""

    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    @property
    def _dialect(self) -> str:
        return self.s.get_bind().dialect.name

    async def add(self, messages: Iterable[NewMessage], now: datetime) -> int:
        """Create the rows whose key is new; returns how many were created."""
        created = 0
        chunk: list[dict[str, Any]] = []
        for m in messages:
            chunk.append({"key": m.key, "user_id": m.user_id, "chat_id": m.target, "priority": int(m.priority),
                          "kind": m.kind, "topic": m.topic,
                          "payload": m.payload, "due_at": m.due_at, "next_at": m.due_at,
                          "expires_at": m.expires_at, "status": PENDING, "attempts": 0,
                          "created_at": now, "updated_at": now})
            if len(chunk) >= _INSERT_CHUNK:
                created += await self._insert(chunk)
                chunk = []
        if chunk:
            created += await self._insert(chunk)
        return created

    async def _insert(self, rows: list[dict[str, Any]]) -> int:
        # One executemany (batched by SQLAlchemy into multi-row statements): many times faster than compiling a
        # VALUES list per chunk. Only the rows actually inserted come back.
        conn = await self.s.connection()
        result = await conn.execute(_insert_ignoring_duplicates(self._dialect), rows)
        return len(result.all())

    async def rearm(self, message: NewMessage, now: datetime) -> bool:
        """Create `message`, or put the row of its key back to pending with its new due time and payload (one
        statement: a per-person timer re-armed in place instead of a cancel and an insert). False, changing
        nothing, when that row is claimed by a sender right now (the caller falls back to a row of its own)."""
        values = {"key": message.key, "user_id": message.user_id, "chat_id": message.target,
                  "priority": int(message.priority), "kind": message.kind, "topic": message.topic,
                  "payload": message.payload, "due_at": message.due_at, "next_at": message.due_at,
                  "expires_at": message.expires_at, "status": PENDING, "attempts": 0,
                  "created_at": now, "updated_at": now}
        conn = await self.s.connection()
        return (await conn.execute(_rearm_statement(self._dialect), {f"r_{k}": v for k, v in values.items()})
                ).first() is not None

    async def existing_keys(self, topic: str) -> set[str]:
        return set(await self.s.scalars(select(OutboxMessage.key).where(OutboxMessage.topic == topic)))

    async def claim(self, now: datetime, wall: datetime, lease: timedelta, limit: int, *,
                    priorities: tuple[int, int] | None = None,
                    exclude: frozenset[int] = frozenset()) -> list[OutboxRow]:
        """Mark up to `limit` due rows as being sent by this sender and return them: highest priority first,
        then oldest due. `priorities` (lowest, highest number) restricts the claim to a range of priorities.

        Due: pending with next_at <= now, or claimed by a sender whose lease ran out. On PostgreSQL the rows
        are locked with FOR UPDATE SKIP LOCKED, so concurrent senders claim disjoint rows. `exclude`: ids the
        caller still holds (never claimed twice by one sender, even past their lease).
        """
        if limit <= 0:
            return []
        due = (
            select(OutboxMessage.id)
            .where(or_(and_(OutboxMessage.status == PENDING, OutboxMessage.next_at <= now),
                       # A dead sender's row; one whose request had started waits until its first attempt
                       # can no longer land (next_at, set by start_attempt).
                       and_(OutboxMessage.status == SENDING, OutboxMessage.lease_until < wall,
                            OutboxMessage.next_at <= now)))
            .order_by(OutboxMessage.priority, OutboxMessage.next_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        if priorities is not None:
            due = due.where(OutboxMessage.priority.between(*priorities))
        if exclude:
            due = due.where(OutboxMessage.id.not_in(sorted(exclude)))
        stmt = (
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(due.scalar_subquery()))
            .values(status=SENDING, claimed_at=wall, lease_until=wall + lease, updated_at=now)
            .returning(*_ROW_COLUMNS)
            .execution_options(synchronize_session=False)
        )
        rows = [OutboxRow(*r) for r in (await self.s.execute(stmt)).all()]
        rows.sort(key=lambda r: (r.priority, r.next_at, r.id))
        return rows

    def _mine(self, row: OutboxRow) -> Any:
        """Only the sender holding the claim finishes a row."""
        return and_(OutboxMessage.id == row.id, OutboxMessage.status == SENDING,
                    OutboxMessage.claimed_at == row.claimed_at)

    async def _finish(self, row: OutboxRow, **values: Any) -> bool:
        result = await self.s.execute(
            update(OutboxMessage).where(self._mine(row)).values(**values)
            .execution_options(synchronize_session=False))
        return bool(rowcount(result))

    async def mark_sent(self, row: OutboxRow, now: datetime, message_id: int | None, attempts: int) -> bool:
        return await self._finish(row, status=SENT, sent_at=now, message_id=message_id, attempts=attempts,
                                  error=None, lease_until=None, updated_at=now)

    async def mark_failed(self, row: OutboxRow, now: datetime, error: str, attempts: int) -> bool:
        """Not sent and not to be retried (400, a renderer that failed)."""
        return await self._finish(row, status=FAILED, error=_clip(error), attempts=attempts, lease_until=None,
                                  updated_at=now)

    async def mark_blocked(self, row: OutboxRow, now: datetime, error: str, attempts: int) -> bool:
        """Telegram answered 403: the person blocked the bot (or the bot left the group)."""
        return await self._finish(row, status=BLOCKED, error=_clip(error), attempts=attempts, lease_until=None,
                                  updated_at=now)

    async def mark_dropped(self, row: OutboxRow, now: datetime, reason: str) -> bool:
        """Deliberately not sent (expired, no longer wanted, recipient gone)."""
        return await self._finish(row, status=DROPPED, error=_clip(reason), lease_until=None, updated_at=now)

    async def retry_later(self, row: OutboxRow, now: datetime, next_at: datetime, error: str,
                          attempts: int) -> bool:
        return await self._finish(row, status=PENDING, next_at=next_at, error=_clip(error), attempts=attempts,
                                  claimed_at=None, lease_until=None, updated_at=now)

    async def start_attempt(self, row: OutboxRow, now: datetime, unknown_until: datetime, attempts: int) -> bool:
        """The request for this row is about to start (committed before it is made): until `unknown_until`
        its outcome is unknown, so if this sender dies the row is not sent again before then."""
        return await self._finish(row, next_at=unknown_until, attempts=attempts, updated_at=now)

    async def note_attempt(self, row: OutboxRow, now: datetime, error: str, attempts: int) -> bool:
        """Record a try that will be repeated by the same claim (a 429)."""
        return await self._finish(row, error=_clip(error), attempts=attempts, updated_at=now)

    async def postpone(self, row: OutboxRow, now: datetime, next_at: datetime) -> bool:
        """Give a claimed row back untried, due again at `next_at` (its chat must wait; no attempt counted)."""
        return await self._finish(row, status=PENDING, next_at=next_at, claimed_at=None, lease_until=None,
                                  updated_at=now)

    async def release(self, rows: Sequence[OutboxRow], now: datetime) -> None:
        """Give claimed rows back (the sender stops or pauses for long): another claim picks them up."""
        for row in rows:
            await self._finish(row, status=PENDING, claimed_at=None, lease_until=None, updated_at=now)

    async def release_all_claims(self, now: datetime) -> tuple[int, int]:
        """Every claimed row back to pending: only when this is the one sender (SQLite, at start-up).

        Returns (claimed but not started: due again now, request started with outcome unknown: due again when
        their first attempt can no longer land, their next_at as `start_attempt` left it)."""
        started = await self.s.scalar(
            select(func.count()).where(OutboxMessage.status == SENDING, OutboxMessage.next_at > now)) or 0
        result = await self.s.execute(
            update(OutboxMessage).where(OutboxMessage.status == SENDING)
            .values(status=PENDING, claimed_at=None, lease_until=None, updated_at=now)
            .execution_options(synchronize_session=False))
        released = rowcount(result)
        return released - int(started), int(started)

    async def block_pending_for(self, chat_id: int, now: datetime, reason: str) -> int:
        """Stop sending to a chat that blocked the bot: its pending rows become `blocked` with `reason`."""
        result = await self.s.execute(
            update(OutboxMessage).where(OutboxMessage.chat_id == chat_id, OutboxMessage.status == PENDING)
            .values(status=BLOCKED, error=_clip(reason), updated_at=now)
            .execution_options(synchronize_session=False))
        return rowcount(result)

    async def cancel(self, topic: str, now: datetime) -> int:
        """Cancel what of a topic is not sent yet: its pending rows become `cancelled`; returns how many.

        Rows being sent at this instant finish as they will (at most a claim's worth, a second or two).
        """
        result = await self.s.execute(
            update(OutboxMessage).where(OutboxMessage.topic == topic, OutboxMessage.status == PENDING)
            .values(status=CANCELLED, error="cancelled", updated_at=now)
            .execution_options(synchronize_session=False))
        return rowcount(result)

    async def counts(self, topic: str) -> TopicCounts:
        """The live count of a topic's rows in each state."""
        return TopicCounts.from_statuses(await self.report(topic=topic))

    async def next_due(self) -> datetime | None:
        """The earliest next_at of a pending row (the sender sleeps until then)."""
        return await self.s.scalar(select(func.min(OutboxMessage.next_at)).where(OutboxMessage.status == PENDING))

    async def recipients(self, user_ids: Iterable[int | None]) -> dict[int, Recipient]:
        """Delegates, and guests (people who could not register but follow sessions) for the rest."""
        ids = sorted({u for u in user_ids if u is not None})
        found: dict[int, Recipient] = {}
        for start in range(0, len(ids), _INSERT_CHUNK):
            rows = await self.s.execute(
                select(Delegate.user_id, Delegate.language, Delegate.timezone, Delegate.participant_type,
                       Delegate.reminder_lead, Delegate.reminders_on, Delegate.follow_all, Delegate.blocked_at,
                       Delegate.excom_status, Delegate.matchmaking)
                .where(Delegate.user_id.in_(ids[start:start + _INSERT_CHUNK])))
            for uid, lang, zone, ptype, lead, on, everything, blocked_at, excom, mm in rows:
                found[uid] = Recipient(uid, lang, zone, ptype, lead, on, everything, blocked_at is not None,
                                       is_member(ptype, excom), mm)
        rest = [u for u in ids if u not in found]
        for start in range(0, len(rest), _INSERT_CHUNK):
            rows = await self.s.execute(
                select(Guest.user_id, Guest.language, Guest.timezone, Guest.reminder_lead, Guest.reminders_on,
                       Guest.follow_all, Guest.blocked_at)
                .where(Guest.user_id.in_(rest[start:start + _INSERT_CHUNK])))
            for uid, lang, zone, lead, on, everything, blocked_at in rows:
                # Guests take no part in matchmaking: no matchmaking reminders from "the whole program".
                found[uid] = Recipient(uid, lang, zone, GUEST, lead, on, everything, blocked_at is not None,
                                       matchmaking=False)
        return found

    # -- delivery records ---------------------------------------------------------------------------------

    async def report(self, *, topic: str | None = None, topic_prefix: str | None = None,
                     kind: str | None = None) -> dict[str, int]:
        """How many rows are in each status (every status listed, zeros included)."""
        q = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        if topic is not None:
            q = q.where(OutboxMessage.topic == topic)
        if topic_prefix is not None:
            q = q.where(OutboxMessage.topic.startswith(topic_prefix, autoescape=True))
        if kind is not None:
            q = q.where(OutboxMessage.kind == kind)
        counts = dict.fromkeys(STATUSES, 0)
        for status, n in await self.s.execute(q):
            counts[status] = int(n)
        return counts

    async def rows(self, *, topic: str | None = None, user_id: int | None = None, chat_id: int | None = None,
                   status: str | None = None) -> list[OutboxMessage]:
        """The rows themselves (for reports and tests)."""
        q = select(OutboxMessage).order_by(OutboxMessage.id)
        if topic is not None:
            q = q.where(OutboxMessage.topic == topic)
        if user_id is not None:
            q = q.where(OutboxMessage.user_id == user_id)
        if chat_id is not None:
            q = q.where(OutboxMessage.chat_id == chat_id)
        if status is not None:
            q = q.where(OutboxMessage.status == status)
        return list(await self.s.scalars(q))
