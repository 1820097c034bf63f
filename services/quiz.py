"""The Smart City Quiz's use cases: play in a private chat, time-outs, resume, the leaderboard, opening and
closing (by the organisers, and by the bot's clock), final results, and group mode with quiz polls.

Rules live in `domain/quiz.py`. What a person sees of the quiz is one message edited in place; its text is
made here (`view`), so the handler's direct edits and the time-out's edit through the outbox say the same.
Scoring uses the instant the update ARRIVED (`arrived_at`, stamped by `bot.middlewares.ArrivalStamp`),
never the client's clock nor when a busy handler got to it; the next question is asked at `now`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from babel.dates import format_time
from babel.numbers import format_decimal

from domain.csvfile import csv_bytes
from domain.event import Event, Quiz
from domain.i18n_marks import N_
from domain.messages import Button, Buttons, Document, Drop, Edit, FileRef, NewMessage, Poll, Priority, Rendered
from domain.quiz import (
    AnswerRecord,
    Attempt,
    Outcome,
    QuizWindow,
    Resume,
    ShownAs,
    Standing,
    StoredAttempt,
    answer_time_ms,
    clean_nickname,
    plan,
    public_name,
    score,
    wait_for_place,
)
from domain.text import Translator, esc, translate, translate_plural
from domain.timezones import fmt_when, reader_zone, to_local
from services.audit import audit
from services.errors import ServiceError

if TYPE_CHECKING:
    from delivery.jobs import Jobs
    from delivery.rendering import RenderContext, Renderers
    from domain.messages import OutboxRow, Recipient, Sent
    from services.ports import Conversation, UnitOfWork

log = logging.getLogger(__name__)

# A question's time-out fires this long after its deadline, so a press that arrived in time but waited
# behind other updates is still scored as it arrived (docs/architecture.md "Quiz").
GRACE = timedelta(seconds=2)
# Between two polls in group mode, after the first one closed.
GROUP_GAP = timedelta(seconds=5)
TOP = 10

KIND_TIMEOUT = "quiz_timeout"
KIND_ANNOUNCE = "quiz_announce"
KIND_FINAL = "quiz_final"
KIND_WINNERS = "quiz_winners"
KIND_CSV = "quiz_csv"
KIND_POLL = "quiz_poll"
KIND_GROUP_END = "quiz_group_end"

# Callback data of the quiz's buttons (handlers/quiz.py has the matching CallbackData factories: a test
# checks they pack alike): an answer is qz:<plan index>:<question id>:<shown position>.
START_DATA = "qzgo:1"
# The conversation step waiting for a nickname.
S_NICKNAME = "QuizName:nickname"

def ngettext(singular: str, plural: str) -> tuple[str, str]:
    """Mark a plural message for extraction (`ngettext` is the extractor's keyword); chosen by n when shown."""
    return singular, plural


NO_QUIZ = N_("There is no quiz at this event.")
CLOSED = N_("The Smart City Quiz is not open now. It opens at {at} (your time).")
CLOSED_FOR_GOOD = N_("The Smart City Quiz is closed. Send /leaderboard to see the results.")
NO_ATTEMPT = N_("This quiz button is no longer active. Send /quiz to continue.")
PLAYED_IN_GROUP = ngettext("You took part in the quiz in a group chat, and everyone plays once. Your score: {n} "
                           "point. Send /leaderboard to see where you stand.",
                           "You took part in the quiz in a group chat, and everyone plays once. Your score: {n} "
                           "points. Send /leaderboard to see where you stand.")
ALREADY_OPEN = N_("The quiz is open already.")
ALREADY_CLOSED = N_("The quiz is closed already.")

RIGHT = ngettext("✅ Right! +{n} point.", "✅ Right! +{n} points.")
WRONG = N_("❌ Not quite. The answer is: <b>{answer}</b>.")
TIME_UP = N_("⏰ Time is up. The answer is: <b>{answer}</b>.")
LATE = N_("⏰ Too late: that answer came after the time was up. The answer is: <b>{answer}</b>.")
QUESTION = ngettext("<b>Question {index} of {total}</b> · ⏱ {n} second",
                    "<b>Question {index} of {total}</b> · ⏱ {n} seconds")
# Issue 20: the time limit and the clock time it ends, in the reader's zone (`until`: hours, minutes, seconds).
QUESTION_UNTIL = ngettext("<b>Question {index} of {total}</b> · ⏱ {n} second, until {until}",
                          "<b>Question {index} of {total}</b> · ⏱ {n} seconds, until {until}")
FINISHED = ngettext("🏁 That was the last question. Your score: <b>{n}</b> point, {right} of {total} right.",
                    "🏁 That was the last question. Your score: <b>{n}</b> points, {right} of {total} right.")
FINISHED_PLACE = N_("Your place: <b>{rank}</b> of {count}.")
FINISHED_TOP3 = N_("<b>Top 3 so far:</b>")
FINISHED_MORE = N_("Send /leaderboard for the whole top 10.")
# Shown with the first question when the quiz closes within a minute (issue 20).
CLOSING_SOON = ngettext("⏳ The quiz closes in less than a minute, but you can still answer all of your {n} "
                        "question.",
                        "⏳ The quiz closes in less than a minute, but you can still answer all of your {n} "
                        "questions.")
ANNOUNCE = ngettext("🧠 <b>The Smart City Quiz is open!</b> {n} question about WeGO, Moscow and smart "
                    "cities, {seconds} seconds. Right answers score 100 points, plus up to 50 for speed. "
                    "One try each, until {until} (your time).",
                    "🧠 <b>The Smart City Quiz is open!</b> {n} questions about WeGO, Moscow and smart "
                    "cities, {seconds} seconds each. Right answers score 100 points, plus up to 50 for speed. "
                    "One try each, until {until} (your time).")
ANNOUNCE_OPEN_ENDED = ngettext("🧠 <b>The Smart City Quiz is open!</b> {n} question about WeGO, Moscow and "
                               "smart cities, {seconds} seconds. Right answers score 100 points, plus up to 50 "
                               "for speed. One try each.",
                               "🧠 <b>The Smart City Quiz is open!</b> {n} questions about WeGO, Moscow and "
                               "smart cities, {seconds} seconds each. Right answers score 100 points, plus up to "
                               "50 for speed. One try each.")
# Before the first question: how the person appears on the public leaderboard (issue 20).
CHOOSE_NAME = N_("🧠 Before the first question: how should the public leaderboard show you? Everyone who "
                 "sends /leaderboard sees it. Your surname, city and country are never shown there.")
NAME_FIRST = N_("👤 As {name}")
NAME_NICK = N_("✏️ A nickname")
NAME_ANON = N_("🕶 Anonymously")
ASK_NICKNAME = N_("Send me the nickname to show on the leaderboard (2-24 characters, no links or @names).")
BAD_NICKNAME = N_("That cannot be a nickname: use 2-24 characters, without links, @names or a leading /. "
                  "Send another one.")
ANONYMOUS = N_("Anonymous player")
NICKNAME_LATER = N_("You are in the middle of another step, so a nickname cannot be typed now: choose your first "
                    "name or anonymously, or finish that step and send /quiz again.")
FULL = ngettext("🧠 {players} people are playing the quiz right now: as many as Telegram lets me serve at once. "
                "You can begin in about {n} minute: send /quiz again then.",
                "🧠 {players} people are playing the quiz right now: as many as Telegram lets me serve at once. "
                "You can begin in about {n} minutes: send /quiz again then.")
START_BUTTON = N_("▶️ Start the quiz")
FINAL = ngettext("🏁 <b>The Smart City Quiz is closed.</b> Your final score: <b>{n}</b> point, {right} of "
                 "{total} right. Your place: <b>{rank}</b> of {count}. Thank you for playing!",
                 "🏁 <b>The Smart City Quiz is closed.</b> Your final score: <b>{n}</b> points, {right} of "
                 "{total} right. Your place: <b>{rank}</b> of {count}. Thank you for playing!")
WINNERS = ngettext("🏆 <b>Smart City Quiz: the winners</b> ({n} participant)",
                   "🏆 <b>Smart City Quiz: the winners</b> ({n} participants)")
LEADERBOARD = ngettext("🏆 <b>Smart City Quiz: leaderboard</b> ({n} participant)",
                       "🏆 <b>Smart City Quiz: leaderboard</b> ({n} participants)")
WINNERS_TOP3 = N_("<b>Top 3</b>, to read out:")
WINNERS_TOP10 = N_("<b>Top 10</b>:")
WINNERS_NONE = N_("🏆 The Smart City Quiz closed without participants.")
CSV_CAPTION = N_("All results of the Smart City Quiz (CSV).")
POINTS_LINE = ngettext("{rank}. {name}{place} — {n} point ({right} right, {seconds} s)",
                       "{rank}. {name}{place} — {n} points ({right} right, {seconds} s)")
PUBLIC_LINE = ngettext("{rank}. {name} — {n} point", "{rank}. {name} — {n} points")
GROUP_END = N_("🏁 That was the last question of the Smart City Quiz. Thank you! Scores count in the same "
               "leaderboard as the private quiz: send me /leaderboard in a private chat.")

# /help lines (handlers/common.py shows them; kept here so they are translated in quiz.po).
HELP_PLAY = N_("/quiz — the Smart City Quiz (in the coffee break); /leaderboard — its leaderboard")
HELP_ORGANISER = N_("Quiz: /quiz_open and /quiz_close open or close it now; /quiz_group in a group runs it there "
                    "with quiz polls.")

CSV_HEADERS = ("rank", "name", "city", "country", "score", "right answers", "total answer time s",
               "finished at UTC")


def _quiz(event: Event) -> Quiz:
    if event.quiz is None:
        raise ServiceError("no_quiz", NO_QUIZ)
    return event.quiz


def _stamp(at: datetime) -> str:
    return f"{at:%Y%m%dT%H%M%S%f}"


# -- the window -----------------------------------------------------------------------------------

async def window(uow: UnitOfWork, event: Event) -> QuizWindow:
    return QuizWindow.for_event(event, (await uow.quiz.control()).switch)


@dataclass(frozen=True)
class Availability:
    open: bool
    opens_at: datetime | None
    closes_at: datetime | None


async def availability(uow: UnitOfWork, event: Event, now: datetime) -> Availability:
    w = await window(uow, event)
    return Availability(w.is_open(now), w.opens_at(now), w.closes_at(now))


# -- playing --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """What the quiz message shows after a use case: the feedback on the question just resolved (if any),
    then the current question, or the end. `changed` is False when a press changed nothing."""

    user_id: int
    attempt: Attempt
    message_id: int | None
    outcome: Outcome | None = None
    record: AnswerRecord | None = None
    changed: bool = True
    # Kept for callers: an attempt no longer ends at the close (a started player finishes every question).
    closed: bool = False
    # The record was made by a press that came after the time was up (not by the time-out).
    late_press: bool = False
    # A new attempt started within a minute of the window's close (said with the first question).
    closing_soon: bool = False
    # When finished: the person's place and the top 3 (issue 20: rank and top 3 after the last question).
    standing: Standing | None = None
    top3: tuple[PublicEntry, ...] = ()
    count: int = 0

    @property
    def finished(self) -> bool:
        return self.attempt.finished


@dataclass(frozen=True)
class ChooseName:
    """/quiz before the person said how the public leaderboard shows them: ask first (issue 20)."""

    first_name: str


# The window closes within this of a start: the first question says so.
CLOSING_SOON_WITHIN = timedelta(minutes=1)


def _timeout_topic(user_id: int) -> str:
    return f"quiz:timeout:{user_id}"


def _timeout_row(user_id: int, attempt: Attempt, *, own: bool = False) -> NewMessage:
    """The time-out of the attempt's running question. One row per person (key quiz:to:<user>), re-armed in
    place for each question; `own` names a row for this question alone (when the person's row is claimed by
    the sender at that instant)."""
    due = attempt.deadline + GRACE
    key = f"quiz:to:{user_id}:{attempt.index}" if own else f"quiz:to:{user_id}"
    return NewMessage(key, user_id, KIND_TIMEOUT, _timeout_topic(user_id), due, {"index": attempt.index},
                      priority=Priority.INTERACTIVE)


async def _arm(uow: UnitOfWork, user_id: int, attempt: Attempt, now: datetime) -> None:
    """Arm the running question's time-out: one statement (the person's row re-armed), or, when the sender
    holds that row right now (an earlier question's time-out being rendered: it will find the question
    answered and drop itself), a row of its own."""
    if not await uow.outbox.rearm(_timeout_row(user_id, attempt), now):
        # Re-armed in place too: the question's row is made when it is queued and moved when it is shown.
        await uow.outbox.rearm(_timeout_row(user_id, attempt, own=True), now)


async def secret(uow: UnitOfWork) -> str:
    """The server-side secret in every person's plan (kept in the database; QUIZ_SECRET sets it)."""
    return await uow.quiz.secret()


