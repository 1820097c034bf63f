"""The matchmaking repository: availability, bookings and their seats, outside-event requests, the published
state. It flushes only; the use case commits.

Races are decided by the database (domain/matchmaking.py's docstring is the design): unique keys for a host's
slot, a person's slot (the seats) and a pair, and the per-person limit counted under a lock taken by `lock`:

- PostgreSQL: the state row FOR SHARE (FOR UPDATE when publishing, so a publish waits for bookings in flight
  and every later booking sees the freeze), then the requester's delegate row FOR NO KEY UPDATE (one order
  only, so two bookings cannot deadlock; NO KEY so the foreign-key checks of other bookings pass).
- SQLite: the driver begins a transaction only at the first write, so `lock` writes first (it bumps the state
  row's counter): from that statement the transaction holds SQLite's one write lock and what it reads next
  cannot change under it, as with BEGIN IMMEDIATE. Other writers queue on busy_timeout (storage/db.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Executable, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.matchmaking import Board, Booking, CityProfile, Meeting, OutsideRequest
from storage.db import rowcount
from storage.models import Delegate, MmAvailability, MmBooking, MmOutsideRequest, MmProfile, MmSeat, MmState


def _meeting(row: MmBooking) -> Meeting:
    return Meeting(row.id, row.host_id, row.requester_id, row.slot_id, row.created_at, row.note or "")


class MatchmakingRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    @property
    def _dialect(self) -> str:
        return self.s.get_bind().dialect.name

    def _upsert_state(self, event_id: str, *, bump: bool) -> Executable:
        if self._dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]  # the same API in SQLite's dialect
        stmt = insert(MmState).values(event_id=event_id, writes=0)
        if bump:
            return stmt.on_conflict_do_update(index_elements=["event_id"], set_={"writes": MmState.writes + 1})
        return stmt.on_conflict_do_nothing(index_elements=["event_id"])

    async def lock(self, event_id: str, person: int | None = None, *, exclusive: bool = False) -> datetime | None:
        """Take the locks of a matchmaking change (see the module docstring); returns published_at."""
        sqlite = self._dialect == "sqlite"
        await self.s.execute(self._upsert_state(event_id, bump=sqlite))
        q = select(MmState.published_at).where(MmState.event_id == event_id)
        if not sqlite:
            q = q.with_for_update(read=not exclusive)
        published = await self.s.scalar(q)
        if person is not None and not sqlite:
            # FOR NO KEY UPDATE: it serialises this person's bookings but not the foreign-key checks (KEY SHARE)
            # of someone else's booking with them, which FOR UPDATE would block (a deadlock when two people
            # book each other at the same instant).
            await self.s.execute(select(Delegate.user_id).where(Delegate.user_id == person)
                                 .with_for_update(key_share=True))
        return published

    async def published_at(self, event_id: str) -> datetime | None:
        return await self.s.scalar(select(MmState.published_at).where(MmState.event_id == event_id))

    async def publish(self, event_id: str, now: datetime, by: int) -> None:
        row = await self.s.get(MmState, event_id)
        if row is None:
            row = MmState(event_id=event_id, writes=0)
            self.s.add(row)
        row.published_at, row.published_by = now, by
        await self.s.flush()

    # -- availability ---------------------------------------------------------------------------------------

    async def board(self, people: Iterable[int] | None = None) -> Board:
        """Availability and bookings; with `people`, only theirs (all a booking between them needs to check)."""
        avail = select(MmAvailability.user_id, MmAvailability.slot_id)
        booked = select(MmBooking).order_by(MmBooking.id)
        if people is not None:
            ids = sorted(set(people))
            avail = avail.where(MmAvailability.user_id.in_(ids))
            booked = booked.where(or_(MmBooking.host_id.in_(ids), MmBooking.requester_id.in_(ids)))
        free: dict[int, set[str]] = {}
        for host, slot in await self.s.execute(avail):
            free.setdefault(host, set()).add(slot)
        rows = await self.s.scalars(booked)
        return Board({h: frozenset(s) for h, s in free.items()},
                     tuple(Booking(r.host_id, r.requester_id, r.slot_id) for r in rows))

    async def free_slots(self, host: int) -> set[str]:
        return set(await self.s.scalars(select(MmAvailability.slot_id).where(MmAvailability.user_id == host)))

    async def set_free(self, host: int, slot_id: str, free: bool, now: datetime) -> bool:
        """Mark a slot free (a row) or busy (no row); False when nothing changed or a booking holds the slot."""
        row = await self.s.get(MmAvailability, (host, slot_id))
        if free:
            if row is not None:
                return False
            self.s.add(MmAvailability(user_id=host, slot_id=slot_id, created_at=now))
            await self.s.flush()
            return True
        if row is None:
            return False
        await self.s.delete(row)
        await self.s.flush()
        return True

    async def hosts(self) -> list[int]:
        """Everyone who marked at least one slot free."""
        return list(await self.s.scalars(select(MmAvailability.user_id).distinct().order_by(MmAvailability.user_id)))

    async def clear_availability(self, host: int) -> int:
        """Delete a host's unbooked free slots (they no longer offer meetings)."""
        booked = select(MmBooking.slot_id).where(MmBooking.host_id == host)
        result = await self.s.execute(delete(MmAvailability).where(MmAvailability.user_id == host,
                                                                    MmAvailability.slot_id.not_in(booked)))
        return rowcount(result)

    # -- bookings ---------------------------------------------------------------------------------------------

    async def count_booked_by(self, requester: int) -> int:
        q = select(func.count()).select_from(MmBooking).where(MmBooking.requester_id == requester)
        return int(await self.s.scalar(q) or 0)

    async def add_booking(self, host: int, requester: int, slot_id: str, now: datetime) -> Meeting | None:
        """Insert the booking and its two seats; None when a unique key or the availability refused it (then
        the transaction is spoiled: the caller rolls back)."""
        row = MmBooking(host_id=host, requester_id=requester, slot_id=slot_id, pair_lo=min(host, requester),
                        pair_hi=max(host, requester), created_at=now)
        try:
            self.s.add(row)
            await self.s.flush()
            self.s.add_all([MmSeat(user_id=host, slot_id=slot_id, booking_id=row.id),
                            MmSeat(user_id=requester, slot_id=slot_id, booking_id=row.id)])
            await self.s.flush()
        except IntegrityError:
            return None
        return _meeting(row)

    async def get(self, booking_id: int) -> Meeting | None:
        row = await self.s.get(MmBooking, booking_id)
        return _meeting(row) if row is not None else None

    async def delete_booking(self, booking_id: int) -> bool:
        """Delete a booking and its seats; False when it was gone already. On PostgreSQL a concurrent delete of
        the same booking waits for this one's row lock and then removes nothing, so exactly one caller gets
        True (on SQLite the writers are serialised)."""
        result = await self.s.execute(delete(MmBooking).where(MmBooking.id == booking_id)
                                      .returning(MmBooking.id))
        if result.scalar_one_or_none() is None:
            return False
        await self.s.execute(delete(MmSeat).where(MmSeat.booking_id == booking_id))
        return True

    async def meetings_of(self, person: int) -> list[Meeting]:
        q = (select(MmBooking).where(or_(MmBooking.host_id == person, MmBooking.requester_id == person))
             .order_by(MmBooking.slot_id))
        return [_meeting(r) for r in await self.s.scalars(q)]

    async def meetings(self) -> list[Meeting]:
        q = select(MmBooking).order_by(MmBooking.slot_id, MmBooking.host_id)
        return [_meeting(r) for r in await self.s.scalars(q)]

    async def count(self) -> int:
        return int(await self.s.scalar(select(func.count()).select_from(MmBooking)) or 0)

    async def set_note(self, booking_id: int, requester: int, note: str) -> bool:
        """The requester's note on their booking; False when it is not (any more) theirs."""
        row = await self.s.get(MmBooking, booking_id)
        if row is None or row.requester_id != requester:
            return False
        row.note = note
        await self.s.flush()
        return True

    # -- city profiles ------------------------------------------------------------------------------------------

    async def profiles(self, hosts: Iterable[int]) -> dict[int, CityProfile]:
        ids = sorted(set(hosts))
        if not ids:
            return {}
        rows = await self.s.scalars(select(MmProfile).where(MmProfile.user_id.in_(ids)))
        return {r.user_id: CityProfile(tuple(r.topics or ()), r.about or "") for r in rows}

    async def set_profile(self, host: int, profile: CityProfile, now: datetime) -> None:
        row = await self.s.get(MmProfile, host)
        if row is None:
            row = MmProfile(user_id=host, topics=[], about="", updated_at=now)
            self.s.add(row)
        row.topics, row.about, row.updated_at = list(profile.topics), profile.about, now
        await self.s.flush()

    # -- outside the event ------------------------------------------------------------------------------------

    async def add_outside(self, host: int, requester: int, now: datetime) -> bool:
        """True when new (asking twice is harmless)."""
        q = select(MmOutsideRequest.id).where(MmOutsideRequest.host_id == host,
                                              MmOutsideRequest.requester_id == requester)
        if await self.s.scalar(q) is not None:
            return False
        # The caller holds the requester's lock (`lock`), so the same pair cannot be inserted twice at once.
        self.s.add(MmOutsideRequest(host_id=host, requester_id=requester, created_at=now))
        await self.s.flush()
        return True

    async def outside_requests(self) -> list[OutsideRequest]:
        q = select(MmOutsideRequest).order_by(MmOutsideRequest.created_at, MmOutsideRequest.id)
        return [OutsideRequest(r.host_id, r.requester_id, r.created_at) for r in await self.s.scalars(q)]

    # -- forgetting ---------------------------------------------------------------------------------------------

    async def forget(self, person: int) -> list[Meeting]:
        """Delete a person's bookings (either role) and requests before their other rows go (the booking's
        foreign key to the host's availability would refuse the order forget_person deletes in); returns the
        meetings cancelled so the other side can be told."""
        gone = await self.meetings_of(person)
        for m in gone:
            await self.delete_booking(m.id)
        await self.s.execute(delete(MmOutsideRequest).where(or_(MmOutsideRequest.host_id == person,
                                                                MmOutsideRequest.requester_id == person)))
        return gone

    async def people(self, types: list[str]) -> list[int]:
        """Registered people of these participant types who have not blocked the bot."""
        q = select(Delegate.user_id).where(Delegate.participant_type.in_(types), Delegate.blocked_at.is_(None))
        return list(await self.s.scalars(q.order_by(Delegate.user_id)))

    async def participant_ids(self) -> set[int]:
        hosts = set(await self.s.scalars(select(MmAvailability.user_id).distinct()))
        requesters = set(await self.s.scalars(select(MmBooking.requester_id).distinct()))
        return hosts | requesters
