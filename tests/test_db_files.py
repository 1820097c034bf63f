"""The SQLite database holds names and e-mails: its files are the bot's alone (issue 8, item 11)."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.db import make_engine, migrate


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The common default: files readable by everyone unless the program says otherwise."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def test_a_new_database_and_its_wal_and_shm_files_are_0600(tmp_path: Path, usual_umask: None) -> None:
    db = tmp_path / "bot.db"
    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    try:
        await migrate(engine)
        async with engine.connect() as conn:  # WAL mode: -wal and -shm exist while a connection is open
            for suffix in ("", "-wal", "-shm"):
                path = Path(f"{db}{suffix}")
                assert mode(path) == 0o600, (suffix, oct(mode(path)))
            await conn.close()
    finally:
        await engine.dispose()


async def test_an_existing_world_readable_database_is_tightened_and_said_so(
        tmp_path: Path, usual_umask: None, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:  # as an older version left it: 0644
        conn.execute("create table t (x)")
    conn.close()
    assert mode(db) == 0o644
    with caplog.at_level(logging.WARNING, logger="storage.db"):
        engine = make_engine(f"sqlite+aiosqlite:///{db}")
        try:
            await migrate(engine)
        finally:
            await engine.dispose()
    assert mode(db) == 0o600
    assert any(str(db) in r.getMessage() and "0o644" in r.getMessage() for r in caplog.records), caplog.text
