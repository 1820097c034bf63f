"""Organiser tools, the pure part: broadcast drafts and audiences, progress figures, CSV files for Excel.

No framework, no database: values the services pass around and rules they apply.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

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
UNKNOWN_AUDIENCE = N_("I do not know this audience any more. Please choose again.")


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
class Reader:
    """What an audience rule needs to know of one registered person."""

    user_id: int
    participant_type: str
    language: str
    country: str
    member: bool  # a confirmed EXCOM member city (domain.registration's is_member)


def _keys(values: Iterable[str]) -> tuple[str, ...]:
    """Values of one condition, deduplicated (countries compared case-insensitively), in a stable order."""
    seen: dict[str, str] = {}
    for v in values:
        v = str(v).strip()
        if v and v.casefold() not in seen:
            seen[v.casefold()] = v
    return tuple(sorted(seen.values(), key=str.casefold))


@dataclass(frozen=True)
class Audience:
    """Who a broadcast goes to, one rule for the chat and the web console.

    Registered people who match every condition given; a condition with several values matches any of them
    (two countries: people from either). No condition: everyone registered. `groups` are feature audiences
    (quiz players, matchmaking participants): people in any of them; alone they may include people who never
    registered (quiz players). `unfinished`: the people who started registering and did not finish instead;
    only the language condition applies to them (the language they chose), the others need a registration.
    """

    countries: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    members: bool = False
    groups: tuple[str, ...] = ()
    unfinished: bool = False

    def __post_init__(self) -> None:
        for name in ("countries", "types", "languages", "groups"):
            object.__setattr__(self, name, _keys(getattr(self, name)))

    @property
    def everyone(self) -> bool:
        return self == Audience()

    @property
    def conditions(self) -> int:
        return (len(self.countries) + len(self.types) + len(self.languages) + len(self.groups) + self.members
                + self.unfinished)

    def adding(self, kind: str, value: str | None = None) -> Audience:
        """This audience with one more condition (a value added to its kind's values; `everyone` clears)."""
        match kind:
            case "everyone":
                return Audience()
            case "country" if value:
                return replace(self, countries=(*self.countries, value))
            case "type" if value:
                return replace(self, types=(*self.types, value))
            case "language" if value:
                return replace(self, languages=(*self.languages, value))
            case "members":
                return replace(self, members=True)
            case "unfinished":
                return replace(self, unfinished=True)
            case str() if kind not in BUILT_IN_AUDIENCES:
                return replace(self, groups=(*self.groups, kind))
        raise ServiceError("audience", UNKNOWN_AUDIENCE)

    def matches(self, person: Reader) -> bool:
        """Whether a registered person is in it by their own answers (groups and `unfinished` aside)."""
        return ((not self.countries or person.country.strip().casefold() in {c.casefold() for c in self.countries})
                and (not self.types or person.participant_type in self.types)
                and (not self.languages or person.language in self.languages)
                and (not self.members or person.member))

    def resolve(self, registered: Iterable[Reader], groups: dict[str, set[int]],
                unfinished: dict[int, str | None]) -> dict[int, str | None]:
        """The recipients now: user id -> a language hint for people not registered (None: unknown)."""
        if self.unfinished:
            if self.countries or self.types or self.members or self.groups:
                return {}  # those conditions need a registration the unfinished do not have
            return {uid: lang for uid, lang in sorted(unfinished.items())
                    if not self.languages or lang in self.languages}
        in_groups: set[int] | None = None
        if self.groups:
            in_groups = set().union(*(groups.get(g, set()) for g in self.groups))
        people = {p.user_id for p in registered if self.matches(p)}
        if in_groups is None:
            found = people
        elif self.countries or self.types or self.languages or self.members:
            found = people & in_groups
        else:
            found = in_groups  # quiz players who never registered are in their group too
        return dict.fromkeys(sorted(found))

    def as_dict(self) -> dict[str, Any]:
        return {"countries": list(self.countries), "types": list(self.types), "languages": list(self.languages),
                "members": self.members, "groups": list(self.groups), "unfinished": self.unfinished}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Audience:
        """From as_dict, or from a broadcast stored before conditions combined ({"kind": ..., "value": ...})."""
        data = data or {}
        if "kind" in data:
            kind, value = str(data.get("kind") or EVERYONE), data.get("value")
            try:
                return cls().adding(kind, str(value) if value is not None else None)
            except ServiceError:
                return cls()
        return cls(countries=tuple(data.get("countries") or ()), types=tuple(data.get("types") or ()),
                   languages=tuple(data.get("languages") or ()), members=bool(data.get("members")),
                   groups=tuple(data.get("groups") or ()), unfinished=bool(data.get("unfinished")))

    def summary(self) -> str:
        """For the audit log (not translated): "country=Korea|Russia type=excom language=ru"."""
        parts = [f"{name}={'|'.join(values)}" for name, values in (
            ("country", self.countries), ("type", self.types), ("language", self.languages),
            ("group", self.groups)) if values]
        parts += [flag for flag, on in (("members", self.members), ("unfinished", self.unfinished)) if on]
        return " ".join(parts) or "everyone"


# -- HTML typed in the console ----------------------------------------------------------------------------------

# What Telegram's HTML parse mode accepts (https://core.telegram.org/bots/api#html-style).
HTML_TAGS = frozenset({"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
                       "blockquote", "tg-spoiler", "span"})
BAD_HTML = N_("Telegram would refuse this formatting: {problem}. Use <b>, <i>, <u>, <s>, <a href=\"…\">, "
              "<code>, <pre> or <blockquote>, each closed, and write & as &amp; and < as &lt;.")


class _HtmlCheck(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problem = ""
        self.length = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HTML_TAGS:
            self.problem = self.problem or f"<{tag}>"
        elif tag == "a" and not any(k == "href" and v for k, v in attrs):
            self.problem = self.problem or "<a> without href"
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problem = self.problem or f"</{tag}>"
        else:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        self.length += len(data.encode("utf-16-le")) // 2


# A "<" that starts no tag, or an "&" that starts no entity Telegram knows: Telegram refuses the whole message
# ("can't parse entities"), and a broadcast would fail for every recipient.
_BARE_LT = re.compile(r"<(?![A-Za-z/])")
_BARE_AMP = re.compile(r"&(?!(?:lt|gt|amp|quot|#\d+|#x[0-9A-Fa-f]+);)")


def _word_at(text: str, i: int) -> str:
    """The word around position `i` ("<3", "Q&A"): enough to find the problem in a long text."""
    start, end = i, i
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    while end < len(text) and not text[end].isspace():
        end += 1
    return text[start:end]


def check_html(html: str, *, with_media: bool = False) -> str:
    """HTML an organiser typed, as Telegram will parse it: only its tags, each closed, "<" and "&" escaped;
    within the length limit. Returns it stripped."""
    parser = _HtmlCheck()
    parser.feed(html)
    parser.close()
    if parser.open and not parser.problem:
        parser.problem = f"<{parser.open[-1]}>"
    if not parser.problem and (bare := _BARE_LT.search(html) or _BARE_AMP.search(html)):
        parser.problem = _word_at(html, bare.start())
    if parser.problem:
        raise ServiceError("bad_html", BAD_HTML, problem=parser.problem)
    check_part(Part(html.strip(), parser.length), with_media=with_media)
    return html.strip()


# -- URL buttons and "send at" --------------------------------------------------------------------------------

URL_BUTTONS_MAX = 6
URL_BUTTON_LABEL_MAX = 40
BAD_BUTTON = N_("I could not read the line “{line}”. Send each button on its own line as: label - https://address")
TOO_MANY_BUTTONS = N_("At most {n} buttons, please.")
BAD_SEND_AT = N_("I could not read “{text}” as a date and time. Send it like {example}, in your time zone ({zone}).")
SEND_AT_PAST = N_("{when} has passed already (it is now {now}). Please send a later time.")


@dataclass(frozen=True)
class UrlButton:
    label: str
    url: str


def parse_url_buttons(text: str) -> tuple[UrlButton, ...]:
    """Buttons typed one a line as "label - https://address" (" | " works too); each becomes a row."""
    found = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        label, sep, url = line.rpartition(" - ")
        if not sep:
            label, sep, url = line.rpartition("|")
        label, url = label.strip(), url.strip()
        if not sep or not label or len(label) > URL_BUTTON_LABEL_MAX or not _web_address(url):
            raise ServiceError("bad_button", BAD_BUTTON, line=line[:80])
        found.append(UrlButton(label, url))
    if not found:
        raise ServiceError("bad_button", BAD_BUTTON, line=text.strip()[:80])
    if len(found) > URL_BUTTONS_MAX:
        raise ServiceError("too_many_buttons", TOO_MANY_BUTTONS, n=URL_BUTTONS_MAX)
    return tuple(found)


def _web_address(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("https", "http") and "." in parts.netloc and " " not in url and len(url) <= 512


_SEND_AT = re.compile(r"^\s*(?:(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})|(?P<d2>\d{1,2})\.(?P<m2>\d{1,2})"
                      r"(?:\.(?P<y2>\d{4}))?)?\s*,?\s*(?P<hh>\d{1,2})[:.](?P<mm>\d{2})\s*$")


def parse_send_at(text: str, zone: tzinfo, now: datetime) -> datetime | None:
    """"2020-11-17 09:00", "17.11 09:00", "17.11.2020 9:00" or "09:00" (the next one to come) in `zone`, as an
    aware UTC instant; None when it cannot be read. Whether it is later than now is the caller's check."""
    found = _SEND_AT.match(text)
    if found is None:
        return None
    g = found.groupdict()
    local_now = now.astimezone(zone)
    hour, minute = int(g["hh"]), int(g["mm"])
    try:
        if g["y"] or g["d2"]:
            year = int(g["y"] or g["y2"] or local_now.year)
            month, day = int(g["m"] or g["m2"]), int(g["d"] or g["d2"])
            local = datetime(year, month, day, hour, minute, tzinfo=zone)
        else:
            local = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
            if local <= local_now:
                local += timedelta(days=1)
    except ValueError:
        return None
    return local.astimezone(UTC)


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
    buttons: tuple[UrlButton, ...] = ()
    send_at: datetime | None = None


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


# -- a broadcast's attachment uploaded from the console -----------------------------------------------------------

# Telegram takes photos up to 10 MB by upload; the console takes documents up to the same size.
UPLOAD_LIMIT = 10 * 1024 * 1024
# What a photo is, by its first bytes (the browser's content type is only a hint): JPEG, PNG, WebP.
_PHOTO_MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))
DOCUMENT_EXTENSIONS = (".pdf", ".docx", ".doc", ".xlsx", ".xls", ".pptx", ".ppt", ".odt", ".ods", ".odp", ".txt",
                       ".csv", ".rtf", ".zip", ".ics", ".jpg", ".jpeg", ".png", ".webp", ".gif")
UPLOAD_TOO_BIG = N_("The file “{name}” is too large ({size} MB): at most {limit} MB, please.")
UPLOAD_EMPTY = N_("The file “{name}” is empty.")
UPLOAD_TYPE = N_("“{name}” cannot be attached: a photo (JPEG, PNG or WebP) or a document (PDF, Word, Excel, "
                 "PowerPoint, OpenDocument, text, CSV, ZIP, calendar) please.")


@dataclass(frozen=True)
class UploadInfo:
    """A file an organiser attached to a broadcast; `file_id` once Telegram has it (later copies reuse it)."""

    id: int
    kind: str  # "photo" | "document"
    filename: str
    content_type: str
    size: int
    file_id: str | None = None
    data: bytes | None = None  # read only where it is sent or shown


def photo_type(data: bytes) -> str | None:
    """The image's content type if `data` is a photo Telegram shows as one (JPEG, PNG, WebP)."""
    for magic, kind in _PHOTO_MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_upload(filename: str, data: bytes, *, as_document: bool = False) -> tuple[str, str, str]:
    """An attachment's kind ("photo" or "document"), safe file name and content type; refuses what is too large,
    empty, or neither a photo nor a document type. A photo may go as a document (`as_document`: full quality)."""
    name = re.sub(r"[^\w.\- ()]+", "_", filename.replace("\\", "/").rsplit("/", 1)[-1]).strip(" .")[:100] or "file"
    if not data:
        raise ServiceError("upload_empty", UPLOAD_EMPTY, name=name)
    if len(data) > UPLOAD_LIMIT:
        raise ServiceError("upload_too_big", UPLOAD_TOO_BIG, name=name, size=f"{len(data) / 2**20:.1f}",
                           limit=UPLOAD_LIMIT // 2**20)
    photo = photo_type(data)
    if photo is not None and not as_document:
        return "photo", name, photo
    if not name.lower().endswith(DOCUMENT_EXTENSIONS):
        raise ServiceError("upload_type", UPLOAD_TYPE, name=name)
    return "document", name, photo or "application/octet-stream"
