"""Engine, sessions and migrations."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from alembic import command
from alembic.config import Config
from sqlalchemy import event, make_url, text
from sqlalchemy.engine import Connection, CursorResult, Result
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
log = logging.getLogger(__name__)

# The database holds names and e-mails: only the bot's own user may read it.
PRIVATE_MODE = 0o600
SQLITE_SIDECARS = ("-wal", "-shm", "-journal")


class DatabaseInUse(Exception):
    """Another process already runs on this SQLite file."""


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL (None for PostgreSQL or an in-memory database)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:") \
            or parsed.query.get("mode") == "memory":
        return None
    return Path(parsed.database).absolute()


def _tighten(path: Path) -> None:
    """Make an existing file 0600, saying so when it was readable by others."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        os.chmod(path, PRIVATE_MODE)
        log.warning("%s was readable by other users (mode %s): now %s", path, oct(mode), oct(PRIVATE_MODE))


def secure_sqlite_file(path: Path) -> None:
    """Create the database file 0600 before SQLite does (it would use 0644), or tighten an existing one.

    SQLite gives the -wal and -shm files the database file's own mode, so they follow; old ones are tightened.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # created by a concurrent start: tightened below
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_MODE))
    for file in (path, *(path.with_name(path.name + s) for s in SQLITE_SIDECARS)):
        _tighten(file)


@contextlib.contextmanager
def hold_sqlite_lock(url: str) -> Iterator[None]:
    """Hold an exclusive lock on `<db>.lock` for the process's life; raise DatabaseInUse if another holds it.

    SQLite is the single-process setup (one scheduler, one sender); PostgreSQL needs no such lock. The
    operating system drops the lock when the process ends, however it ends (kill -9 included).
    """
    path = sqlite_path(url)
    if path is None:
        yield
        return
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(path.name + ".lock")
    fd = os.open(lock, os.O_CREAT | os.O_RDWR, PRIVATE_MODE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DatabaseInUse(
                f"another bot process is already running on {path} (SQLite serves one process; "
                f"stop the other one, or use PostgreSQL to run several)") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create the engine; SQLite gets WAL and a busy timeout so the sender and handlers can share it.

    synchronous=NORMAL in WAL mode: a commit is written to the WAL file but not fsynced, so it survives the
    process being killed (the operating system has the pages), and a power cut or kernel crash can lose the
    last transactions before the next checkpoint (never corrupts the file). docs/architecture.md says so.
    SQL errors leave their parameters out (they would carry names and e-mails into the log).
    """
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path is not None:
            secure_sqlite_file(path)
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
            # SQLite's own lower() folds ASCII only: "ИВАН" stayed "ИВАН" and organisers' searches found
            # nobody. Python's str.lower folds every script, as PostgreSQL's lower() does.
            dbapi_conn.create_function("lower", 1, _lower, deterministic=True)
            if path is not None:
                # -wal and -shm exist from here on; ones left by an older version may be wider.
                for suffix in ("-wal", "-shm"):
                    _tighten(path.with_name(path.name + suffix))

        event.listen(engine.sync_engine, "after_cursor_execute", _mark_statement)
        _WriteGate().install(engine)
        return engine
    engine = create_async_engine(url, pool_pre_ping=True, **kwargs)
    event.listen(engine.sync_engine, "after_cursor_execute", _mark_statement)
    return engine


# How long a writer waits for the gate before going on without it (SQLite's own lock and busy timeout still
# apply): a transaction that holds it longer (a big fan-out) only costs the others their place in the queue.
GATE_WAIT = 2.0


