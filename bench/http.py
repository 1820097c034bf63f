"""Benchmark: our bot and a bare aiogram bot as processes, both long-polling the fake Bot API; memory too.

    python -m bench.http                       # 10,000 delegates; 1,000 at once, 200/s steady, 10,000 at once
    python -m bench.http --quick               # 2,000 delegates; 500 at once, 200/s for 5 s, 2,000 at once

The fake Bot API (testkit/fake_botapi.py) runs in this process; each bot is a child process (`python -m bot`
as in production, on a SQLite file holding the delegates; `python -m bench.bare_bot`: aiogram's default
Dispatcher answering a fixed text). Every update is from a registered delegate: `/now` or a free question
(half each, in English, Russian or Korean). For each bot, one after the other on a fresh fake:

- idle: RSS of the process once it polls (VmRSS from /proc), ours with all the delegates in its database;
- at once: `--at-once` updates pushed together, from as many people (their first update since the bot
  started); throughput = updates / time to the last answer, latency = from the push to the sendMessage
  reaching the fake;
- again: the same people at once again, each with the other kind of update (known to the bot by now);
- steady: `--rate` updates a second for `--seconds`, latency as above;
- burst: `--burst` updates pushed together, one from each delegate (those of the phases above again among
  them); peak RSS during it (VmHWM, reset before the burst through /proc/PID/clear_refs, and sampled).

The figure to read is ours/bare, measured side by side in one run: the machine is shared and noisy. Beside
throughput, each phase reports the bot process's CPU time per update (all threads, /proc/PID/stat): one
worker's cost, which moves less with the machine's load. `--before-root DIR` also runs our bot from another
checkout in the same run (before and after side by side); `--profile DIR --profile-phase again` profiles that
phase only (bench/profiled.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from testkit.fake_botapi import FakeBotAPI, Record

ROOT = Path(__file__).resolve().parent.parent
FIRST_UID = 30_000_001
LANGS = ("en", "ru", "ko")
QUESTIONS = {"en": "when is the quiz?", "ru": "когда викторина?", "ko": "퀴즈는 언제예요?"}
CLOCK_START = "2020-11-01T10:00:00+03:00"


KIND = "mixed"  # mixed | now | question: what the people send (--kind)


def text_for(i: int, kind: str | None = None) -> tuple[str, str]:
    """The i-th update's text and language: `/now` or a free question, half each (or only one with `kind`)."""
    lang = LANGS[(i // 2) % 3]
    kind = kind or KIND
    question = i % 2 == 1 if kind == "mixed" else kind == "question"
    return (QUESTIONS[lang] if question else "/now"), lang


async def prepare_database(path: Path, delegates: int) -> str:
    """A migrated SQLite file with `delegates` registered people (one bulk insert)."""
    from storage.db import make_engine, migrate
    from storage.models import Delegate

    url = f"sqlite+aiosqlite:///{path}"
    engine = make_engine(url)
    try:
        await migrate(engine)
        now = datetime.now(UTC)
        rows = [{"user_id": FIRST_UID + i, "language": text_for(i)[1], "full_name": f"Delegate {i}",
                 "position": "Officer", "organisation": "City Hall", "city": "Seoul", "country": "Korea",
                 "participant_type": "wego_member", "email": f"d{i}@example.org", "timezone": "Europe/Moscow",
                 "consent_at": now, "registered_at": now, "updated_at": now} for i in range(delegates)]
        async with engine.begin() as conn:
            for start in range(0, len(rows), 2000):
                await conn.execute(insert(Delegate), rows[start:start + 2000])
    finally:
        await engine.dispose()
    return url


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in kB."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """User + system CPU time of a process so far (all its threads), from /proc/PID/stat; or of one thread
    (/proc/PID/task/TID/stat; the main thread's id is the process's)."""
    path = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    fields = Path(path).read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15)


class CpuWatch:
    """The CPU a process used between `start` and `stop`: in all, and in its main thread (the event loop;
    the rest is worker threads: aiosqlite's connections, asyncio.to_thread)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.total = self.main = 0.0

    def start(self) -> None:
        self._t0, self._m0 = cpu_seconds(self.pid), cpu_seconds(self.pid, self.pid)

    def stop(self, phase: Phase) -> None:
        phase.cpu = cpu_seconds(self.pid) - self._t0
        phase.cpu_main = cpu_seconds(self.pid, self.pid) - self._m0


def reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


@dataclass
class Phase:
    name: str
    n: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    answered: int = 0
    peak_kb: int = 0
    cpu: float = 0.0  # CPU seconds the bot's process used from the push to the last answer
    cpu_main: float = 0.0  # of which its main thread (the event loop)

    @property
    def cpu_ms(self) -> float:
        """The bot's CPU per update, in ms: what one worker costs, less noisy than throughput on a busy machine."""
        return 1000 * self.cpu / self.n if self.n else math.nan

    @property
    def rate(self) -> float:
        return self.n / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return math.nan
        s = sorted(self.latencies)
        return 1000 * s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


@dataclass
class BotRun:
    bot: str
    idle_kb: int = 0
    phases: dict[str, Phase] = field(default_factory=dict)


class Watch:
    """Push times per chat and the first answer to each push, from the fake's records."""

    def __init__(self, api: FakeBotAPI) -> None:
        self.pushed: dict[int, float] = {}
        self.answered: dict[int, float] = {}
        self.changed = asyncio.Event()
        api.on_record(self._on_record)

    def _on_record(self, rec: Record) -> None:
        if rec.method == "sendMessage" and isinstance(rec.chat_id, int) and rec.chat_id in self.pushed \
                and rec.chat_id not in self.answered:
            self.answered[rec.chat_id] = time.monotonic()
            self.changed.set()

    def push(self, api: FakeBotAPI, uid: int, i: int) -> None:
        text, lang = text_for(i)
        self.pushed[uid] = time.monotonic()
        self.answered.pop(uid, None)
        api.push_text(uid, text, language_code=lang)

    async def wait(self, uids: list[int], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while any(u not in self.answered for u in uids) and time.monotonic() < deadline:
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), 1.0)

    def phase(self, name: str, uids: list[int], t0: float) -> Phase:
        done = [self.answered[u] - self.pushed[u] for u in uids if u in self.answered]
        last = max((self.answered[u] for u in uids if u in self.answered), default=t0)
        return Phase(name, len(uids), last - t0, done, len(done))


async def stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL if the bot has not stopped within 30 s."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()


PROFILE: Path | None = None  # --profile DIR: each bot runs under cProfile, writing DIR/<bot>.prof at its stop
PROFILE_PHASE: str | None = None  # --profile-phase NAME: only that phase is profiled (bench/profiled.py)


def bot_command(which: str) -> list[str]:
    module = "bench.bare_bot" if which == "bare" else "bot"
    if PROFILE and PROFILE_PHASE:
        return [sys.executable, "-m", "bench.profiled", str(PROFILE / f"{which}.prof"), module]
    profile = ["-m", "cProfile", "-o", str(PROFILE / f"{which}.prof")] if PROFILE else []
    return [sys.executable, *profile, "-m", module]


@contextlib.asynccontextmanager
async def profiled(proc: asyncio.subprocess.Process, phase: str) -> Any:
    """Profile the bot during `phase` only (with --profile-phase): bench/profiled.py starts on SIGUSR1 and
    writes its file on SIGUSR2."""
    on = PROFILE is not None and phase == PROFILE_PHASE
    if on:
        proc.send_signal(signal.SIGUSR1)
        await asyncio.sleep(0.2)
    try:
        yield
    finally:
        if on:
            proc.send_signal(signal.SIGUSR2)
            await asyncio.sleep(1.0)  # the file is written


SEND_RATE = 1000.0  # --send-rate: the pacing lifted by default, so the figures are the update path's


OURS_ROOT = ROOT  # --ours-root DIR: run our bot from another checkout (a "before" beside "after" in one run)
BEFORE_ROOT: Path | None = None  # --before-root DIR: also run our bot from DIR, as "before", in the same run


def bot_env(api_url: str, database_url: str, which: str = "ours") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"REDIS_URL", "ADMIN_IDS", "EVENT_FILE", "CLOCK_SPEED", "SEND_RATE"}}
    root = {"ours": OURS_ROOT, "before": BEFORE_ROOT}.get(which) or ROOT
    env.update({"PYTHONPATH": str(root), "BOT_TOKEN": "42:TEST",
                "TELEGRAM_API_URL": api_url,
                "DATABASE_URL": database_url, "CLOCK_START": CLOCK_START, "LOG_LEVEL": "WARNING",
                "SEND_RATE": f"{SEND_RATE:g}"})
    return env


