"""Time zones: resolve what a person types or shares, and show instants in their zone.

A zone is stored as a string: an IANA name ("Asia/Seoul") or a fixed offset ("UTC+05:30") for people
who answer with an offset that no IANA zone names by a whole hour.
"""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import cache

from babel import Locale
from babel.dates import format_date, format_skeleton, format_time, get_timezone_location
from rapidfuzz import fuzz, process

from domain.event import LANGS, Event

_OFFSET = re.compile(
    r"^(?:utc|gmt|мск|всемирное|협정|세계)?\s*([+\-−–])\s*(\d{1,2})(?:[:.h ]?(\d{2}))?\s*(?:h|ч|시)?$",
    re.IGNORECASE,
)
_BARE_UTC = {"utc", "gmt", "z", "zulu", "utc+0", "gmt+0", "utc0", "всемирное время", "협정 세계시"}


@dataclass(frozen=True)
class ZoneMatch:
    zone: str  # stored value
    # How the zone was found: "city" (name of a city in it), "iana", "offset", "location".
    how: str
    # What we recognised, for the confirmation ("Seoul", "Asia/Seoul", "UTC+05:30").
    label: str
    # The event city that was named, if any (shown by its own name: "Ha Noi", not "Ho Chi Minh City").
    city_id: str | None = None


def get_tz(zone: str) -> tzinfo:
    """The tzinfo for a stored zone string."""
    if zone.startswith("UTC") and len(zone) > 3:
        sign = -1 if zone[3] == "-" else 1
        hours, minutes = zone[4:].split(":")
        return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)), zone)
    return zoneinfo.ZoneInfo(zone)


def is_valid_zone(zone: str) -> bool:
    try:
        get_tz(zone)
    except (ValueError, KeyError, zoneinfo.ZoneInfoNotFoundError, OSError):
        # OSError: a tzdata folder such as "Asia" (IsADirectoryError), from a forged button.
        return False
    return True


def normalize(text: str) -> str:
    """Lower case, no diacritics, single spaces: "Beyoğlu" and "beyoglu" compare equal."""
    text = unicodedata.normalize("NFKD", text.strip().casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"[\s_\-'’.,]+", " ", text)
    return unicodedata.normalize("NFC", text).strip()


@cache
def _all_zones() -> dict[str, str]:
    """Lower-case IANA name -> canonical name, for the zones people live in."""
    names = {}
    for z in zoneinfo.available_timezones():
        if z.startswith(("Etc/", "SystemV/", "US/", "posix/", "right/")) or "/" not in z:
            continue
        names[z.casefold()] = z
    return names


@cache
def _gazetteer(event: Event | None) -> dict[str, str]:
    """Normalised place name (in every language) -> IANA zone.

    Built from the event's cities (with their aliases) and Babel's exemplar cities of every zone in
    every supported language (CLDR data: "Seoul", "Сеул", "서울" all name Asia/Seoul).
    """
    names: dict[str, str] = {}
    for z in _all_zones().values():
        names.setdefault(normalize(z.rsplit("/", 1)[-1]), z)
        for lang in LANGS:
            try:
                city = get_timezone_location(z, locale=Locale.parse(lang), return_city=True)
            except (KeyError, LookupError, ValueError):
                continue
            if city:
                names.setdefault(normalize(city), z)
    if event is not None:
        # The event's cities win over CLDR (e.g. "Goyang" is not an exemplar city).
        for c in event.cities:
            for n in _city_names(c.id, event):
                names[n] = c.timezone
    return names


def _city_names(city_id: str, event: Event) -> set[str]:
    c = event.city(city_id)
    return {normalize(n) for n in (c.name.en, c.name.ru, c.name.ko, c.id, *c.aliases)} if c else set()


def _event_city(key: str, event: Event | None) -> str | None:
    if event is None:
        return None
    return next((c.id for c in event.cities if key in _city_names(c.id, event)), None)


def _offset_zone(sign: str, hours: int, minutes: int) -> str | None:
    if hours > 14 or minutes >= 60 or (hours == 14 and minutes):
        return None
    if minutes == 0:
        if hours == 0:
            return "UTC"
        # Etc/GMT zones have the sign inverted: UTC+3 is Etc/GMT-3.
        return f"Etc/GMT{'-' if sign == '+' else '+'}{hours}"
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


