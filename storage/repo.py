"""Repositories: they read and flush; the caller (one unit of work per update) commits."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, delete, exists, func, or_, select
from sqlalchemy import false as sa_false
from sqlalchemy.ext.asyncio import AsyncSession

from domain.registration import Profile, guest_profile
from storage.cache import FOLLOWS, MISSING, PROFILES, caches_of, read_through, touch, touched
from storage.db import rowcount
from storage.models import Base, Delegate, Follow, Guest, LatePass, ProgramSnapshot

_PROFILE_FIELDS = (
    "user_id", "language", "full_name", "position", "organisation", "city", "country", "participant_type",
    "email", "timezone", "matchmaking", "city_id", "username", "registered_at", "registered_by", "excom_status",
)
# Bulk look-ups go in chunks (SQLite allows a limited number of bound parameters).
_CHUNK = 500


def _to_profile(row: Delegate) -> Profile:
    return Profile(**{f: getattr(row, f) for f in _PROFILE_FIELDS}, blocked=row.blocked_at is not None)


def profile_of(row: Delegate) -> Profile:
    """The profile of a delegate row read elsewhere (storage.fsm's one-statement preload)."""
    return _to_profile(row)


def reminder_settings_of(row: Delegate) -> ReminderSettings:
    return ReminderSettings(int(row.reminder_lead), bool(row.reminders_on), bool(row.follow_all))


def _copy(profile: Profile | None) -> Profile | None:
    """Callers may change the profile they get (they do); the cached one stays as committed."""
    return replace(profile, extra=dict(profile.extra)) if profile is not None else None


class Delegates:
    """Delegates' profiles. `get` is served from the process cache (storage.cache) when the profile is known
    and this transaction has not written it; every write here is seen by the cache's session events."""

    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def get(self, user_id: int) -> Profile | None:
        caches = caches_of(self.s)
        if caches is None or touched(self.s, PROFILES, user_id) or touched(self.s, PROFILES, MISSING):
            row = await self.s.get(Delegate, user_id)
            return _to_profile(row) if row else None
        cached = caches.profiles.get(user_id)
        if cached is not MISSING:
            caches.hits += 1
            return _copy(cached)
        caches.misses += 1
        generation = caches.generation
        row = await self.s.get(Delegate, user_id)
        profile = _to_profile(row) if row else None
        if caches.generation == generation and not touched(self.s, PROFILES, user_id):
            caches.profiles.put(user_id, _copy(profile))
        return profile

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

    async def set_excom_status(self, user_id: int, status: str | None, *, by: int | None,
                               at: datetime | None) -> Profile | None:
        """Record an organiser's decision on an EXCOM claim (by/at None: the claim is undecided again)."""
        row = await self.s.get(Delegate, user_id)
        if row is None:
            return None
        row.excom_status, row.excom_decided_by, row.excom_decided_at = status, by, at
        await self.s.flush()
        return _to_profile(row)

    async def excom_claims(self, status: str, *, offset: int = 0, limit: int = 10) -> list[Profile]:
        """EXCOM claims with this status, oldest registration first (the organisers' queue)."""
        q = (select(Delegate).where(Delegate.participant_type == "excom", Delegate.excom_status == status)
             .order_by(Delegate.registered_at, Delegate.user_id).offset(offset).limit(limit))
        return [_to_profile(r) for r in await self.s.scalars(q)]

    async def count_excom_claims(self, status: str) -> int:
        q = select(func.count()).select_from(Delegate).where(Delegate.participant_type == "excom",
                                                             Delegate.excom_status == status)
        return int(await self.s.scalar(q) or 0)

    async def find(self, *, user_ids: Iterable[int] = (), emails: Iterable[str] = ()) -> list[Profile]:
        """Delegates with one of these ids or e-mails (e-mails compared without regard to case)."""
        ids, mails = sorted(set(user_ids)), sorted({e.lower() for e in emails})
        found: dict[int, Profile] = {}
        for start in range(0, len(ids), _CHUNK):
            for row in await self.s.scalars(select(Delegate).where(Delegate.user_id.in_(ids[start:start + _CHUNK]))):
                found[row.user_id] = _to_profile(row)
        for start in range(0, len(mails), _CHUNK):
            q = select(Delegate).where(func.lower(Delegate.email).in_(mails[start:start + _CHUNK]))
            for row in await self.s.scalars(q):
                found[row.user_id] = _to_profile(row)
        return [found[k] for k in sorted(found)]

    async def delete(self, user_id: int) -> bool:
        touch(self.s, PROFILES, user_id)
        touch(self.s, FOLLOWS, user_id)
        await self.s.execute(delete(Follow).where(Follow.user_id == user_id),
                             execution_options={"cache_keys_declared": True})
        result = await self.s.execute(delete(Delegate).where(Delegate.user_id == user_id),
                                      execution_options={"cache_keys_declared": True})
        return bool(rowcount(result))

    async def count(self) -> int:
        return int(await self.s.scalar(select(func.count()).select_from(Delegate)) or 0)

    async def mark_unblocked(self, user_id: int) -> None:
        """They wrote to the bot again, so they no longer block it: deliveries resume."""
        row = await self.s.get(Delegate, user_id)
        if row is not None and row.blocked_at is not None:
            row.blocked_at = None
            await self.s.flush()

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


def _guest_profile(row: Guest) -> Profile:
    return guest_profile(row.user_id, row.language, row.timezone, zone_chosen=row.zone_chosen,
                         blocked=row.blocked_at is not None)


class Guests:
    """People who could not register but set a language and a time zone, or followed a session."""

    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def get(self, user_id: int) -> Profile | None:
        """The guest as a Profile (participant type "guest", no personal fields), or None."""
        async def load() -> Profile | None:
            row = await self.s.get(Guest, user_id)
            return _guest_profile(row) if row else None

        found = await read_through(self.s, PROFILES, lambda c: c.guests, user_id, load)
        return _copy(found)

    async def save(self, user_id: int, now: datetime, *, language: str, timezone: str | None = None,
                   zone_chosen: bool = False) -> Profile:
        """Create the guest or change their language and (when given) time zone."""
        row = await self.s.get(Guest, user_id)
        if row is None:
            row = Guest(user_id=user_id, language=language, timezone=timezone or "UTC", zone_chosen=zone_chosen,
                        reminder_lead=10, reminders_on=True, follow_all=False, created_at=now)
            self.s.add(row)
        row.language = language
        if timezone is not None:
            row.timezone = timezone
            row.zone_chosen = row.zone_chosen or zone_chosen
        row.blocked_at = None
        row.updated_at = now
        await self.s.flush()
        return _guest_profile(row)

    async def mark_blocked(self, user_id: int, now: datetime) -> None:
        row = await self.s.get(Guest, user_id)
        if row is not None and row.blocked_at is None:
            row.blocked_at = now
            await self.s.flush()

    async def mark_unblocked(self, user_id: int) -> None:
        """They wrote to the bot again: their reminders resume."""
        row = await self.s.get(Guest, user_id)
        if row is not None and row.blocked_at is not None:
            row.blocked_at = None
            await self.s.flush()

    async def delete(self, user_id: int) -> None:
        """They registered (a late pass): the delegate row takes over; their follows stay theirs."""
        touch(self.s, PROFILES, user_id)
        await self.s.execute(delete(Guest).where(Guest.user_id == user_id),
                             execution_options={"cache_keys_declared": True})


async def forget_person(session: AsyncSession, user_id: int) -> int:
    """Delete every row about a person: each table with a user_id column (features added later included).

    Returns the number of rows deleted. Conversation state is cleared by the caller (it may live in Redis).
    """
    deleted = 0
    touch(session, PROFILES, user_id)
    touch(session, FOLLOWS, user_id)
    for table in reversed(Base.metadata.sorted_tables):
        if "user_id" in table.c:
            result = await session.execute(delete(table).where(table.c.user_id == user_id),
                                           execution_options={"cache_keys_declared": True})
            deleted += rowcount(result)
    return deleted


class Follows:
    """Which program items a delegate follows."""

    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def is_following(self, user_id: int, item_id: str) -> bool:
        return item_id in await self._items(user_id)

    async def items(self, user_id: int) -> set[str]:
        return set(await self._items(user_id))

    async def _items(self, user_id: int) -> frozenset[str]:
        """What a person follows: from the process cache (storage.cache) unless this transaction changed it."""
        async def load() -> frozenset[str]:
            return frozenset(await self.s.scalars(select(Follow.item_id).where(Follow.user_id == user_id)))

        return await read_through(self.s, FOLLOWS, lambda c: c.follows, user_id, load)

    async def follow(self, user_id: int, item_id: str, now: datetime) -> bool:
        """True when newly followed (following twice is harmless)."""
        if await self.is_following(user_id, item_id):
            return False
        self.s.add(Follow(user_id=user_id, item_id=item_id, created_at=now))
        await self.s.flush()
        return True

    async def unfollow(self, user_id: int, item_id: str) -> bool:
        touch(self.s, FOLLOWS, user_id)
        result = await self.s.execute(delete(Follow).where(Follow.user_id == user_id, Follow.item_id == item_id),
                                      execution_options={"cache_keys_declared": True})
        return bool(rowcount(result))

    async def followers(self, item_id: str) -> list[int]:
        rows = await self.s.scalars(select(Follow.user_id).where(Follow.item_id == item_id))
        return list(rows)


@dataclass(frozen=True)
class ReminderSettings:
    lead: int
    on: bool
    follow_all: bool


class Reminders:
    """Reminder preferences, who is reminded of what, and the program times last scheduled."""

    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def settings(self, user_id: int) -> ReminderSettings | None:
        async def load() -> ReminderSettings | None:
            row = (await self.s.execute(select(Delegate.reminder_lead, Delegate.reminders_on, Delegate.follow_all)
                                        .where(Delegate.user_id == user_id))).first()
            if row is None:  # a guest (registration closed) has the same settings
                row = (await self.s.execute(select(Guest.reminder_lead, Guest.reminders_on, Guest.follow_all)
                                            .where(Guest.user_id == user_id))).first()
            return ReminderSettings(int(row[0]), bool(row[1]), bool(row[2])) if row else None

        return await read_through(self.s, PROFILES, lambda c: c.settings, user_id, load)

    async def update(self, user_id: int, now: datetime, *, lead: int | None = None, on: bool | None = None,
                     follow_all: bool | None = None) -> ReminderSettings | None:
        row: Delegate | Guest | None = await self.s.get(Delegate, user_id) or await self.s.get(Guest, user_id)
        if row is None:
            return None
        if lead is not None:
            row.reminder_lead = lead
        if on is not None:
            row.reminders_on = on
        if follow_all is not None:
            row.follow_all = follow_all
        row.updated_at = now
        await self.s.flush()
        return ReminderSettings(row.reminder_lead, row.reminders_on, row.follow_all)

    @staticmethod
    def _followers(item_id: str, *, covered_by_all: bool, members_only: bool,
                   matchmaking: bool = False, table: type[Delegate] | type[Guest] = Delegate
                   ) -> Select[int]:
        followed = exists().where(Follow.user_id == table.user_id, Follow.item_id == item_id)
        whole: ColumnElement[bool] = table.follow_all.is_(True)
        if matchmaking:  # "the whole program" leaves matchmaking out for those who said No to it
            whole = and_(whole, or_(Delegate.matchmaking.is_(None), Delegate.matchmaking.is_(True))) \
                if table is Delegate else sa_false()  # guests take no part in matchmaking
        q = select(table.user_id).where(table.blocked_at.is_(None),
                                        or_(followed, whole) if covered_by_all else followed)
        if members_only:  # EXCOM member cities an organiser confirmed (domain.registration.is_member)
            if table is Guest:
                return q.where(sa_false())
            q = q.where(Delegate.participant_type == "excom", Delegate.excom_status == "confirmed")
        return q

    async def _both(self, make: Callable[[type[Delegate] | type[Guest]], Select[int]]) -> list[int]:
        """Delegates and guests alike (a person is in one of the two tables)."""
        found = set(await self.s.scalars(make(Delegate)))
        found |= set(await self.s.scalars(make(Guest)))
        return sorted(found)

    async def to_remind(self, item_id: str, lead: int, *, covered_by_all: bool, members_only: bool,
                        matchmaking: bool = False) -> list[int]:
        """Who gets the reminder `lead` minutes before an item: followers with that lead and reminders on."""
        def make(table: type[Delegate] | type[Guest]) -> Select[int]:
            q = self._followers(item_id, covered_by_all=covered_by_all, members_only=members_only,
                                matchmaking=matchmaking, table=table)
            return q.where(table.reminders_on.is_(True), table.reminder_lead == lead)

        return await self._both(make)

    async def followers(self, item_id: str, *, covered_by_all: bool, members_only: bool,
                        matchmaking: bool = False) -> list[int]:
        """Everyone who follows an item (explicitly or with the whole program) and has not blocked the bot."""
        return await self._both(lambda table: self._followers(item_id, covered_by_all=covered_by_all,
                                                              members_only=members_only, matchmaking=matchmaking,
                                                              table=table))

    async def zones(self) -> list[str]:
        """The time zones of people with reminders on (each has its own 18:00)."""
        found: set[str] = set()
        for table in (Delegate, Guest):
            q = select(table.timezone).where(table.reminders_on.is_(True), table.blocked_at.is_(None)).distinct()
            found |= set(await self.s.scalars(q))
        return sorted(found)

    async def in_zones(self, zones: list[str]) -> list[int]:
        """People with reminders on in these zones who follow something."""
        def make(table: type[Delegate] | type[Guest]) -> Select[int]:
            follows_any = exists().where(Follow.user_id == table.user_id)
            return select(table.user_id).where(table.reminders_on.is_(True), table.blocked_at.is_(None),
                                               table.timezone.in_(zones),
                                               or_(table.follow_all.is_(True), follows_any))

        return await self._both(make)

    async def snapshot(self) -> dict[str, tuple[datetime, datetime]]:
        rows = await self.s.execute(select(ProgramSnapshot.item_id, ProgramSnapshot.starts, ProgramSnapshot.ends))
        return {item_id: (starts, ends) for item_id, starts, ends in rows}

    async def save_snapshot(self, times: dict[str, tuple[datetime, datetime]], now: datetime) -> None:
        await self.s.execute(delete(ProgramSnapshot))
        self.s.add_all(ProgramSnapshot(item_id=i, starts=s, ends=e, updated_at=now) for i, (s, e) in times.items())
        await self.s.flush()
