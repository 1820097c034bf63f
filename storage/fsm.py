"""aiogram FSM storage in the bot's own database, so a conversation survives a restart."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StateType, StorageKey
from sqlalchemy import BigInteger, bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.cache import MISSING, PROFILES, STATES, caches_of, read_through, touch, touched
from storage.models import Delegate, FsmRecord
from storage.repo import profile_of, reminder_settings_of

# The session of the update being handled (set by DbSessionMiddleware). State written while handling an
# update goes into that session, so the state and the data the handler stored commit (or roll back)
# together, and SQLite never sees two writers inside one update.
CURRENT_SESSION: ContextVar[AsyncSession | None] = ContextVar("current_session", default=None)

# (state, data) as committed; None when the person has no row (no state, no data).
Value = tuple[str | None, dict[str, Any]] | None
_DECLARED = {"cache_keys_declared": True}


def _preload_statement() -> Any:
    """A person's profile and state in one row, whichever of them exists: built once (building it for every
    first contact was a quarter of that update's cost, issue 18); the person and the key are parameters."""
    person = select(bindparam("uid", type_=BigInteger).label("uid")).subquery()
    return (select(FsmRecord.state, FsmRecord.data, FsmRecord.key, Delegate)
            .select_from(person.outerjoin(Delegate, Delegate.user_id == person.c.uid)
                         .outerjoin(FsmRecord, FsmRecord.key == bindparam("key", type_=FsmRecord.key.type))))


_PRELOAD = _preload_statement()


class SQLStorage(BaseStorage):
    """FSM storage in the bot's database; outside an update each change commits at once.

    Reads come from the process cache (storage.cache) when the key is known there; a miss is one SELECT of
    the two columns (no ORM row, so no identity map that forgets it between reads). What this transaction
    wrote is read back from `session.info`. Writes are one statement (an upsert, or a delete when nothing is
    left), and the committed value goes into the cache at commit.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], key_builder: KeyBuilder | None = None):
        self._sessions = sessions
        self._keys = key_builder or DefaultKeyBuilder(with_destiny=True)

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        current = CURRENT_SESSION.get()
        if current is not None:
            yield current
            return
        async with self._sessions() as s, s.begin():
            yield s

    @staticmethod
    async def _value(s: AsyncSession, key: str) -> Value:
        written: dict[str, Value] = s.sync_session.info.get("fsm_written", {})
        if key in written:
            return written[key]

        async def load() -> Value:
            row = (await s.execute(select(FsmRecord.state, FsmRecord.data).where(FsmRecord.key == key))).first()
            return (row[0], dict(row[1] or {})) if row is not None else None

        return await read_through(s, STATES, lambda c: c.states, key, load)

    async def _get(self, key: StorageKey) -> Value:
        async with self._session() as s:
            return await self._value(s, self._keys.build(key))

    async def _put(self, key: StorageKey, **values: Any) -> None:
        # No row lock: updates of one person are serialised by PersonLockMiddleware.
        k = self._keys.build(key)
        async with self._session() as s:
            old = await self._value(s, k)
            state = values["state"] if "state" in values else (old[0] if old else None)
            data = values["data"] if "data" in values else (old[1] if old else {})
            new: Value = None if state is None and not data else (state, dict(data))
            if new == old:
                return  # nothing changes: no statement, no commit before the reply
            touch(s, STATES, k)
            if new is None:
                await s.execute(delete(FsmRecord).where(FsmRecord.key == k), execution_options=_DECLARED)
            else:
                row = {"key": k, "state": new[0], "data": new[1], "updated_at": datetime.now(UTC)}
                dialect = s.sync_session.get_bind().dialect.name
                insert = pg_insert if dialect == "postgresql" else sqlite_insert
                stmt = insert(FsmRecord).values(**row)
                stmt = stmt.on_conflict_do_update(index_elements=[FsmRecord.key], set_={
                    "state": stmt.excluded.state, "data": stmt.excluded.data, "updated_at": stmt.excluded.updated_at})
                await s.execute(stmt, execution_options=_DECLARED)
            s.sync_session.info.setdefault("fsm_written", {})[k] = new
            s.sync_session.info["unsaved"] = True  # the use case commits it before the reply (bot/durability.py checks)

    async def preload(self, s: AsyncSession, key: StorageKey, user_id: int) -> None:
        """Read a person's profile and conversation state in one statement when neither is cached (the first
        update of a person since the start): the update then reads both from the cache."""
        caches = caches_of(s)
        k = self._keys.build(key)
        if caches is None or touched(s, STATES, MISSING) or touched(s, PROFILES, MISSING):
            return
        if caches.states.get(k) is not MISSING or caches.profiles.get(user_id) is not MISSING:
            return  # one of them is cached: the other costs one statement anyway
        generation = caches.generation
        row = (await s.execute(_PRELOAD, {"uid": user_id, "key": k})).first()
        if row is None or caches.generation != generation:
            return
        state_value: Value = (row[0], dict(row[1] or {})) if row[2] is not None else None
        caches.states.put(k, state_value)
        caches.profiles.put(user_id, profile_of(row[3]) if row[3] is not None else None)
        caches.settings.put(user_id, reminder_settings_of(row[3]) if row[3] is not None else None)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        await self._put(key, state=value)

    async def get_state(self, key: StorageKey) -> str | None:
        value = await self._get(key)
        return value[0] if value else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._put(key, data=dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        value = await self._get(key)
        return dict(value[1]) if value and value[1] else {}

    async def close(self) -> None:
        return None