async def run_bot(which: str, database_url: str, workdir: Path, *, at_once: int, rate: float, seconds: float,
                  burst: int, say: Callable[[str], None], skip: frozenset[str] = frozenset()) -> BotRun:
    result = BotRun(which)
    async with FakeBotAPI() as api:
        watch = Watch(api)
        with (workdir / f"{which}.log").open("wb") as log:
            proc = await asyncio.create_subprocess_exec(*bot_command(which), cwd=workdir,
                                                        env=bot_env(api.url, database_url, which),
                                                        stdout=asyncio.subprocess.DEVNULL, stderr=log)
        try:
            await api.wait_until(lambda: api.waiting_polls > 0, timeout=180)
            await asyncio.sleep(1.0)  # start-up jobs (scheduler plan) settle
            result.idle_kb = proc_status(proc.pid)["VmRSS"]
            uid = FIRST_UID
            # Warm-up: a few updates of each kind (not measured).
            warm = list(range(uid, uid + 12))
            for i, u in enumerate(warm):
                watch.push(api, u, i)
            await watch.wait(warm, 60)
            uid += len(warm)

            uids = list(range(uid, uid + at_once))
            cpu = CpuWatch(proc.pid)
            async with profiled(proc, "at once"):
                t0 = time.monotonic()
                cpu.start()
                for u in uids:
                    watch.push(api, u, u - FIRST_UID)
                await watch.wait(uids, 300)
                result.phases["at once"] = watch.phase("at once", uids, t0)
                cpu.stop(result.phases["at once"])
            say(f"  {which}: {at_once:,} at once in {result.phases['at once'].seconds:.2f} s")
            # The same people again: what a quiz looks like once everyone has said something.
            async with profiled(proc, "again"):
                t0 = time.monotonic()
                cpu.start()
                for u in uids:
                    watch.push(api, u, u - FIRST_UID + 1)  # the other kind of update this time (with --kind mixed)
                await watch.wait(uids, 300)
                result.phases["again"] = watch.phase("again", uids, t0)
                cpu.stop(result.phases["again"])
            say(f"  {which}: the same {at_once:,} again in {result.phases['again'].seconds:.2f} s")
            uid += at_once

            uids = [] if "steady" in skip else list(range(uid, uid + int(rate * seconds)))
            t0 = time.monotonic()
            cpu.start()
            for k, u in enumerate(uids):
                delay = t0 + k / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                watch.push(api, u, u - FIRST_UID)
            await watch.wait(uids, 120)
            if uids:
                result.phases["steady"] = watch.phase("steady", uids, t0)
                cpu.stop(result.phases["steady"])
                say(f"  {which}: {len(uids):,} at {rate:.0f}/s, p99 {result.phases['steady'].pct(99):.1f} ms")
            uid += len(uids)
            if "burst" in skip:
                return result

            reset_peak(proc.pid)
            uids = list(range(FIRST_UID, FIRST_UID + burst))  # everyone, the people above again among them
            t0 = time.monotonic()
            cpu.start()
            for u in uids:
                watch.push(api, u, u - FIRST_UID)
            peak = 0
            waiter = asyncio.create_task(watch.wait(uids, 900))
            while not waiter.done():  # VmHWM is the peak, but also sample in case clear_refs is refused
                peak = max(peak, proc_status(proc.pid)["VmRSS"])
                await asyncio.sleep(0.2)
            phase = watch.phase("burst", uids, t0)
            cpu.stop(phase)
            phase.peak_kb = max(peak, proc_status(proc.pid)["VmHWM"])
            result.phases["burst"] = phase
            say(f"  {which}: {burst:,} at once in {phase.seconds:.2f} s, peak RSS {phase.peak_kb / 1024:.0f} MB")
        finally:
            await stop(proc)
    return result


