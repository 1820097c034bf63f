"""What a feature hands the delivery engine, in plain Python: no aiogram, no SQLAlchemy.

A feature creates `NewMessage`s (a row of the outbox each) and registers a renderer for its kind; the
renderer turns a row into one of the payloads below when the row is sent (in the reader's language and zone
of that moment), or into `Drop` when it should not be sent any more.

Payloads the sender can deliver:
- `Rendered`: HTML text with inline buttons (sendMessage).
- `Photo` / `Document`: a file with an HTML caption (sendPhoto / sendDocument). The file is bytes made at
  send time (rows keep only what is needed to make them again), or a file_id / URL Telegram already knows.
- `Poll`: a poll or a quiz (sendPoll; a quiz has the correct option, an explanation, and is not anonymous so
  the answers reach the bot).
- `Edit`: new text for a message sent earlier (editMessageText; e.g. a progress message). "Message is not
  modified" counts as done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import Any


class Priority(IntEnum):
    """Who goes first when the rate limit makes messages wait: the lower, the sooner."""

    REPLY = 0        # a direct answer to what a person just did
    INTERACTIVE = 1  # people are waiting on it right now (a quiz question)
    TIMELY = 2       # due by a deadline (reminders, meeting notices)
    BULK = 3         # broadcasts: as fast as the rest leaves room for


@dataclass(frozen=True)
class NewMessage:
    """A row to create. `key` is unique across the outbox: build it from what makes the message one.

    `user_id` is the person it concerns (None for a message to a group); `chat_id` is where it goes (the
    person's private chat when not given). A row without `expires_at` is retried until it is sent or its
    topic is cancelled.
    """

    key: str
    user_id: int | None
    kind: str
    topic: str
    due_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    expires_at: datetime | None = None
    chat_id: int | None = None
    priority: Priority = Priority.TIMELY

    @property
    def target(self) -> int:
        chat = self.chat_id if self.chat_id is not None else self.user_id
        if chat is None:
            raise ValueError(f"outbox message {self.key!r} has neither a chat_id nor a user_id")
        return chat


@dataclass(frozen=True)
class Button:
    text: str
    callback_data: str | None = None
    url: str | None = None


Buttons = tuple[tuple[Button, ...], ...]


@dataclass(frozen=True)
class Rendered:
    """A text message: HTML text and inline buttons (rows of buttons)."""

    text: str
    buttons: Buttons = ()


@dataclass(frozen=True)
class FileRef:
    """A file to send: bytes (uploaded, named `filename`), or a file_id / URL Telegram can fetch."""

    data: bytes | None = None
    filename: str = "file"
    file_id: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.data, self.file_id, self.url)) != 1:
            raise ValueError("a file is exactly one of: data, file_id, url")


@dataclass(frozen=True)
class Photo:
    file: FileRef
    caption: str = ""
    buttons: Buttons = ()


@dataclass(frozen=True)
class Document:
    file: FileRef
    caption: str = ""
    buttons: Buttons = ()


@dataclass(frozen=True)
class Poll:
    """A poll; with `correct_option` set, a quiz (not anonymous, so each answer reaches the bot)."""

    question: str
    options: tuple[str, ...]
    correct_option: int | None = None
    explanation: str | None = None
    open_period: int | None = None  # seconds the poll stays open (5-600)
    is_anonymous: bool = False
    allows_multiple_answers: bool = False

    @property
    def is_quiz(self) -> bool:
        return self.correct_option is not None


@dataclass(frozen=True)
class Edit:
    """New text (and buttons) for message `message_id` sent earlier to the row's chat."""

    message_id: int
    text: str
    buttons: Buttons = ()


Payload = Rendered | Photo | Document | Poll | Edit


@dataclass(frozen=True)
class Sent:
    """What Telegram answered to a sent row: its message id, the poll's id for a poll, and the file's id for a
    photo or a document (an uploaded file is sent by this id from then on)."""

    message_id: int | None
    poll_id: str | None = None
    file_id: str | None = None


@dataclass(frozen=True)
class Drop:
    """Do not send this row; `reason` is recorded (e.g. "expired", "unfollowed")."""

    reason: str


# Outbox statuses. pending -> sending (claimed, with a lease) -> sent | pending (retry later) | failed |
# blocked (403: the person blocked the bot) | dropped (not worth sending any more) | cancelled (its topic was).
PENDING, SENDING, SENT, FAILED, BLOCKED, DROPPED, CANCELLED = (
    "pending", "sending", "sent", "failed", "blocked", "dropped", "cancelled")
STATUSES = (PENDING, SENDING, SENT, FAILED, BLOCKED, DROPPED, CANCELLED)
FINAL = frozenset({SENT, FAILED, BLOCKED, DROPPED, CANCELLED})


@dataclass(frozen=True)
class TopicCounts:
    """How the rows of a topic stand right now (a broadcast's live report)."""

    queued: int = 0      # pending: waiting for their time or for a retry
    sending: int = 0
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    dropped: int = 0
    cancelled: int = 0

    @property
    def total(self) -> int:
        return (self.queued + self.sending + self.sent + self.failed + self.blocked + self.dropped
                + self.cancelled)

    @property
    def open(self) -> int:
        return self.queued + self.sending

    @classmethod
    def from_statuses(cls, counts: dict[str, int]) -> TopicCounts:
        return cls(queued=counts.get(PENDING, 0), sending=counts.get(SENDING, 0), sent=counts.get(SENT, 0),
                   failed=counts.get(FAILED, 0), blocked=counts.get(BLOCKED, 0), dropped=counts.get(DROPPED, 0),
                   cancelled=counts.get(CANCELLED, 0))


@dataclass(frozen=True)
class OutboxRow:
    """A claimed row, as the sender and the renderers see it."""

    id: int
    key: str
    user_id: int | None
    chat_id: int
    priority: int
    kind: str
    topic: str
    payload: dict[str, Any]
    due_at: datetime
    next_at: datetime
    expires_at: datetime | None
    attempts: int
    claimed_at: datetime | None


@dataclass(frozen=True)
class Recipient:
    """The delegate a row goes to, read when it is sent (their language and zone may have changed)."""

    user_id: int
    language: str
    timezone: str
    participant_type: str
    reminder_lead: int
    reminders_on: bool
    follow_all: bool
    blocked: bool
    # An EXCOM member city an organiser confirmed (members-only items are theirs).
    member: bool = False
    # Their matchmaking answer at registration: False when they said No (no matchmaking reminders then).
    matchmaking: bool | None = None
