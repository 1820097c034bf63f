"""The Smart City Quiz's use cases: play in a private chat, time-outs, resume, the leaderboard, opening and
closing (by the organisers, and by the bot's clock), final results, and group mode with quiz polls.

Rules live in `domain/quiz.py`. What a person sees of the quiz is one message edited in place; its text is
made here (`view`), so the handler's direct edits and the time-out's edit through the outbox say the same.
Scoring uses the instant the update ARRIVED (`arrived_at`, stamped by `bot.middlewares.ArrivalStamp`),
never the client's clock nor when a busy handler got to it; the next question is asked at `now`.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from domain.event import Event, Quiz
from domain.i18n_marks import N_
from domain.messages import Button, Buttons, Document, Drop, Edit, FileRef, NewMessage, Poll, Priority, Rendered
from domain.quiz import (
    AnswerRecord,
    Attempt,
    Outcome,
    QuizWindow,
    Resume,
    Standing,
    StoredAttempt,
    answer_time_ms,
    plan,
    score,
)
from domain.text import Translator, esc, translate
from domain.timezones import fmt_when
from services.audit import audit
from services.errors import ServiceError

if TYPE_CHECKING:
    from delivery.jobs import Jobs
    from delivery.rendering import RenderContext, Renderers
    from domain.messages import OutboxRow, Recipient, Sent
    from services.ports import UnitOfWork

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

NO_QUIZ = N_("There is no quiz at this event.")
CLOSED = N_("The Smart City Quiz is not open now. It opens at {at} (your time).")
CLOSED_FOR_GOOD = N_("The Smart City Quiz is closed. Send /leaderboard to see the results.")
NO_ATTEMPT = N_("This quiz button is no longer active. Send /quiz to continue.")
PLAYED_IN_GROUP = N_("You took part in the quiz in a group chat, and everyone plays once. Your score: {score} "
                     "points. Send /leaderboard to see where you stand.")
ALREADY_OPEN = N_("The quiz is open already.")
ALREADY_CLOSED = N_("The quiz is closed already.")

RIGHT = N_("✅ Right! +{points} points.")
WRONG = N_("❌ Not quite. The answer is: <b>{answer}</b>.")
TIME_UP = N_("⏰ Time is up. The answer is: <b>{answer}</b>.")
LATE = N_("⏰ Too late: that answer came after the time was up. The answer is: <b>{answer}</b>.")
QUESTION = N_("<b>Question {n} of {total}</b> · {seconds} seconds")
FINISHED = N_("🏁 That was the last question. Your score: <b>{score}</b> points, {right} of {total} right. "
              "Send /leaderboard to see where you stand.")
FINISHED_CLOSED = N_("🏁 The quiz has closed, so that was your last question. Your score: <b>{score}</b> "
                     "points, {right} of {total} right. Send /leaderboard to see where you stand.")
ANNOUNCE = N_("🧠 <b>The Smart City Quiz is open!</b> {questions} questions about WeGO, Moscow and smart "
              "cities, {seconds} seconds each. Right answers score 100 points, plus up to 50 for speed. "
              "One try each, until {until} (your time).")
ANNOUNCE_OPEN_ENDED = N_("🧠 <b>The Smart City Quiz is open!</b> {questions} questions about WeGO, Moscow and "
                         "smart cities, {seconds} seconds each. Right answers score 100 points, plus up to 50 for "
                         "speed. One try each.")
START_BUTTON = N_("▶️ Start the quiz")
FINAL = N_("🏁 <b>The Smart City Quiz is closed.</b> Your final score: <b>{score}</b> points, {right} of "
           "{total} right. Your place: <b>{rank}</b> of {count}. Thank you for playing!")
WINNERS = N_("🏆 <b>Smart City Quiz: the winners</b> ({count} participants)")
WINNERS_TOP3 = N_("<b>Top 3</b>, to read out:")
WINNERS_TOP10 = N_("<b>Top 10</b>:")
WINNERS_NONE = N_("🏆 The Smart City Quiz closed without participants.")
CSV_CAPTION = N_("All results of the Smart City Quiz (CSV).")
POINTS_LINE = N_("{rank}. {name}{place} — {score} points ({right} right, {seconds} s)")
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
    # The attempt finished because the window closed (not after its last question).
    closed: bool = False
    # The record was made by a press that came after the time was up (not by the time-out).
    late_press: bool = False

    @property
    def finished(self) -> bool:
        return self.attempt.finished


def _timeout_topic(user_id: int) -> str:
    return f"quiz:timeout:{user_id}"


def _timeout_row(user_id: int, attempt: Attempt, *, own: bool = False) -> NewMessage:
    """The time-out of the attempt's running question. One row per person (key quiz:to:<user>), re-armed in
    place for each question; `own` names a row for this question alone (when the person's row is claimed by
    the sender at that instant)."""
    due = attempt.deadline + GRACE
    key = f"quiz:to:{user_id}:{attempt.index}:{_stamp(attempt.asked_at)}" if own else f"quiz:to:{user_id}"
    return NewMessage(key, user_id, KIND_TIMEOUT, _timeout_topic(user_id), due, {"index": attempt.index},
                      priority=Priority.INTERACTIVE)


async def _arm(uow: UnitOfWork, user_id: int, attempt: Attempt, now: datetime) -> None:
    """Arm the running question's time-out: one statement (the person's row re-armed), or, when the sender
    holds that row right now (an earlier question's time-out being rendered: it will find the question
    answered and drop itself), a row of its own."""
    if not await uow.outbox.rearm(_timeout_row(user_id, attempt), now):
        await uow.outbox.add([_timeout_row(user_id, attempt, own=True)], now)


async def _private(uow: UnitOfWork, user_id: int) -> StoredAttempt | None:
    stored = await uow.quiz.get(user_id)
    if stored is not None and stored.group_chat is not None:
        raise ServiceError("group", PLAYED_IN_GROUP, score=stored.score)
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
                                              finished_at=new.finished_at):
            return False
    else:
        for record in records:
            if not await uow.quiz.record(stored.user_id, record, now):
                return False
        if moved and not await uow.quiz.move(stored.user_id, from_index=stored.index, index=new.index,
                                             asked_at=new.asked_at, finished_at=new.finished_at):
            return False
    if not new.finished and not new.resolved and new.index != stored.index:
        # A new question: its time-out replaces the answered one's (re-armed in place, never claimed).
        await _arm(uow, stored.user_id, new, now)
    elif records:  # the resolved question's time-out has nothing left to do: the sender never claims it
        await uow.outbox.cancel(_timeout_topic(stored.user_id), now)
    return True


async def start(uow: UnitOfWork, event: Event, user_id: int, *, name: str, lang: str, now: datetime) -> Step:
    """/quiz or "Start the quiz": the first question, or where the person's one attempt stands; commits."""
    quiz = _quiz(event)
    w = await window(uow, event)
    if not w.is_open(now):
        if await _private(uow, user_id) is not None:
            return await resume(uow, event, user_id, now)
        opens = w.opens_at(now)
        if opens is None:
            raise ServiceError("closed_for_good", CLOSED_FOR_GOOD)
        raise ServiceError("closed", CLOSED, at=opens)
    # The common case first: a new attempt (the insert is the check: one per person).
    if not await uow.quiz.create(user_id, name=name, lang=lang, asked_at=now, now=now):
        await uow.rollback()
        return await resume(uow, event, user_id, now)
    attempt = Attempt.start(plan(quiz, user_id), quiz.seconds, now)
    await _arm(uow, user_id, attempt, now)
    await uow.commit()
    return Step(user_id, attempt, None)


