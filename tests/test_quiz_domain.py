"""The Smart City Quiz: its content in the event file, the loader's checks, and the pure rules
(score, which questions a person plays, the window, ranking, one person's attempt)."""

from __future__ import annotations

import itertools
import os
import random
import re
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from domain.event import LANGS, Event, EventFileError, Quiz, QuizQuestion, Text, load_event
from domain.quiz import (
    UNSHOWN_WAIT,
    Attempt,
    Outcome,
    QuizWindow,
    Result,
    Resume,
    Switch,
    answer_time_ms,
    is_late,
    leaderboard,
    plan,
    rank_of,
    ranking,
    score,
)
from tests.harness import EVENT_FILE

ROOT = Path(__file__).resolve().parent.parent
CYRILLIC = re.compile(r"[А-Яа-яЁё]")
HANGUL = re.compile(r"[\uac00-\ud7a3]")
T0 = datetime(2020, 11, 17, 11, 15, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def utc(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2020, 11, 17, hour, minute, second, tzinfo=UTC)


@pytest.fixture(scope="module")
def quiz(event: Event) -> Quiz:
    assert event.quiz is not None
    return event.quiz


def right_option(q: QuizQuestion) -> Text:
    return q.options[q.right]


# -- content ---------------------------------------------------------------------------------------


def test_shipped_quiz_loads(event: Event, quiz: Quiz) -> None:
    assert len(quiz.questions) >= 15
    assert (quiz.seconds, quiz.per_play) == (20, 10)
    item = event.item(quiz.item)
    assert item is not None
    assert item.title.en == "Online Coffee Break with the Smart City Quiz"
    assert (item.starts, item.ends) == (utc(11, 15), utc(11, 45))  # 14:15-14:45 Moscow time


def test_every_question_is_complete_and_fits_telegram(quiz: Quiz) -> None:
    for q in quiz.questions:
        assert len(q.options) == 4, q.id
        assert 0 <= q.right < 4, q.id
        for lang in LANGS:
            assert len(q.question.get(lang)) <= 300, (q.id, lang)
            assert len(q.explanation.get(lang)) <= 200, (q.id, lang)
            # Options are buttons: short enough to read on a phone.
            assert max(len(o.get(lang)) for o in q.options) <= 40, (q.id, lang)
        for text in (q.question, q.explanation, *q.options):
            assert CYRILLIC.search(text.ru), (q.id, text.ru)
            assert HANGUL.search(text.ko), (q.id, text.ko)
        # Korean in 해요체: every explanation ends in "요."
        assert q.explanation.ko.endswith("요."), (q.id, q.explanation.ko)


def test_right_answers_agree_with_the_rest_of_the_event_file(event: Event, quiz: Quiz) -> None:
    def right(qid: str) -> str:
        q = quiz.question(qid)
        assert q is not None
        return right_option(q).en

    offices = {c.regional_office.en: c.name.en for c in event.cities if c.regional_office}
    assert right("office-east-asia") == offices["East Asia Regional Office"]
    assert right("office-eurasia") == offices["Eurasia Regional Office"]
    assert right("mexico-spanish") == offices["Latin America Regional Office"]
    assert right("theme") in event.theme.en
    q = quiz.question("theme")
    assert q is not None and right_option(q).ru in event.theme.ru and right_option(q).ko in event.theme.ko
    assert right("dvms-capacity") == f"Up to {event.platform.capacity:,}"
    assert right("wego-founded") == "2010" and "2010" in event.wego.about.en
    # Only the right option of the EXCOM question is an EXCOM member city.
    q = quiz.question("excom-africa")
    assert q is not None
    members = {c.name.en for c in event.excom_cities}
    assert [o.en in members for o in q.options] == [n == q.right for n in range(4)]
    # The right answers are not all in the same place in the file.
    assert len({q.right for q in quiz.questions}) >= 3


# -- the loader's checks ---------------------------------------------------------------------------


def variant(tmp_path: Path, old: str, new: str) -> Path:
    text = EVENT_FILE.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} must occur exactly once"
    path = tmp_path / "event.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(EventFileError) as info:
        load_event(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    return message


FIRST = "quiz > questions[0] 'wego-founded'"


def test_an_event_without_a_quiz_loads(tmp_path: Path) -> None:
    text = EVENT_FILE.read_text(encoding="utf-8")
    path = tmp_path / "event.toml"
    path.write_text(text[: text.index("[quiz]")], encoding="utf-8")
    event = load_event(path)
    assert event.quiz is None
    with pytest.raises(ValueError, match="has no quiz"):
        QuizWindow.for_event(event)


@pytest.mark.parametrize(("old", "new", "expected"), [
    ('    { en = "2018", ru = "В 2018 году", ko = "2018년" },\n', "",
     f"{FIRST} > options: a question needs exactly 4 options, not 3"),
    ('right = 1\nexplanation.en = "WeGO was established in 2010',
     'right = 4\nexplanation.en = "WeGO was established in 2010',
     f"{FIRST}: right answer index 4 is out of range 0-3"),
    ('right = 1\nexplanation.en = "WeGO was established in 2010',
     'right = -1\nexplanation.en = "WeGO was established in 2010',
     f"{FIRST}: right answer index -1 is out of range 0-3"),
    ('explanation.ru = "WeGO основана', 'explanation.ru = "' + "Очень " * 30 + 'WeGO основана',
     f"{FIRST} > explanation: explanation in ru is 257 characters; Telegram allows at most 200"),
    ('question.en = "In which year was WeGO established?"', 'question.en = "' + "Why " * 76 + '?"',
     f"{FIRST} > question: question in en is 305 characters; Telegram allows at most 300"),
    ('{ en = "2005",', '{ en = "' + "9" * 101 + '",',
     f"{FIRST} > options: option 0 in en is 101 characters; Telegram allows at most 100"),
    # Telegram counts UTF-16 code units: 51 emoji are 102 of them.
    ('ko = "2005년" }', 'ko = "' + "\U0001f3d9" * 51 + '" }',
     f"{FIRST} > options: option 0 in ko is 102 characters; Telegram allows at most 100"),
    ('{ en = "2015", ru = "В 2015 году"', '{ en = "2010", ru = "В 2015 году"',
     f"{FIRST} > options: two options read the same in en"),
    ('ru = "В 2005 году", ko = "2005년" }', 'ru = "В 2005 году" }',
     f"{FIRST} > options[0] > ko: Field required"),
    ('question.ko = "WeGO는 몇 년도에 설립되었을까요?"\n', "", f"{FIRST} > question > ko: Field required"),
    ('explanation.ko = "WeGO는 2010년에', 'explanation.ko = "WeGO는\\n\\n\\n2010년에',
     f"{FIRST} > explanation: explanation in ko has more than 2 line feeds"),
    ('id = "wego-founders"', 'id = "wego-founded"', "quiz: duplicate quiz question id 'wego-founded'"),
    ('id = "wego-founders"', 'id = "wego founders"',
     "quiz > questions[1] 'wego founders' > id: id must be 1-24 characters"),
    ("per_play = 10", "per_play = 30", "quiz: 21 questions, fewer than per_play = 30"),
    ('item = "quiz"\nseconds', 'item = "quizz"\nseconds', "quiz: unknown program item 'quizz'"),
    ("seconds = 20\n", "seconds = 2\n", "quiz > seconds: Input should be greater than or equal to 5"),
], ids=["three-options", "right-too-high", "right-negative", "explanation-too-long", "question-too-long",
        "option-too-long", "option-too-long-utf16", "options-repeat", "option-missing-ko", "question-missing-ko",
        "explanation-line-feeds", "duplicate-id", "bad-id", "fewer-than-per-play", "unknown-item",
        "seconds-too-short"])
def test_quiz_errors_name_the_place_and_the_problem(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert expected in load_error(variant(tmp_path, old, new))


# -- score -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("seconds_taken", "right", "points"), [
    (0, True, 150),          # instant: the whole bonus
    (10, True, 125),         # half the time left: half the bonus
    (5, True, 138),          # 15/20 * 50 = 37.5, halves round up
    (0.2, True, 150),        # 49.5 rounds up
    (0.6, True, 149),        # 48.5 rounds up
    (0.61, True, 148),       # 48.475
    (19.9, True, 100),       # 0.25 rounds down: still a right answer
    (19.999999, True, 100),  # the last microsecond in time
    (20, True, 0),           # exactly at the limit: late
    (25, True, 0),
    (0, False, 0),           # wrong, however fast
    (10, False, 0),
])
def test_score(seconds_taken: float, right: bool, points: int) -> None:
    assert score(right, at(seconds_taken), T0, 20) == points


