"""Issue 18: `make serve`'s shape: gunicorn with aiohttp's worker class runs WORKERS webhook workers on one
port, on PostgreSQL and Redis. A worker killed with SIGKILL is replaced; a rolling restart (SIGHUP: new
workers, the old ones stopped gracefully) while updates arrive loses none and answers none twice; SIGTERM
stops everything; a configuration that cannot be shared refuses to start with one line."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from storage.db import make_engine
from storage.models import InboxUpdate
from testkit.fake_botapi import FakeBotAPI
from testkit.processes import bot_env

pytestmark = [pytest.mark.e2e]
ROOT = Path(__file__).resolve().parent.parent
GUNICORN = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "bot.serve:serve"]
PATH = "/tg/serve"
BOOT = 150.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _asked_language(api: FakeBotAPI, uid: int) -> int:
    """How often the person's /start was handled. A worker killed just after answering (before its inbox mark,
    written ~50 ms later) leaves the update committed: the worker taking it over tells the person where they
    are ("Let us continue where you left off") instead of handling it again (docs/architecture.md)."""
    return sum("Please choose your language." in (r.text or "") and "continue where you left off" not in (r.text or "")
               for r in api.sent(uid))


def _children(pid: int) -> set[int]:
    with contextlib.suppress(OSError):
        return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    return set()


async def _ready(port: int, master: asyncio.subprocess.Process, workers: int) -> None:
    deadline = time.monotonic() + BOOT
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            assert master.returncode is None
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"http://127.0.0.1:{port}/readyz") as r:
                    if r.status == 200 and len(_children(master.pid)) == workers:
                        return
            await asyncio.sleep(0.5)
    raise TimeoutError("gunicorn's workers did not get ready")


@pytest.mark.postgres
@pytest.mark.redis
async def test_gunicorn_workers_replace_the_dead_and_restart_without_loss(pg_url: str, redis_url: str,
                                                                         tmp_path: Path) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    await redis.aclose()
    port = _free_port()
    async with FakeBotAPI() as api:
        env = bot_env(pg_url, api_url=api.url, REDIS_URL=redis_url, WEBHOOK_URL=f"https://bot.example.org{PATH}",
                      WEBHOOK_SECRET="serve-secret", WEB_HOST="127.0.0.1", WEB_PORT=str(port), WORKERS="2",
                      CLOCK_START="2020-11-01T10:00:00+03:00", LOG_LEVEL="WARNING")
        log = (tmp_path / "gunicorn.log").open("wb")
        master = await asyncio.create_subprocess_exec(*GUNICORN, cwd=tmp_path, env=env,
                                                      stdout=asyncio.subprocess.DEVNULL, stderr=log)
        try:
            await _ready(port, master, 2)
            api.deliver_to(f"http://127.0.0.1:{port}{PATH}")
            asked: list[int] = []

            async def ask(uid: int) -> None:
                asked.append(uid)
                api.push_text(uid, "/start", language_code="en")

            for uid in range(900_001, 900_011):
                await ask(uid)
            await api.wait_until(lambda: all(_asked_language(api, u) for u in asked), timeout=60)
            # A worker dies: gunicorn starts another one.
            first = _children(master.pid)
            os.kill(min(first), signal.SIGKILL)
            await api.wait_until(lambda: len(_children(master.pid) - first) == 1 and len(_children(master.pid)) == 2,
                                 timeout=BOOT)
            # A rolling restart while people write: nothing lost, nothing answered twice.
            before = _children(master.pid)
            master.send_signal(signal.SIGHUP)
            for uid in range(900_011, 900_061):
                await ask(uid)
                await asyncio.sleep(0.1)  # the fault's shape: people keep writing across the rolling restart
            await api.wait_until(lambda: not (_children(master.pid) & before) and len(_children(master.pid)) == 2,
                                 timeout=BOOT)
            await api.wait_until(lambda: all(_asked_language(api, u) for u in asked), timeout=120)
            await asyncio.sleep(2)  # absence: an update handled twice would be answered again by now
            for uid in asked:
                assert _asked_language(api, uid) == 1, (uid, [r.text for r in api.sent(uid)])
            # What the killed worker held (answered, its handled mark lost with it) is taken over by a live
            # worker once its 20 s lease runs out: the inbox drains before the stop.
            engine = make_engine(pg_url)
            try:
                for _ in range(120):
                    async with engine.connect() as conn:
                        left = await conn.scalar(select(func.count()).select_from(InboxUpdate)
                                                 .where(InboxUpdate.handled_at.is_(None)))
                    if left == 0:
                        break
                    await asyncio.sleep(0.5)
            finally:
                await engine.dispose()
            for uid in asked:
                assert _asked_language(api, uid) == 1, (uid, [r.text for r in api.sent(uid)])
        finally:
            if master.returncode is None:
                master.send_signal(signal.SIGTERM)
            try:
                code = await asyncio.wait_for(master.wait(), 60)
            except TimeoutError:
                master.kill()
                code = await master.wait()
            log.close()
        assert code == 0, (tmp_path / "gunicorn.log").read_text()[-3000:]
    engine = make_engine(pg_url)
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(InboxUpdate)
                                 .where(InboxUpdate.handled_at.is_(None))) == 0
    await engine.dispose()


def test_gunicorn_refuses_sqlite_with_two_workers_in_one_line(tmp_path: Path) -> None:
    import subprocess

    env = bot_env(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", api_url="http://127.0.0.1:9", WORKERS="2",
                  WEBHOOK_URL="https://bot.example.org/tg", WEBHOOK_SECRET="s")
    done = subprocess.run(GUNICORN, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == ("delegate-bot: configuration error: DATABASE_URL: 2 workers need PostgreSQL "
                                   "(SQLite serves one process)")
