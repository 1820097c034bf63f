"""Free questions as delegates type them on phones: the whole free-question path (small talk, questions
about time, the FAQ matcher, rendering) scored on the question sets in tests/data/qa_*.toml.

    .venv/bin/python -m bench.qa_sets                          # every set
    .venv/bin/python -m bench.qa_sets tests/data/qa_set1.toml  # one set; --misses lists what missed

Each question carries the clock instant it is asked at and the asker's time zone (a registered delegate
there). It is right when the reply, as the person reads it, has what the set expects:
  expect = "item:<id>"  the item's title in the question's language (and every `must` text)
  expect = "faq:<id>"   the FAQ entry's question as its heading (and every `must` text)
  expect = "time"       every `must` text (times in the asker's zone, durations, titles)
  expect = "unknown"    the organisers' contact and words saying the bot does not know
A time, date or hour is wrong when the reply states a clock time and misses an expected one, or says a
`never` text. Prints overall, per language, static vs time, wrong times and p95 ms per question (one call
each, after the index is built; the process is pinned to one core where the system allows it).
"""

from __future__ import annotations

import asyncio
import html
import os
import re
import statistics
import sys
import time
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.i18n import make_i18n
from domain.event import Event, load_event
from domain.qa import index_for
from handlers.program import free_answer
from testkit.people import delegate

ROOT = Path(__file__).resolve().parent.parent
EVENT_FILE = ROOT / "events" / "excom2020.toml"
DATA = ROOT / "tests" / "data"
LANGS = ("en", "ru", "ko")
CLOCK = re.compile(r"\b\d{1,2}:\d\d\b")
# Words that say "I do not know that" (or that the event materials do not say), per language.
DONT_KNOW = ("not sure", "don't know", "do not know", "do not mention", "do not say", "не уверен", "не знаю",
             "не упоминается", "не указано", "не сказано", "잘 모르", "모르겠", "나와 있지 않", "내용이 없", "알 수 없")


class _Published:
    async def published_at(self, event_id: str) -> None:
        return None


class _Uow:
    """The one read a free question may make: whether the matchmaking schedule is published (it is not)."""

    matchmaking = _Published()


@dataclass
class Result:
    q: dict[str, Any]
    reply: str
    right: bool
    wrong_time: bool
    ms: float


def load_set(path: Path) -> list[dict[str, Any]]:
    return list(tomllib.loads(path.read_text(encoding="utf-8"))["q"])


def judge(conf: Event, q: dict[str, Any], reply: str) -> tuple[bool, bool]:
    """(right, states a wrong time) for the reply to question `q`."""
    text = html.unescape(re.sub(r"<[^>]+>", "", reply))
    lang = q["lang"]
    must: list[str] = q.get("must", [])
    never: list[str] = q.get("never", [])
    has_must = all(m in text for m in must)
    said_never = any(n in text for n in never)
    times_expected = [m for m in must if CLOCK.search(m)]
    wrong_time = said_never or (bool(times_expected) and bool(CLOCK.search(text))
                                and not all(m in text for m in times_expected))
    expect: str = q["expect"]
    if expect == "unknown":
        right = conf.contact.email in text and any(w in text for w in DONT_KNOW)
    elif expect.startswith("item:"):
        item = conf.item(expect[5:])
        assert item is not None, expect
        right = item.title.get(lang) in text
    elif expect.startswith("faq:"):
        entry = next(f for f in conf.faq if f.id == expect[4:])
        right = entry.question.get(lang) in text
    else:
        assert expect == "time", expect
        right = True
    return right and has_must and not said_never, wrong_time


async def run_set(conf: Event, questions: list[dict[str, Any]]) -> list[Result]:
    i18n = make_i18n()
    index_for(conf)  # built once per event file, as in the bot
    results = []
    with i18n.context():
        for n, q in enumerate(questions):
            now = datetime.fromisoformat(q["at"])
            profile = delegate(10_000 + n, language=q["lang"], timezone=q["zone"])
            t0 = time.perf_counter()
            reply, _markup = await free_answer(q["text"], conf, now, profile, q["lang"], i18n, _Uow())  # type: ignore[arg-type]
            ms = (time.perf_counter() - t0) * 1000
            right, wrong = judge(conf, q, reply)
            results.append(Result(q, reply, right, wrong, ms))
    return results


def score(results: list[Result]) -> dict[str, float]:
    """Shares right: overall, per language, per kind; the number of wrong times; p95 ms."""
    def share(rs: list[Result]) -> float:
        return sum(r.right for r in rs) / len(rs) if rs else 1.0

    out = {"overall": share(results), "n": float(len(results))}
    for lang in LANGS:
        out[lang] = share([r for r in results if r.q["lang"] == lang])
    for kind in ("static", "time"):
        out[kind] = share([r for r in results if r.q["kind"] == kind])
    out["wrong_time"] = float(sum(r.wrong_time for r in results))
    ms = sorted(r.ms for r in results)
    out["p95_ms"] = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    out["median_ms"] = statistics.median(ms)
    return out


def report(name: str, results: list[Result], *, misses: bool) -> str:
    s = score(results)
    lines = [f"{name}: {int(s['n'])} questions"]

    def count(rs: list[Result]) -> str:
        return f"{sum(r.right for r in rs)}/{len(rs)} = {sum(r.right for r in rs) / max(1, len(rs)):.1%}"

    lines.append(f"  overall {count(results)}")
    for lang in LANGS:
        lines.append(f"  {lang}: {count([r for r in results if r.q['lang'] == lang])}")
    for kind in ("static", "time"):
        lines.append(f"  {kind}: {count([r for r in results if r.q['kind'] == kind])}")
    unknown = [r for r in results if r.q["expect"] == "unknown"]
    lines.append(f"  unanswerable: {count(unknown)}")
    lines.append(f"  wrong time/date/hour: {int(s['wrong_time'])}")
    lines.append(f"  ms per question: median {s['median_ms']:.2f}, p95 {s['p95_ms']:.2f}")
    if misses:
        for r in results:
            if not r.right or r.wrong_time:
                first = html.unescape(re.sub(r"<[^>]+>", "", r.reply)).replace("\n", " / ")[:160]
                flag = " WRONG TIME" if r.wrong_time else ""
                lines.append(f"  MISS{flag} [{r.q['lang']}/{r.q['kind']}] {r.q['text']!r} "
                             f"(expect {r.q['expect']} {r.q.get('must', [])}): {first}")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    with_misses = "--misses" in argv
    paths = [Path(a) for a in argv if not a.startswith("--")] or sorted(DATA.glob("qa_*.toml"))
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        except OSError:
            pass
    conf = load_event(EVENT_FILE)
    for path in paths:
        results = asyncio.run(run_set(conf, load_set(path)))
        print(report(path.name, results, misses=with_misses))


if __name__ == "__main__":
    main(sys.argv[1:])
