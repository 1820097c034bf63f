"""The event's content as data: loaded from `events/<event>.toml` and validated.

Every fact the bot states about the event comes from this file. Texts exist in every language of
LANGS; times in the file are local to the event's time zone and become aware UTC datetimes here.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

# The languages are domain/languages.py's; named here too because the event file has a text in each.
from domain.languages import LANGS as LANGS
from domain.languages import Lang as Lang


class EventFileError(Exception):
    """The event file is invalid: the message names the path, the item and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Strict):
    """One text in every supported language."""

    en: str
    ru: str
    ko: str

    @field_validator("en", "ru", "ko")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is empty")
        return value.strip()

    def get(self, lang: str) -> str:
        return getattr(self, lang, None) or self.en


class Words(_Strict):
    """Search keywords per language (synonyms, typos people make, short forms)."""

    en: tuple[str, ...] = ()
    ru: tuple[str, ...] = ()
    ko: tuple[str, ...] = ()

    def get(self, lang: str) -> tuple[str, ...]:
        return getattr(self, lang, ())

    def all(self) -> tuple[str, ...]:
        return self.en + self.ru + self.ko


class Speaker(_Strict):
    name: Text
    role: Text


class ProgramItem(_Strict):
    id: str
    # Local "HH:MM" in the file; `starts`/`ends` are the aware UTC instants (set by Event).
    start: time
    end: time
    kind: Literal["checkin", "ceremony", "session", "meeting", "break", "matchmaking", "quiz", "tour",
                  "workshop", "concert"]
    track: str = "main"
    members_only: bool = False
    title: Text
    description: Text | None = None
    speakers: tuple[Speaker, ...] = ()
    # Extra lines shown on the card (e.g. the parts of a ceremony), in order.
    agenda: tuple[Text, ...] = ()
    # Join instructions; when absent the platform's instructions apply.
    join: Text | None = None
    keywords: Words = Words()
    starts: datetime = datetime.min.replace(tzinfo=UTC)
    ends: datetime = datetime.min.replace(tzinfo=UTC)

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not value or not all(c.isalnum() or c in "-_" for c in value) or len(value) > 24:
            raise ValueError("id must be 1-24 characters of letters, digits, '-' or '_'")
        return value

    @property
    def duration(self) -> timedelta:
        return self.ends - self.starts

    def is_on(self, instant: datetime) -> bool:
        return self.starts <= instant < self.ends


class FaqEntry(_Strict):
    id: str
    question: Text
    answer: Text
    keywords: Words = Words()
    # A program item the answer is about (its card is offered as a button).
    item: str | None = None
    # The answer once registration has closed (by the bot's clock), when `answer` no longer holds then
    # ("Register at ... by November 10"): the organisers' contact follows it.
    after_deadline: Text | None = None


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


# An IANA time zone name that this machine's tz database knows.
ZoneName = Annotated[str, AfterValidator(_zone)]


class City(_Strict):
    id: str
    name: Text
    country: Text
    timezone: ZoneName
    # Other spellings people type ("Hanoi", "Ханой", "Beyoğlu").
    aliases: tuple[str, ...] = ()
    excom: bool = False
    # Which seed documents list the city as an EXCOM member (they differ; both facts are kept).
    excom_sources: tuple[str, ...] = ()
    regional_office: Text | None = None
    facts: tuple[Text, ...] = ()


class Platform(_Strict):
    name: str
    capacity: int
    description: Text
    join: Text


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("deadline needs a UTC offset")
    return value.astimezone(UTC)


# A deadline in the file: an instant with an offset, kept in UTC.
Deadline = Annotated[datetime, AfterValidator(_utc)]


class Registration(_Strict):
    deadline: Deadline
    url: str
    free: bool = True
    text: Text


class Retention(_Strict):
    """How long personal data is kept: deleted `days_after` days after the event ends (a week's notice to the
    organisers before)."""

    days_after: int = Field(ge=1, le=3650)


class Topic(_Strict):
    """A topic of collaboration a city open for meetings may name in its directory profile."""

    id: str = Field(pattern=r"^[a-z0-9_]{1,24}$")
    name: Text


