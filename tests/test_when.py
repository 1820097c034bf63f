"""Questions about time (now, next, how long until, at a time, start time): the parser's accuracy on the
question set, its precedence against the FAQ matcher, and the answers computed from the clock.

    .venv/bin/pytest tests/test_when.py -q -s     # prints the accuracy tables (docs/performance.md)
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from domain import timezones as tzs
from domain.event import load_event
from domain.qa import Index
from domain.when import Intent, State, WhenAnswer, WhenQuery, answer_when, parse_when
from tests.test_program import EVENT_FILE, msk
from tests.test_qa import QUESTIONS as OLD_QUESTIONS
from tests.test_qa import _right

QUESTIONS = tomllib.loads((Path(__file__).parent / "data" / "when_questions.toml").read_text(encoding="utf-8"))
CONF = load_event(EVENT_FILE)
LANGS = ("en", "ru", "ko")


def _got(q: WhenQuery | None) -> tuple[str, str, str]:
    """(intent, target, zone) in the question set's notation."""
    if q is None:
        return "none", "", ""
    if q.intent is Intent.AT:
        assert q.at is not None
        target = f"at:{q.at:%H:%M}"
    elif q.event:
        target = "event:start"
    elif q.items:
        target = f"item:{q.items[0]}"
    else:
        target = ""
    return q.intent.value, target, q.zone.zone if q.zone else ""


def _expected(q: dict) -> tuple[str, str, str]:
    return q["intent"], q.get("target", ""), q.get("zone", "")


def test_question_set_is_big_enough_and_points_at_real_items() -> None:
    per_lang: dict[str, int] = {}
    for q in QUESTIONS["q"]:
        if q["intent"] != "none":
            per_lang[q["lang"]] = per_lang.get(q["lang"], 0) + 1
        target = q.get("target", "")
        if target.startswith("item:"):
            assert CONF.item(target[5:]) is not None, q
        if q.get("zone"):
            assert tzs.is_valid_zone(q["zone"]), q
    assert all(per_lang[lang] >= 15 for lang in LANGS), per_lang
    assert {q["intent"] for q in QUESTIONS["q"]} == {"now", "next", "until", "at", "start_time", "none"}


def test_accuracy_on_the_when_questions() -> None:
    right: dict[str, int] = {}
    total: dict[str, int] = {}
    misses = []
    index = Index(CONF)
    for q in QUESTIONS["q"]:
        parsed = parse_when(q["text"], q["lang"], CONF)
        got = _got(parsed)
        ok = got == _expected(q)
        if ok and q["intent"] == "none" and "expect" in q:
            # Left to the matcher, which must then find the FAQ entry.
            ok = _right(index.answer(q["text"]), q["expect"])
            got = ("none", "matcher missed", "")
        total[q["lang"]] = total.get(q["lang"], 0) + 1
        if ok:
            right[q["lang"]] = right.get(q["lang"], 0) + 1
        else:
            misses.append(f"  [{q['lang']}] {q['text']!r}: expected {_expected(q)}, got {got}")
    print("\nWhen-question accuracy (tests/data/when_questions.toml):")
    for lang in LANGS:
        print(f"  {lang}: {right.get(lang, 0)}/{total[lang]} = {right.get(lang, 0) / total[lang]:.1%}")
    overall = sum(right.values()) / sum(total.values())
    print(f"  overall: {sum(right.values())}/{sum(total.values())} = {overall:.1%}")
    print("Misses:\n" + "\n".join(misses) if misses else "Misses: none")
    assert overall >= 0.9
    for lang in LANGS:
        assert right.get(lang, 0) / total[lang] >= 0.85, lang


def test_old_question_set_keeps_its_answers_when_the_parser_goes_first() -> None:
    """The 83 questions of tests/data/questions.toml, routed as the bot routes them: parse_when first.

    A question the parser takes must be about the expected item (its answer is that item's time); the
    rest go to the matcher as before. No question expecting an FAQ entry may be taken.
    """
    index = Index(CONF)
    right: dict[str, int] = {}
    total: dict[str, int] = {}
    taken = 0
    misses = []
    for q in OLD_QUESTIONS["q"]:
        parsed = parse_when(q["text"], q["lang"], CONF)
        total[q["lang"]] = total.get(q["lang"], 0) + 1
        if parsed is not None:
            taken += 1
            kind, target = q["expect"].split(":", 1)
            ok = kind == "item" and bool(parsed.items) and parsed.items[0] == target
        else:
            ok = _right(index.answer(q["text"]), q["expect"])
        if ok:
            right[q["lang"]] = right.get(q["lang"], 0) + 1
        else:
            misses.append(f"  [{q['lang']}] {q['text']!r}: expected {q['expect']}, got {_got(parsed)}")
    print(f"\nOld question set with parse_when first ({taken} taken by the parser):")
    for lang in LANGS:
        print(f"  {lang}: {right.get(lang, 0)}/{total[lang]} = {right.get(lang, 0) / total[lang]:.1%}")
    print(f"  overall: {sum(right.values())}/{sum(total.values())}")
    print("Misses:\n" + "\n".join(misses) if misses else "Misses: none")
    # The matcher alone gets these right (tests/test_qa.py); the parser must not lose any of them.
    matcher_only = {lang: sum(_right(index.answer(q["text"]), q["expect"]) for q in OLD_QUESTIONS["q"]
                              if q["lang"] == lang) for lang in LANGS}
    for lang in LANGS:
        assert right.get(lang, 0) >= matcher_only[lang], (lang, right.get(lang, 0), matcher_only[lang])


def test_off_topic_questions_are_not_time_questions() -> None:
    assert [q["text"] for q in OLD_QUESTIONS["off"] if parse_when(q["text"], "en", CONF)] == []