async def _private(uow: UnitOfWork, user_id: int) -> StoredAttempt | None:
    stored = await uow.quiz.get(user_id)
    if stored is not None and stored.group_chat is not None:
        raise ServiceError("group", *PLAYED_IN_GROUP, n=stored.score)
    return stored


async def _save(uow: UnitOfWork, stored: StoredAttempt, new: Attempt, now: datetime) -> bool:
    """Write what changed from `stored` to `new` (new answer records, the next question or the end), cancel
    the resolved question's time-out and arm the next one's; False when another update got there first
    (the caller rolls back)."""
    records = new.answers[len(stored.answers):]
    moved = (new.index, new.asked_at, new.finished_at) != (stored.index, stored.asked_at, stored.finished_at)
    if len(records) == 1 and moved:  # a press or a time-out: two statements
        if not await uow.quiz.record_and_move(stored.user_id, records[0], now, from_index=stored.index,
                                              index=new.index, asked_at=new.asked_at,
                                              finished_at=new.finished_at, shown=new.shown):
            return False
    else:
        for record in records:
            if not await uow.quiz.record(stored.user_id, record, now):
                return False
        if moved and not await uow.quiz.move(stored.user_id, from_index=stored.index, index=new.index,
                                             asked_at=new.asked_at, finished_at=new.finished_at, shown=new.shown):
            return False
    if not new.finished and not new.resolved and new.index != stored.index:
        # A new question (queued: its time-out is re-armed for its real deadline once it is shown).
        await _arm(uow, stored.user_id, new, now)
    elif records:  # the resolved question's time-out has nothing left to do: the sender never claims it
        await uow.outbox.cancel(_timeout_topic(stored.user_id), now)
    return True


