"""Benchmark: update handling, our full bot against a bare aiogram bot, side by side in one run.

    python -m bench.updates                  # N=1,000 updates from 1,000 people, burst and sequential
    python -m bench.updates --quick          # N=200
    python -m bench.updates --n 5000 --burst 1000 --postgres postgresql+asyncpg://user:pw@host/db

The machine that runs this is usually shared and noisy, so the figure that matters is the ratio of the two
bots measured next to each other, not either throughput on its own.

- ours: `bot.app.build_app` as in production (every middleware, router and the SQL FSM storage) on a fresh
  SQLite file (and, with `--postgres URL`, on a fresh database created on that server and dropped after),
  the clock frozen while registration is open. N different people each send one update: `/now` (a
  registered delegate; answered from the event file), a free question ("when is the quiz?" in English,
  Russian or Korean; a registered delegate), or `/start` (someone not registered yet: the greeting and the
  first registration step, stored in the FSM). Two in five send `/now`, two in five a question, one in
  five `/start`. The delegates are stored beforehand in one transaction.
- bare: a fresh aiogram `Dispatcher()` (MemoryStorage) with one router whose message handler answers a fixed
  text, fed the same updates. Its run is short (well under a second at N=1,000), so one hiccup of a shared
  machine moves it a lot: it runs `--bare-repeats` times (default 3, each on a fresh dispatcher; two before
  ours, one after, so a slow patch of the machine during ours shows in both) and the median run is kept.

Both answer through the same kind of Bot: `bot.app.make_bot` with a `bot.offline.local_api.LocalSession` (each run
gets its own session, which records the calls). Updates go through `Dispatcher.feed_raw_update`:
- burst: `asyncio.gather` of `--burst` updates (default 1,000) from as many people at once, the shape of
  "the quiz starts now"; the latency of an update runs from the moment its burst arrives to its answer.
- sequential: one update after the other; the latency is the update's own handling time.
- steady: updates arrive at `--rate` a second (default 200), each handled as it arrives (a task, as polling
  does); the latency is from its arrival to its answer.

A few warm-up updates from other people run first (not measured) so one-off costs (the question index,
compiled SQL, translations) do not land in the figures. Every person must get an answer: the sendMessage
columns give the calls each session recorded, which must be N for the bare bot and N + one per `/start` for
ours (`/start` sends the greeting and then the language step). Otherwise the column reads "sent/expected",
then "lost k" when k people got no sendMessage at all and "errors k" when k updates failed (logged at ERROR,
or raised out of the dispatcher; our bot then apologises, which is a message but not an answer), and the
command exits with 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import math
import os
import platform
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.types import Message

from bot.app import build_app, make_bot
from bot.offline.local_api import LocalSession, UpdateFactory
from domain.clock import FrozenClock
from storage.repo import Delegates
from testkit.databases import throwaway_database, throwaway_sqlite
from testkit.people import delegate, offline_settings

# 1 Nov 2020 10:00 GMT+3: registration is open (so /start leads into it), the event lies ahead.
AT = datetime.fromisoformat("2020-11-01T10:00:00+03:00")
LANGS = ("en", "ru", "ko")
QUESTIONS = {"en": "when is the quiz?", "ru": "когда викторина?", "ko": "퀴즈는 언제예요?"}
# Per five people: two /now, two questions, one /start (a newcomer).
KINDS = ("now", "question", "start", "now", "question")
MODES = ("burst", "sequential", "steady")
RATE = 200.0  # steady mode: arrivals a second
FIRST_UID = 20_000_001
WARMUP_UID = 19_000_001
WARMUP = 15
BARE_TEXT = "Thanks, noted."


@dataclass(frozen=True)
class Visit:
    """One person and the one update they send."""

    user_id: int
    kind: str  # now | question | start
    lang: str

    @property
    def text(self) -> str:
        return {"now": "/now", "start": "/start"}.get(self.kind) or QUESTIONS[self.lang]

    @property
    def registered(self) -> bool:
        return self.kind != "start"

    @property
    def messages(self) -> int:
        """sendMessage calls our bot makes in answer (the greeting and the language step for /start)."""
        return 2 if self.kind == "start" else 1


def visits(n: int, first_uid: int = FIRST_UID) -> list[Visit]:
    return [Visit(first_uid + i, KINDS[i % len(KINDS)], LANGS[(i // len(KINDS)) % len(LANGS)]) for i in range(n)]


def raw_updates(people: list[Visit]) -> list[dict[str, Any]]:
    factory = UpdateFactory()
    return [factory.text(v.user_id, v.text, language_code=v.lang) for v in people]


@dataclass
class Run:
    """One bot, one mode: what it achieved."""

    bot: str  # ours | bare
    mode: str
    n: int
    seconds: float
    latencies: list[float]
    send_messages: int
    expected_messages: int
    answered: int
    errors: int

    @property
    def rate(self) -> float:
        return self.n / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        """Latency percentile in milliseconds (nearest rank)."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]

    @property
    def ok(self) -> bool:
        return self.answered == self.n and self.errors == 0 and self.send_messages == self.expected_messages

    @property
    def status(self) -> str:
        if self.ok:
            return f"{self.send_messages:,}"
        lost = self.n - self.answered
        parts = [f"{self.send_messages:,}/{self.expected_messages:,}"]
        if lost:
            parts.append(f"lost {lost}")
        if self.errors:
            parts.append(f"errors {self.errors}")
        return " ".join(parts)