def test_score_unanswered_and_other_limits() -> None:
    assert score(True, None, T0, 20) == 0
    assert score(True, at(2.5), T0, 10) == 138  # 50 * 7.5/10 = 37.5
    assert score(True, at(29), T0, 30) == 102   # 50 * 1/30 = 1.67
    # An answer stamped before its question (clock skew) counts as instant, no more.
    assert score(True, at(-3), T0, 20) == 150


def test_a_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        score(True, at(1), T0, 0)
    with pytest.raises(ValueError, match="positive"):
        Attempt.start(plan(small_quiz(), 1), 0, T0)


def test_score_never_grows_with_time_and_stays_in_range() -> None:
    points = [score(True, at(n / 10), T0, 20) for n in range(200)]
    assert points == sorted(points, reverse=True)
    assert points[0] == 150 and points[-1] == 100
    assert set(range(100, 151)) == set(points)  # every bonus value is reachable


def test_lateness_and_answer_time() -> None:
    assert not is_late(at(19.999), T0, 20)
    assert is_late(at(20), T0, 20)
    assert answer_time_ms(at(1.2345), T0, 20) == 1234
    assert answer_time_ms(at(21), T0, 20) == 20_000
    assert answer_time_ms(None, T0, 20) == 20_000
    assert answer_time_ms(at(-1), T0, 20) == 0


