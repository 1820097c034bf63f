"""Issue 18: several webhook workers on PostgreSQL and Redis, the fake Bot API posting updates to them in turns.

500 registered people follow a session; a latecomer registers while their updates alternate between the
workers; an organiser broadcasts to everyone; the scheduler's leader is killed (kill -9) half-way through the
broadcast, before the session's reminder fan-out: the other worker takes over the scheduler and the dead
worker's claimed rows; every reminder goes out once, every broadcast message at least once (a send in
flight at the kill may go twice: its outcome is unknown), nothing is lost, no update is left unhandled."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import aiohttp
import pytest
from sqlalchemy import func, insert, select

from bench.delivery import FAN_OUT_AT, ITEM, _person
from handlers.broadcasts import BcCb
from storage.db import make_engine, migrate
from storage.models import Delegate, Follow, InboxUpdate
from testkit.fake_botapi import FakeBotAPI, Record
from testkit.processes import bot_env

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]
ROOT = Path(__file__).resolve().parent.parent
PEOPLE = 500
FIRST = 20_000_001
ORGANISER = 999
NEWCOMER = 777_001
SECRET = "workers-secret_1"
PATH = "/tg/updates"
BOOT = 120.0  # seconds: a busy shared machine imports slowly
LEAD_TIME = 75.0  # real seconds from the workers' start to the reminders' fan-out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Worker:
    def __init__(self, n: int, port: int, proc: asyncio.subprocess.Process, log: Path, out: IO[bytes]) -> None:
        self.n, self.port, self.proc, self.log, self.out = n, port, proc, log, out

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    @property
    def leads(self) -> bool:
        return "this process runs the scheduler" in self.text()


async def _spawn(n: int, tmp_path: Path, env: dict[str, str]) -> Worker:
    port = _free_port()
    log = tmp_path / f"worker{n}.log"
    out = log.open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "webhook", cwd=tmp_path, env={**env, "WEB_PORT": str(port)},
        stdout=asyncio.subprocess.DEVNULL, stderr=out)
    return Worker(n, port, proc, log, out)


async def _ready(worker: Worker) -> None:
    deadline = time.monotonic() + BOOT
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            assert worker.proc.returncode is None, worker.text()[-3000:]
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"http://127.0.0.1:{worker.port}/readyz") as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.5)
    raise TimeoutError(f"worker {worker.n} not ready:\n{worker.text()[-3000:]}")


@contextlib.asynccontextmanager
async def _workers(tmp_path: Path, env: dict[str, str], n: int) -> AsyncIterator[list[Worker]]:
    workers = [await _spawn(i, tmp_path, env) for i in range(n)]
    try:
        yield workers
    finally:
        for w in workers:
            if w.proc.returncode is None:
                w.proc.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                await asyncio.wait_for(w.proc.wait(), 40)
            except TimeoutError:
                w.proc.kill()
                await w.proc.wait()
            w.out.close()


async def test_webhook_workers_share_the_load_and_lose_nothing(pg_url: str, redis_url: str, tmp_path: Path) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    await redis.aclose()
    engine = make_engine(pg_url)
    await migrate(engine)
    now = datetime.now(UTC)
    people = list(range(FIRST, FIRST + PEOPLE))
    async with engine.begin() as conn:  # registered through the storage layer: fast
        await conn.execute(insert(Delegate), [_person(uid, now) for uid in people])
        await conn.execute(insert(Follow), [{"user_id": uid, "item_id": ITEM, "created_at": now} for uid in people])

    async with FakeBotAPI() as api:
        env = bot_env(pg_url, api_url=api.url, REDIS_URL=redis_url, WEBHOOK_URL=f"https://bot.example.org{PATH}",
                      WEBHOOK_SECRET=SECRET, WEB_HOST="127.0.0.1", WORKERS="2", ADMIN_IDS=str(ORGANISER),
                      CLOCK_START=(FAN_OUT_AT - timedelta(seconds=LEAD_TIME)).isoformat(), CLOCK_SPEED="1",
                      SEND_RATE="150", SENDER_LEASE="30", LOG_LEVEL="INFO", FLOOD_BURST="0")
        env.pop("PYTEST_XDIST_WORKER", None)
        async with _workers(tmp_path, env, 2) as workers:
            await asyncio.gather(*(_ready(w) for w in workers))
            assert sum(r.method == "setWebhook" for r in api.records) == 1  # by the leader only
            assert not any(r.method == "deleteWebhook" for r in api.records)
            assert sum(w.leads for w in workers) == 1
            api.deliver_to(*(w.url for w in workers))  # the proxy in front of the workers

            async def say(uid: int, text: str, wait_for: str) -> Record:
                mark = api.mark()
                api.push_text(uid, text, language_code="en")
                return await api.wait_for(lambda r: wait_for in (r.text or ""), since=mark, chat_id=uid, timeout=60)

            async def press(uid: int, label: str, wait_for: str) -> Record:
                rec = next(r for r in reversed(api.sent(uid)) for t, _d in api.buttons(r) if label in t)
                data = next(d for t, d in api.buttons(rec) if label in t)
                mark = api.mark()
                api.push_callback(uid, data, language_code="en")
                return await api.wait_for(lambda r: wait_for in (r.text or ""), since=mark, chat_id=uid, timeout=60)

            # A latecomer registers; their updates go to one worker, then the other.
            await say(ORGANISER, f"/admit {NEWCOMER}", str(NEWCOMER))
            await say(NEWCOMER, "/start", "Please choose your language.")
            await press(NEWCOMER, "English", "What is your full name?")
            await say(NEWCOMER, "Ada Lovelace", "position")
            await say(NEWCOMER, "Chief Digital Officer", "organisation")
            await say(NEWCOMER, "Seoul Metropolitan Government", "city and country")
            await say(NEWCOMER, "Seoul", "type of participant")
            await press(NEWCOMER, "EXCOM member city", "e-mail")
            await say(NEWCOMER, "ada@example.org", "time zone")
            await say(NEWCOMER, "Seoul", "it is now")
            await press(NEWCOMER, "Yes", "matchmaking")
            await press(NEWCOMER, "Yes, available", "May we store")
            await press(NEWCOMER, "I agree", "Please check your registration")
            await press(NEWCOMER, "Confirm", "You are registered")
            targets = {t for uid, t, status in api.webhook_attempts if status == 200}
            assert targets == {w.url for w in workers}, targets

            # A broadcast to everyone; the scheduler's leader is killed half-way through it.
            await say(ORGANISER, "/broadcast", "New broadcast")
            await say(ORGANISER, "Dear delegates, the plenary starts at 11:00.", "Add a variant")
            mark = api.mark()
            api.push_callback(ORGANISER, BcCb(action="next").pack())
            await api.wait_for(lambda r: "Who should get it?" in (r.text or ""), since=mark, chat_id=ORGANISER,
                               timeout=60)
            mark = api.mark()
            api.push_callback(ORGANISER, BcCb(action="aud", value="everyone").pack())
            await api.wait_for(lambda r: "people" in (r.text or ""), since=mark, chat_id=ORGANISER, timeout=60)
            mark = api.mark()
            api.push_callback(ORGANISER, BcCb(action="send").pack())
            await api.wait_for(lambda r: "Broadcast #1" in (r.text or ""), since=mark, chat_id=ORGANISER, timeout=60)

            def broadcast_sent() -> int:
                return sum(1 for r in api.calls if r.delivered and "plenary starts" in (r.text or ""))

            await api.wait_until(lambda: broadcast_sent() >= PEOPLE // 3, timeout=120)
            leader = next(w for w in workers if w.leads)
            other = next(w for w in workers if w is not leader)
            in_flight = api.in_progress
            leader.proc.kill()  # kill -9
            await leader.proc.wait()
            killed_at = time.monotonic()
            await api.wait_until(lambda: other.leads, timeout=30)
            took_over = time.monotonic() - killed_at

            # Everyone gets the broadcast and the session's reminder (its fan-out is due after the kill).
            def done() -> bool:
                got = {uid: 0 for uid in people}
                for r in api.calls:
                    if r.delivered and r.chat_id in got and "plenary starts" not in (r.text or ""):
                        got[r.chat_id] += 1
                return broadcast_sent() >= PEOPLE + 1 and all(got.values())

            await api.wait_until(done, timeout=LEAD_TIME + 120)
            await asyncio.sleep(2)  # anything sent twice would arrive now
            assert other.proc.returncode is None

    texts: dict[int, list[str]] = {uid: [] for uid in people}
    for r in api.calls:
        if r.delivered and r.chat_id in texts:
            texts[r.chat_id].append(r.text or "")
    reminders = {uid: sum("plenary starts" not in t for t in ts) for uid, ts in texts.items()}
    broadcasts = {uid: sum("plenary starts" in t for t in ts) for uid, ts in texts.items()}
    assert set(reminders.values()) == {1}, {k: v for k, v in reminders.items() if v != 1}
    assert min(broadcasts.values()) == 1
    twice = sum(n - 1 for n in broadcasts.values())
    print(f"\nbroadcast sent twice: {twice} (requests in flight at the kill: {in_flight}); "
          f"scheduler taken over in {took_over:.1f} s")
    assert twice <= max(in_flight, 0) + 5
    newcomer = [r.text or "" for r in api.sent(NEWCOMER)]
    assert sum("You are registered" in t for t in newcomer) == 1
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Delegate)) == PEOPLE + 1
        assert await conn.scalar(select(func.count()).select_from(InboxUpdate)
                                 .where(InboxUpdate.handled_at.is_(None))) == 0
    await engine.dispose()
    assert os.environ.get("TEST_REDIS_URL")