@dataclass
class Row:
    mode: str
    backend: str
    ours: Run
    bare: Run

    @property
    def ratio(self) -> float:
        return self.ours.rate / self.bare.rate if self.bare.rate else 0.0


class _ErrorCount(logging.Handler):
    """Failed updates: errors logged while handling (our error handler logs, then apologises) plus updates
    that raised out of the dispatcher (counted by `_feed`; aiogram.event's log of those is not counted again)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.name != "aiogram.event":
            self.count += 1


@dataclass
class Target:
    """A dispatcher and the bot it answers with; `close` releases what it holds."""

    dp: Dispatcher
    bot: Bot
    session: LocalSession
    close: Callable[[], Awaitable[None]]


def quiet_logging() -> None:
    """aiogram logs every update at INFO; keep warnings and errors only."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("aiogram", "aiogram.event", "aiogram.dispatcher", "apscheduler", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


async def ours(database_url: str, people: list[Visit]) -> Target:
    """Our bot as in production, with the registered people among `people` stored in one transaction."""
    settings = offline_settings(database_url)
    clock = FrozenClock(AT)
    app = await build_app(settings, clock=clock)
    async with app.sessions() as s:
        repo = Delegates(s)
        for v in people:
            if v.registered:
                await repo.save(delegate(v.user_id, language=v.lang), clock.now())
        await s.commit()
    session = LocalSession()
    bot = make_bot(settings, session)

    async def close() -> None:
        await bot.session.close()
        await app.close()

    return Target(app.dp, bot, session, close)


async def _bare_answer(message: Message) -> None:
    await message.answer(BARE_TEXT)


async def bare() -> Target:
    """A bare aiogram bot: default Dispatcher (MemoryStorage), one router, one fixed answer."""
    dp = Dispatcher()
    router = Router(name="bare")
    router.message.register(_bare_answer)
    dp.include_router(router)
    session = LocalSession()
    bot = make_bot(offline_settings("sqlite+aiosqlite://"), session)

    async def close() -> None:
        await bot.session.close()
        await dp.storage.close()
        await dp.fsm.events_isolation.close()

    return Target(dp, bot, session, close)


async def _feed(target: Target, update: dict[str, Any], since: float | None, latencies: list[float],
                errors: _ErrorCount) -> None:
    t0 = time.perf_counter() if since is None else since
    try:
        await target.dp.feed_raw_update(target.bot, update)
    except Exception:  # an update that no error handler caught: counted, the run goes on
        errors.count += 1
    latencies.append(time.perf_counter() - t0)


async def measure(target: Target, which: str, mode: str, people: list[Visit], updates: list[dict[str, Any]],
                  burst: int, warmup: tuple[list[Visit], list[dict[str, Any]]], rate: float = RATE) -> Run:
    """Warm up, then feed `updates` in `mode` and check every person got their answer."""
    gc.collect()  # the previous run's garbage is not this run's cost
    for update in warmup[1]:
        with contextlib.suppress(Exception):  # a broken bot fails again below, where it is counted
            await target.dp.feed_raw_update(target.bot, update)
    target.session.clear()
    errors = _ErrorCount()
    logging.getLogger().addHandler(errors)
    latencies: list[float] = []
    try:
        t0 = time.perf_counter()
        if mode == "burst":
            for i in range(0, len(updates), burst):
                arrived = time.perf_counter()
                await asyncio.gather(*(_feed(target, u, arrived, latencies, errors) for u in updates[i:i + burst]))
        elif mode == "steady":  # arrivals at `rate` a second, each handled as it arrives (as polling does)
            tasks = []
            for k, u in enumerate(updates):
                delay = t0 + k / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(_feed(target, u, None, latencies, errors)))
            await asyncio.gather(*tasks)
        else:
            for u in updates:
                await _feed(target, u, None, latencies, errors)
        seconds = time.perf_counter() - t0
    finally:
        logging.getLogger().removeHandler(errors)
    sent = target.session.sent(method="sendMessage")
    wanted = {v.user_id for v in people}
    answered = len({r.chat_id for r in sent} & wanted)
    expected = sum(v.messages for v in people) if which == "ours" else len(people)
    return Run(which, mode, len(people), seconds, latencies, len(sent), expected, answered, errors.count)