async def resume(uow: UnitOfWork, event: Event, user_id: int, now: datetime) -> Step:
    """/quiz with an attempt under way (also after a restart): the running question again, or, if its time
    ran out meanwhile, the next one; a finished attempt shows its score. Commits what changed."""
    quiz = _quiz(event)
    for _ in range(3):
        stored = await _private(uow, user_id)
        if stored is None:
            raise ServiceError("no_attempt", NO_ATTEMPT)
        attempt = stored.attempt(quiz)
        if attempt.finished:
            return Step(user_id, attempt, stored.message_id, changed=False)
        is_open = (await window(uow, event)).is_open(now)
        new, how = attempt.resume(now, is_open)
        if how is Resume.WAIT:
            return Step(user_id, new, stored.message_id, changed=False)
        record = new.answers[-1] if len(new.answers) > len(attempt.answers) else None
        if await _save(uow, stored, new, now):
            await uow.commit()
            return Step(user_id, new, stored.message_id, Outcome.LATE if record else None, record,
                        closed=new.finished and not is_open)
        await uow.rollback()
    raise ServiceError("busy", NO_ATTEMPT)


async def answer(uow: UnitOfWork, event: Event, user_id: int, *, index: int, question_id: str, choice: int,
                 arrived_at: datetime, now: datetime) -> Step:
    """A press on an answer button. Scored by `arrived_at`; the next question is asked at `now`. A second
    press, an earlier question's button, a forged one: nothing changes (`changed` False). Commits."""
    quiz = _quiz(event)
    for _ in range(3):
        stored = await _private(uow, user_id)
        if stored is None:
            raise ServiceError("no_attempt", NO_ATTEMPT)
        attempt = stored.attempt(quiz)
        press = attempt.press(index, choice, arrived_at, question_id)
        if press.record is None:
            return Step(user_id, attempt, stored.message_id, press.outcome, changed=False)
        is_open = (await window(uow, event)).is_open(now)
        new = press.attempt.advance(now, is_open)
        if await _save(uow, stored, new, now):
            await uow.commit()
            return Step(user_id, new, stored.message_id, press.outcome, press.record,
                        closed=new.finished and not is_open and new.index + 1 < len(new.plan),
                        late_press=press.outcome is Outcome.LATE)
        await uow.rollback()  # a time-out or another press recorded this question first: look again
    raise ServiceError("busy", NO_ATTEMPT)


