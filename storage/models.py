"""SQLAlchemy models. Every instant is stored in UTC (timezone-aware columns)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy import false as sa_false
from sqlalchemy import true as sa_true
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime in, an aware UTC datetime out (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class Delegate(Base):
    """A registered person. A row exists only after they consented and confirmed."""

    __tablename__ = "delegates"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    language: Mapped[str] = mapped_column(String(8))
    full_name: Mapped[str] = mapped_column(String(100))
    position: Mapped[str] = mapped_column(String(100))
    organisation: Mapped[str] = mapped_column(String(100))
    city: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(100))
    # The EXCOM city from the event file the person represents, when recognised.
    city_id: Mapped[str | None] = mapped_column(String(32))
    participant_type: Mapped[str] = mapped_column(String(24))
    email: Mapped[str] = mapped_column(String(254))
    timezone: Mapped[str] = mapped_column(String(64))
    matchmaking: Mapped[bool | None] = mapped_column(Boolean)
    consent_at: Mapped[datetime]
    registered_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Set when an organiser registered the person on their behalf.
    registered_by: Mapped[int | None] = mapped_column(BigInteger)
    username: Mapped[str | None] = mapped_column(String(64))
    # Telegram answered 403: the person blocked the bot; nothing more is sent to them.
    blocked_at: Mapped[datetime | None]
    # Reminders: minutes before a followed session (5, 10, 15 or 30), on/off, and "follow everything".
    reminder_lead: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    reminders_on: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    follow_all: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # An "EXCOM member city" claim is checked by an organiser: pending, confirmed or rejected (None for the
    # other participant types). Only a confirmed claim sees the members-only join details.
    excom_status: Mapped[str | None] = mapped_column(String(16))
    excom_decided_by: Mapped[int | None] = mapped_column(BigInteger)
    excom_decided_at: Mapped[datetime | None]


class Follow(Base):
    """A delegate or a guest (guests table) follows a program item (and is reminded before it). No foreign
    key: the person is in one of two tables; forgetting a person deletes their follows with everything else."""

    __tablename__ = "follows"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    item_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime]


class FsmRecord(Base):
    """Conversation state (aiogram FSM) that survives a restart."""

    __tablename__ = "fsm_state"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime]


class LatePass(Base):
    """An organiser let this Telegram user register after the deadline."""

    __tablename__ = "late_passes"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    granted_by: Mapped[int] = mapped_column(BigInteger)
    granted_at: Mapped[datetime]


class OutboxMessage(Base):
    """A message that is not a direct reply (reminder, broadcast, notice): stored first, sent by the sender.

    `key` makes creating it twice harmless. Instants on the bot's clock: due_at, next_at, expires_at, sent_at,
    created_at, updated_at. The claim (claimed_at, lease_until) is on the real clock: it is about processes.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next_at", "status", "next_at"),
                      Index("ix_outbox_status_priority_next_at", "status", "priority", "next_at"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                    autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    # The person the message concerns (None for a message to a group).
    user_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    # Where it goes: the person's private chat (= user_id) or a group.
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    # domain.messages.Priority: 0 replies, 1 interactive, 2 time-bound, 3 bulk. Claimed lowest first.
    priority: Mapped[int] = mapped_column(Integer, default=2, server_default="2")
    # Which renderer builds the text at send time ("reminder", "day_before", "time_changed", ...).
    kind: Mapped[str] = mapped_column(String(32))
    # What the rows of one fan-out or campaign share, for delivery reports ("reminder:opening:10").
    topic: Mapped[str] = mapped_column(String(100), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    due_at: Mapped[datetime]
    next_at: Mapped[datetime]
    # Not sent by then: dropped and recorded instead of being sent late.
    expires_at: Mapped[datetime | None]
    # pending, sending, sent, failed (not retried), blocked (403), dropped (expired or no longer wanted),
    # cancelled (its topic was cancelled before it was sent).
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    claimed_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ProgramSnapshot(Base):
    """The program times the bot last scheduled: a moved item is noticed at the next start-up."""

    __tablename__ = "program_snapshot"

    item_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    starts: Mapped[datetime]
    ends: Mapped[datetime]
    updated_at: Mapped[datetime]


class InboxUpdate(Base):
    """An update received from Telegram, stored before its offset is acknowledged (at-least-once handling).

    `handled_at` is set in the transaction of the update's first commit (so a restart never handles an update
    whose effects are durable a second time), or shortly after a read-only update was answered. The raw update
    (`payload`, personal data) is cleared once handled; handled rows are kept two days to recognise a
    redelivery, then deleted.
    """

    __tablename__ = "inbox"
    __table_args__ = (Index("ix_inbox_handled_at", "handled_at"),)

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    received_at: Mapped[datetime]
    handled_at: Mapped[datetime | None]


# -- matchmaking (domain/matchmaking.py's module docstring designs these constraints) ---------------------------

class MmAvailability(Base):
    """A host (a local government that offers meetings) is free at a slot; `user_id` is the host."""

    __tablename__ = "mm_availability"

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("delegates.user_id", ondelete="CASCADE"),
                                         primary_key=True)
    slot_id: Mapped[str] = mapped_column(String(8), primary_key=True)
    created_at: Mapped[datetime]


class MmBooking(Base):
    """A confirmed meeting. The unique keys settle races in the database: one meeting per host slot, one per
    pair (either way round: pair_lo/pair_hi are min/max of the two ids), and the host must have marked the
    slot free (the foreign key to mm_availability, which also stops a booked slot from being unmarked)."""

    __tablename__ = "mm_booking"
    __table_args__ = (
        UniqueConstraint("host_id", "slot_id", name="uq_mm_booking_host_slot"),
        # Also held by the seats across roles; here it is the plain rule for requesters (and their index).
        UniqueConstraint("requester_id", "slot_id", name="uq_mm_booking_requester_slot"),
        UniqueConstraint("pair_lo", "pair_hi", name="uq_mm_booking_pair"),
        CheckConstraint("host_id <> requester_id", name="not_self"),
        ForeignKeyConstraint(["host_id", "slot_id"], ["mm_availability.user_id", "mm_availability.slot_id"],
                             name="fk_mm_booking_host_slot_mm_availability"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                    autoincrement=True)
    host_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("delegates.user_id", ondelete="CASCADE"))
    requester_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("delegates.user_id", ondelete="CASCADE"))
    slot_id: Mapped[str] = mapped_column(String(8))
    pair_lo: Mapped[int] = mapped_column(BigInteger)
    pair_hi: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    # The requester's one-line note to the host ("we would like to discuss smart mobility").
    note: Mapped[str | None] = mapped_column(String(200))