async def run_pair(mode: str, n: int, *, burst: int = 1000, backend: str = "sqlite",
                   postgres_url: str | None = None, bare_repeats: int = 1, rate: float = RATE) -> Row:
    """Ours and the bare bot (the median of `bare_repeats` runs around ours) in one mode with the same N updates,
    each run on fresh state."""
    people = visits(n)
    updates = raw_updates(people)
    warm_people = visits(WARMUP, WARMUP_UID)
    warm = (warm_people, raw_updates(warm_people))

    async def bare_run() -> Run:
        target = await bare()
        try:
            return await measure(target, "bare", mode, people, updates, burst, warm, rate)
        finally:
            await target.close()

    # The bare runs are spread around ours (more before, the rest after), so a slow patch of a shared machine
    # during ours shows in both; each lasts well under a second, so the median of them is kept.
    repeats = max(1, bare_repeats)
    bare_runs = [await bare_run() for _ in range((repeats + 1) // 2)]
    database = (throwaway_database(postgres_url, prefix="bench_updates")
                if backend == "postgresql" and postgres_url else throwaway_sqlite(prefix="bench-updates-"))
    async with database as url:
        target = await ours(url, people + warm_people)
        try:
            ours_run = await measure(target, "ours", mode, people, updates, burst, warm, rate)
        finally:
            await target.close()
    bare_runs += [await bare_run() for _ in range(repeats // 2)]
    median = sorted(bare_runs, key=lambda r: r.seconds)[(len(bare_runs) - 1) // 2]
    median.errors = max(r.errors for r in bare_runs)
    median.answered = min(r.answered for r in bare_runs)
    return Row(mode, backend, ours_run, median)


def table(rows: list[Row]) -> str:
    head = (f"{'mode':<10} {'db':<10} {'N':>6} {'ours upd/s':>10} {'bare upd/s':>10} {'ours/bare':>9} "
            f"{'ours p50/p95/p99 ms':>22} {'bare p50/p95/p99 ms':>22} {'ours sendMessage':>17} "
            f"{'bare sendMessage':>17}")
    lines = [head, "-" * len(head)]
    for r in rows:
        o, b = r.ours, r.bare
        lines.append(
            f"{r.mode:<10} {r.backend:<10} {r.ours.n:>6,} {o.rate:>10,.0f} {b.rate:>10,.0f} {r.ratio:>9.3f} "
            f"{f'{o.percentile(50):.1f} / {o.percentile(95):.1f} / {o.percentile(99):.1f}':>22} "
            f"{f'{b.percentile(50):.2f} / {b.percentile(95):.2f} / {b.percentile(99):.2f}':>22} "
            f"{o.status:>17} {b.status:>17}")
    return "\n".join(lines)


def machine() -> str:
    return (f"{os.cpu_count()} CPU cores, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
            f"{platform.system()} {platform.machine()}")


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Update handling: our bot against a bare aiogram bot.")
    parser.add_argument("--n", type=int, default=1000, help="updates (from as many people) per run; default 1000")
    parser.add_argument("--quick", action="store_true", help="N=200")
    parser.add_argument("--burst", type=int, default=1000, help="updates gathered at once in burst mode")
    parser.add_argument("--modes", default=",".join(MODES), help="burst,sequential,steady (default all)")
    parser.add_argument("--rate", type=float, default=RATE, help="steady mode: arrivals a second (default 200)")
    parser.add_argument("--bare-repeats", type=int, default=3,
                        help="runs of the bare bot per row, around ours; the median is kept (default 3)")
    parser.add_argument("--postgres", metavar="URL", help="also run ours on PostgreSQL (a fresh database is "
                        "created on this server and dropped after; postgresql+asyncpg://…)")
    args = parser.parse_args(argv)
    quiet_logging()
    n = 200 if args.quick else args.n
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    backends = ["sqlite"] + (["postgresql"] if args.postgres else [])
    print(f"update handling, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}; N={n:,} people, one update "
          f"each (2/5 /now, 2/5 a question in en/ru/ko, 1/5 /start), bursts of {min(args.burst, n):,}", flush=True)
    rows = []
    for backend in backends:
        for mode in modes:
            row = await run_pair(mode, n, burst=args.burst, backend=backend, postgres_url=args.postgres,
                                 bare_repeats=args.bare_repeats, rate=args.rate)
            print(f"  {mode} on {backend}: ours {row.ours.seconds:.2f} s, bare {row.bare.seconds:.2f} s", flush=True)
            rows.append(row)
    print()
    print(table(rows))
    print()
    print("latency: burst = from the burst's arrival to the update's answer; sequential and steady = the "
          "update's own time (steady: arrivals at --rate a second)")
    print("ours sendMessage = N + one per /start (greeting + language step); bare = N.")
    ok = all(r.ours.ok and r.bare.ok for r in rows)
    for r in rows:
        print(f"ratio ours/bare, {r.mode} on {r.backend}: {r.ratio:.3f} (bare is {1 / r.ratio:.1f}x faster)"
              if r.ratio else f"ratio ours/bare, {r.mode} on {r.backend}: n/a")
    print("every update answered:", "yes" if ok else "NO (see lost/errors above)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
