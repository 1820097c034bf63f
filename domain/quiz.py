"""The Smart City Quiz's rules, free of Telegram and the database.

- `score`: the points one answer earns, from the bot's clock only.
- `plan`: which questions a person plays, in which order, with the options in which order.
- `QuizWindow`: whether the quiz is open at an instant (the program item's times and the
  organisers' /quiz_open and /quiz_close).
- `leaderboard`, `rank_of`, `ranking`: the order of the results and who is where.
- `Attempt`: one person's run through their questions, an immutable state machine whose presses
  return an `Outcome` instead of raising.

All instants are aware datetimes from the bot's clock (`bot.clock`), never from the client.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from domain.event import Event, Quiz, QuizQuestion

# -- score ----------------------------------------------------------------------------------------

# A question whose message never went out (the edit failed, the bot was killed while sending it) times out
# this long after it was queued, so the attempt moves on; the send queue never holds a message this long
# while the number of players is within `capacity`.
UNSHOWN_WAIT = timedelta(minutes=5)

RIGHT_POINTS = 100
MAX_BONUS = 50


def _us(delta: timedelta) -> int:
    """Whole microseconds, so the arithmetic below is exact (no float rounding at the edges)."""
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _elapsed(answered_at: datetime, asked_at: datetime) -> timedelta:
    # An answer cannot arrive before its question; clamp rather than reward a skewed clock.
    return max(answered_at - asked_at, timedelta(0))


def is_late(answered_at: datetime, asked_at: datetime, seconds: int) -> bool:
    """True when the answer arrived at or after the limit: exactly `seconds` after asking is late."""
    return _elapsed(answered_at, asked_at) >= timedelta(seconds=seconds)


def score(right: bool, answered_at: datetime | None, asked_at: datetime, seconds: int) -> int:
    """Points for one answer.

    A right answer in time scores 100 plus a speed bonus of round(50 * remaining / limit), halves
    rounded up, where remaining = limit - (answered_at - asked_at): 150 for an instant answer, 125 at
    half time, 100 in the last 1/100 of the limit. Wrong, unanswered (`answered_at` None) or late
    answers score 0.
    """
    if seconds <= 0:
        raise ValueError("the time limit must be positive")
    if answered_at is None or not right or is_late(answered_at, asked_at, seconds):
        return 0
    limit = _us(timedelta(seconds=seconds))
    remaining = limit - _us(_elapsed(answered_at, asked_at))
    return RIGHT_POINTS + (2 * MAX_BONUS * remaining + limit) // (2 * limit)


def answer_time_ms(answered_at: datetime | None, asked_at: datetime, seconds: int) -> int:
    """The time one question took, for tie-breaks: up to the limit; unanswered or late counts the limit."""
    limit_ms = seconds * 1000
    if answered_at is None:
        return limit_ms
    return min(_us(_elapsed(answered_at, asked_at)) // 1000, limit_ms)


# -- which questions a person plays ---------------------------------------------------------------


def _draw(*parts: object) -> bytes:
    """A stable pseudo-random sort key: the same on every run, machine and Python version."""
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()


@dataclass(frozen=True)
class PlayedQuestion:
    """One question as one person sees it.

    `order[shown]` is the file's index of the option shown at position `shown`; `right` is the shown
    position of the right option. Buttons carry the shown position; `option_index` maps it back.
    """

    question_id: str
    order: tuple[int, ...]
    right: int

    def option_index(self, shown: int) -> int:
        return self.order[shown]

    def options(self, question: QuizQuestion, lang: str) -> list[str]:
        """The option texts in the order this person sees them."""
        return [question.options[i].get(lang) for i in self.order]


def plan(quiz: Quiz, seed: int | str, *, secret: str = "", shuffle_options: bool = True) -> tuple[PlayedQuestion, ...]:
    """The `quiz.per_play` questions a person plays, in order.

    Decided: questions are ranked by SHA-256 of (secret, seed, question id) and the first `per_play` are
    played in that order; with `shuffle_options`, each question's options are ordered by SHA-256 of (secret,
    seed, question id, option index). The seed is the person's Telegram id and the secret the bot's own
    (generated once and kept in the database, or the QUIZ_SECRET setting): a restart recomputes the very same
    sequence, but nobody can compute it from their id and the public event file (issue 17: a script pressed
    all ten right answers that way). Neighbours get different questions and button positions. Ranking by
    question id (not by position in the file) keeps a person's plan when questions are reordered.
    Group mode posts one poll to everyone: pass the chat id and `shuffle_options=False` (polls show
    the file's order).
    """
    chosen = sorted(quiz.questions, key=lambda q: _draw("question", secret, seed, q.id))[: quiz.per_play]
    played = []
    for q in chosen:
        order = list(range(len(q.options)))
        if shuffle_options:
            order.sort(key=functools.partial(_draw, "option", secret, seed, q.id))
        played.append(PlayedQuestion(q.id, tuple(order), order.index(q.right)))
    return tuple(played)


_PLANS: dict[tuple[int, int, str], tuple[Quiz, tuple[PlayedQuestion, ...]]] = {}
_PLANS_MAX = 50_000


def person_plan(quiz: Quiz, user_id: int, secret: str) -> tuple[PlayedQuestion, ...]:
    """`plan(quiz, user_id, secret=secret)`, remembered: every press rebuilds the attempt (SHA-256 per question
    and option)."""
    key = (id(quiz), user_id, secret)
    found = _PLANS.get(key)
    if found is not None and found[0] is quiz:
        return found[1]
    if len(_PLANS) >= _PLANS_MAX:
        _PLANS.clear()
    made = plan(quiz, user_id, secret=secret)
    _PLANS[key] = (quiz, made)
    return made


# -- the window -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Switch:
    """An organiser's /quiz_open (`open` True) or /quiz_close (False), at an instant of the bot's clock."""

    open: bool
    at: datetime


@dataclass(frozen=True)
class QuizWindow:
    """When the quiz is open.

    Decided: the latest of three changes at or before the instant wins: the scheduled opening at the
    item's start, the scheduled closing at its end, and the organiser's last switch (a switch at the
    same instant as a scheduled change wins). So an early /quiz_open still closes at the item's end,
    a /quiz_close during the item stays closed, and a /quiz_open after the end stays open until
    /quiz_close. Only the organiser's last switch matters: store that one.
    """

    starts: datetime
    ends: datetime
    switch: Switch | None = None

    @classmethod
    def for_event(cls, event: Event, switch: Switch | None = None) -> QuizWindow:
        if event.quiz is None:
            raise ValueError(f"event {event.id!r} has no quiz")
        item = event.item(event.quiz.item)
        if item is None:  # the loader already checks this; kept for type narrowing
            raise ValueError(f"quiz item {event.quiz.item!r} is not in the program")
        return cls(item.starts, item.ends, switch)

    def _changes(self) -> list[tuple[datetime, int, bool]]:
        changes = [(self.starts, 0, True), (self.ends, 0, False)]
        if self.switch is not None:
            changes.append((self.switch.at, 1, self.switch.open))
        return sorted(changes)

    def is_open(self, now: datetime) -> bool:
        state = False
        for at, _, opens in self._changes():
            if at > now:
                break
            state = opens
        return state

    def _next(self, now: datetime, to: bool) -> datetime | None:
        state = self.is_open(now)
        if state == to:
            return None
        for at, _, opens in self._changes():
            if at > now and opens != state:
                state = opens
                if state == to:
                    return at
        return None

    def opens_at(self, now: datetime) -> datetime | None:
        """When a closed quiz opens next by itself; None when it is open or will not open again."""
        return self._next(now, True)

    def closes_at(self, now: datetime) -> datetime | None:
        """When an open quiz closes by itself; None when it is closed or stays open until /quiz_close."""
        return self._next(now, False)

    def closed_since(self, now: datetime) -> datetime | None:
        """When a quiz closed at `now` last closed after having been open (its final results are due from
        then); None when it is open or never opened."""
        state, closed = False, None
        for at, _, opens in self._changes():
            if at > now:
                break
            if state and not opens:
                closed = at
            state = opens
        return None if state else closed


# -- ranking --------------------------------------------------------------------------------------

_NEVER = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Result:
    """One participant's totals."""

    user_id: int
    score: int
    # Total answer time over the questions played (see `answer_time_ms`).
    time_ms: int
    # None while still playing: ranks after everyone with the same score and time who finished.
    finished_at: datetime | None


@dataclass(frozen=True)
class Ranked:
    rank: int
    result: Result


def rank_key(result: Result) -> tuple[int, int, datetime]:
    """Equal keys share a rank. In SQL: RANK() OVER (ORDER BY score DESC, time_ms, finished_at NULLS LAST)."""
    return (-result.score, result.time_ms, result.finished_at or _NEVER)


def _order_key(result: Result) -> tuple[int, int, datetime, int]:
    # Exact ties share a rank but are listed by user id, so the listing is stable.
    return (*rank_key(result), result.user_id)


def _with_ranks(ordered: Sequence[Result]) -> list[Ranked]:
    """Competition ranks ("1, 2, 2, 4") for results already in order, starting at the best result."""
    ranked: list[Ranked] = []
    previous: tuple[int, int, datetime] | None = None
    rank = 0
    for n, r in enumerate(ordered):
        key = rank_key(r)
        if key != previous:
            rank, previous = n + 1, key
        ranked.append(Ranked(rank, r))
    return ranked


def leaderboard(results: Iterable[Result], n: int = 10) -> list[Ranked]:
    """The best `n` results with their ranks: O(len * log n), no full sort."""
    # Everything strictly better than a top-n result is in the top n too, so ranks counted inside it are right.
    return _with_ranks(heapq.nsmallest(n, results, key=_order_key))


def rank_of(results: Iterable[Result], user_id: int) -> Ranked | None:
    """A person's rank (1 + how many are strictly better), or None if they have no result: O(len)."""
    pool = list(results)
    mine = next((r for r in pool if r.user_id == user_id), None)
    if mine is None:
        return None
    key = rank_key(mine)
    return Ranked(1 + sum(1 for r in pool if rank_key(r) < key), mine)


def ranking(results: Iterable[Result]) -> list[Ranked]:
    """Every result in order with its rank: for the final messages and the organisers' CSV."""
    return _with_ranks(sorted(results, key=_order_key))


# -- one person's attempt -------------------------------------------------------------------------


class Outcome(StrEnum):
    """What a press did. Only ACCEPTED and LATE record anything."""

    # In time, on the current question: recorded and scored.
    ACCEPTED = "accepted"
    # A second press on the current question after it was answered: nothing changes.
    DUPLICATE = "duplicate"
    # A press on an earlier question's button, or any button after the attempt finished.
    STALE = "stale"
    # The time ran out: the question is recorded as unanswered with 0 points (only the first time).
    LATE = "late"
    # Cannot come from a button the bot sent: an unknown position or option, or a question not asked yet.
    INVALID = "invalid"
    # The current question, but the press arrived before the question went out to the person (a script that
    # presses ahead, or a press queued behind the previous answer): refused, nothing changes.
    EARLY = "early"


@dataclass(frozen=True)
class AnswerRecord:
    """How one question of the plan went."""

    index: int
    question_id: str
    # The shown position pressed; None when the time ran out.
    choice: int | None
    right: bool
    points: int
    time_ms: int
    answered_at: datetime | None


@dataclass(frozen=True)
class Press:
    outcome: Outcome
    attempt: Attempt
    # The record this press made (ACCEPTED, or the first LATE), else None.
    record: AnswerRecord | None = None


class Resume(StrEnum):
    """What to do with an attempt found after a restart."""

    # The current question was just asked (at `now`): send it and arm its timer.
    ASK = "ask"
    # The current question is still running: arm its timer for `attempt.deadline`.
    WAIT = "wait"
    # Nothing left to ask: show the result.
    FINISHED = "finished"


@dataclass(frozen=True)
class Attempt:
    """One person's single attempt, as immutable state; every transition returns a new Attempt.

    Invariant: questions 0..index-1 are resolved; question `index` was asked at `asked_at` and is
    resolved when `len(answers) == index + 1`; `finished_at` is set once nothing more is asked.
    """

    plan: tuple[PlayedQuestion, ...]
    seconds: int
    index: int
    # While `shown` is False: when the question was queued; once shown: when it went out to the person (its
    # time starts then: issue 17, a question that waited 40 s in the send queue had its 20 s used up).
    asked_at: datetime
    answers: tuple[AnswerRecord, ...] = ()
    finished_at: datetime | None = None
    shown: bool = True

    @classmethod
    def start(cls, plan: tuple[PlayedQuestion, ...], seconds: int, now: datetime, *, shown: bool = True) -> Attempt:
        """A new attempt whose first question is asked at `now` (queued then, when `shown` is False)."""
        if not plan:
            raise ValueError("an attempt needs at least one question")
        if seconds <= 0:
            raise ValueError("the time limit must be positive")
        return cls(plan=plan, seconds=seconds, index=0, asked_at=now, shown=shown)

    # -- state --

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    @property
    def resolved(self) -> bool:
        """The current question is answered or timed out."""
        return len(self.answers) > self.index

    @property
    def current(self) -> PlayedQuestion:
        return self.plan[self.index]

    @property
    def deadline(self) -> datetime:
        """The first instant at which an answer to the current question is late. A question not shown yet
        times out only if its message never went out (UNSHOWN_WAIT after it was queued)."""
        limit = timedelta(seconds=self.seconds)
        return self.asked_at + limit if self.shown else self.asked_at + limit + UNSHOWN_WAIT

    @property
    def score(self) -> int:
        return sum(a.points for a in self.answers)

    @property
    def time_ms(self) -> int:
        return sum(a.time_ms for a in self.answers)

    def result(self, user_id: int) -> Result:
        return Result(user_id, self.score, self.time_ms, self.finished_at)

    # -- transitions --

    def press(self, index: int, choice: int, now: datetime, question_id: str | None = None) -> Press:
        """A button press on question `index` (position in the plan), option `choice` (shown position).

        When the button also carries the question's id, a mismatch (a forged button, or one from a plan
        the event file no longer gives) is INVALID.
        """
        if not 0 <= index < len(self.plan) or not 0 <= choice < len(self.plan[index].order):
            return Press(Outcome.INVALID, self)
        if question_id is not None and question_id != self.plan[index].question_id:
            return Press(Outcome.INVALID, self)
        if index < self.index or self.finished:
            return Press(Outcome.STALE, self)
        if index > self.index:
            return Press(Outcome.INVALID, self)
        if self.resolved:
            late = self.answers[self.index].choice is None
            return Press(Outcome.LATE if late else Outcome.DUPLICATE, self)
        if not self.shown or now < self.asked_at:
            return Press(Outcome.EARLY, self)
        if is_late(now, self.asked_at, self.seconds):
            attempt, record = self._resolve(None, None)
            return Press(Outcome.LATE, attempt, record)
        attempt, record = self._resolve(choice, now)
        return Press(Outcome.ACCEPTED, attempt, record)

    def time_out(self, now: datetime) -> tuple[Attempt, AnswerRecord | None]:
        """The question's timer fired: resolve it as unanswered if it is still open and due.

        Firing twice, early, or after an answer changes nothing (the record is then None).
        """
        if self.finished or self.resolved or now < self.deadline:
            return self, None
        return self._resolve(None, None)

    def advance(self, now: datetime, window_open: bool = True) -> Attempt:
        """After the current question is resolved: queue the next one at `now` (its time starts when it is
        shown: `show`), or finish after the last one.

        Decided (issue 20): a person who started before the close finishes every question of their plan, so
        `window_open` no longer ends an attempt early; it is kept for callers that still pass it.
        """
        if self.finished:
            return self
        if not self.resolved:
            raise ValueError("the current question is not answered or timed out yet")
        if self.index + 1 >= len(self.plan):
            return replace(self, finished_at=now)
        return replace(self, index=self.index + 1, asked_at=now, shown=False)

    def show(self, at: datetime) -> Attempt:
        """The current question went out to the person at `at`: its time starts then. Showing a question again
        (a resend after /quiz) does not restart its time."""
        if self.finished or self.resolved or self.shown:
            return self
        return replace(self, asked_at=max(at, self.asked_at), shown=True)

    def resume(self, now: datetime, window_open: bool) -> tuple[Attempt, Resume]:
        """Continue after a restart: a question that ran out while the bot was down scores 0, and the
        person continues with the next question (or keeps the current one while it still runs)."""
        attempt = self
        if not attempt.finished and not attempt.resolved:
            attempt, _ = attempt.time_out(now)
            if not attempt.resolved:
                return attempt, Resume.WAIT
        attempt = attempt.advance(now, window_open)
        return attempt, Resume.FINISHED if attempt.finished else Resume.ASK

    def _resolve(self, choice: int | None, now: datetime | None) -> tuple[Attempt, AnswerRecord]:
        played = self.current
        right = choice is not None and choice == played.right
        record = AnswerRecord(
            index=self.index,
            question_id=played.question_id,
            choice=choice,
            right=right,
            points=score(right, now, self.asked_at, self.seconds),
            time_ms=answer_time_ms(now, self.asked_at, self.seconds),
            answered_at=now,
        )
        return replace(self, answers=(*self.answers, record)), record


# -- what storage keeps (plain values crossing from storage to the use cases) ----------------------


@dataclass(frozen=True)
class StoredAttempt:
    """An attempt as stored: private play (`group_chat` None) rebuilds its `Attempt` from the plan seeded by
    the user id; group play only adds up poll answers."""

    user_id: int
    name: str
    lang: str
    group_chat: int | None
    index: int
    asked_at: datetime
    message_id: int | None
    score: int
    time_ms: int
    right: int
    started_at: datetime
    finished_at: datetime | None
    answers: tuple[AnswerRecord, ...] = ()
    shown: bool = True

    def attempt(self, quiz: Quiz, secret: str) -> Attempt:
        return Attempt(plan=person_plan(quiz, self.user_id, secret), seconds=quiz.seconds, index=self.index,
                       asked_at=self.asked_at, answers=self.answers, finished_at=self.finished_at,
                       shown=self.shown)


@dataclass(frozen=True)
class Standing:
    """A participant's place. `name`, `city` and `country` are for the organisers (the registration, else the
    Telegram name); `shown_as` is what everyone else sees (`public_name`)."""

    rank: int
    user_id: int
    name: str
    city: str | None
    country: str | None
    score: int
    right: int
    time_ms: int
    finished_at: datetime | None
    registered: bool
    # How the person chose to appear on the public leaderboard; None: never chose (the default: first name).
    shown_as: ShownAs | None = None
    nickname: str | None = None
    first_name: str = ""

    @property
    def result(self) -> Result:
        return Result(self.user_id, self.score, self.time_ms, self.finished_at)


@dataclass(frozen=True)
class QuizControl:
    """The organisers' last switch and what was done already: the announcement, the last closing's results."""

    switch: Switch | None = None
    announced_at: datetime | None = None
    finalised_for: datetime | None = None


@dataclass(frozen=True)
class PollRef:
    """A quiz poll posted in a group: which question, asked when, for how long."""

    poll_id: str
    chat_id: int
    question_id: str
    index: int
    asked_at: datetime
    seconds: int


# -- how a player appears on the public leaderboard (issue 17 item 4, issue 20) ------------------------


class ShownAs(StrEnum):
    """Chosen before the first question. Decided: the default (never chose, e.g. a group poll player) is the
    first name only: never a surname, city or country."""

    FIRST_NAME = "first"
    NICKNAME = "nick"
    ANONYMOUS = "anon"


NICKNAME_MAX = 24


def clean_nickname(text: str) -> str | None:
    """A nickname as typed: one line, printable, 2-24 characters after trimming; None when it is not one."""
    nick = " ".join(text.split())
    if not 2 <= len(nick) <= NICKNAME_MAX or not all(c.isprintable() for c in nick):
        return None
    if nick.startswith("/") or "@" in nick or "://" in nick or "t.me/" in nick.casefold():
        return None  # a command, a username or a link is not a name others should be shown
    return nick


def public_name(shown_as: ShownAs | None, nickname: str | None, first_name: str) -> str | None:
    """The name the public leaderboard shows, or None for "anonymous" (the caller says so in the reader's
    language)."""
    if shown_as is ShownAs.ANONYMOUS:
        return None
    if shown_as is ShownAs.NICKNAME and nickname:
        return nickname
    return first_name.strip() or None


# -- how many people can play in private chats at once ----------------------------------------------

# Decided: a player needs one message (the feedback and next question, an edit) per answer, and players
# answer in 5-10 s of a 20 s question (the bench's paced players: 1-4 s of reading plus the way there and
# back), so one message every `seconds * 0.4` s (8 s of 20) per player is the planning figure.
PACE_SHARE = 0.4


def capacity(send_rate: float, seconds: int) -> int:
    """Players Telegram's rate lets the bot serve at once in private chats: at SEND_RATE 25/s and 20 s
    questions, 200 (the range is 125 at 5 s a question to 250 at 10 s)."""
    return max(1, int(send_rate * seconds * PACE_SHARE))


def wait_for_place(finishes: Sequence[datetime], limit: int, now: datetime) -> timedelta:
    """How long until one of the players running now leaves a place free, given when each running attempt
    will be over at the latest (`finishes`) and the number of places (`limit`)."""
    over = len(finishes) - limit
    if over < 0:
        return timedelta(0)
    ordered = sorted(finishes)
    return max(ordered[min(over, len(ordered) - 1)] - now, timedelta(0))
