"""SQLite's writers in one process queue on the engine's write gate (storage.db._WriteGate) instead of polling
SQLite's lock: every write lands, and the gate is free again after commits, rollbacks and abandoned sessions."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import column, func, insert, select, table, text

from storage.db import make_engine, make_sessionmaker, write_gate

T = table("t", column("id"), column("v"))


async def test_concurrent_writers_all_land_and_the_gate_is_free_afterwards(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/gate.db")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)"))
        sessions = make_sessionmaker(engine)

        async def write(i: int) -> None:
            async with sessions() as s:
                await s.execute(select(func.count()).select_from(T))  # a read takes no gate
                await s.execute(insert(T).values(id=i, v=0))
                await asyncio.sleep(0)  # others queue meanwhile
                await s.execute(T.update().where(T.c.id == i).values(v=1))
                if i % 5 == 0:
                    await s.rollback()
                elif i % 7 == 0:
                    return  # closed without commit: the session's close rolls back
                else:
                    await s.commit()

        await asyncio.gather(*(write(i) for i in range(60)))
        async with sessions() as s:
            stored = set(await s.scalars(select(T.c.id).where(T.c.v == 1)))
        assert stored == {i for i in range(60) if i % 5 and i % 7}
        gate = write_gate(engine)
        assert gate is not None and not gate.held
        # Free again: one more writer goes straight through.
        async with sessions() as s:
            await asyncio.wait_for(s.execute(insert(T).values(id=1000, v=1)), 5)
            await s.commit()
    finally:
        await engine.dispose()
