"""Benchmark: the real Smart City Quiz over HTTP, our bot against a bare aiogram bot, and the leaderboard.

    python -m bench.quiz_play                   # make bench-quiz: 1,000 players, then the leaderboard at 10,000
    python -m bench.quiz_play --players 200 --modes paced
    # Issue 17 item 3: at Telegram's pace (SEND_RATE 25/s), 1,000 players, 2 questions each, ours only:
    python -m bench.quiz_play --players 1000 --send-rate 25 --per-play 2 --modes paced --bots ours --board 0
    # ... and who may start at once (QUIZ_CAPACITY from SEND_RATE: 200), the rest told how long to wait:
    python -m bench.quiz_play --players 1000 --send-rate 25 --per-play 2 --modes paced --bots ours --board 0 \
        --capacity 0

Each bot is a child process polling the fake Bot API (testkit/fake_botapi.py) that runs in this process:
ours is `python -m bot` on a SQLite file with the players registered, its clock inside the quiz's window
(14:16 GMT+3; the opening announcement is marked sent so its fan-out does not run during the measure);
the bare one is `python -m bench.bare_quiz_bot` (aiogram's default polling, the same message sizes, no
database). SEND_RATE is raised to 1,000/s: the fake has no rate limit and the bot itself is measured (on
Telegram a 1,000-person opening burst is paced by Telegram's ~30 messages/s; see docs/performance.md).

Every player sends /quiz within the first second, chooses to appear by their first name (the question asked
once before the first question), then answers each question as soon as it is shown
("flat out": the most the bot can take) or after 1-4 s of reading ("paced": as people play), pressing a
random option; the next press waits for the previous feedback. Printed per mode and bot: answers recorded
in the database against presses sent (must be equal: no double count, none lost), p50/p99 from /quiz to
the first question (the opening burst) and from a press to its feedback (the edit), updates per second from
the first /quiz to the last feedback, ours/bare, and our peak RSS. "rows" is the answer rows stored, one per
question played (must equal the presses: no double count, none lost); "in time" how many of them scored
as pressed (a press that reached the bot after its question's 20 s is recorded as late, with 0). Then the
leaderboard (top 10 and the reader's rank) at 10,000 participants, in process, median and p99 of 50 reads.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import http
from testkit.fake_botapi import FakeBotAPI, Record, button_list

CLOCK_START = "2020-11-17T14:16:00+03:00"  # the quiz runs 14:15-14:45 GMT+3
MODES = {"flat out": (0.0, 0.0), "paced": (1.0, 4.0)}
# Seconds a player waits for an answer before giving up (counted as unanswered).
WAIT = 120.0
# The bots' stderr, kept after the run (the work directory is not).
LOGS = Path(tempfile.gettempdir()) / "bench-quiz-logs"


@dataclass
class Run:
    bot: str
    mode: str
    players: int
    opening: list[float] = field(default_factory=list)
    answers: list[float] = field(default_factory=list)
    updates: int = 0
    presses: int = 0
    unanswered: int = 0
    seconds: float = 0.0
    peak_kb: int = 0
    # Answer rows in the database (one per question played: the press, or the time-out's 0) and, of those,
    # the ones scored as pressed in time (the rest arrived after the 20 s or lost the race to the time-out).
    recorded_rows: int | None = None
    recorded: int | None = None
    # Players told that the quiz is full (past QUIZ_CAPACITY) and how long to wait.
    full: int = 0
    # Players who finished their questions (the last feedback: no answer buttons, the 🏁 line).
    finished: int = 0
    # Seconds each player took between seeing a question and pressing (their own think time).
    thinks: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.updates / self.seconds if self.seconds else 0.0

    @staticmethod
    def pct(values: list[float], q: float) -> float:
        if not values:
            return math.nan
        s = sorted(values)
        return 1000 * s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


class Players:
    """Resolves each player's wait when the bot's next message or edit reaches their chat."""

    def __init__(self, api: FakeBotAPI) -> None:
        self.waiting: dict[int, asyncio.Future[tuple[Record, float]]] = {}
        self.last = 0.0
        api.on_record(self._on_record)

    def _on_record(self, rec: Record) -> None:
        if rec.ok and rec.method in ("sendMessage", "editMessageText") and isinstance(rec.chat_id, int):
            fut = self.waiting.pop(rec.chat_id, None)
            if fut is not None and not fut.done():
                self.last = time.monotonic()
                fut.set_result((rec, self.last))

    def expect(self, uid: int) -> asyncio.Future[tuple[Record, float]]:
        fut: asyncio.Future[tuple[Record, float]] = asyncio.get_running_loop().create_future()
        self.waiting[uid] = fut
        return fut


async def play(api: FakeBotAPI, players: Players, run: Run, uid: int, lang: str, delay: float,
               think: tuple[float, float], rnd: random.Random) -> None:
    await asyncio.sleep(delay)
    fut = players.expect(uid)
    t0 = time.monotonic()
    api.push_text(uid, "/quiz", language_code=lang)
    run.updates += 1
    try:
        rec, t1 = await asyncio.wait_for(fut, WAIT)
    except TimeoutError:
        run.unanswered += 1
        return
    names = [data for _, data in button_list(rec.params.get("reply_markup")) if data and data.startswith("qzname:")]
    if names:  # how the leaderboard shows them, asked once before the first question
        fut = players.expect(uid)
        api.push_callback(uid, names[0], language_code=lang)
        run.updates += 1
        try:
            rec, t1 = await asyncio.wait_for(fut, WAIT)
        except TimeoutError:
            run.unanswered += 1
            return
    run.opening.append(t1 - t0)
    if not rec.params.get("reply_markup") and "🧠" in str(rec.params.get("text")):  # the quiz is full
        run.full += 1
        return
    while True:
        buttons = [data for _, data in button_list(rec.params.get("reply_markup")) if data and data.startswith("qz:")]
        if not buttons:
            if "🏁" in str(rec.params.get("text")):  # the last question's feedback, in any language
                run.finished += 1
            return
        seen = time.monotonic()
        if think[1]:
            await asyncio.sleep(rnd.uniform(*think))
        fut = players.expect(uid)
        t0 = time.monotonic()
        run.thinks.append(t0 - seen)
        api.push_callback(uid, rnd.choice(buttons), language_code=lang)
        run.updates += 1
        run.presses += 1
        try:
            rec, t1 = await asyncio.wait_for(fut, WAIT)
        except TimeoutError:
            run.unanswered += 1
            return
        run.answers.append(t1 - t0)


async def prepare(path: Path, players: int) -> None:
    """Registered players, and the opening announcement marked done (its fan-out is not what is measured)."""
    await http.prepare_database(path, players)
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO quiz_state (id, announced_at) VALUES ('quiz', ?)",
                   (datetime(2020, 11, 17, 11, 15, tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),))


def recorded(path: Path) -> tuple[int, int]:
    with sqlite3.connect(path) as db:
        pressed = db.execute("SELECT count(*) FROM quiz_answers WHERE choice IS NOT NULL").fetchone()[0]
        rows = db.execute("SELECT count(*) FROM quiz_answers").fetchone()[0]
    return int(pressed), int(rows)


def event_file(work: Path, per_play: int | None) -> Path | None:
    """A copy of the event file with `per_play` questions each (a shorter run at Telegram's pace)."""
    if per_play is None:
        return None
    source = Path(__file__).resolve().parent.parent / "events" / "excom2020.toml"
    text = source.read_text(encoding="utf-8")
    assert "\nper_play = 10\n" in text
    path = work / "event.toml"
    path.write_text(text.replace("\nper_play = 10\n", f"\nper_play = {per_play}\n"), encoding="utf-8")
    return path


async def run_bot(which: str, mode: str, players: int, template: Path, work: Path, send_rate: float, *,
                  capacity: int | None = None, per_play: int | None = None) -> Run:
    run = Run(which, mode, players)
    db = work / f"{which}-{mode.replace(' ', '-')}.db"
    shutil.copy(template, db)
    env = http.bot_env("", f"sqlite+aiosqlite:///{db}")
    # QUIZ_CAPACITY: the players count unless told (0: from SEND_RATE, as in production).
    env.update({"CLOCK_START": CLOCK_START, "SEND_RATE": str(send_rate),
                "QUIZ_CAPACITY": str(players if capacity is None else capacity)})
    if (events := event_file(work, per_play)) is not None:
        env["EVENT_FILE"] = str(events)
    command = http.bot_command("ours") if which == "ours" else [sys.executable, "-m", "bench.bare_quiz_bot"]
    async with FakeBotAPI() as api:
        env["TELEGRAM_API_URL"] = api.url
        watch = Players(api)
        with (LOGS / f"{which}.log").open("ab") as log:
            proc = await asyncio.create_subprocess_exec(*command, cwd=work, env=env,
                                                        stdout=asyncio.subprocess.DEVNULL, stderr=log)
        try:
            await api.wait_until(lambda: api.waiting_polls > 0, timeout=180)
            await asyncio.sleep(1.0)
            http.reset_peak(proc.pid)
            rnd = random.Random(2020)
            uids = [http.FIRST_UID + i for i in range(players)]
            think = MODES[mode]
            t0 = time.monotonic()
            await asyncio.gather(*(play(api, watch, run, uid, http.text_for(uid - http.FIRST_UID)[1],
                                        rnd.random(), think, random.Random(uid)) for uid in uids))
            run.seconds = watch.last - t0
            run.peak_kb = http.proc_status(proc.pid)["VmHWM"]
        finally:
            await http.stop(proc)
    if which == "ours":
        run.recorded, run.recorded_rows = recorded(db)
    return run


async def leaderboard_timing(participants: int, reads: int = 50) -> tuple[float, float, int]:
    """Median and p99 ms of services.quiz.public_leaderboard (top 10 + the reader's rank + the count) on SQLite."""
    from sqlalchemy import insert

    from services import quiz as uc
    from storage.db import make_engine, make_sessionmaker, migrate
    from storage.models import QuizAttempt
    from storage.uow import SqlUnitOfWork

    rnd = random.Random(7)
    start = datetime(2020, 11, 17, 11, 15, tzinfo=UTC)
    with tempfile.TemporaryDirectory(prefix="bench-board-") as tmp:
        engine = make_engine(f"sqlite+aiosqlite:///{tmp}/board.db")
        try:
            await migrate(engine)
            rows = [{"user_id": 1 + i, "name": f"P{i}", "lang": "en", "group_chat": None, "index": 9,
                     "asked_at": start, "score": rnd.randrange(0, 1501, 10), "time_ms": rnd.randrange(20_000, 200_000),
                     "right": rnd.randrange(11), "started_at": start,
                     "finished_at": start + timedelta(seconds=rnd.randrange(1800))} for i in range(participants)]
            async with engine.begin() as conn:
                for i in range(0, len(rows), 2000):
                    await conn.execute(insert(QuizAttempt), rows[i:i + 2000])
            sessions = make_sessionmaker(engine)
            times = []
            for n in range(reads):
                async with sessions() as s:
                    t = time.perf_counter()
                    board = await uc.public_leaderboard(SqlUnitOfWork(s), 1 + rnd.randrange(participants))
                    times.append((time.perf_counter() - t) * 1000)
                    assert len(board.top) == 10 and board.mine is not None and board.count == participants, n
        finally:
            await engine.dispose()
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, math.ceil(0.99 * len(times)) - 1)], participants


