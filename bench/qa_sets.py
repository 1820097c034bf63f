"""Free questions as delegates type them on phones: the whole free-question path (small talk, questions
about time, the FAQ matcher, rendering) scored on the question sets in tests/data/qa_*.toml.

    .venv/bin/python -m bench.qa_sets                          # every set
    .venv/bin/python -m bench.qa_sets tests/data/qa_set1.toml  # one set; --misses lists what missed

Each question carries the clock instant it is asked at and the asker's time zone (a registered delegate
there). It is right when the reply, as the person reads it, has what the set expects:
  expect = "item:<id>"  the item's title in the question's language, or the heading of an FAQ entry about the
                        item (and every `must` text)
  expect = "faq:<id>"   the FAQ entry's question as its heading (and every `must` text)
  expect = "time"       every `must` text (times in the asker's zone, durations, titles)
  expect = "unknown"    the organisers' contact and words saying the bot does not know
A time, date or hour is wrong when the reply states a clock time and misses an expected one, or says a
`never` text. Prints overall, per language, static vs time, wrong times and p95 ms per question (one call
each, after the index is built and a warm-up on the older question set; the process is pinned to one core
where the system allows it).
"""

from __future__ import annotations

import asyncio
import contextlib
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
from tools import catalogs

ROOT = Path(__file__).resolve().parent.parent
EVENT_FILE = ROOT / "events" / "excom2020.toml"
DATA = ROOT / "tests" / "data"
LANGS = ("en", "ru", "ko")
CLOCK = re.compile(r"\b\d{1,2}:\d\d\b")
# Words that say "I do not know that" (or that the event materials do not say), per language.
DONT_KNOW = ("not sure", "don't know", "do not know", "do not mention", "do not say", "не уверен", "не знаю",
             "не упоминается", "не указано", "не сказано", "не совсем понял", "잘 모르", "모르겠", "나와 있지 않",
             "내용이 없", "알 수 없", "이해하지 못했")


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
    # CPU time of the answer: what one core spends, whatever else runs on a shared machine.
    cpu_ms: float = 0.0


def load_set(path: Path) -> list[dict[str, Any]]:
    return list(tomllib.loads(path.read_text(encoding="utf-8"))["q"])


def judge(conf: Event, q: dict[str, Any], reply: str, buttons: list[str] | None = None) -> tuple[bool, bool]:
    """(right, states a wrong time) for the reply to question `q` (and its buttons: a reply that asks which of
    two answers was meant is right when the expected one is a button)."""
    text = html.unescape(re.sub(r"<[^>]+>", "", reply))
    if buttons and q["expect"].startswith(("item:", "faq:")) and len(buttons) == 2 and not CLOCK.search(text):
        kind, target = q["expect"].split(":", 1)
        entry = conf.item(target) if kind == "item" else next((f for f in conf.faq if f.id == target), None)
        if entry is not None:
            label = entry.title.get(q["lang"]) if kind == "item" else entry.question.get(q["lang"])  # type: ignore[union-attr]  # kind tells which
            # As for an answer: an FAQ entry about the expected item counts as that item.
            labels = [label, *(f.question.get(q["lang"]) for f in conf.faq if kind == "item" and f.item == target)]
            if any(lab[:20] in b for lab in labels for b in buttons):
                return not q.get("must"), False
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
        # The item's card, or an FAQ entry about that item (its heading, with the item's time).
        item = conf.item(expect[5:])
        assert item is not None, expect
        right = item.title.get(lang) in text or any(
            f.item == item.id and f.question.get(lang) in text for f in conf.faq)
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
        # A running bot has loaded Babel's locale data and its zones: warm up on other questions (the older
        # set), so the figures are per question and not the process's first-use costs.
        old = tomllib.loads((DATA / "questions.toml").read_text(encoding="utf-8"))["q"]
        for n, q in enumerate(old):
            zone = ("Asia/Seoul", "America/New_York", "Europe/Moscow")[n % 3]
            await free_answer(q["text"], conf, datetime.fromisoformat("2020-11-17T12:00:00+03:00"),
                              delegate(9_000, language=q["lang"], timezone=zone), q["lang"], i18n, _Uow())  # type: ignore[arg-type]  # a stand-in unit of work
        for n, q in enumerate(questions):
            now = datetime.fromisoformat(q["at"])
            profile = delegate(10_000 + n, language=q["lang"], timezone=q["zone"])
            t0, c0 = time.perf_counter(), time.thread_time()
            reply, markup = await free_answer(q["text"], conf, now, profile, q["lang"], i18n, _Uow())  # type: ignore[arg-type]  # a stand-in unit of work
            ms = (time.perf_counter() - t0) * 1000
            cpu_ms = (time.thread_time() - c0) * 1000
            buttons = [b.text for row in markup.inline_keyboard for b in row] if markup else []
            asked = len(buttons) == 2 and all(b.callback_data and b.callback_data.startswith(("card:", "faq:"))
                                              for row in markup.inline_keyboard for b in row) if markup else False
            right, wrong = judge(conf, q, reply, buttons if asked else None)
            results.append(Result(q, reply, right, wrong, ms, cpu_ms))
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
    cpu = sorted(r.cpu_ms for r in results)
    out["p95_cpu_ms"] = cpu[min(len(cpu) - 1, int(len(cpu) * 0.95))]
    out["median_cpu_ms"] = statistics.median(cpu)
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
    lines.append(f"  ms per question: median {s['median_ms']:.2f}, p95 {s['p95_ms']:.2f} (wall); "
                 f"median {s['median_cpu_ms']:.2f}, p95 {s['p95_cpu_ms']:.2f} (CPU)")
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
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    # The replies are judged in the reader's language: without compiled catalogs every Russian and Korean
    # reply would carry English lines (a fresh worktree has no messages.mo) and score far lower.
    catalogs.compile_all()
    conf = load_event(EVENT_FILE)
    for path in paths:
        results = asyncio.run(run_set(conf, load_set(path)))
        print(report(path.name, results, misses=with_misses))


if __name__ == "__main__":
    main(sys.argv[1:])