async def _with_results(uow: UnitOfWork, step: Step) -> Step:
    """A finished step gets the person's place and the top 3 (read after the commit)."""
    if not step.finished:
        return step
    board = await public_leaderboard(uow, step.user_id, n=3)
    return replace(step, standing=await uow.quiz.standing(step.user_id), top3=tuple(board.top), count=board.count)


async def start(uow: UnitOfWork, event: Event, user_id: int, *, name: str, lang: str, now: datetime,
                capacity: int | None = None) -> Step | ChooseName:
    """/quiz or "Start the quiz": how the person appears on the leaderboard (asked once, before the first
    question), then the first question (queued: its time starts when `shown` is told it went out), or where
    the person's one attempt stands. A new player past `capacity` players running at once is told how long
    until a place frees. Commits."""
    quiz = _quiz(event)
    w = await window(uow, event)
    if not w.is_open(now):
        if await _private(uow, user_id) is not None:
            return await resume(uow, event, user_id, now)
        opens = w.opens_at(now)
        if opens is None:
            raise ServiceError("closed_for_good", CLOSED_FOR_GOOD)
        raise ServiceError("closed", CLOSED, at=opens)
    if await _private(uow, user_id) is not None:
        return await resume(uow, event, user_id, now)
    if not await uow.quiz.name_chosen(user_id):
        return ChooseName(name.split(" ")[0] if name else "")
    if capacity is not None:
        running = await uow.quiz.running_count()
        if running >= capacity:
            finishes = [_latest_finish(quiz, index, at, shown) for index, at, shown in await uow.quiz.running()]
            wait = wait_for_place(finishes, capacity, now)
            minutes = max(1, -(-int(wait.total_seconds()) // 60))
            raise ServiceError("full", *FULL, n=minutes, players=running)
    # The insert is the check: one attempt per person.
    if not await uow.quiz.create(user_id, name=name, lang=lang, asked_at=now, now=now, shown=False):
        await uow.rollback()
        return await resume(uow, event, user_id, now)
    attempt = Attempt.start(plan(quiz, user_id, secret=await secret(uow)), quiz.seconds, now, shown=False)
    await _arm(uow, user_id, attempt, now)
    await uow.commit()
    closes = w.closes_at(now)
    return Step(user_id, attempt, None, closing_soon=closes is not None and closes - now <= CLOSING_SOON_WITHIN)


def _latest_finish(quiz: Quiz, index: int, at: datetime, shown: bool) -> datetime:
    """When an attempt on question `index` (asked or queued at `at`) is over at the latest."""
    per_question = timedelta(seconds=quiz.seconds) + GRACE
    return at + (quiz.per_play - index) * per_question


async def choose_name(uow: UnitOfWork, conv: Conversation, user_id: int, *, shown_as: ShownAs, first_name: str,
                      now: datetime) -> bool:
    """The person's choice of how the leaderboard shows them. A nickname is asked for next (returns False:
    the conversation waits for it); the others are stored (True). Commits."""
    if shown_as is ShownAs.NICKNAME:
        if (await conv.get_state()) not in (None, S_NICKNAME):  # typing it would end the step they are on
            raise ServiceError("in_a_step", NICKNAME_LATER)
        await conv.set_state(S_NICKNAME)
        await uow.commit()
        return False
    if await conv.get_state() == S_NICKNAME:  # asked for a nickname, then chose another way after all
        await conv.set_state(None)
    await uow.quiz.set_name(user_id, shown_as, None, first_name, now)
    await uow.commit()
    return True


async def set_nickname(uow: UnitOfWork, conv: Conversation, user_id: int, *, text: str, first_name: str,
                       now: datetime) -> str:
    """The nickname typed after "A nickname": stored, the conversation step ends. Commits."""
    nick = clean_nickname(text)
    if nick is None:
        raise ServiceError("bad_nickname", BAD_NICKNAME)
    await uow.quiz.set_name(user_id, ShownAs.NICKNAME, nick, first_name, now)
    await conv.set_state(None)
    await uow.commit()
    return nick


async def shown(uow: UnitOfWork, event: Event, user_id: int, index: int, at: datetime, *,
                message_id: int | None = None) -> bool:
    """Question `index` went out to the person at `at` (the edit or message passed the send limiter): its
    time starts then, and its time-out is armed for then plus the seconds. Showing it again changes nothing.
    `message_id`: the quiz message is now this one (remembered in the same commit). Commits."""
    quiz = _quiz(event)
    if message_id is not None:
        await uow.quiz.set_message(user_id, message_id)
    if not await uow.quiz.show(user_id, index, at):
        await uow.commit()
        return False
    stored = await uow.quiz.get(user_id)
    if stored is None or stored.finished_at is not None:
        await uow.commit()
        return True
    await _arm(uow, user_id, stored.attempt(quiz, await secret(uow)), at)
    await uow.commit()
    return True


async def resume(uow: UnitOfWork, event: Event, user_id: int, now: datetime) -> Step:
    """/quiz with an attempt under way (also after a restart): the running question again, or, if its time
    ran out meanwhile, the next one; a finished attempt shows its score. Commits what changed."""
    quiz = _quiz(event)
    key = await secret(uow)
    for _ in range(3):
        stored = await _private(uow, user_id)
        if stored is None:
            raise ServiceError("no_attempt", NO_ATTEMPT)
        attempt = stored.attempt(quiz, key)
        if attempt.finished:
            return await _with_results(uow, Step(user_id, attempt, stored.message_id, changed=False))
        new, how = attempt.resume(now, True)
        if how is Resume.WAIT:
            return Step(user_id, new, stored.message_id, changed=False)
        record = new.answers[-1] if len(new.answers) > len(attempt.answers) else None
        if await _save(uow, stored, new, now):
            await uow.commit()
            return await _with_results(uow, Step(user_id, new, stored.message_id, Outcome.LATE if record else None,
                                                 record))
        await uow.rollback()
    raise ServiceError("busy", NO_ATTEMPT)


async def answer(uow: UnitOfWork, event: Event, user_id: int, *, index: int, question_id: str, choice: int,
                 arrived_at: datetime, now: datetime, message_id: int | None = None) -> Step:
    """A press on an answer button. Scored by `arrived_at` against when the question went out; the next question
    is queued at `now`. A second press, an earlier question's button, a forged one, a press before the question
    went out, a button on another message than the person's quiz message: nothing changes (`changed` False).
    Commits."""
    quiz = _quiz(event)
    key = await secret(uow)
    for _ in range(3):
        stored = await _private(uow, user_id)
        if stored is None:
            raise ServiceError("no_attempt", NO_ATTEMPT)
        attempt = stored.attempt(quiz, key)
        press = attempt.press(index, choice, arrived_at, question_id)
        if press.record is not None and message_id is not None and stored.message_id is not None \
                and message_id != stored.message_id:
            # Not the person's own quiz message (a forwarded copy of someone else's): it never scores.
            return Step(user_id, attempt, stored.message_id, Outcome.INVALID, changed=False)
        if press.record is None:
            return Step(user_id, attempt, stored.message_id, press.outcome, changed=False)
        new = press.attempt.advance(now)
        if await _save(uow, stored, new, now):
            await uow.commit()
            return await _with_results(uow, Step(user_id, new, stored.message_id, press.outcome, press.record,
                                                 late_press=press.outcome is Outcome.LATE))
        await uow.rollback()  # a time-out or another press recorded this question first: look again
    raise ServiceError("busy", NO_ATTEMPT)


async def time_out(uow: UnitOfWork, event: Event, user_id: int, index: int, now: datetime) -> Step | None:
    """The time-out of question `index`: if nobody answered, record it unanswered (0) and queue the next one.
    None when it was answered (or the attempt is gone). Commits."""
    quiz = _quiz(event)
    stored = await uow.quiz.get(user_id)
    if stored is None or stored.group_chat is not None or stored.finished_at is not None or stored.index != index:
        return None
    attempt = stored.attempt(quiz, await secret(uow))
    timed, record = attempt.time_out(now)
    if record is None:
        return None
    new = timed.advance(now)
    if not await _save(uow, stored, new, now):
        await uow.rollback()
        return None
    await uow.commit()
    return await _with_results(uow, Step(user_id, new, stored.message_id, Outcome.LATE, record))


async def remember_message(uow: UnitOfWork, user_id: int, message_id: int) -> None:
    """The quiz message the person sees (edited in place by time-outs); commits."""
    await uow.quiz.set_message(user_id, message_id)
    await uow.commit()


# -- what the quiz message says -------------------------------------------------------------------

@dataclass(frozen=True)
class View:
    text: str
    buttons: Buttons = ()


def answer_data(index: int, question_id: str, shown: int) -> str:
    return f"qz:{index}:{question_id}:{shown}"


NAME_DATA = "qzname:{}"


def choose_name_view(tr: Translator, lang: str, choice: ChooseName) -> View:
    """The three ways to appear on the leaderboard, as buttons."""
    first = (Button(translate(tr, lang, NAME_FIRST, name=choice.first_name), NAME_DATA.format(ShownAs.FIRST_NAME)),) \
        if choice.first_name else ()
    return View(translate(tr, lang, CHOOSE_NAME), (
        first, (Button(translate(tr, lang, NAME_NICK), NAME_DATA.format(ShownAs.NICKNAME)),),
        (Button(translate(tr, lang, NAME_ANON), NAME_DATA.format(ShownAs.ANONYMOUS)),)) if first else (
        (Button(translate(tr, lang, NAME_NICK), NAME_DATA.format(ShownAs.NICKNAME)),),
        (Button(translate(tr, lang, NAME_ANON), NAME_DATA.format(ShownAs.ANONYMOUS)),)))


def deadline_text(starts: datetime, seconds: int, zone: str, lang: str) -> str:
    """The clock time a question's time ends, in the reader's zone, to the second ("14:16:52"): cut to the
    second, never later than the real end (a question's time starts when it went out: `starts` is that
    instant, or an earlier one)."""
    return format_time(to_local(starts + timedelta(seconds=seconds), zone), "HH:mm:ss", locale=lang)


def view(tr: Translator, lang: str, event: Event, step: Step, *, zone: str | None = None,
         starts: datetime | None = None) -> View:
    """The quiz message for `step` in `lang`: feedback on the question just resolved with its explanation,
    then the current question with its four buttons, or the score, the person's place and the top 3. With
    `starts` (when this message goes out, or earlier) and the reader's `zone`, the question says until what
    clock time it may be answered."""
    quiz = _quiz(event)
    attempt = step.attempt
    parts: list[str] = []
    record = step.record
    if record is not None:
        q = quiz.question(record.question_id)
        played = attempt.plan[record.index]
        if q is not None:
            right_text = esc(played.options(q, lang)[played.right])
            if record.right:
                parts.append(translate_plural(tr, lang, RIGHT, record.points))
            elif record.choice is not None:
                parts.append(translate(tr, lang, WRONG, answer=right_text))
            elif step.late_press:
                parts.append(translate(tr, lang, LATE, answer=right_text))
            else:
                parts.append(translate(tr, lang, TIME_UP, answer=right_text))
            parts.append(f"<i>{esc(q.explanation.get(lang))}</i>")
    buttons: Buttons = ()
    if attempt.finished:
        total = len(attempt.plan)
        right = sum(1 for a in attempt.answers if a.right)
        parts.append(translate_plural(tr, lang, FINISHED, attempt.score, right=right, total=total))
        if step.standing is not None:
            lines = [translate(tr, lang, FINISHED_PLACE, rank=step.standing.rank, count=step.count)]
            if step.top3:
                lines += ["", translate(tr, lang, FINISHED_TOP3)]
                lines += [public_line(tr, lang, e) for e in step.top3]
            lines += ["", translate(tr, lang, FINISHED_MORE)]
            parts.append("\n".join(lines))
    else:
        q = quiz.question(attempt.current.question_id)
        if q is not None:
            if step.closing_soon:
                parts.append(translate_plural(tr, lang, CLOSING_SOON, len(attempt.plan)))
            if starts is not None and zone is not None:
                head = translate_plural(tr, lang, QUESTION_UNTIL, attempt.seconds, index=attempt.index + 1,
                                        total=len(attempt.plan),
                                        until=deadline_text(starts, attempt.seconds, zone, lang))
            else:
                head = translate_plural(tr, lang, QUESTION, attempt.seconds, index=attempt.index + 1,
                                        total=len(attempt.plan))
            parts.append(head + "\n" + esc(q.question.get(lang)))
            buttons = tuple((Button(text, answer_data(attempt.index, q.id, shown)),)
                            for shown, text in enumerate(attempt.current.options(q, lang)))
    return View("\n\n".join(parts), buttons)


# -- the leaderboard ------------------------------------------------------------------------------

@dataclass(frozen=True)
class PublicEntry:
    """One line of the leaderboard as the public sees it: the name the player chose (None: anonymous), never a
    surname, city, country or Telegram id."""

    rank: int
    name: str | None
    score: int
    right: int
    time_ms: int
    # The reader's own line (the console has no reader: always False there).
    mine: bool = False


@dataclass(frozen=True)
class PublicBoard:
    top: list[PublicEntry]
    mine: PublicEntry | None
    count: int


def _public(s: Standing, reader: int | None) -> PublicEntry:
    return PublicEntry(s.rank, public_name(s.shown_as, s.nickname, s.first_name), s.score, s.right, s.time_ms,
                       mine=s.user_id == reader)


async def public_leaderboard(uow: UnitOfWork, reader: int | None = None, *, n: int = TOP) -> PublicBoard:
    """The leaderboard as everyone sees it (/leaderboard, the console's live screen): the top `n` by the names
    the players chose, the reader's own place, the number of players. Organisers' views (winners, CSV) use
    `uow.quiz.top` with the registration's names instead."""
    top = await uow.quiz.top(n)
    mine = None
    if reader is not None:
        mine = next((s for s in top if s.user_id == reader), None) or await uow.quiz.standing(reader)
    return PublicBoard([_public(s, reader) for s in top], _public(mine, reader) if mine else None,
                       await uow.quiz.count())


def public_line(tr: Translator, lang: str, e: PublicEntry) -> str:
    name = esc(e.name) if e.name is not None else translate(tr, lang, ANONYMOUS)
    return translate_plural(tr, lang, PUBLIC_LINE, e.score, rank=e.rank, name=f"<b>{name}</b>" if e.mine else name)


def public_text(tr: Translator, lang: str, board: PublicBoard) -> list[str]:
    """The leaderboard's header and lines (the reader's own place is added by the handler)."""
    return [translate_plural(tr, lang, LEADERBOARD, board.count), "", *(public_line(tr, lang, e) for e in board.top)]


def standing_line(tr: Translator, lang: str, s: Standing) -> str:
    """An organiser's line (winners): the registration's name, city and country."""
    place = ", ".join(p for p in (s.city, s.country) if p)
    return translate_plural(tr, lang, POINTS_LINE, s.score, rank=s.rank, name=esc(s.name),
                            place=f" ({esc(place)})" if place else "", right=s.right,
                            seconds=format_decimal(round(s.time_ms / 1000, 1), format="0.0", locale=lang))



# -- for the organiser tools (wired by the lead) --------------------------------------------------

async def participant_ids(uow: UnitOfWork) -> set[int]:
    """Registered people who played (privately or in a group)."""
    return await uow.quiz.registered_ids()


async def participant_count(uow: UnitOfWork) -> int:
    """Everyone who played, registered or not (group players appear under their Telegram name)."""
    return await uow.quiz.count()


async def results_csv(uow: UnitOfWork, event: Event) -> bytes:
    """All results in rank order, UTF-8 with a BOM (spreadsheets open it right), English headers."""
    return csv_bytes(CSV_HEADERS, (
        [s.rank, s.name, s.city, s.country, s.score, s.right, f"{s.time_ms / 1000:.3f}",
         s.finished_at.strftime("%Y-%m-%d %H:%M:%S") if s.finished_at else None]
        for s in await uow.quiz.standings()))


# -- opening and closing --------------------------------------------------------------------------

@dataclass(frozen=True)
class Switched:
    changed: bool
    announced: int = 0
    # When the final results go out (after a closing: the last question's time plus the grace).
    results_at: datetime | None = None


async def _announce(uow: UnitOfWork, event: Event, now: datetime, w: QuizWindow) -> int:
    """The "quiz is open" message to everyone registered who keeps reminders on (turning reminders off is
    how one opts out of what the bot sends unasked) and has not played yet; once per quiz."""
    control = await uow.quiz.control()
    if control.announced_at is not None:
        return 0
    closes = w.closes_at(now)
    people = await uow.quiz.to_announce()
    rows = [NewMessage(f"quiz:announce:{uid}", uid, KIND_ANNOUNCE, "quiz:announce", now,
                       {"until": closes.isoformat() if closes else None}, expires_at=closes,
                       priority=Priority.INTERACTIVE) for uid in people]
    created = await uow.outbox.add(rows, now) if rows else 0
    await uow.quiz.mark_announced(now)
    return created


async def open_quiz(uow: UnitOfWork, event: Event, *, by: int, now: datetime) -> Switched:
    """/quiz_open (organisers): open now; the announcement goes out if it has not yet. Commits."""
    _quiz(event)
    w = await window(uow, event)
    if w.is_open(now):
        return Switched(False)
    await uow.quiz.set_switch(True, now, by)
    w = await window(uow, event)
    announced = await _announce(uow, event, now, w)
    await audit(uow, by, "quiz_open", f"announced to {announced}", now)
    await uow.commit()
    return Switched(True, announced)


async def close_quiz(uow: UnitOfWork, event: Event, *, by: int, now: datetime) -> Switched:
    """/quiz_close (organisers): no new question is asked; the questions running may still be answered,
    then everyone gets their final result (the planner's next pass). Commits."""
    quiz = _quiz(event)
    w = await window(uow, event)
    if not w.is_open(now):
        return Switched(False)
    await uow.quiz.set_switch(False, now, by)
    await audit(uow, by, "quiz_close", "", now)
    await uow.commit()
    return Switched(True, results_at=now + _results_after(quiz, running=await uow.quiz.running_count() > 0))


def _results_after(quiz: Quiz, *, running: bool) -> timedelta:
    """How long after a closing the final results are due: the question running then, or, while anyone is still
    playing (a started player finishes every question), the longest a whole attempt can take."""
    per_question = timedelta(seconds=quiz.seconds) + GRACE
    return per_question * (quiz.per_play if running else 1)


@dataclass(frozen=True)
class Tick:
    announced: int = 0
    finalised: int = 0


async def tick(uow: UnitOfWork, event: Event, now: datetime, organisers: frozenset[int]) -> Tick:
    """What the clock decides (the planner's jobs and its every-minute catch-up): announce an open quiz
    once; after a closing, once the questions running then are over, finish every attempt and send the
    final results and the organisers' winners and CSV. Each is done once (recorded in quiz_state). Commits."""
    if event.quiz is None:
        return Tick()
    quiz = event.quiz
    w = await window(uow, event)
    control = await uow.quiz.control()
    announced = finalised = 0
    if w.is_open(now) and control.announced_at is None:
        announced = await _announce(uow, event, now, w)
    closing = w.closed_since(now)
    if closing is not None and control.finalised_for != closing \
            and now >= closing + _results_after(quiz, running=False) \
            and (now >= closing + _results_after(quiz, running=True) or not await uow.quiz.running_count()):
        finalised = await _finalise(uow, event, now, closing, organisers)
    await uow.commit()
    return Tick(announced, finalised)


async def _finalise(uow: UnitOfWork, event: Event, now: datetime, closing: datetime,
                    organisers: frozenset[int]) -> int:
    quiz = _quiz(event)
    key = await secret(uow)
    for stored in await uow.quiz.unfinished():
        if stored.group_chat is not None:
            await uow.quiz.finish(stored.user_id, now)
            continue
        attempt = stored.attempt(quiz, key)
        _, record = attempt.time_out(now)
        if record is not None:
            await uow.quiz.record(stored.user_id, record, now)
        await uow.quiz.finish(stored.user_id, now)
    standings = await uow.quiz.standings()
    stamp = _stamp(closing)
    rows = [NewMessage(f"quiz:final:{s.user_id}:{stamp}", s.user_id, KIND_FINAL, f"quiz:final:{stamp}", now,
                       {}, priority=Priority.TIMELY) for s in standings]
    for uid in sorted(organisers):
        rows.append(NewMessage(f"quiz:winners:{uid}:{stamp}", uid, KIND_WINNERS, f"quiz:winners:{stamp}", now,
                               {}, priority=Priority.TIMELY))
        rows.append(NewMessage(f"quiz:csv:{uid}:{stamp}", uid, KIND_CSV, f"quiz:winners:{stamp}", now, {},
                               priority=Priority.TIMELY))
    created = await uow.outbox.add(rows, now) if rows else 0
    await uow.quiz.mark_finalised(closing)
    return created


# -- group mode -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class GroupRound:
    questions: int
    seconds: int
    ends_at: datetime


async def start_group(uow: UnitOfWork, event: Event, chat_id: int, *, lang: str, now: datetime) -> GroupRound:
    """An organiser's /quiz_group: the quiz's questions as quiz polls in the group, one after another (outbox
    rows due in turn); poll answers count in the same leaderboard. Commits."""
    quiz = _quiz(event)
    w = await window(uow, event)
    if not w.is_open(now):
        opens = w.opens_at(now)
        if opens is None:
            raise ServiceError("closed_for_good", CLOSED_FOR_GOOD)
        raise ServiceError("closed", CLOSED, at=opens)
    step = timedelta(seconds=quiz.seconds) + GROUP_GAP
    stamp = _stamp(now)
    rows = []
    played = plan(quiz, chat_id, secret=await secret(uow), shuffle_options=False)
    for i, p in enumerate(played):
        due = now + i * step
        rows.append(NewMessage(f"quiz:poll:{chat_id}:{stamp}:{i}", None, KIND_POLL, f"quiz:group:{chat_id}", due,
                               {"q": p.question_id, "i": i, "lang": lang}, chat_id=chat_id,
                               expires_at=due + timedelta(seconds=quiz.seconds), priority=Priority.INTERACTIVE))
    ends = now + len(played) * step
    rows.append(NewMessage(f"quiz:poll:{chat_id}:{stamp}:end", None, KIND_GROUP_END, f"quiz:group:{chat_id}",
                           ends, {"lang": lang}, chat_id=chat_id, priority=Priority.INTERACTIVE))
    await uow.outbox.add(rows, now)
    await uow.commit()
    return GroupRound(len(played), quiz.seconds, ends)


async def poll_answer(uow: UnitOfWork, event: Event, *, poll_id: str, user_id: int, name: str, lang: str,
                      option_ids: list[int], arrived_at: datetime, now: datetime) -> bool:
    """A vote on one of our quiz polls: scored by its arrival like a button, into the same leaderboard (a
    person who is not registered appears under their Telegram name). One attempt per person: someone who
    played in private is not scored again. Returns whether it was recorded; commits."""
    quiz = event.quiz
    if quiz is None or not option_ids:
        return False
    ref = await uow.quiz.poll(poll_id)
    if ref is None:
        return False
    question = quiz.question(ref.question_id)
    if question is None:
        return False
    choice = option_ids[0]
    if not 0 <= choice < len(question.options):
        return False  # a vote for an option the poll does not have (a forged update) uses up nothing
    stored = await uow.quiz.get(user_id)
    if stored is None:
        await uow.quiz.create(user_id, name=name, lang=lang, asked_at=ref.asked_at, now=now, group_chat=ref.chat_id)
    elif stored.group_chat is None:
        return False
    right = choice == question.right
    record = AnswerRecord(index=ref.index, question_id=ref.question_id, choice=choice, right=right,
                          points=score(right, arrived_at, ref.asked_at, ref.seconds),
                          time_ms=answer_time_ms(arrived_at, ref.asked_at, ref.seconds), answered_at=arrived_at)
    recorded = await uow.quiz.record(user_id, record, now)
    if recorded and ref.index + 1 >= quiz.per_play:
        await uow.quiz.finish(user_id, arrived_at)
    await uow.commit()
    return recorded


# -- renderers (at send time, in the reader's language of that moment) ----------------------------

def _lang(who: Recipient | None, fallback: str) -> str:
    return who.language if who is not None else fallback


async def render_timeout(ctx: RenderContext, row: OutboxRow, who: Recipient | None) -> Edit | Rendered | Drop:
    assert row.user_id is not None
    async with ctx.uows() as uow:
        step = await time_out(uow, ctx.event, row.user_id, int(row.payload.get("index", -1)), ctx.now)
        stored = await uow.quiz.get(row.user_id) if step is not None else None
    if step is None or stored is None:
        return Drop("answered in time")
    # Rendered before its turn at the limiter: the clock time it shows is at most that wait early, never late.
    v = view(ctx.i18n, _lang(who, stored.lang), ctx.event, step, zone=reader_zone(who, ctx.event), starts=ctx.now)
    if step.message_id is not None:
        return Edit(step.message_id, v.text, v.buttons)
    return Rendered(v.text, v.buttons)


async def timeout_sent(ctx: RenderContext, row: OutboxRow, sent: Sent) -> None:
    """The time-out's edit (with the next question) went out: that question's time starts now."""
    assert row.user_id is not None
    async with ctx.uows() as uow:
        await shown(uow, ctx.event, row.user_id, int(row.payload.get("index", -1)) + 1, ctx.now)
        if sent.message_id is not None:
            stored = await uow.quiz.get(row.user_id)
            if stored is not None and stored.message_id is None:
                await remember_message(uow, row.user_id, sent.message_id)


async def render_announce(ctx: RenderContext, row: OutboxRow, who: Recipient | None) -> Rendered | Drop:
    if who is None or ctx.event.quiz is None:
        return Drop("not registered")
    async with ctx.uows() as uow:
        played = await uow.quiz.get(who.user_id)
        w = await window(uow, ctx.event)
    if played is not None:
        return Drop("played already")
    if not w.is_open(ctx.now):
        return Drop("the quiz closed")
    closes = w.closes_at(ctx.now)
    quiz = ctx.event.quiz
    if closes is None:  # opened by an organiser after the item's end: open until /quiz_close
        text = translate_plural(ctx.i18n, who.language, ANNOUNCE_OPEN_ENDED, quiz.per_play, seconds=quiz.seconds)
    else:
        until = fmt_when(closes, who.timezone, who.language, ctx.now, who.timezone)
        text = translate_plural(ctx.i18n, who.language, ANNOUNCE, quiz.per_play, seconds=quiz.seconds, until=until)
    return Rendered(text, ((Button(translate(ctx.i18n, who.language, START_BUTTON), START_DATA),),))


async def render_final(ctx: RenderContext, row: OutboxRow, who: Recipient | None) -> Rendered | Drop:
    assert row.user_id is not None
    async with ctx.uows() as uow:
        stored = await uow.quiz.get(row.user_id)
        mine = await uow.quiz.standing(row.user_id)
        count = await uow.quiz.count()
    if stored is None or mine is None:
        return Drop("forgotten")
    if who is None and stored.group_chat is not None:
        return Drop("played in a group, no private chat")
    lang = _lang(who, stored.lang)
    quiz = _quiz(ctx.event)
    return Rendered(translate_plural(ctx.i18n, lang, FINAL, mine.score, right=mine.right, total=quiz.per_play,
                                     rank=mine.rank, count=count))


def winners_text(tr: Translator, lang: str, top: list[Standing], count: int) -> str:
    if not top:
        return translate(tr, lang, WINNERS_NONE)
    lines = [translate_plural(tr, lang, WINNERS, count), "", translate(tr, lang, WINNERS_TOP3)]
    lines += [standing_line(tr, lang, s) for s in top if s.rank <= 3]
    lines += ["", translate(tr, lang, WINNERS_TOP10)]
    lines += [standing_line(tr, lang, s) for s in top]
    return "\n".join(lines)


async def render_winners(ctx: RenderContext, row: OutboxRow, who: Recipient | None) -> Rendered:
    async with ctx.uows() as uow:
        top = await uow.quiz.top(TOP)
        count = await uow.quiz.count()
    return Rendered(winners_text(ctx.i18n, _lang(who, "en"), top, count))


async def render_csv(ctx: RenderContext, row: OutboxRow, who: Recipient | None) -> Document:
    async with ctx.uows() as uow:
        data = await results_csv(uow, ctx.event)
    name = f"quiz-results-{ctx.now:%Y%m%d-%H%M}.csv"
    return Document(FileRef(data=data, filename=name), translate(ctx.i18n, _lang(who, "en"), CSV_CAPTION))


async def render_poll(ctx: RenderContext, row: OutboxRow, who: Recipient | None) -> Poll | Drop:
    quiz = ctx.event.quiz
    q = quiz.question(str(row.payload.get("q"))) if quiz is not None else None
    if quiz is None or q is None:
        return Drop("no such question")
    lang = str(row.payload.get("lang", "en"))
    return Poll(q.question.get(lang), tuple(o.get(lang) for o in q.options), correct_option=q.right,
                explanation=q.explanation.get(lang), open_period=quiz.seconds)


async def poll_sent(ctx: RenderContext, row: OutboxRow, sent: Sent) -> None:
    """Remember which question a poll asks (poll_answer updates name only the poll's id)."""
    from domain.quiz import PollRef

    if sent.poll_id is None or ctx.event.quiz is None:
        return
    async with ctx.uows() as uow:
        await uow.quiz.add_poll(PollRef(sent.poll_id, row.chat_id, str(row.payload.get("q")),
                                        int(row.payload.get("i", 0)), ctx.now, ctx.event.quiz.seconds))
        await uow.commit()


async def render_group_end(ctx: RenderContext, row: OutboxRow, who: Recipient | None) -> Rendered:
    return Rendered(translate(ctx.i18n, str(row.payload.get("lang", "en")), GROUP_END))


# -- wiring ---------------------------------------------------------------------------------------

class QuizPlanner:
    """Wakes the quiz at the item's start (the announcement) and after its end (final results); every
    bot-minute `sync` catches up, which also serves the organisers' /quiz_open and /quiz_close."""

    name = "quiz"

    def __init__(self, jobs: Jobs, event: Event, organisers: frozenset[int]) -> None:
        self.jobs = jobs
        self.event = event
        self.organisers = organisers

    async def plan(self, jobs: Jobs) -> None:
        quiz = self.event.quiz
        if quiz is None:
            return
        w = QuizWindow.for_event(self.event)
        now = jobs.now()
        for at in (w.starts, w.ends + _results_after(quiz, running=False),
                   w.ends + _results_after(quiz, running=True)):
            if at > now:
                jobs.at(f"quiz:tick:{_stamp(at)}", at, self.tick)

    async def sync(self, jobs: Jobs) -> None:
        await self.tick()

    async def tick(self) -> Tick:
        async with self.jobs.uows() as uow:
            done = await tick(uow, self.event, self.jobs.now(), self.organisers)
        if done.announced or done.finalised:
            log.info("quiz: %s announcements, %s result messages queued", done.announced, done.finalised)
            self.jobs.wake()
        return done


def register_renderers(renderers: Renderers) -> None:
    renderers.register(KIND_TIMEOUT, render_timeout, after_sent=timeout_sent)
    renderers.register(KIND_ANNOUNCE, render_announce)
    renderers.register(KIND_FINAL, render_final)
    renderers.register(KIND_WINNERS, render_winners)
    renderers.register(KIND_CSV, render_csv)
    renderers.register(KIND_POLL, render_poll, after_sent=poll_sent)
    renderers.register(KIND_GROUP_END, render_group_end)


def register(delivery: Any) -> None:
    """Wiring (bot/app.py): the quiz's message kinds and its planner."""
    register_renderers(delivery.renderers)
    organisers = frozenset(getattr(delivery.settings, "admin_ids", frozenset()))
    delivery.add_planner(QuizPlanner(delivery, delivery.event, organisers))


def planner(delivery: Any) -> QuizPlanner:
    found = delivery.planners[QuizPlanner.name]
    assert isinstance(found, QuizPlanner)
    return found
