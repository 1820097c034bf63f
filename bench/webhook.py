"""Benchmark: webhook workers (`python -m bot webhook` processes) on PostgreSQL and Redis, fed by the fake Bot
API's webhook delivery (its max_connections parallel POSTs, spread over the workers in turns as a proxy would).

    python -m bench.webhook --pg postgresql+asyncpg://postgres@127.0.0.1:5432/test --redis redis://127.0.0.1:6379/9
    python -m bench.webhook ... --quick          # fewer updates, no 10,000-update burst

For 1 and then 2 workers, each on a fresh database holding the delegates:
- idle RSS of each worker once ready;
- updates/s: every delegate sends once (first contact, not measured), then `--updates` updates (`/now` or a free
  question, half each, from the same delegates) are pushed at once; throughput = updates / time to the last
  answer. The send pacing is lifted (SEND_RATE=1000) so the figure is the update path, not the limiter;
- with --burst: peak RSS of each worker (VmHWM, reset first) while `--burst` updates are handled.
Then the shared rate limit: 2 workers answering `--paced` updates with SEND_RATE=`--paced-rate` (default 28)
against a fake enforcing 30 messages a second: the rate reached over the span of the sends, the fastest
rolling second, and the 429s the fake answered. Why 28: the shared bucket holds up to 2 tokens (its burst),
so in any one second it may grant SEND_RATE + 2; at 28 that is the limit, never above it.
The load average (1 min) is printed before and after every case: the machine is usually shared.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.http import FIRST_UID, proc_status, reset_peak, text_for
from testkit.databases import throwaway_database
from testkit.fake_botapi import FakeBotAPI, Record

ROOT = Path(__file__).resolve().parent.parent
PATH = "/tg/bench"


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def prepare(url: str, delegates: int) -> None:
    from sqlalchemy import insert

    from storage.db import make_engine, migrate
    from storage.models import Delegate

    engine = make_engine(url)
    try:
        await migrate(engine)
        from datetime import UTC, datetime

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


class Answers:
    def __init__(self, api: FakeBotAPI) -> None:
        self.count = 0
        self.first = self.last = 0.0
        api.on_record(self._on)

    def _on(self, rec: Record) -> None:
        if rec.ok and rec.method == "sendMessage":
            self.count += 1
            self.last = time.monotonic()
            self.first = self.first or self.last

    async def wait(self, n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.count < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.count} of {n} answers")
            await asyncio.sleep(0.05)


async def start_workers(n: int, env: dict[str, str], workdir: Path) -> list[tuple[asyncio.subprocess.Process, int]]:
    out = []
    for _ in range(n):
        port = free_port()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "webhook", cwd=workdir, env={**env, "WEB_PORT": str(port)},
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        out.append((proc, port))
    async with aiohttp.ClientSession() as session:
        for proc, port in out:
            for _ in range(600):
                assert proc.returncode is None, "a worker stopped"
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"http://127.0.0.1:{port}/readyz") as r:
                        if r.status == 200:
                            break
                await asyncio.sleep(0.5)
    return out


async def stop_workers(workers: list[tuple[asyncio.subprocess.Process, int]]) -> None:
    for proc, _ in workers:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
    for proc, _ in workers:
        try:
            await asyncio.wait_for(proc.wait(), 40)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def worker_env(api: FakeBotAPI, db: str, redis: str, workers: int, send_rate: float) -> dict[str, str]:
    from bot.config import Settings

    names = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update({"PYTHONPATH": str(ROOT), "DATABASE_URL": db, "REDIS_URL": redis, "BOT_TOKEN": "42:BENCH",
                "TELEGRAM_API_URL": api.url, "WEBHOOK_URL": f"https://bot.example.org{PATH}",
                "WEBHOOK_SECRET": "bench-secret", "WORKERS": str(workers), "SEND_RATE": str(send_rate),
                "FLOOD_BURST": "0", "LOG_LEVEL": "WARNING", "CLOCK_START": "2020-11-17T10:00:00+03:00"})
    return env


def push(api: FakeBotAPI, people: int, n: int, offset: int = 0) -> None:
    for i in range(n):
        person = (i + offset) % people
        text, lang = text_for(i + offset + 1)
        api.push_text(FIRST_UID + person, text, language_code=lang)


async def flush_redis(url: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    await client.flushdb()
    await client.aclose()


async def throughput_case(base: str, redis: str, workers: int, people: int, updates: int, burst: int,
                          workdir: Path) -> dict[str, float]:
    result: dict[str, float] = {}
    async with throwaway_database(base, prefix="bench") as db, FakeBotAPI() as api:
        await flush_redis(redis)
        await prepare(db, people)
        procs = await start_workers(workers, worker_env(api, db, redis, workers, 1000), workdir)
        try:
            api.deliver_to(*(f"http://127.0.0.1:{port}{PATH}" for _p, port in procs))
            answers = Answers(api)
            await asyncio.sleep(2)
            idle = [proc_status(p.pid)["VmRSS"] / 1024 for p, _ in procs]
            result["idle_rss_mb"] = max(idle)
            result["idle_rss_min_mb"] = min(idle)
            push(api, people, people)  # first contact of everyone: not measured
            await answers.wait(people, 600)
            seen = answers.count
            t0 = time.monotonic()
            push(api, people, updates, offset=people)
            await answers.wait(seen + updates, 900)
            result["updates_per_s"] = updates / (answers.last - t0)
            if burst:
                for p, _ in procs:
                    reset_peak(p.pid)
                seen = answers.count
                t1 = time.monotonic()
                push(api, people, burst, offset=7)
                await answers.wait(seen + burst, 1800)
                peaks = [proc_status(p.pid)["VmHWM"] / 1024 for p, _ in procs]
                result["burst_updates_per_s"] = burst / (answers.last - t1) if answers.last > t1 else 0.0
                result["burst_peak_rss_mb"] = max(peaks)
                result["burst_peak_rss_min_mb"] = min(peaks)
                result["after_burst_rss_mb"] = max(proc_status(p.pid)["VmRSS"] for p, _ in procs) / 1024
        finally:
            await stop_workers(procs)
    return result


async def paced_case(base: str, redis: str, people: int, updates: int, workdir: Path,
                     send_rate: float = 28) -> dict[str, float]:
    async with throwaway_database(base, prefix="bench") as db, FakeBotAPI(global_rate=30) as api:
        await flush_redis(redis)
        await prepare(db, people)
        procs = await start_workers(2, worker_env(api, db, redis, 2, send_rate), workdir)
        try:
            api.deliver_to(*(f"http://127.0.0.1:{port}{PATH}" for _p, port in procs))
            answers = Answers(api)
            push(api, people, updates)
            await answers.wait(updates, 900)
            delivered = sorted(r.monotonic for r in api.calls if r.ok and r.method == "sendMessage")
            # The fastest second: the limit is never passed, not only on average.
            peak = max(sum(1 for t in delivered[i:i + 100] if t - delivered[i] < 1.0) for i in range(len(delivered)))
            return {"rate": (len(delivered) - 1) / (delivered[-1] - delivered[0]), "peak_1s": peak,
                    "429": api.stats.too_many_requests}
        finally:
            await stop_workers(procs)


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pg", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--redis", default=os.environ.get("TEST_REDIS_URL"))
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument("--paced", type=int, default=600)
    parser.add_argument("--paced-rate", type=float, default=28.0, help="SEND_RATE of the paced case (default 28)")
    parser.add_argument("--workers", default="1,2", help="worker counts of the throughput cases (default 1,2)")
    parser.add_argument("--skip-paced", action="store_true")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if not args.pg or not args.redis:
        parser.error("--pg and --redis (or TEST_DATABASE_URL and TEST_REDIS_URL) are needed")
    if args.quick:
        args.people, args.updates, args.burst, args.paced = 300, 1000, 0, 300
    print(f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, "
          f"{platform.python_version()} on {os.cpu_count()} cores, load {load()}; "
          f"{args.people} delegates, {args.updates} updates at once, pacing lifted (SEND_RATE=1000)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        rows = {}
        for workers in (int(w) for w in args.workers.split(",")):
            print(f"{workers} worker(s), load before {load()}", flush=True)
            rows[workers] = await throughput_case(args.pg, args.redis, workers, args.people, args.updates, args.burst,
                                                  Path(tmp))
            shown = ", ".join(f"{k} {v:.1f}" for k, v in rows[workers].items())
            print(f"{workers} worker(s): {shown}; load after {load()}", flush=True)
        if 1 in rows and 2 in rows:
            print(f"2 workers / 1 worker: {rows[2]['updates_per_s'] / rows[1]['updates_per_s']:.2f}x", flush=True)
        if not args.skip_paced:
            print(f"paced, load before {load()}", flush=True)
            paced = await paced_case(args.pg, args.redis, args.people, args.paced, Path(tmp), args.paced_rate)
            print(f"2 workers under SEND_RATE={args.paced_rate:g} against a fake enforcing 30/s: {paced['rate']:.1f}/s "
                  f"({paced['rate'] / 30:.2f} of the limit), fastest second {paced['peak_1s']}, 429s {paced['429']}; "
                  f"load after {load()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