def report(ours: BotRun, bare: BotRun, before: BotRun | None = None) -> str:
    lines = [f"{'phase':<9} {'bot':<6} {'N':>6} {'upd/s':>7} {'bare upd/s':>10} {'/bare':>6} "
             f"{'p50/p99 ms':>17} {'bare p50/p99 ms':>17} {'answered':>9} "
             f"{'CPU ms/upd':>10} {'main':>5} {'bare CPU':>8} {'bare/CPU':>8}"]
    lines.append("-" * len(lines[0]))
    for name in ("at once", "again", "steady", "burst"):
        for run in (before, ours):
            if run is None or name not in run.phases or name not in bare.phases:
                continue
            o, b = run.phases[name], bare.phases[name]
            ratio = o.rate / b.rate if b.rate else math.nan
            lines.append(f"{name:<9} {run.bot:<6} {o.n:>6,} {o.rate:>7,.0f} {b.rate:>10,.0f} {ratio:>6.3f} "
                         f"{f'{o.pct(50):.1f} / {o.pct(99):.1f}':>17} {f'{b.pct(50):.1f} / {b.pct(99):.1f}':>17} "
                         f"{f'{o.answered:,}/{b.answered:,}':>9} {o.cpu_ms:>10.2f} "
                         f"{1000 * o.cpu_main / o.n:>5.2f} {b.cpu_ms:>8.2f} "
                         f"{b.cpu_ms / o.cpu_ms if o.cpu_ms else math.nan:>8.3f}")
    mb = 1024
    lines += ["", "upd/s: throughput; /bare: ours over the bare bot's; CPU ms/upd: the bot process's CPU (all "
                  "threads) per update,", "of which main: its main thread (the event loop); bare/CPU: the bare "
                  "bot's CPU per update over this bot's", ""]
    for run in (before, ours):
        if run is None:
            continue
        lines += [f"memory (RSS): idle {run.bot} {run.idle_kb / mb:.0f} MB, bare {bare.idle_kb / mb:.0f} MB, "
                  f"difference {(run.idle_kb - bare.idle_kb) / mb:+.0f} MB"]
        if "burst" in run.phases and "burst" in bare.phases:
            lines += [f"              burst peak {run.bot} {run.phases['burst'].peak_kb / mb:.0f} MB, "
                      f"bare {bare.phases['burst'].peak_kb / mb:.0f} MB, "
                      f"difference {(run.phases['burst'].peak_kb - bare.phases['burst'].peak_kb) / mb:+.0f} MB"]
    return "\n".join(lines)


