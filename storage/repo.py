"""Repositories: they read and flush; the caller (one unit of work per update) commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.registration import Profile
from storage.models import Base, Delegate, Follow, LatePass

_PROFILE_FIELDS = (
    "user_id", "language", "full_name", "position", "organisation", "city", "country", "participant_type",
    "email", "timezone", "matchmaking", "city_id", "username", "registered_at", "registered_by",
)


def _to_profile(row: Delegate) -> Profile:
    return Profile(**{f: getattr(row, f) for f in _PROFILE_FIELDS})


class Delegates:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def get(self, user_id: int) -> Profile | None:
        row = await self.s.get(Delegate, user_id)
        return _to_profile(row) if row else None

    async def save(self, profile: Profile, now: datetime) -> Profile:
        """Insert or update; consent is recorded at the first save."""
        row = await self.s.get(Delegate, profile.user_id)
        if row is None:
            row = Delegate(user_id=profile.user_id, consent_at=now, registered_at=now)
            self.s.add(row)
        for f in _PROFILE_FIELDS:
            if f in ("user_id", "registered_at"):
                continue
            setattr(row, f, getattr(profile, f))
        row.updated_at = now
        row.blocked_at = None  # they are talking to us again
        await self.s.flush()
        return _to_profile(row)

    async def update_fields(self, user_id: int, now: datetime, **values: object) -> Profile | None:
        row = await self.s.get(Delegate, user_id)
        if row is None:
            return None
        for name, value in values.items():
            if name not in _PROFILE_FIELDS or name in ("user_id", "registered_at"):
                raise ValueError(f"not an editable field: {name}")
            setattr(row, name, value)
        row.updated_at = now
        await self.s.flush()
        return _to_profile(row)

    async def delete(self, user_id: int) -> bool:
        result = await self.s.execute(delete(Delegate).where(Delegate.user_id == user_id))
        return bool(result.rowcount)

    async def count(self) -> int:
        return int(await self.s.scalar(select(func.count()).select_from(Delegate)) or 0)

    async def mark_blocked(self, user_id: int, now: datetime) -> None:
        row = await self.s.get(Delegate, user_id)
        if row is not None and row.blocked_at is None:
            row.blocked_at = now
            await self.s.flush()


class LatePasses:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def has(self, user_id: int) -> bool:
        return await self.s.get(LatePass, user_id) is not None

    async def grant(self, user_id: int, by: int, now: datetime) -> bool:
        """True when the pass is new (granting twice is harmless)."""
        if await self.has(user_id):
            return False
        self.s.add(LatePass(user_id=user_id, granted_by=by, granted_at=now))
        await self.s.flush()
        return True


async def forget_person(session: AsyncSession, user_id: int) -> int:
    """Delete every row about a person: each table with a user_id column (features added later included).

    Returns the number of rows deleted. Conversation state is cleared by the caller (it may live in Redis).
    """
    deleted = 0
    for table in reversed(Base.metadata.sorted_tables):
        if "user_id" in table.c:
            result = await session.execute(delete(table).where(table.c.user_id == user_id))
            deleted += result.rowcount or 0
    return deleted


class Follows:
    """Which program items a delegate follows."""

    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def is_following(self, user_id: int, item_id: str) -> bool:
        return await self.s.get(Follow, (user_id, item_id)) is not None

    async def items(self, user_id: int) -> set[str]:
        rows = await self.s.scalars(select(Follow.item_id).where(Follow.user_id == user_id))
        return set(rows)

    async def follow(self, user_id: int, item_id: str, now: datetime) -> bool:
        """True when newly followed (following twice is harmless)."""
        if await self.is_following(user_id, item_id):
            return False
        self.s.add(Follow(user_id=user_id, item_id=item_id, created_at=now))
        await self.s.flush()
        return True

    async def unfollow(self, user_id: int, item_id: str) -> bool:
        result = await self.s.execute(delete(Follow).where(Follow.user_id == user_id, Follow.item_id == item_id))
        return bool(result.rowcount)

    async def followers(self, item_id: str) -> list[int]:
        rows = await self.s.scalars(select(Follow.user_id).where(Follow.item_id == item_id))
        return list(rows)
