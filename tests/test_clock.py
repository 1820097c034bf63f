"""The rehearsal clock and what the time-zone check shows against it."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from domain.clock import Clock


@pytest.fixture
def real_now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The machine's instant, fixed: a July evening in New York (summer time, GMT-4)."""
    at = datetime(2026, 7, 6, 0, 35, tzinfo=UTC)  # 20:35 on 5 Jul in New York
    monkeypatch.setattr(Clock, "wall_now", staticmethod(lambda: at))
    return at


def test_outside_a_rehearsal_the_check_shows_the_real_instant(real_now: datetime) -> None:
    assert Clock().watch_now(ZoneInfo("America/New_York")) == real_now


def test_a_rehearsal_shows_the_real_time_of_day_on_the_rehearsal_date(real_now: datetime) -> None:
    clock = Clock(datetime(2020, 11, 17, 6, 0, tzinfo=UTC))  # 01:00 on 17 Nov in New York
    zone = ZoneInfo("America/New_York")
    shown = clock.watch_now(zone).astimezone(zone)
    assert (shown.year, shown.month, shown.day) == (2020, 11, 17)
    assert (shown.hour, shown.minute) == (20, 35)  # the person's watch, not 19:35 from November's offset
    assert shown.utcoffset() == datetime(2020, 11, 17, 12, tzinfo=zone).utcoffset()


def test_the_rehearsal_date_is_the_one_in_the_person_s_zone(real_now: datetime) -> None:
    clock = Clock(datetime(2020, 11, 17, 6, 0, tzinfo=UTC))  # still 16 Nov in Los Angeles
    shown = clock.watch_now(ZoneInfo("America/Los_Angeles"))
    local = shown.astimezone(ZoneInfo("America/Los_Angeles"))
    assert (local.month, local.day, local.hour, local.minute) == (11, 16, 17, 35)