def machine() -> str:
    import aiogram
    import sqlalchemy

    return (f"{os.cpu_count()} CPU cores, Python {platform.python_version()}, aiogram {aiogram.__version__}, "
            f"SQLAlchemy {sqlalchemy.__version__}, {platform.system()} {platform.machine()}")


async def main(argv: list[str] | None = None) -> int:
    global KIND, SEND_RATE, PROFILE, PROFILE_PHASE, OURS_ROOT, BEFORE_ROOT
    parser = argparse.ArgumentParser(description="Our bot and a bare aiogram bot as processes over HTTP.")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--delegates", type=int, default=None)
    parser.add_argument("--at-once", type=int, default=None)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--burst", type=int, default=None)
    parser.add_argument("--kind", choices=("mixed", "now", "question"), default="mixed",
                        help="what every update is: /now, a free question, or half each (default)")
    parser.add_argument("--send-rate", type=float, default=SEND_RATE,
                        help="our bot's SEND_RATE (default 1000: the pacing lifted; production's is 25)")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="run each bot under cProfile, writing DIR/ours.prof and DIR/bare.prof")
    parser.add_argument("--profile-phase", choices=("at once", "again"),
                        help="with --profile: profile only this phase (start-up and the other phases left out)")
    parser.add_argument("--ours-root", type=Path, metavar="DIR",
                        help="run our bot from this checkout (e.g. a worktree of the commit before a change)")
    parser.add_argument("--before-root", type=Path, metavar="DIR",
                        help="also run our bot from this checkout, as 'before', in the same run (its own copy of "
                             "the database): before and after side by side")
    parser.add_argument("--skip", default="", help="phases to leave out, e.g. steady,burst")
    args = parser.parse_args(argv)
    KIND, SEND_RATE, PROFILE = args.kind, args.send_rate, args.profile and args.profile.resolve()
    PROFILE_PHASE = args.profile_phase
    OURS_ROOT = args.ours_root.resolve() if args.ours_root else ROOT
    BEFORE_ROOT = args.before_root.resolve() if args.before_root else None
    if PROFILE:
        PROFILE.mkdir(parents=True, exist_ok=True)
    delegates = args.delegates or (2_000 if args.quick else 10_000)
    at_once = args.at_once or (500 if args.quick else 1_000)
    seconds = args.seconds or (5.0 if args.quick else 10.0)
    burst = args.burst or (delegates if args.quick else 10_000)
    skip = frozenset(p.strip() for p in args.skip.split(",") if p.strip())
    if "steady" in skip:
        seconds = 0.0
    needed = max(12 + at_once + int(args.rate * seconds), 0 if "burst" in skip else burst)
    print(f"update path over HTTP, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}; {delegates:,} delegates; "
          f"updates: {KIND}; ours at SEND_RATE={SEND_RATE:g}; ours from {OURS_ROOT}"
          f"{f', before from {BEFORE_ROOT}' if BEFORE_ROOT else ''}; "
          f"load {' '.join(f'{x:.1f}' for x in os.getloadavg())}",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        work = Path(tmp)
        url = await prepare_database(work / "bot.db", max(delegates, needed))

        def copy(which: str) -> str:
            """A bot's own copy of the database (our bots write to it: the inbox, the outbox)."""
            shutil.copyfile(work / "bot.db", work / f"{which}.db")
            return f"sqlite+aiosqlite:///{work / which}.db"

        def say(line: str) -> None:
            print(line, flush=True)

        kw: dict[str, Any] = {"at_once": at_once, "rate": args.rate, "seconds": seconds, "burst": burst, "say": say,
                              "skip": skip}
        bare = await run_bot("bare", url, work, **kw)
        before = await run_bot("before", copy("before"), work, **kw) if BEFORE_ROOT else None
        ours = await run_bot("ours", copy("ours"), work, **kw)
    print()
    print(report(ours, bare, before))
    ok = all(p.answered == p.n for r in (ours, bare, before) if r for p in r.phases.values())
    print("every update answered:", "yes" if ok else "NO")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