class MmProfile(Base):
    """How a city open for meetings describes itself in the directory: topics from the event file's list and a
    line of free text. Shown to the people who may book (docs/security.md, "Matchmaking")."""

    __tablename__ = "mm_profiles"

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("delegates.user_id", ondelete="CASCADE"),
                                         primary_key=True)
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    about: Mapped[str] = mapped_column(String(300), default="")
    updated_at: Mapped[datetime]


class MmSeat(Base):
    """Who sits in which slot: two rows per booking (host and requester). The primary key is "nobody is in two
    meetings in one slot", across roles."""

    __tablename__ = "mm_seat"

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("delegates.user_id", ondelete="CASCADE"),
                                         primary_key=True)
    slot_id: Mapped[str] = mapped_column(String(8), primary_key=True)
    booking_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"),
                                            ForeignKey("mm_booking.id", ondelete="CASCADE"), index=True)


class MmOutsideRequest(Base):
    """"Ask to meet outside the event": the host had no slot free for the requester; organisers arrange it."""

    __tablename__ = "mm_outside_request"
    __table_args__ = (UniqueConstraint("host_id", "requester_id", name="uq_mm_outside_request_pair"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                    autoincrement=True)
    host_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("delegates.user_id", ondelete="CASCADE"),
                                         index=True)
    requester_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("delegates.user_id", ondelete="CASCADE"),
                                              index=True)
    created_at: Mapped[datetime]


class MmState(Base):
    """One row per event: `published_at` set means the schedule is published and bookings are frozen. The row is
    also the lock bookings take for share and "Publish" takes for update."""

    __tablename__ = "mm_state"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    published_at: Mapped[datetime | None]
    published_by: Mapped[int | None] = mapped_column(BigInteger)
    # Bumped by every booking transaction on SQLite: a write first, so the transaction holds the write lock
    # before it reads (the equivalent of BEGIN IMMEDIATE; see storage/matchmaking.py).
    writes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
class Guest(Base):
    """Someone who could not register (registration closed) but set a language and a time zone, or followed a
    session: the program in their time and reminders. Nothing else about them is stored."""

    __tablename__ = "guests"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    language: Mapped[str] = mapped_column(String(8))
    timezone: Mapped[str] = mapped_column(String(64))
    # Whether the person chose the zone (False: the event's, set when they first followed a session).
    zone_chosen: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    reminder_lead: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    reminders_on: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    follow_all: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    blocked_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
class QuizAttempt(Base):
    """One person's single attempt at the Smart City Quiz (the primary key makes it one per person).

    Private play keeps the current question (`index`, asked at `asked_at`) and the message edited in place;
    group play (`group_chat` set: answers to quiz polls in that group) only adds up answers. `name` is the
    Telegram name, shown for people who are not registered. Totals are kept on the row so the leaderboard is
    one indexed query.
    """

    __tablename__ = "quiz_attempts"
    __table_args__ = (Index("ix_quiz_attempts_rank", "score", "time_ms", "finished_at"),)

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(100))
    lang: Mapped[str] = mapped_column(String(8))
    group_chat: Mapped[int | None] = mapped_column(BigInteger)
    index: Mapped[int] = mapped_column(Integer, default=0)
    asked_at: Mapped[datetime]
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    score: Mapped[int] = mapped_column(Integer, default=0)
    time_ms: Mapped[int] = mapped_column(Integer, default=0)
    right: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    # False while the current question waits to go out (its time starts when it is shown: `asked_at` then).
    shown: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())


