"""The migrations build exactly the models' schema, on SQLite and on PostgreSQL; the outbox on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from delivery.scheduler import PgAdvisoryLock
from domain.messages import SENDING, NewMessage
from storage.db import make_engine, make_sessionmaker, migrate
from storage.models import Base
from storage.outbox import Outbox

NOW = datetime(2020, 11, 17, 6, 0, tzinfo=UTC)


def _differences(conn: Connection) -> list[Any]:
    ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
    return compare_metadata(ctx, Base.metadata)


async def _check_schema(url: str) -> None:
    engine = make_engine(url)
    try:
        await migrate(engine)
        await migrate(engine)  # running them again is a no-op
        async with engine.connect() as conn:
            assert await conn.run_sync(_differences) == []
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {"outbox", "program_snapshot", "delegates", "follows"} <= tables
    finally:
        await engine.dispose()


async def test_migrations_match_the_models_on_sqlite(tmp_path: Path) -> None:
    await _check_schema(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")


@pytest.mark.postgres
async def test_migrations_match_the_models_on_postgresql(pg_url: str) -> None:
    await _check_schema(pg_url)


def _messages(n: int) -> list[NewMessage]:
    return [NewMessage(f"k{i}", 1000 + i, "test", "test", NOW, {"i": i}) for i in range(n)]


@pytest.mark.postgres
async def test_postgresql_senders_claim_disjoint_rows_and_one_process_leads(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        await migrate(engine)
        sessions = make_sessionmaker(engine)
        async with sessions() as s:
            assert await Outbox(s).add(_messages(50), NOW) == 50
            assert await Outbox(s).add(_messages(60), NOW) == 10  # insert-or-ignore on PostgreSQL too
            await s.commit()

        async def claimer() -> list[int]:
            got: list[int] = []
            while True:
                async with sessions() as s:
                    rows = await Outbox(s).claim(NOW, datetime.now(UTC), timedelta(minutes=1), 7)
                    await asyncio.sleep(0.01)  # hold the row locks a moment, as a sender would
                    await s.commit()
                if not rows:
                    return got
                got += [r.id for r in rows]

        results = await asyncio.gather(*(claimer() for _ in range(4)))
        claimed = [i for r in results for i in r]
        assert len(claimed) == 60 and len(set(claimed)) == 60  # FOR UPDATE SKIP LOCKED: nobody twice
        async with sessions() as s:
            assert (await Outbox(s).report(topic="test"))[SENDING] == 60

        first, second = PgAdvisoryLock(engine), PgAdvisoryLock(engine)
        assert await first.acquire()
        assert not await second.acquire()
        await first.release()
        assert await second.acquire()
        await second.release()
    finally:
        await engine.dispose()