def table(runs: list[Run]) -> str:
    lines = [f"{'mode':<9} {'bot':<5} {'updates':>8} {'seconds':>8} {'upd/s':>7} {'ratio':>6} "
             f"{'/quiz p50/p99 ms':>18} {'press p50/p99 ms':>18} {'rows/presses':>13} {'in time':>7} {'peak MB':>8}"]
    for mode in dict.fromkeys(r.mode for r in runs):
        ours = next(r for r in runs if r.mode == mode and r.bot == "ours")
        bare = next(r for r in runs if r.mode == mode and r.bot == "bare")
        for r in (ours, bare):
            ratio = f"{ours.rate / bare.rate:.3f}" if r is ours and bare.rate else ""
            rows = f"{r.recorded_rows:,}/{r.presses:,}" if r.recorded_rows is not None else f"-/{r.presses:,}"
            in_time = f"{r.recorded:,}" if r.recorded is not None else "-"
            lines.append(f"{mode:<9} {r.bot:<5} {r.updates:>8,} {r.seconds:>8.2f} {r.rate:>7,.0f} {ratio:>6} "
                         f"{f'{Run.pct(r.opening, 50):.0f} / {Run.pct(r.opening, 99):.0f}':>18} "
                         f"{f'{Run.pct(r.answers, 50):.1f} / {Run.pct(r.answers, 99):.1f}':>18} "
                         f"{rows:>13} {in_time:>7} {r.peak_kb / 1024:>8.0f}")
    return "\n".join(lines)


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The real quiz over HTTP: ours against a bare aiogram bot.")
    parser.add_argument("--players", type=int, default=1000)
    parser.add_argument("--modes", default="flat out,paced", help="comma-separated: " + ", ".join(MODES))
    parser.add_argument("--send-rate", type=float, default=1000.0)
    parser.add_argument("--board", type=int, default=10_000, help="participants for the leaderboard timing (0: skip)")
    parser.add_argument("--bots", default="bare,ours", help="comma-separated: bare, ours")
    parser.add_argument("--per-play", type=int, default=None, help="questions per player (default: the event file's)")
    parser.add_argument("--capacity", type=int, default=None,
                        help="QUIZ_CAPACITY (default: the number of players; 0: from SEND_RATE as in production)")
    args = parser.parse_args(argv)
    bots = [b.strip() for b in args.bots.split(",") if b.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    print(f"the Smart City Quiz over HTTP, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {http.machine()}; "
          f"{args.players:,} players, SEND_RATE {args.send_rate:g}/s", flush=True)
    runs: list[Run] = []
    LOGS.mkdir(exist_ok=True)
    for old in LOGS.glob("*.log"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="bench-quiz-") as tmp:
        work = Path(tmp)
        template = work / "template.db"
        await prepare(template, args.players)
        for mode in modes:
            for which in bots:
                r = await run_bot(which, mode, args.players, template, work, args.send_rate, capacity=args.capacity,
                                  per_play=args.per_play)
                print(f"  {mode}, {which}: {r.updates:,} updates in {r.seconds:.2f} s, unanswered {r.unanswered}",
                      flush=True)
                runs.append(r)
    print()
    if len(bots) == 2:
        print(table(runs))
    for r in runs:
        if r.bot == "ours":
            think = f"{max(r.thinks):.1f}" if r.thinks else "-"
            print(f"{r.mode}, ours: {r.players:,} players, {r.full:,} told the quiz is full, {r.finished:,} finished; "
                  f"{r.presses:,} presses (each at most {think} s after its question reached the player), "
                  f"{r.recorded_rows:,} answer rows, {r.recorded:,} scored as pressed in time; "
                  f"/quiz p50/p99 {Run.pct(r.opening, 50):,.0f} / {Run.pct(r.opening, 99):,.0f} ms, "
                  f"press to feedback p50/p99 {Run.pct(r.answers, 50):,.0f} / {Run.pct(r.answers, 99):,.0f} ms, "
                  f"{r.seconds:.0f} s")
    ok = all(r.unanswered == 0 for r in runs) and all(r.recorded_rows == r.presses for r in runs if r.bot == "ours")
    print("every update answered, answers recorded == answers sent:", "yes" if ok else "NO", f"(logs: {LOGS})")
    if args.board:
        median, p99, n = await leaderboard_timing(args.board)
        print(f"leaderboard (top 10 + own rank + count) at {n:,} participants, SQLite: median {median:.2f} ms, "
              f"p99 {p99:.2f} ms")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
