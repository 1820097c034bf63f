"""Engine, sessions and migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import ORMExecuteState, Session

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create the engine; SQLite gets WAL and a busy timeout so the sender and handlers can share it.

    synchronous=NORMAL in WAL mode: a commit is written to the WAL file but not fsynced, so it survives the
    process being killed (the operating system has the pages), and a power cut or kernel crash can lose the
    last transactions before the next checkpoint (never corrupts the file). docs/architecture.md says so."""
    if url.startswith("sqlite"):
        # No ROLLBACK when a connection goes back to the pool: sessions and connections end their own
        # transaction (commit, rollback, or close), and each aiosqlite call is a thread round trip.
        engine = create_async_engine(url, connect_args={"timeout": 30}, pool_reset_on_return=None, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


@event.listens_for(Session, "after_flush")
def _mark_unsaved(session: Session, _ctx: Any) -> None:
    session.info["unsaved"] = True


@event.listens_for(Session, "do_orm_execute")
def _mark_statement(state: ORMExecuteState) -> None:
    # Core writes (delete(...), upserts) do not go through the flush: note them too.
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info["unsaved"] = True


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _mark_saved(session: Session) -> None:
    session.info.pop("unsaved", None)


def has_unsaved_work(session: AsyncSession) -> bool:
    """Whether the session holds changes not yet committed (pending objects or flushed statements)."""
    return bool(session.new or session.dirty or session.deleted or session.info.get("unsaved"))


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def _upgrade(conn: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest migration (run at start-up)."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)
