"""Throwaway databases for tests and benchmarks."""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path


@contextlib.asynccontextmanager
async def throwaway_database(url: str, *, prefix: str = "t") -> AsyncIterator[str]:
    """A fresh PostgreSQL database on the server of `url` (whose user may CREATE DATABASE), as a URL of the
    same driver; dropped afterwards, also when the body raises."""
    import asyncpg  # type: ignore[import-untyped]  # only PostgreSQL runs need it

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    head, _, _tail = url.rpartition("/")
    try:
        yield f"{head}/{name}"
    finally:
        admin = await asyncpg.connect(dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@contextlib.asynccontextmanager
async def throwaway_sqlite(*, prefix: str = "t-") -> AsyncIterator[str]:
    """A SQLite file in a temporary folder, as an aiosqlite URL; removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield f"sqlite+aiosqlite:///{Path(tmp) / 'bot.db'}"
