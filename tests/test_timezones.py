"""Time zones typed the way people type them: abbreviations, "Tokio", "미국 동부", "восточное время США".

They resolve (domain/timezones.py) and, at the registration's time zone step, are confirmed with the local
time before anything is stored, as a city is.
"""

from __future__ import annotations

import pytest

from domain import timezones as tzs
from domain.event import load_event
from tests.harness import Harness
from tests.test_program import EVENT_FILE
from tests.test_registration import UID, walk_to

CONF = load_event(EVENT_FILE)


@pytest.mark.parametrize(("typed", "zone"), [
    # The examples.
    ("EST", "America/New_York"), ("PST", "America/Los_Angeles"), ("KST", "Asia/Seoul"), ("Tokio", "Asia/Tokyo"),
    ("미국 동부", "America/New_York"), ("восточное время США", "America/New_York"),
    # Their neighbours, in the three languages.
    ("est", "America/New_York"), ("Eastern Standard Time", "America/New_York"), ("US Eastern", "America/New_York"),
    ("Pacific Standard Time", "America/Los_Angeles"), ("pst time", "America/Los_Angeles"),
    ("Korea Standard Time", "Asia/Seoul"), ("Tokyo", "Asia/Tokyo"), ("токио", "Asia/Tokyo"),
    ("미국 동부 시간", "America/New_York"), ("미국 동부 표준시", "America/New_York"),
    ("미국 서부", "America/Los_Angeles"),
    ("한국 시간", "Asia/Seoul"), ("일본", "Asia/Tokyo"), ("도쿄 시간", "Asia/Tokyo"),
    ("Восточное время", "America/New_York"), ("тихоокеанское время США", "America/Los_Angeles"),
    ("по московскому времени", "Europe/Moscow"), ("мск", "Europe/Moscow"), ("корейское время", "Asia/Seoul"),
    ("японское время", "Asia/Tokyo"),
    ("AEST", "Australia/Sydney"), ("HKT", "Asia/Hong_Kong"), ("SGT", "Asia/Singapore"), ("IST", "Asia/Kolkata"),
    ("WIB", "Asia/Jakarta"), ("HST", "Pacific/Honolulu"), ("AKST", "America/Anchorage"),
    ("India", "Asia/Kolkata"), ("Индия", "Asia/Kolkata"), ("인도", "Asia/Kolkata"),
])
def test_what_people_type_resolves(typed: str, zone: str) -> None:
    match = tzs.resolve(typed, CONF)
    assert match is not None and match.zone == zone, (typed, match)


# The offset is the zone's at the bot's clock (the harness: 1 Nov 2020, 07:00 UTC), not at the machine's date:
# New York has left summer time by then, Los Angeles (until 09:00 UTC) has not.
@pytest.mark.parametrize(("typed", "lang", "shown"), [
    ("EST", "en", "New York (GMT-5)"),
    ("PST", "en", "Los Angeles (GMT-7)"),
    ("KST", "en", "Seoul (GMT+9)"),
    ("Tokio", "en", "Tokyo (GMT+9)"),
    ("미국 동부", "ko", "뉴욕 (GMT-5)"),
    ("восточное время США", "ru", "Нью-Йорк (GMT-5)"),
])
async def test_an_abbreviation_or_a_region_is_confirmed_at_registration(harness: Harness, typed: str, lang: str,
                                                                       shown: str) -> None:
    await walk_to(harness, "timezone", lang=lang)
    await harness.send(UID, typed, lang=lang)
    text = harness.last_text(UID)
    assert shown in text, text
    assert len(harness.buttons(UID)) == 2  # yes / another one: nothing is stored before the person confirms


@pytest.mark.parametrize(("typed", "zone"), [
    ("Busan, South Korea", "Asia/Seoul"), ("Busan Korea", "Asia/Seoul"), ("부산, 한국", "Asia/Seoul"),
    ("Пусан, Корея", "Asia/Seoul"), ("Lyon, France", "Europe/Paris"), ("Nantes, Франция", "Europe/Paris"),
])
def test_a_city_outside_the_lists_with_a_one_zone_country_gets_its_zone(typed: str, zone: str) -> None:
    """Issue 20 bug 11: cities that are neither event cities nor CLDR exemplar cities are no dead end."""
    match = tzs.resolve(typed)
    assert match is not None and match.zone == zone


@pytest.mark.parametrize(("typed", "zone"), [
    ("Kazan, Russia", "Europe/Moscow"), ("Казань, Россия", "Europe/Moscow"), ("Казань, РФ", "Europe/Moscow"),
    ("Springfield, USA", "America/New_York"), ("카잔, 러시아", "Europe/Moscow"),
])
def test_a_country_with_several_zones_offers_its_capitals_zone_only_as_an_offer(typed: str, zone: str) -> None:
    assert tzs.resolve(typed) is None  # not guessed where a zone is taken as typed
    match = tzs.resolve_country(typed, capitals=True)
    assert match is not None and match.zone == zone


def test_a_city_outside_the_lists_alone_is_not_guessed() -> None:
    assert tzs.resolve("Busan") is None and tzs.resolve("Kazan") is None


def test_the_one_zone_helper() -> None:
    """Times are shown in the person's zone, or the event's for someone unknown; a stored zone string, an offset
    included, becomes a tzinfo in one place."""
    from dataclasses import dataclass
    from datetime import UTC, datetime

    @dataclass(frozen=True)
    class Person:
        timezone: str

    assert tzs.reader_zone(Person("Asia/Seoul"), CONF) == "Asia/Seoul"
    assert tzs.reader_zone(None, CONF) == CONF.timezone
    noon = datetime(2020, 11, 1, 12, tzinfo=UTC)
    assert noon.astimezone(tzs.get_tz("UTC+05:30")).strftime("%H:%M") == "17:30"
    assert noon.astimezone(tzs.get_tz("UTC-03:00")).strftime("%H:%M") == "09:00"
    assert noon.astimezone(tzs.get_tz("Asia/Seoul")).strftime("%H:%M") == "21:00"
