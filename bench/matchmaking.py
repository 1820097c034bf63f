"""Benchmark: matchmaking use cases with many host cities (services/matchmaking.py against a real database).

    python -m bench.matchmaking                           # SQLite file, 300 hosts, 1,000 requesters
    python -m bench.matchmaking --hosts 1000 --requesters 3000
    python -m bench.matchmaking --url postgresql+asyncpg://postgres@127.0.0.1:5432/test   # a throwaway database

Prints the median milliseconds of: the /meet directory (first page), a city's card, one booking (its own
transaction, with the host's notice), and the wall time of 50 requesters pressing one slot at once (one wins).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from domain.errors import ServiceError
from domain.event import load_event
from services import matchmaking as mm_uc
from storage.db import make_engine, make_sessionmaker, migrate
from storage.models import MmAvailability
from storage.repo import Delegates
from storage.uow import UnitOfWorkFactory
from testkit.databases import throwaway_database
from testkit.people import delegate

EVENT_FILE = Path(__file__).resolve().parent.parent / "events" / "excom2020.toml"
NOW = datetime(2020, 10, 28, 12, 0, tzinfo=ZoneInfo("Europe/Moscow"))
SLOTS = ("1040", "1050", "1100", "1110", "1120")


async def run(url: str, hosts: int, requesters: int, rounds: int) -> None:
    event = load_event(EVENT_FILE)
    engine = make_engine(url)
    await migrate(engine)
    sessions = make_sessionmaker(engine)
    uows = UnitOfWorkFactory(sessions)
    async with sessions() as s:
        repo = Delegates(s)
        for uid in range(1, hosts + 1):
            await repo.save(delegate(uid, participant_type="local_gov", matchmaking=True, city=f"City {uid}"), NOW)
        for uid in range(100_001, 100_001 + requesters):
            await repo.save(delegate(uid, participant_type="partner"), NOW)
        s.add_all(MmAvailability(user_id=h, slot_id=slot, created_at=NOW) for h in range(1, hosts + 1)
                  for slot in SLOTS)
        await s.commit()

    async def timed(fn) -> list[float]:
        times = []
        for n in range(rounds):
            t = time.perf_counter()
            await fn(n)
            times.append((time.perf_counter() - t) * 1000)
        return times

    async def directory(n: int) -> None:
        async with uows() as uow:
            await mm_uc.directory(uow, event, 100_001 + n)

    async def card(n: int) -> None:
        async with uows() as uow:
            await mm_uc.host_card(uow, event, 100_001 + n, 1 + n % hosts, ())

    async def book(n: int) -> None:
        async with uows() as uow:
            profile = await uow.delegates.get(100_001 + n)
            await mm_uc.book(uow, event, profile, 1 + n % hosts, SLOTS[n // hosts % 5], NOW)

    print(f"matchmaking on {url.split(':')[0]}: {hosts} hosts x {len(SLOTS)} slots, {requesters} requesters")
    for name, fn in (("directory (/meet)", directory), ("city card", card), ("book one slot", book)):
        ms = await timed(fn)
        print(f"  {name:<20} median {statistics.median(ms):7.2f} ms  max {max(ms):7.2f} ms  ({rounds} runs)")

    async def press(uid: int) -> bool:
        async with uows() as uow:
            profile = await uow.delegates.get(uid)
            try:
                await mm_uc.book(uow, event, profile, hosts, "1120", NOW)
            except ServiceError:
                return False
            return True

    crowd = range(100_001 + rounds, 100_001 + rounds + 50)
    t = time.perf_counter()
    won = sum(await asyncio.gather(*(press(uid) for uid in crowd)))
    print(f"  50 presses on one slot at once: {won} booking, {(time.perf_counter() - t) * 1000:.0f} ms in all")
    await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=300)
    parser.add_argument("--requesters", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--url", help="a PostgreSQL server URL: the bench runs in a throwaway database on it")
    args = parser.parse_args()
    if args.url:
        async with throwaway_database(args.url) as url:
            await run(url, args.hosts, args.requesters, args.rounds)
        return
    with tempfile.TemporaryDirectory() as d:
        await run(f"sqlite+aiosqlite:///{d}/bench.db", args.hosts, args.requesters, args.rounds)


if __name__ == "__main__":
    asyncio.run(main())
