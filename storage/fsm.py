"""aiogram FSM storage in the bot's own database, so a conversation survives a restart."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StateType, StorageKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import FsmRecord

# The session of the update being handled (set by DbSessionMiddleware). State written while handling an
# update goes into that session, so the state and the data the handler stored commit (or roll back)
# together, and SQLite never sees two writers inside one update.
CURRENT_SESSION: ContextVar[AsyncSession | None] = ContextVar("current_session", default=None)


class SQLStorage(BaseStorage):
    """FSM storage in the bot's database; outside an update each change commits at once."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], key_builder: KeyBuilder | None = None):
        self._sessions = sessions
        self._keys = key_builder or DefaultKeyBuilder(with_destiny=True)

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        current = CURRENT_SESSION.get()
        if current is not None:
            yield current
            await current.flush()
            return
        async with self._sessions() as s, s.begin():
            yield s

    @staticmethod
    async def _row(s: AsyncSession, key: str) -> FsmRecord | None:
        """The state row; the session's identity map caches a found row, `info` caches "no row"."""
        missing: set[str] = s.info.setdefault("fsm_missing", set())
        if key in missing:
            return None
        row = await s.get(FsmRecord, key)
        if row is None:
            missing.add(key)
        return row

    async def _get(self, key: StorageKey) -> FsmRecord | None:
        async with self._session() as s:
            return await self._row(s, self._keys.build(key))

    async def _put(self, key: StorageKey, **values: Any) -> None:
        # No row lock: updates of one person are serialised by the dispatcher's events isolation.
        k = self._keys.build(key)
        async with self._session() as s:
            row = await self._row(s, k)
            state = values.get("state", row.state if row else None)
            data = values.get("data", row.data if row else {})
            if state is None and not data:
                if row is not None:
                    await s.delete(row)  # nothing left to remember: keep no row
                    s.info["fsm_missing"].add(k)
                return
            if row is None:
                s.add(FsmRecord(key=k, state=state, data=data, updated_at=datetime.now(UTC)))
                s.info["fsm_missing"].discard(k)
                return
            row.state, row.data, row.updated_at = state, data, datetime.now(UTC)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        await self._put(key, state=value)

    async def get_state(self, key: StorageKey) -> str | None:
        row = await self._get(key)
        return row.state if row else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._put(key, data=dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        row = await self._get(key)
        return dict(row.data) if row and row.data else {}

    async def close(self) -> None:
        return None
