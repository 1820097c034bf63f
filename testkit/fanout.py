"""A reminder fan-out run by `python -m bot` as a process: the setup shared by tests/test_outage.py and
tests/test_restart.py (people who follow sessions, written before the bot starts; the bot started against a
fake Bot API with its log in a file; the outbox's figures afterwards)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from storage.db import make_engine, make_sessionmaker, migrate
from storage.models import OutboxMessage
from storage.repo import Delegates, Follows, Reminders
from testkit.fake_botapi import FakeBotAPI
from testkit.people import delegate
from testkit.processes import bot_env, spawn_bot

# When the people registered and followed (the rehearsal's start: 1 Nov 2020 10:00 GMT+3).
REGISTERED = datetime.fromisoformat("2020-11-01T10:00:00+03:00")


def database_url(folder: Path) -> str:
    """The bot's SQLite file in the test's folder."""
    return f"sqlite+aiosqlite:///{folder / 'bot.db'}"


async def seed_followers(folder: Path, follows: Mapping[str, Iterable[int]], *,
                         leads: Mapping[str, int] | None = None, timezone: str = "Asia/Seoul") -> None:
    """Registered people, each following one program item (`follows`: item id -> user ids), with the lead of
    `leads[item]` minutes where given (the default lead otherwise); the schema from the bot's migrations."""
    engine = make_engine(database_url(folder))
    try:
        await migrate(engine)
        async with make_sessionmaker(engine)() as s:
            for item, uids in follows.items():
                lead = (leads or {}).get(item)
                for uid in uids:
                    await Delegates(s).save(delegate(uid, timezone=timezone, full_name="Test Delegate"), REGISTERED)
                    await Follows(s).follow(uid, item, REGISTERED)
                    if lead is not None:
                        await Reminders(s).update(uid, REGISTERED, lead=lead)
            await s.commit()
    finally:
        await engine.dispose()


async def start_bot(folder: Path, api: FakeBotAPI, log: str, *, clock_start: str, clock_speed: float = 1,
                    send_rate: float = 25) -> asyncio.subprocess.Process:
    """`python -m bot` polling `api` on a rehearsal clock from `clock_start`; its stderr in `folder/log`."""
    env = bot_env(database_url(folder), api_url=api.url, CLOCK_START=clock_start, CLOCK_SPEED=str(clock_speed),
                  SEND_RATE=str(send_rate))
    with (folder / log).open("wb") as err:
        return await spawn_bot(folder, env, stdout=asyncio.subprocess.DEVNULL, stderr=err)


async def outbox_counts(folder: Path) -> Counter[tuple[str, str]]:
    """How many outbox rows there are per (topic, status)."""
    engine = make_engine(database_url(folder))
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(select(OutboxMessage.topic, OutboxMessage.status, func.count())
                                      .group_by(OutboxMessage.topic, OutboxMessage.status))
            return Counter({(topic, status): n for topic, status, n in rows})
    finally:
        await engine.dispose()