def resolve(text: str, event: Event | None = None) -> ZoneMatch | None:
    """Resolve a typed city, IANA name or UTC offset to a zone, or None."""
    raw = text.strip()
    if not raw or len(raw) > 80:
        return None
    low = raw.casefold()
    if low in _BARE_UTC:
        return ZoneMatch("UTC", "offset", "UTC")
    m = _OFFSET.match(low.replace(" ", "")) or _OFFSET.match(low)
    if m:
        sign = "-" if m.group(1) in "-−–" else "+"
        zone = _offset_zone(sign, int(m.group(2)), int(m.group(3) or 0))
        if zone:
            label = f"UTC{sign}{int(m.group(2)):02d}:{int(m.group(3) or 0):02d}"
            return ZoneMatch(zone, "offset", label)
        return None
    iana = _all_zones().get(low.replace(" ", "_"))
    if iana:
        return ZoneMatch(iana, "iana", iana)
    names = _gazetteer(event)
    # "Seoul, Korea" / "Москва, Россия": try the whole text, then each part.
    candidates = [raw, *re.split(r"[,;/()]", raw)]
    for cand in candidates:
        key = normalize(cand)
        if key in names:
            return ZoneMatch(names[key], "city", cand.strip(), _event_city(key, event))
    for cand in candidates:
        key = normalize(cand)
        if len(key) < 4:
            continue
        best = process.extractOne(key, names.keys(), scorer=fuzz.ratio, score_cutoff=85)
        if best:
            return ZoneMatch(names[best[0]], "city", cand.strip(), _event_city(best[0], event))
    return None


@cache
def _finder() -> object:
    from timezonefinder import TimezoneFinder

    return TimezoneFinder(in_memory=True)


def from_location(latitude: float, longitude: float) -> ZoneMatch | None:
    """The zone at a shared location (offline lookup)."""
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    zone = _finder().timezone_at(lng=longitude, lat=latitude)  # type: ignore[attr-defined]
    if not zone:
        return None
    return ZoneMatch(zone, "location", zone)


# -- showing instants ----------------------------------------------------------------------------

def to_local(instant: datetime, zone: str) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("naive datetime")
    return instant.astimezone(get_tz(zone))


def utc_offset_label(instant: datetime, zone: str) -> str:
    """"GMT+9", "GMT-6", "GMT+5:30" for the zone at that instant."""
    off = to_local(instant, zone).utcoffset() or timedelta(0)
    total = int(off.total_seconds() // 60)
    sign = "+" if total >= 0 else "-"
    h, m = divmod(abs(total), 60)
    return f"GMT{sign}{h}" + (f":{m:02d}" if m else "")


def fmt_time(instant: datetime, zone: str, lang: str) -> str:
    """"15:00" in the reader's zone, formatted for their locale (24-hour in all three)."""
    return format_time(to_local(instant, zone), "HH:mm", locale=lang)


def fmt_date(instant: datetime, zone: str, lang: str) -> str:
    """"17 Nov", "17 нояб.", "11월 17일" in the reader's zone."""
    # "MMMd" is a CLDR skeleton (each locale orders it), not a pattern: format_date would print "нояб.17".
    day = to_local(instant, zone).date()
    return format_skeleton("MMMd", day, locale=lang) if lang != "en" else format_date(day, "d MMM", locale=lang)


def fmt_long_date(instant: datetime, zone: str, lang: str) -> str:
    """"November 17, 2020", "17 ноября 2020 г.", "2020년 11월 17일"."""
    return format_date(to_local(instant, zone).date(), "long", locale=lang)


def fmt_datetime(instant: datetime, zone: str, lang: str) -> str:
    """Date and time, e.g. "17 Nov, 15:00"."""
    return f"{fmt_date(instant, zone, lang)}, {fmt_time(instant, zone, lang)}"


def fmt_when(instant: datetime, zone: str, lang: str, reference: datetime, ref_zone: str) -> str:
    """The time, with the date when the reader's local date differs from the reference's local date.

    A Seoul reader sees "17 Nov 15:00" for the 09:00 GMT+3 opening only if their date differs; the event
    pages pass the event's own date as the reference.
    """
    if to_local(instant, zone).date() != to_local(reference, ref_zone).date():
        return fmt_datetime(instant, zone, lang)
    return fmt_time(instant, zone, lang)


def zone_name(zone: str, lang: str, at: datetime | None = None) -> str:
    """A readable name for a zone: "Seoul (GMT+9)"."""
    at = at or datetime.now(UTC)
    if zone.startswith(("UTC", "Etc/")):
        return utc_offset_label(at, zone)
    try:
        city = get_timezone_location(zone, locale=Locale.parse(lang), return_city=True)
    except (KeyError, LookupError, ValueError):
        city = zone
    return f"{city} ({utc_offset_label(at, zone)})"