async def time_out(uow: UnitOfWork, event: Event, user_id: int, index: int, now: datetime) -> Step | None:
    """The time-out of question `index`: if nobody answered, record it unanswered (0) and ask the next one.
    None when it was answered (or the attempt is gone). Commits."""
    quiz = _quiz(event)
    stored = await uow.quiz.get(user_id)
    if stored is None or stored.group_chat is not None or stored.finished_at is not None or stored.index != index:
        return None
    attempt = stored.attempt(quiz)
    timed, record = attempt.time_out(now)
    if record is None:
        return None
    is_open = (await window(uow, event)).is_open(now)
    new = timed.advance(now, is_open)
    if not await _save(uow, stored, new, now):
        await uow.rollback()
        return None
    await uow.commit()
    return Step(user_id, new, stored.message_id, Outcome.LATE, record,
                closed=new.finished and not is_open and new.index + 1 < len(new.plan))


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


def view(tr: Translator, lang: str, event: Event, step: Step) -> View:
    """The quiz message for `step` in `lang`: feedback on the question just resolved with its explanation,
    then the current question with its four buttons, or the score at the end."""
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
                parts.append(translate(tr, lang, RIGHT, points=record.points))
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
        parts.append(translate(tr, lang, FINISHED_CLOSED if step.closed else FINISHED, score=attempt.score,
                               right=right, total=total))
    else:
        q = quiz.question(attempt.current.question_id)
        if q is not None:
            parts.append(translate(tr, lang, QUESTION, n=attempt.index + 1, total=len(attempt.plan),
                                   seconds=attempt.seconds) + "\n" + esc(q.question.get(lang)))
            buttons = tuple((Button(text, answer_data(attempt.index, q.id, shown)),)
                            for shown, text in enumerate(attempt.current.options(q, lang)))
    return View("\n\n".join(parts), buttons)


# -- the leaderboard ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Board:
    top: list[Standing]
    mine: Standing | None
    count: int


async def leaderboard(uow: UnitOfWork, user_id: int) -> Board:
    """The top 10 and the reader's own place: two indexed queries and a count, whatever the size."""
    top = await uow.quiz.top(TOP)
    mine = next((s for s in top if s.user_id == user_id), None) or await uow.quiz.standing(user_id)
    return Board(top, mine, await uow.quiz.count())