class _WriteGate:
    """SQLite has one writer at a time; a connection that finds the write lock taken sleeps in SQLite's busy
    handler (1, 2, 5, ... 100 ms) and polls, so under a burst of updates writers wait longer than the writes
    take and in no order. The gate queues this process's writers on an asyncio lock instead: a connection
    takes it before its transaction's first INSERT/UPDATE/DELETE and gives it back at commit, rollback or
    when it goes back to the pool; the next writer starts as soon as the previous one commits. Only a
    scheduling aid: SQLite's own locking is what keeps the data right (another process, or a writer that
    waited GATE_WAIT, goes to it directly)."""

    def __init__(self) -> None:
        self._lock: Any = None
        self._loop: Any = None
        self._owner: int | None = None

    @property
    def held(self) -> bool:
        return self._lock is not None and self._lock.locked()

    def install(self, engine: AsyncEngine) -> None:
        sync = engine.sync_engine
        _gates[sync] = self
        event.listen(sync, "before_cursor_execute", self._before_execute)
        # Given back once COMMIT (or ROLLBACK) has returned, i.e. once SQLite's own lock is free.
        dialect = sync.dialect
        commit, rollback = dialect.do_commit, dialect.do_rollback

        def do_commit(dbapi_connection: Any) -> None:
            try:
                commit(dbapi_connection)
            finally:
                self._end(dbapi_connection)

        def do_rollback(dbapi_connection: Any) -> None:
            try:
                rollback(dbapi_connection)
            finally:
                self._end(dbapi_connection)

        dialect.do_commit = do_commit  # type: ignore[method-assign]  # wrapped in place for this engine
        dialect.do_rollback = do_rollback  # type: ignore[method-assign]  # wrapped in place for this engine
        event.listen(sync.pool, "checkin", self._checkin)
        event.listen(sync.pool, "invalidate", self._checkin)

    def _before_execute(self, conn: Connection, _cursor: Any, _statement: str, _params: Any, context: Any,
                        _executemany: bool) -> None:
        if context is None or not (context.isinsert or context.isupdate or context.isdelete):
            return
        key = id(conn.connection.dbapi_connection)
        if self._owner == key:
            return
        import asyncio

        from sqlalchemy.util import await_only

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if loop is not self._loop:  # a new event loop (tests): a new lock
            self._lock, self._loop, self._owner = asyncio.Lock(), loop, None
        lock = self._lock
        try:
            await_only(asyncio.wait_for(lock.acquire(), GATE_WAIT) if lock.locked() else lock.acquire())
        except TimeoutError:
            return
        except Exception:  # not in an async context (a sync run): SQLite's lock alone
            return
        self._owner = key

    def _release(self, key: int) -> None:
        if self._owner == key and self._lock is not None and self._lock.locked():
            self._owner = None
            self._lock.release()

    def _end(self, fairy: Any) -> None:
        self._release(id(getattr(fairy, "dbapi_connection", fairy)))

    def _checkin(self, dbapi_conn: Any, _record: Any, *_: Any) -> None:
        self._release(id(dbapi_conn))


_gates: weakref.WeakKeyDictionary[Any, _WriteGate] = weakref.WeakKeyDictionary()


def write_gate(engine: AsyncEngine) -> _WriteGate | None:
    """The engine's write gate (SQLite), for tests."""
    return _gates.get(engine.sync_engine)


@event.listens_for(Session, "after_flush")
def _mark_unsaved(session: Session, _ctx: Any) -> None:
    session.info["unsaved"] = True


@event.listens_for(Session, "after_begin")
def _link_connection(session: Session, _transaction: Any, connection: Connection) -> None:
    # Statements run on the session's connection directly (Core inserts of many rows) bypass the flush;
    # the connection points at its session so that _mark_statement can note them (the next session to
    # begin on the pooled connection takes the pointer over).
    connection.info["session_info"] = session.info


def _mark_statement(conn: Connection, _cursor: Any, _statement: str, _params: Any, context: Any,
                    _executemany: bool) -> None:
    if context is not None and (context.isinsert or context.isupdate or context.isdelete):
        owner = conn.info.get("session_info")
        if owner is not None:
            owner["unsaved"] = True


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _mark_saved(session: Session) -> None:
    session.info.pop("unsaved", None)



def has_unsaved_work(session: AsyncSession | Session) -> bool:
    """Whether the session holds changes not yet committed (pending objects or flushed statements)."""
    return bool(session.new or session.dirty or session.deleted or session.info.get("unsaved"))


# What a session's `info` may hold with nothing for a commit to do: the inbox's ticket (storage.inbox.attach).
_IDLE_INFO = frozenset({"inbox_ticket"})


def untouched(session: AsyncSession) -> bool:
    """Nothing for a commit or a close to do: no transaction began (no statement ran, no connection was
    taken), nothing pending, no object loaded, nothing noted for the commit hooks. A known person's update
    answered from the caches leaves its session so; committing and closing it anyway cost two greenlet
    round trips (about 50 us) per update (issue 18)."""
    return not (session.in_transaction() or session.identity_map or has_unsaved_work(session)
                or session.info.keys() - _IDLE_INFO)


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


MIGRATION_LOCK = 0x6D696772  # pg_advisory_xact_lock key: "migr"


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest migration (run at start-up, and by `python -m bot migrate`)."""
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":  # workers starting together migrate one after the other
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        await conn.run_sync(_upgrade)


def rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE matched. SQLAlchemy types `execute()` as a `Result`; for such statements it
    is a `CursorResult`, which has the count (0 when the driver does not say)."""
    return cast("CursorResult[Any]", result).rowcount or 0