# -- which questions a person plays ----------------------------------------------------------------


def small_quiz(n: int = 6, per_play: int = 3) -> Quiz:
    def text(s: str) -> Text:
        return Text(en=s, ru=s, ko=s)

    return Quiz(item="quiz", seconds=20, per_play=per_play, questions=tuple(
        QuizQuestion(id=f"q{i}", question=text(f"Q{i}"), options=tuple(text(f"o{i}{k}") for k in range(4)),
                     right=i % 4, explanation=text(f"E{i}"))
        for i in range(n)))


def test_plan_picks_per_play_distinct_questions(quiz: Quiz) -> None:
    played = plan(quiz, 1001)
    ids = [p.question_id for p in played]
    assert len(ids) == quiz.per_play == len(set(ids))
    assert set(ids) <= {q.id for q in quiz.questions}


def test_plan_is_the_same_after_a_restart(quiz: Quiz) -> None:
    assert plan(quiz, 1001) == plan(quiz, 1001)
    assert plan(quiz, "1001") == plan(quiz, 1001)
    # A new interpreter with another hash seed computes the same plan (no hash() or unseeded random).
    code = ("from domain.event import load_event; from domain.quiz import plan; "
            f"print([(p.question_id, p.order) for p in plan(load_event({str(EVENT_FILE)!r}).quiz, 1001)])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                         env={**os.environ, "PYTHONHASHSEED": "12345"}).stdout
    assert out.strip() == str([(p.question_id, p.order) for p in plan(quiz, 1001)])


def test_plan_is_pinned() -> None:
    # Changing the draw would change every person's sequence in the middle of a quiz: keep it stable.
    played = plan(small_quiz(), 7)
    assert [(p.question_id, p.order, p.right) for p in played] == PINNED


PINNED = [("q4", (3, 2, 0, 1), 2), ("q5", (2, 3, 0, 1), 3), ("q3", (2, 3, 1, 0), 1)]


def test_without_the_servers_secret_the_plan_cannot_be_computed() -> None:
    # Issue 17: question order and the right button's position followed from the id and the public event file.
    quiz = load_event(EVENT_FILE).quiz
    assert quiz is not None
    mine = plan(quiz, 1001, secret="the bot's own")
    assert mine == plan(quiz, 1001, secret="the bot's own")  # stable for the bot (restarts, other processes)
    guesses = [plan(quiz, 1001, secret=guess) for guess in ("", "0", "secret", "1001")]
    assert all(g != mine for g in guesses)
    rights = [p.right for p in mine]
    assert sum(1 for g in guesses for a, b in zip(g, mine, strict=True) if a == b) < len(mine)
    assert rights


def test_plan_does_not_depend_on_the_order_of_the_file() -> None:
    q = small_quiz()
    reordered = q.model_copy(update={"questions": tuple(reversed(q.questions))})
    assert plan(q, 99) == plan(reordered, 99)


def test_people_get_different_questions_and_every_question_is_played(quiz: Quiz) -> None:
    plans = [plan(quiz, user) for user in range(1000)]
    assert len({tuple(p.question_id for p in pl) for pl in plans}) == 1000
    counts = {q.id: 0 for q in quiz.questions}
    for pl in plans:
        for p in pl:
            counts[p.question_id] += 1
    expected = 1000 * quiz.per_play / len(quiz.questions)
    assert all(0.7 * expected < c < 1.3 * expected for c in counts.values()), counts


def test_options_are_shuffled_per_person_and_the_right_one_follows(quiz: Quiz) -> None:
    positions = set()
    for user in range(200):
        for p in plan(quiz, user):
            q = quiz.question(p.question_id)
            assert q is not None
            assert sorted(p.order) == [0, 1, 2, 3]
            assert p.option_index(p.right) == q.right
            assert p.options(q, "ru")[p.right] == right_option(q).ru
            positions.add(p.right)
    assert positions == {0, 1, 2, 3}


def test_group_mode_keeps_the_file_order(quiz: Quiz) -> None:
    for p in plan(quiz, -100123, shuffle_options=False):
        q = quiz.question(p.question_id)
        assert q is not None
        assert p.order == (0, 1, 2, 3) and p.right == q.right


# -- the window ------------------------------------------------------------------------------------


def test_window_follows_the_program_item(event: Event) -> None:
    w = QuizWindow.for_event(event)
    assert not w.is_open(utc(11, 14, 59))
    assert w.is_open(utc(11, 15))  # from the item's start, inclusive
    assert w.is_open(utc(11, 44, 59))
    assert not w.is_open(utc(11, 45))  # to its end, exclusive
    assert w.opens_at(utc(9, 0)) == utc(11, 15)
    assert w.closes_at(utc(9, 0)) is None
    assert w.closes_at(utc(11, 20)) == utc(11, 45)
    assert w.opens_at(utc(11, 20)) is None
    assert w.opens_at(utc(12, 0)) is None  # over: it does not open again


def test_early_open_by_hand_still_closes_at_the_end(event: Event) -> None:
    w = QuizWindow.for_event(event, Switch(open=True, at=utc(11, 0)))
    assert not w.is_open(utc(10, 59))
    assert w.is_open(utc(11, 0)) and w.is_open(utc(11, 30))
    assert w.closes_at(utc(11, 5)) == utc(11, 45)
    assert not w.is_open(utc(11, 45))


def test_close_by_hand_during_the_item_stays_closed(event: Event) -> None:
    w = QuizWindow.for_event(event, Switch(open=False, at=utc(11, 20)))
    assert w.is_open(utc(11, 19))
    assert not w.is_open(utc(11, 20)) and not w.is_open(utc(11, 40))
    assert w.opens_at(utc(11, 30)) is None


def test_reopen_after_the_end_stays_open_until_closed(event: Event) -> None:
    w = QuizWindow.for_event(event, Switch(open=True, at=utc(12, 0)))
    assert not w.is_open(utc(11, 50))
    assert w.is_open(utc(12, 0)) and w.is_open(utc(20, 0))
    assert w.closes_at(utc(12, 30)) is None
    # At the very instant of the scheduled end, an organiser's opening wins.
    assert QuizWindow.for_event(event, Switch(open=True, at=utc(11, 45))).is_open(utc(11, 45))


def test_close_by_hand_before_the_start_does_not_cancel_the_schedule(event: Event) -> None:
    w = QuizWindow.for_event(event, Switch(open=False, at=utc(11, 0)))
    assert not w.is_open(utc(11, 10))
    assert w.opens_at(utc(11, 10)) == utc(11, 15)
    assert w.is_open(utc(11, 15))


# -- ranking ---------------------------------------------------------------------------------------


def finished(minute: int) -> datetime:
    return utc(11, minute)


def test_ranking_order_and_ties() -> None:
    results = [
        Result(1, 900, 60_000, finished(30)),
        Result(2, 1200, 90_000, finished(35)),   # best score
        Result(3, 900, 50_000, finished(40)),    # same score as 1, less time: ahead of 1
        Result(4, 900, 60_000, finished(25)),    # same score and time as 1, finished first: ahead of 1
        Result(5, 900, 60_000, None),            # still playing: after those who finished
        Result(6, 900, 60_000, finished(30)),    # exactly like 1: same rank
        Result(7, 0, 200_000, finished(20)),
    ]
    ranked = ranking(results)
    assert [(r.rank, r.result.user_id) for r in ranked] == [(1, 2), (2, 3), (3, 4), (4, 1), (4, 6), (6, 5),
                                                            (7, 7)]
    assert [(r.rank, r.result.user_id) for r in leaderboard(results, 3)] == [(1, 2), (2, 3), (3, 4)]
    # A cut through a tie keeps the shared rank.
    assert [(r.rank, r.result.user_id) for r in leaderboard(results, 5)][-2:] == [(4, 1), (4, 6)]
    assert rank_of(results, 6) is not None and rank_of(results, 6).rank == 4
    assert rank_of(results, 5).rank == 6
    assert rank_of(results, 42) is None
    assert leaderboard([], 10) == [] and ranking([]) == []


def test_ranking_ten_thousand_participants_agrees_with_a_full_sort() -> None:
    rnd = random.Random(2020)
    results = [Result(uid, rnd.randrange(0, 1501, 10), rnd.randrange(20_000, 200_000, 500),
                      None if rnd.random() < 0.05 else utc(11, 15) + timedelta(seconds=rnd.randrange(1800)))
               for uid in range(1, 10_001)]
    full = ranking(results)
    assert leaderboard(results, 10) == full[:10]
    assert leaderboard(results, 100) == full[:100]
    by_user = {r.result.user_id: r for r in full}
    for uid in rnd.sample(range(1, 10_001), 50):
        assert rank_of(results, uid) == by_user[uid]
    # Ranks never go down the list.
    assert all(a.rank <= b.rank for a, b in itertools.pairwise(full))
    assert full[0].rank == 1


# -- one person's attempt --------------------------------------------------------------------------


@pytest.fixture
def attempt() -> Attempt:
    return Attempt.start(plan(small_quiz(6, 3), 7), 20, T0)


def wrong(a: Attempt) -> int:
    return (a.current.right + 1) % 4


def test_a_right_answer_is_accepted_once(attempt: Attempt) -> None:
    assert attempt.index == 0 and attempt.asked_at == T0 and not attempt.resolved
    press = attempt.press(0, attempt.current.right, at(5))
    assert press.outcome is Outcome.ACCEPTED
    assert press.record is not None
    assert (press.record.question_id, press.record.right, press.record.points, press.record.time_ms) == (
        "q4", True, 138, 5000)
    a = press.attempt
    assert a.resolved and a.score == 138
    again = a.press(0, wrong(a), at(6))
    assert again.outcome is Outcome.DUPLICATE and again.attempt is a and again.record is None
    assert a.score == 138


def test_the_shown_position_decides_not_the_files_index(attempt: Attempt) -> None:
    # q4's right option is option 0 in the file; this person sees the options in the order (3, 2, 0, 1),
    # so it is the third button, and the first button (the file's index 3) is wrong.
    p = attempt.current
    assert (p.question_id, p.order, p.right) == ("q4", (3, 2, 0, 1), 2)
    assert attempt.press(0, 0, at(1)).record.right is False
    assert attempt.press(0, 2, at(1)).record.right is True


def test_a_wrong_answer_scores_nothing_but_counts_its_time(attempt: Attempt) -> None:
    press = attempt.press(0, wrong(attempt), at(3))
    assert press.outcome is Outcome.ACCEPTED
    assert press.record is not None and (press.record.right, press.record.points, press.record.time_ms) == (
        False, 0, 3000)


def test_a_press_after_the_time_is_late(attempt: Attempt) -> None:
    press = attempt.press(0, attempt.current.right, at(20))
    assert press.outcome is Outcome.LATE
    assert press.record is not None
    assert (press.record.choice, press.record.points, press.record.time_ms) == (None, 0, 20_000)
    again = press.attempt.press(0, attempt.current.right, at(21))
    assert again.outcome is Outcome.LATE and again.record is None and again.attempt is press.attempt


def test_timer(attempt: Attempt) -> None:
    early, record = attempt.time_out(at(19.9))
    assert early is attempt and record is None
    timed_out, record = attempt.time_out(at(20))
    assert record is not None and record.choice is None and record.points == 0
    assert timed_out.time_out(at(25)) == (timed_out, None)  # the timer firing twice changes nothing
    assert timed_out.press(0, 0, at(20.5)).outcome is Outcome.LATE
    # A timer that fires after the answer changes nothing either.
    answered = attempt.press(0, attempt.current.right, at(1)).attempt
    assert answered.time_out(at(20)) == (answered, None)


def test_stale_and_forged_presses(attempt: Attempt) -> None:
    queued = attempt.press(0, 0, at(1)).attempt.advance(at(2), window_open=True)
    assert queued.index == 1 and queued.asked_at == at(2) and not queued.shown
    # Issue 17: a press for a question that has not gone out yet is refused (a script pressing ahead).
    assert queued.press(1, queued.current.right, at(2.5)).outcome is Outcome.EARLY
    a = queued.show(at(2.8))
    assert a.shown and a.asked_at == at(2.8) and a.show(at(9)) is a  # showing it again restarts nothing
    # A press that arrived before the question went out (queued behind the previous answer) is refused too.
    assert a.press(1, a.current.right, at(2.7)).outcome is Outcome.EARLY
    a = replace(a, asked_at=at(2))
    assert a.press(0, 1, at(3)).outcome is Outcome.STALE  # an earlier question's button
    assert a.press(2, 0, at(3)).outcome is Outcome.INVALID  # a question not asked yet
    assert a.press(3, 0, at(3)).outcome is Outcome.INVALID  # beyond the plan
    assert a.press(-1, 0, at(3)).outcome is Outcome.INVALID
    assert a.press(1, 4, at(3)).outcome is Outcome.INVALID  # no such option
    assert a.press(1, -1, at(3)).outcome is Outcome.INVALID
    assert a.press(1, 0, at(3), question_id="q3").outcome is Outcome.INVALID  # not this person's question 1
    assert all(p.attempt is a for p in (a.press(0, 1, at(3)), a.press(2, 0, at(3)), a.press(1, 4, at(3)),
                                        a.press(1, 0, at(3), question_id="q3")))
    assert a.press(1, 0, at(3), question_id=a.current.question_id).outcome is Outcome.ACCEPTED


def test_advance_needs_a_resolved_question(attempt: Attempt) -> None:
    with pytest.raises(ValueError, match="not answered or timed out"):
        attempt.advance(at(1), window_open=True)


def test_a_full_attempt(attempt: Attempt) -> None:
    a = attempt
    for n in range(3):
        asked = a.asked_at
        a = a.press(n, a.current.right, asked + timedelta(seconds=n * 9)).attempt
        a = a.advance(asked + timedelta(seconds=n * 9 + 1), window_open=True)
        a = a.show(a.asked_at)
    assert a.finished and a.finished_at == at(30)  # asked at 0, 1 and 11 s; answered after 0, 9 and 18 s
    assert [r.points for r in a.answers] == [150, 128, 105]
    assert a.result(77) == Result(77, 383, 27_000, a.finished_at)
    assert a.press(2, 0, a.finished_at + timedelta(seconds=1)).outcome is Outcome.STALE
    assert a.advance(at(60), window_open=True) is a


def test_a_player_who_started_before_the_close_finishes_every_question(attempt: Attempt) -> None:
    # Issue 20: the window closed while question 0 ran: the next question is still asked.
    a = attempt.press(0, attempt.current.right, at(10)).attempt.advance(at(11), window_open=False)
    assert not a.finished and a.index == 1 and a.score == 125


def test_the_time_of_a_question_starts_when_it_went_out(attempt: Attempt) -> None:
    # Issue 17: the next question waited 40 s in the send queue; its 20 s start when it is shown.
    a = attempt.press(0, attempt.current.right, at(1)).attempt.advance(at(1))
    assert a.time_out(at(25)) == (a, None)  # not shown: no time-out while it waits to go out
    a = a.show(at(41))
    press = a.press(1, a.current.right, at(46))
    assert press.outcome is Outcome.ACCEPTED and press.record is not None and press.record.points == 138
    # A question whose message never went out times out after UNSHOWN_WAIT, so the attempt moves on.
    lost = attempt.press(0, attempt.current.right, at(1)).attempt.advance(at(1))
    assert lost.time_out(at(1) + UNSHOWN_WAIT)[1] is None
    assert lost.time_out(at(21) + UNSHOWN_WAIT)[1] is not None


def test_resume_after_a_restart(attempt: Attempt) -> None:
    # Still within the time: keep waiting for the current question.
    a, todo = attempt.resume(at(10), window_open=True)
    assert (a, todo) == (attempt, Resume.WAIT)
    # The time ran out while the bot was down: 0 points, continue with the next question now.
    a, todo = attempt.resume(at(30), window_open=True)
    assert todo is Resume.ASK and a.index == 1 and a.asked_at == at(30)
    assert [(r.index, r.points, r.choice) for r in a.answers] == [(0, 0, None)]
    # Answered but not moved on before the crash: continue with the next question.
    answered = attempt.press(0, attempt.current.right, at(1)).attempt
    a, todo = answered.resume(at(3), window_open=True)
    assert todo is Resume.ASK and a.index == 1 and a.score == 148
    # Resumed after the close: the player goes on with the questions they started.
    a, todo = answered.resume(at(3), window_open=False)
    assert todo is Resume.ASK and not a.finished and a.score == 148
    # A finished attempt stays finished.
    for n in (1, 2):
        a = a.show(a.asked_at)
        a = a.press(n, a.current.right, a.asked_at).attempt.advance(a.asked_at)
    assert a.resume(at(99), window_open=True) == (a, Resume.FINISHED)


def test_an_organiser_s_winners_line_writes_seconds_as_the_reader_s_language_does() -> None:
    """Issue 20 bug 11: Russian read "12.5 с"; a Russian decimal has a comma."""
    from bot.i18n import make_i18n
    from domain.quiz import Standing
    from services.quiz import standing_line

    i18n = make_i18n()
    ann = Standing(rank=1, user_id=1, name="Ann Lee", city="Seoul", country="Korea", score=140, right=1,
                   time_ms=12_500, finished_at=None, registered=True)
    assert "12,5 с" in standing_line(i18n, "ru", ann)
    assert "12.5 s" in standing_line(i18n, "en", ann)