def standing_line(tr: Translator, lang: str, s: Standing) -> str:
    place = ", ".join(p for p in (s.city, s.country) if p)
    return translate(tr, lang, POINTS_LINE, rank=s.rank, name=esc(s.name), place=f" ({esc(place)})" if place else "",
                     score=s.score, right=s.right, seconds=f"{s.time_ms / 1000:.1f}")


# -- for the organiser tools (wired by the lead) --------------------------------------------------

async def participant_ids(uow: UnitOfWork) -> set[int]:
    """Registered people who played (privately or in a group)."""
    return await uow.quiz.registered_ids()


async def participant_count(uow: UnitOfWork) -> int:
    """Everyone who played, registered or not (group players appear under their Telegram name)."""
    return await uow.quiz.count()


async def results_csv(uow: UnitOfWork, event: Event) -> bytes:
    """All results in rank order, UTF-8 with a BOM (spreadsheets open it right), English headers."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADERS)
    for s in await uow.quiz.standings():
        writer.writerow([s.rank, s.name, s.city or "", s.country or "", s.score, s.right,
                         f"{s.time_ms / 1000:.3f}",
                         s.finished_at.strftime("%Y-%m-%d %H:%M:%S") if s.finished_at else ""])
    return ("\ufeff" + out.getvalue()).encode()


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
    return Switched(True, results_at=now + timedelta(seconds=quiz.seconds) + GRACE)


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
            and now >= closing + timedelta(seconds=quiz.seconds) + GRACE:
        finalised = await _finalise(uow, event, now, closing, organisers)
    await uow.commit()
    return Tick(announced, finalised)


async def _finalise(uow: UnitOfWork, event: Event, now: datetime, closing: datetime,
                    organisers: frozenset[int]) -> int:
    quiz = _quiz(event)
    for stored in await uow.quiz.unfinished():
        if stored.group_chat is not None:
            await uow.quiz.finish(stored.user_id, now)
            continue
        attempt = stored.attempt(quiz)
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
    played = plan(quiz, chat_id, shuffle_options=False)
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
    stored = await uow.quiz.get(user_id)
    if stored is None:
        await uow.quiz.create(user_id, name=name, lang=lang, asked_at=ref.asked_at, now=now, group_chat=ref.chat_id)
    elif stored.group_chat is None:
        return False
    choice = option_ids[0]
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


def _zone(who: Recipient | None, event: Event) -> str:
    return who.timezone if who is not None else str(event.timezone)


async def render_timeout(ctx: RenderContext, row: OutboxRow, who: Recipient | None) -> Edit | Rendered | Drop:
    assert row.user_id is not None
    async with ctx.uows() as uow:
        step = await time_out(uow, ctx.event, row.user_id, int(row.payload.get("index", -1)), ctx.now)
        stored = await uow.quiz.get(row.user_id) if step is not None else None
    if step is None or stored is None:
        return Drop("answered in time")
    v = view(ctx.i18n, _lang(who, stored.lang), ctx.event, step)
    if step.message_id is not None:
        return Edit(step.message_id, v.text, v.buttons)
    return Rendered(v.text, v.buttons)


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
        text = translate(ctx.i18n, who.language, ANNOUNCE_OPEN_ENDED, questions=quiz.per_play, seconds=quiz.seconds)
    else:
        until = fmt_when(closes, who.timezone, who.language, ctx.now, who.timezone)
        text = translate(ctx.i18n, who.language, ANNOUNCE, questions=quiz.per_play, seconds=quiz.seconds,
                         until=until)
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
    return Rendered(translate(ctx.i18n, lang, FINAL, score=mine.score, right=mine.right, total=quiz.per_play,
                              rank=mine.rank, count=count))


def winners_text(tr: Translator, lang: str, top: list[Standing], count: int) -> str:
    if not top:
        return translate(tr, lang, WINNERS_NONE)
    lines = [translate(tr, lang, WINNERS, count=count), "", translate(tr, lang, WINNERS_TOP3)]
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
        for at in (w.starts, w.ends + timedelta(seconds=quiz.seconds) + GRACE):
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
    renderers.register(KIND_TIMEOUT, render_timeout)
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