class QuizName(Base):
    """How a player appears on the public leaderboard, chosen before their first question (issue 20)."""

    __tablename__ = "quiz_names"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # domain.quiz.ShownAs: "first", "nick" or "anon".
    shown_as: Mapped[str] = mapped_column(String(8))
    nickname: Mapped[str | None] = mapped_column(String(32))
    # The Telegram first name at the choice (never the surname).
    first_name: Mapped[str] = mapped_column(String(64), default="")
    chosen_at: Mapped[datetime]


class QuizAnswer(Base):
    """One question of an attempt, answered or timed out: the primary key records a double press once."""

    __tablename__ = "quiz_answers"

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("quiz_attempts.user_id", ondelete="CASCADE"),
                                         primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    question_id: Mapped[str] = mapped_column(String(32))
    # The shown position pressed (private) or the file's option (group); None: time ran out.
    choice: Mapped[int | None] = mapped_column(Integer)
    right: Mapped[bool] = mapped_column(Boolean)
    points: Mapped[int] = mapped_column(Integer)
    time_ms: Mapped[int] = mapped_column(Integer)
    answered_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class QuizState(Base):
    """The quiz's one row of state: the organisers' last /quiz_open or /quiz_close, and what was done for it
    (the announcement, the final results of a closing), so the planner's catch-up does each once."""

    __tablename__ = "quiz_state"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    switch_open: Mapped[bool | None] = mapped_column(Boolean)
    switch_at: Mapped[datetime | None]
    switch_by: Mapped[int | None] = mapped_column(BigInteger)
    announced_at: Mapped[datetime | None]
    # The closing instant whose final results were sent.
    finalised_for: Mapped[datetime | None]
    # The server-side secret in every plan's seed (issue 17): generated once unless QUIZ_SECRET is set.
    secret: Mapped[str | None] = mapped_column(String(128))


class QuizPoll(Base):
    """A quiz poll posted in a group (group mode): poll_answer updates name only the poll's id."""

    __tablename__ = "quiz_polls"

    poll_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    question_id: Mapped[str] = mapped_column(String(32))
    index: Mapped[int] = mapped_column(Integer)
    asked_at: Mapped[datetime]
    seconds: Mapped[int] = mapped_column(Integer)
class Broadcast(Base):
    """An organiser's broadcast: its message (HTML per language, an optional photo or document), its audience,
    and its figures. Each recipient's copy is an outbox row (topic `broadcast:<id>`, the delivery record);
    `sent`/`failed`/`blocked`/`cancelled` are the final figures, written when the last row settled."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    author: Mapped[int] = mapped_column(BigInteger)
    # The language the author's progress message is written in.
    author_language: Mapped[str] = mapped_column(String(8), default="en")
    created_at: Mapped[datetime]
    # {"default": html, "ru": html, ...}: each recipient gets their language's text, else the default.
    texts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # {"type": "photo" | "document", "file_id": ...} or None.
    media: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # {"kind": "everyone" | "type" | "language" | "country" | "members" | "unfinished" | <source>, "value": ...}
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    # sending -> done | cancelled
    status: Mapped[str] = mapped_column(String(16), default="sending")
    # The organiser's progress message (edited in place while it runs).
    progress_chat: Mapped[int | None] = mapped_column(BigInteger)
    progress_message: Mapped[int | None] = mapped_column(BigInteger)
    finished_at: Mapped[datetime | None]
    sent: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    blocked: Mapped[int] = mapped_column(Integer, default=0)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)
    # URL buttons under the message: [[label, url], ...], one a row.
    buttons: Mapped[list[Any] | None] = mapped_column(JSON)
    # "Send at": when its rows fall due (None: at once).
    send_at: Mapped[datetime | None]


class Upload(Base):
    """A file an organiser attached to a broadcast in the console: its bytes until Telegram has it, then its
    `file_id` too (every later copy is sent by that id). The same file uploaded again is the same row (sha256)."""

    __tablename__ = "uploads"
    __table_args__ = (UniqueConstraint("sha256", "kind", name="uq_uploads_sha256_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # photo | document
    filename: Mapped[str] = mapped_column(String(128))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    file_id: Mapped[str | None] = mapped_column(String(256))
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class AuditEntry(Base):
    """An organiser's action: who, what, when (broadcasts, exports, /admit, EXCOM decisions, quiz, schedule)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(500), default="")


class ConsoleToken(Base):
    """The web console's sign-in links and sessions (services/console.py): only a hash of the secret is kept.
    A link is used once (`used_at`); a session ends at `expires_at` or when its organiser signs out."""

    __tablename__ = "console_tokens"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the secret
    kind: Mapped[str] = mapped_column(String(8))  # "link" or "session"
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    csrf: Mapped[str | None] = mapped_column(String(64))