class Matchmaking(_Strict):
    """One-on-one meetings in a window of the program, cut into slots (rules: domain/matchmaking.py)."""

    availability_deadline: Deadline
    schedule_deadline: Deadline
    item: str
    # The meeting window, local time like the program, inside the program item `item` (by default all of it;
    # Event fills in what the file leaves out).
    start: time | None = None
    end: time | None = None
    slot_minutes: int = Field(default=10, ge=5, le=120)
    # Bookings one person may hold as the requester.
    max_bookings: int = Field(default=3, ge=1, le=50)
    # The address of one meeting: a template with {meeting_id}, filled by the organisers (None: not known yet).
    meeting_link: str | None = None
    description: Text
    steps: tuple[Text, ...]
    overflow: Text
    # Topics cities pick for their directory profile (and bookers filter by).
    topics: tuple[Topic, ...] = ()

    @field_validator("topics")
    @classmethod
    def _unique_topics(cls, value: tuple[Topic, ...]) -> tuple[Topic, ...]:
        ids = [t.id for t in value]
        if len(ids) != len(set(ids)):
            raise ValueError("topic ids must be unique")
        return value

    def topic(self, topic_id: str) -> Topic | None:
        return next((t for t in self.topics if t.id == topic_id), None)

    @field_validator("meeting_link")
    @classmethod
    def _link_template(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be a web address starting with https://")
        try:
            filled = value.format(meeting_id="x")
        except (KeyError, IndexError, ValueError):
            raise ValueError("may only contain the placeholder {meeting_id}") from None
        if "{meeting_id}" not in value or filled == value:
            raise ValueError("needs the placeholder {meeting_id}")
        return value

    @model_validator(mode="after")
    def _deadlines(self) -> Matchmaking:
        if self.availability_deadline >= self.schedule_deadline:
            raise ValueError("availability_deadline is not before schedule_deadline")
        return self

    @property
    def slot_count(self) -> int:
        if self.start is None or self.end is None:
            return 0
        return (_minutes(self.end) - _minutes(self.start)) // self.slot_minutes

    def link(self, meeting_id: str) -> str | None:
        """The meeting's address from the template (None while the event file has no template)."""
        return self.meeting_link.format(meeting_id=meeting_id) if self.meeting_link else None


def _minutes(value: time) -> int:
    return value.hour * 60 + value.minute


class Contact(_Strict):
    name: Text
    email: str
    phone: str
    languages: Text


class Wego(_Strict):
    name: Text
    about: Text
    vision: Text
    president: Text
    excom: Text
    members_note: Text


# Telegram's limits for a quiz poll (sendPoll), in UTF-16 code units as Telegram counts them; the
# private-chat quiz shows the same texts, so one set of limits keeps both modes possible.
POLL_QUESTION_MAX = 300
POLL_OPTION_MAX = 100
POLL_EXPLANATION_MAX = 200
POLL_EXPLANATION_LINE_FEEDS = 2
QUIZ_OPTIONS = 4


def _tg_len(value: str) -> int:
    return len(value.encode("utf-16-le")) // 2


def _check_length(text: Text, what: str, limit: int) -> Text:
    for lang in LANGS:
        length = _tg_len(getattr(text, lang))
        if length > limit:
            raise ValueError(f"{what} in {lang} is {length} characters; Telegram allows at most {limit}")
    return text


def _valid_id(value: str) -> str:
    if not value or not all(c.isalnum() or c in "-_" for c in value) or len(value) > 24:
        raise ValueError("id must be 1-24 characters of letters, digits, '-' or '_'")
    return value


# Short: a question id travels in callback data (64 bytes) with the question's position.
QuestionId = Annotated[str, AfterValidator(_valid_id)]


class QuizQuestion(_Strict):
    """One question: four options in every language, the index of the right one, an explanation."""

    id: QuestionId
    question: Text
    options: tuple[Text, ...]
    # 0-based index into `options` as written in the file.
    right: int
    explanation: Text

    @field_validator("question")
    @classmethod
    def _question_length(cls, value: Text) -> Text:
        return _check_length(value, "question", POLL_QUESTION_MAX)

    @field_validator("options")
    @classmethod
    def _four_options(cls, value: tuple[Text, ...]) -> tuple[Text, ...]:
        if len(value) != QUIZ_OPTIONS:
            raise ValueError(f"a question needs exactly {QUIZ_OPTIONS} options, not {len(value)}")
        for n, option in enumerate(value):
            _check_length(option, f"option {n}", POLL_OPTION_MAX)
        for lang in LANGS:
            seen = [getattr(o, lang).casefold() for o in value]
            if len(set(seen)) != len(seen):
                raise ValueError(f"two options read the same in {lang}")
        return value

    @field_validator("explanation")
    @classmethod
    def _explanation_length(cls, value: Text) -> Text:
        _check_length(value, "explanation", POLL_EXPLANATION_MAX)
        for lang in LANGS:
            if getattr(value, lang).count("\n") > POLL_EXPLANATION_LINE_FEEDS:
                raise ValueError(f"explanation in {lang} has more than {POLL_EXPLANATION_LINE_FEEDS} line "
                                 "feeds; Telegram allows at most that many")
        return value

    @model_validator(mode="after")
    def _right_in_range(self) -> QuizQuestion:
        if not 0 <= self.right < len(self.options):
            raise ValueError(f"right answer index {self.right} is out of range 0-{len(self.options) - 1}")
        return self


class Quiz(_Strict):
    """The Smart City Quiz: which program item it runs in, its timing, and its questions."""

    # The program item whose start and end open and close the quiz.
    item: str
    # Seconds allowed per question; Telegram's open_period for a quiz poll is 5-600 seconds.
    seconds: int = Field(default=20, ge=5, le=600)
    # How many questions one person plays.
    per_play: int = Field(default=10, ge=1)
    questions: tuple[QuizQuestion, ...]

    @model_validator(mode="after")
    def _enough(self) -> Quiz:
        _unique("quiz question", [q.id for q in self.questions])
        if len(self.questions) < self.per_play:
            raise ValueError(f"{len(self.questions)} questions, fewer than per_play = {self.per_play}")
        return self

    def question(self, question_id: str) -> QuizQuestion | None:
        return next((q for q in self.questions if q.id == question_id), None)


class Event(_Strict):
    # The file it was loaded from, as organisers would name it (set by load_event; "" when built otherwise).
    _file: str = PrivateAttr(default="")

    id: str
    name: Text
    theme: Text
    host: Text
    about: Text
    date: date
    timezone: ZoneName
    tz_label: str
    website: str
    closing: Text
    platform: Platform
    registration: Registration
    matchmaking: Matchmaking | None = None
    contact: Contact
    wego: Wego
    program: tuple[ProgramItem, ...] = Field(min_length=1)
    faq: tuple[FaqEntry, ...] = ()
    cities: tuple[City, ...] = ()
    # Optional: an event without a quiz loads and simply has none.
    quiz: Quiz | None = None
    # Optional: without it, personal data is kept until someone deletes it.
    retention: Retention | None = None

    @model_validator(mode="after")
    def _resolve(self) -> Event:
        tz = ZoneInfo(self.timezone)
        items = []
        for item in self.program:
            starts = datetime.combine(self.date, item.start, tz).astimezone(UTC)
            ends = datetime.combine(self.date, item.end, tz).astimezone(UTC)
            if ends <= starts:
                raise ValueError(f"program item {item.id!r}: end {item.end:%H:%M} is not after start "
                                 f"{item.start:%H:%M}")
            items.append(item.model_copy(update={"starts": starts, "ends": ends}))
        items.sort(key=lambda i: (i.starts, i.track != "main", i.id))
        object.__setattr__(self, "program", tuple(items))
        _unique("program item", [i.id for i in self.program])
        _unique("faq entry", [f.id for f in self.faq])
        _unique("city", [c.id for c in self.cities])
        ids = {i.id for i in self.program}
        for f in self.faq:
            if f.item and f.item not in ids:
                raise ValueError(f"faq entry {f.id!r}: unknown program item {f.item!r}")
        if self.matchmaking is not None:
            object.__setattr__(self, "matchmaking", _check_matchmaking(self.matchmaking, self))
        if self.quiz is not None and self.quiz.item not in ids:
            raise ValueError(f"quiz: unknown program item {self.quiz.item!r}")
        return self

    # -- queries ---------------------------------------------------------------------------------

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def starts(self) -> datetime:
        return self.program[0].starts

    @property
    def ends(self) -> datetime:
        return max(i.ends for i in self.program)

    @property
    def retention_date(self) -> datetime | None:
        """When personal data is deleted (UTC), or None when the event file sets no retention."""
        return self.ends + timedelta(days=self.retention.days_after) if self.retention else None

    def item(self, item_id: str) -> ProgramItem | None:
        return next((i for i in self.program if i.id == item_id), None)

    @property
    def file(self) -> str:
        """The event file's path as organisers know it (relative to the bot's directory), or "the event file"."""
        return self._file or "the event file"

    def city(self, city_id: str) -> City | None:
        return next((c for c in self.cities if c.id == city_id), None)

    def now_on(self, instant: datetime) -> list[ProgramItem]:
        """Every item running at `instant` (parallel tracks included)."""
        return [i for i in self.program if i.is_on(instant)]

    def up_next(self, instant: datetime) -> list[ProgramItem]:
        """The items with the earliest start after `instant` (several when they run in parallel)."""
        later = [i for i in self.program if i.starts > instant]
        if not later:
            return []
        first = min(i.starts for i in later)
        return [i for i in later if i.starts == first]

    def registration_open(self, instant: datetime) -> bool:
        return instant <= self.registration.deadline

    @property
    def excom_cities(self) -> list[City]:
        return [c for c in self.cities if c.excom]


def _check_matchmaking(mm: Matchmaking, event: Event) -> Matchmaking:
    """The matchmaking window against the program and the event day; missing window ends come from the item."""
    item = event.item(mm.item)
    if item is None:
        raise ValueError(f"matchmaking: unknown program item {mm.item!r}")
    start = item.start if mm.start is None else mm.start
    end = item.end if mm.end is None else mm.end
    if start.second or end.second or start.microsecond or end.microsecond:
        raise ValueError("matchmaking: start and end must be whole minutes (HH:MM:00)")
    minutes = _minutes(end) - _minutes(start)
    if minutes <= 0:
        raise ValueError(f"matchmaking: end {end:%H:%M} is not after start {start:%H:%M}")
    if minutes % mm.slot_minutes:
        raise ValueError(f"matchmaking: the window {start:%H:%M}-{end:%H:%M} ({minutes} minutes) is not a whole "
                         f"number of {mm.slot_minutes}-minute slots")
    if start < item.start or end > item.end:
        raise ValueError(f"matchmaking: the window {start:%H:%M}-{end:%H:%M} is not inside program item "
                         f"{item.id!r} ({item.start:%H:%M}-{item.end:%H:%M})")
    if mm.schedule_deadline > item.starts:
        raise ValueError(f"matchmaking: schedule_deadline is after the meetings start (program item {item.id!r})")
    return mm.model_copy(update={"start": start, "end": end})


def _unique(what: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise ValueError(f"duplicate {what} id {i!r}")
        seen.add(i)


def _describe(loc: tuple[int | str, ...], raw: dict[str, Any]) -> str:
    """Turn a pydantic location into "program[3] 'opening' > title > ko"."""
    parts: list[str] = []
    node: object = raw
    for key in loc:
        if isinstance(key, int):
            parts[-1] = f"{parts[-1]}[{key}]" if parts else f"[{key}]"
            if isinstance(node, list) and key < len(node):
                node = node[key]
                if isinstance(node, dict) and "id" in node:
                    parts[-1] += f" {node['id']!r}"
            continue
        parts.append(str(key))
        node = node.get(key) if isinstance(node, dict) else None
    return " > ".join(parts) or "event"


def load_event(path: str | Path) -> Event:
    """Load and validate an event file; raise EventFileError naming the path, item and problem."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EventFileError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise EventFileError(f"{path}: not valid TOML: {exc}") from None
    try:
        event = Event.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = _describe(tuple(err["loc"]), raw)
        msg = err["msg"].removeprefix("Value error, ")
        raise EventFileError(f"{path}: {where}: {msg}") from None
    try:
        event._file = str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:  # outside the working directory: its name is what organisers recognise
        event._file = path.name
    return event
