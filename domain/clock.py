"""The one source of "now" for the bot.

A rehearsal clock starts at CLOCK_START and runs CLOCK_SPEED times faster than real time, so the
organisers can replay the event day. Everything that asks "what time is it" asks this object.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, tzinfo


class Clock:
    def __init__(self, start: datetime | None = None, speed: float = 1.0) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("clock start must be timezone-aware")
        if speed <= 0:
            raise ValueError("clock speed must be positive")
        self._start = start.astimezone(UTC) if start else None
        self._speed = speed
        self._real0 = time.time()
        self._mono0 = time.monotonic()

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def is_rehearsal(self) -> bool:
        return self._start is not None or self._speed != 1.0

    def now(self) -> datetime:
        """The bot's current instant, always in UTC."""
        elapsed = time.monotonic() - self._mono0
        base = self._start or datetime.fromtimestamp(self._real0, UTC)
        return base + timedelta(seconds=elapsed * self._speed)

    @staticmethod
    def wall_now() -> datetime:
        """The real current instant: only to show a person their own wall clock (time zone check)."""
        return datetime.now(UTC)

    def watch_now(self, tz: tzinfo) -> datetime:
        """The instant to show a person to compare with their own watch in zone `tz` (the time-zone check): the
        real time of day, and during a rehearsal on the rehearsal clock's date there, so a replay of 17 Nov
        does not say "6 Dec"."""
        wall = self.wall_now()
        if not self.is_rehearsal:
            return wall
        day = self.now().astimezone(tz).date()
        # The same wall time on the rehearsal's date; the zone's offset on that date (summer time) applies.
        return wall.astimezone(tz).replace(year=day.year, month=day.month, day=day.day).astimezone(UTC)

    def real_delay(self, instant: datetime) -> float:
        """Real seconds to wait until the bot's clock reaches `instant` (0 if already past)."""
        return max(0.0, (instant - self.now()).total_seconds() / self._speed)

    def to_real(self, instant: datetime) -> datetime:
        """The wall-clock instant at which the bot's clock shows `instant` (for the scheduler)."""
        return datetime.now(UTC) + timedelta(seconds=(instant - self.now()).total_seconds() / self._speed)


class FrozenClock(Clock):
    """A clock that only moves when told to: for tests."""

    def __init__(self, at: datetime) -> None:
        super().__init__(at, 1.0)
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = at.astimezone(UTC)

    def advance(self, **delta: float) -> None:
        self._at += timedelta(**delta)
