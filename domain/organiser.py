"""Organiser tools, the pure part: broadcast drafts and audiences, progress figures, CSV files for Excel.

No framework, no database: values the services pass around and rules they apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.errors import ServiceError
from domain.i18n_marks import N_

# Telegram's limits for a message's text and a media caption (characters after entities are parsed).
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
DEFAULT = "default"
MEDIA_TYPES = ("photo", "document")

# Audiences the bot knows itself; features add theirs through services.organiser.Sources.
EVERYONE, BY_TYPE, BY_LANGUAGE, BY_COUNTRY, MEMBERS, UNFINISHED = (
    "everyone", "type", "language", "country", "members", "unfinished")
BUILT_IN_AUDIENCES = (EVERYONE, BY_TYPE, BY_LANGUAGE, BY_COUNTRY, MEMBERS, UNFINISHED)
# Audiences that need a value (which type, language, country).
WITH_VALUE = (BY_TYPE, BY_LANGUAGE, BY_COUNTRY)

# Broadcast status.
SENDING, DONE, CANCELLED = "sending", "done", "cancelled"

TOO_LONG_CAPTION = N_("With a photo or a document the text may have at most {n} characters; this one has {length}. "
                      "Please send a shorter text.")
TOO_LONG_TEXT = N_("A message may have at most {n} characters; this one has {length}. Please send a shorter one.")
EMPTY = N_("Please send the text of the message (you may attach a photo or a document with a caption).")


@dataclass(frozen=True)
class Part:
    """One language's version of a broadcast: HTML as Telegram delivered it, and its plain length."""

    html: str
    length: int


def check_part(part: Part, *, with_media: bool, text_required: bool = True) -> None:
    """Refuse a text Telegram would refuse to send (the caption limit applies with a photo or a document).
    A photo or a document may go without a caption (`text_required` False)."""
    if not part.html.strip() and text_required:
        raise ServiceError("empty", EMPTY)
    limit = CAPTION_LIMIT if with_media else TEXT_LIMIT
    if part.length > limit:
        raise ServiceError("too_long", TOO_LONG_CAPTION if with_media else TOO_LONG_TEXT, n=limit, length=part.length)


def text_for(texts: dict[str, str], lang: str | None) -> str:
    """The recipient's language's variant, else the default."""
    if lang and texts.get(lang):
        return texts[lang]
    return texts.get(DEFAULT, "")


@dataclass(frozen=True)
class Audience:
    """Who a broadcast goes to: a kind (built in or a registered source) and, for some, a value."""

    kind: str
    value: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Audience:
        data = data or {}
        value = data.get("value")
        return cls(str(data.get("kind", EVERYONE)), str(value) if value is not None else None)


@dataclass(frozen=True)
class BroadcastInfo:
    """A broadcast as organisers see it (the figures are final once `status` is no longer sending)."""

    id: int
    author: int
    author_language: str
    created_at: datetime
    texts: dict[str, str]
    media: dict[str, Any] | None
    audience: Audience
    recipients: int
    status: str
    progress_chat: int | None = None
    progress_message: int | None = None
    finished_at: datetime | None = None
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    cancelled: int = 0


@dataclass(frozen=True)
class Unreached:
    """A recipient a broadcast did not reach, and why (blocked the bot, refused, cancelled, ...)."""

    user_id: int
    name: str | None
    status: str
    error: str | None


@dataclass(frozen=True)
class AuditItem:
    at: datetime
    actor: int
    action: str
    detail: str


@dataclass(frozen=True)
class Progress:
    """A running broadcast's live figures; `left` is what is still to send."""

    total: int
    sent: int
    failed: int
    blocked: int
    left: int
    cancelled: int = 0
    dropped: int = 0

    @property
    def settled(self) -> int:
        return self.sent + self.failed + self.blocked + self.dropped

    def seconds_left(self, elapsed: float, rate: float | None = None) -> float | None:
        """Estimated seconds until the rest is sent: the pace so far, or `rate` before anything settled."""
        if not self.left:
            return 0.0
        if self.settled and elapsed > 0:
            return self.left / (self.settled / elapsed)
        return self.left / rate if rate else None


@dataclass(frozen=True)
class Stats:
    """What /stats shows: counts by category (each a list of (label, n), largest first) and totals."""

    registered: int
    by_day: list[tuple[str, int]] = field(default_factory=list)
    by_type: list[tuple[str, int]] = field(default_factory=list)
    by_language: list[tuple[str, int]] = field(default_factory=list)
    by_country: list[tuple[str, int]] = field(default_factory=list)
    by_zone: list[tuple[str, int]] = field(default_factory=list)
    following: int = 0
    blocked: int = 0
    # Figures other features provide (quiz participants, meetings booked), by msgid label.
    extra: list[tuple[str, int]] = field(default_factory=list)


def top(counts: dict[str, int], n: int | None = None) -> list[tuple[str, int]]:
    """(label, count) largest first, then by label; at most `n`, the rest summed as "…"."""
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if n is None or len(ordered) <= n:
        return ordered
    rest = sum(v for _, v in ordered[n - 1:])
    return [*ordered[: n - 1], ("…", rest)]
