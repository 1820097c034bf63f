"""The web console's sign-in links and sessions (table console_tokens). Flush only; the use case commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import rowcount
from storage.models import ConsoleToken

LINK, SESSION = "link", "session"


class ConsoleTokens:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def add(self, token_hash: str, kind: str, user_id: int, now: datetime, expires_at: datetime,
                  csrf: str | None = None) -> None:
        self.s.add(ConsoleToken(id=token_hash, kind=kind, user_id=user_id, created_at=now, expires_at=expires_at,
                                csrf=csrf))
        await self.s.flush()

    async def use_link(self, token_hash: str, user_id: int, now: datetime) -> bool:
        """Mark a link used; False when it is unknown, someone else's, expired or used already (one UPDATE,
        so two tabs opening one link cannot both win)."""
        result = await self.s.execute(
            update(ConsoleToken)
            .where(ConsoleToken.id == token_hash, ConsoleToken.kind == LINK, ConsoleToken.user_id == user_id,
                   ConsoleToken.used_at.is_(None), ConsoleToken.expires_at > now)
            .values(used_at=now).execution_options(synchronize_session=False))
        return bool(rowcount(result))

    async def session(self, token_hash: str, now: datetime) -> tuple[int, str] | None:
        """(organiser id, CSRF token) of a live session."""
        row = await self.s.scalar(select(ConsoleToken).where(
            ConsoleToken.id == token_hash, ConsoleToken.kind == SESSION, ConsoleToken.expires_at > now))
        return (row.user_id, row.csrf or "") if row is not None else None

    async def end(self, token_hash: str) -> int:
        result = await self.s.execute(delete(ConsoleToken).where(ConsoleToken.id == token_hash))
        return rowcount(result)

    async def end_expired(self, now: datetime) -> int:
        result = await self.s.execute(delete(ConsoleToken).where(ConsoleToken.expires_at <= now))
        return rowcount(result)
