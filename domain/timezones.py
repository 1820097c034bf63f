"""Time zones: resolve what a person types or shares, and show instants in their zone.

A zone is stored as a string: an IANA name ("Asia/Seoul") or a fixed offset ("UTC+05:30") for people
who answer with an offset that no IANA zone names by a whole hour.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Protocol

from babel import Locale
from babel.dates import format_date, format_skeleton, format_time, get_timezone_location
from rapidfuzz import fuzz, process

from domain.event import LANGS, Event
from domain.text import normalize

if TYPE_CHECKING:
    from timezonefinder import TimezoneFinder

_OFFSET = re.compile(
    r"^(?:utc|gmt|мск|всемирное|협정|세계)?\s*([+\-−–])\s*(\d{1,2})(?:[:.h ]?(\d{2}))?\s*(?:h|ч|시)?$",
    re.IGNORECASE,
)
_BARE_UTC = {"utc", "gmt", "z", "zulu", "utc+0", "gmt+0", "utc0", "всемирное время", "협정 세계시"}


# What people type for a zone besides a city: abbreviations, countries with one zone, "московское время".
# Keys pass through _alias_key, so "по московскому времени", "Moscow time" and "москва" need no own entry.
# An abbreviation names the zone people usually mean by it (EST: New York, CST: Chicago, CET: Berlin);
# the answer always shows the zone found, and at registration the person confirms it.
_ALIASES_RAW: dict[str, tuple[str, ...]] = {
    "America/New_York": ("EST", "EDT", "ET", "Eastern", "Eastern time", "US Eastern", "East Coast",
                         "восточное время США", "восточное время", "Восточное побережье США", "미국 동부",
                         "미국 동부 시간", "동부 시간", "미국동부", "뉴욕"),
    "America/Chicago": ("CST", "CDT", "CT", "US Central", "Central time", "центральное время США",
                        "미국 중부", "미국중부"),
    "America/Denver": ("MST", "MDT", "Mountain time", "US Mountain", "горное время США", "미국 산악"),
    "America/Los_Angeles": ("PST", "PDT", "PT", "Pacific", "Pacific time", "US Pacific", "West Coast",
                            "тихоокеанское время", "тихоокеанское время США", "Западное побережье США",
                            "미국 서부", "미국서부", "서부 시간"),
    # Not "Russia" or "USA": a country with several zones is not guessed ("Ufa, Russia" is GMT+5).
    "Europe/Moscow": ("MSK", "МСК", "Moscow time", "московское время", "московское"),
    "Asia/Seoul": ("KST", "Korea", "South Korea", "Korean time", "Корея", "Южная Корея",
                   "корейское время", "корейское", "сеульское время", "сеульское", "한국", "대한민국", "남한"),
    "Asia/Tokyo": ("JST", "Japan", "Japan time", "Japanese time", "Tokio", "Tokyo time", "Япония",
                   "японское время", "токийское время", "일본", "도쿄"),
    "Asia/Shanghai": ("China", "China time", "Beijing time", "Китай", "пекинское время", "китайское время",
                      "중국", "베이징"),
    "Europe/Berlin": ("CET", "CEST", "Central European time", "центральноевропейское время", "중부 유럽"),
    "Europe/London": ("BST", "UK", "UK time", "London time", "британское время", "영국"),
    # IST also names Israel's and Ireland's time; India's is the one most people mean (and it is confirmed).
    "Asia/Kolkata": ("IST", "India", "India time", "Indian time", "Индия", "индийское время", "인도", "인도 시간"),
    "Asia/Hong_Kong": ("HKT", "Hong Kong time"),
    "Asia/Singapore": ("SGT", "Singapore time"),
    "Asia/Jakarta": ("WIB",),
    "Australia/Sydney": ("AEST", "AEDT", "Australian Eastern time"),
    "Pacific/Honolulu": ("HST", "Hawaii", "Hawaii time", "Гавайи", "하와이"),
    "America/Anchorage": ("AKST", "AKDT", "Alaska", "Alaska time", "Аляска", "알래스카"),
    "UTC": ("GMT", "UTC", "Greenwich", "по Гринвичу", "гринвичское время", "всемирное время", "그리니치"),
}
# Abbreviations are zone names even on their own inside a question ("at 9pm KST"); city names are not.
ABBREVIATIONS: frozenset[str] = frozenset(
    "est edt cst cdt mst mdt pst pdt msk мск kst jst cet cest bst gmt utc ist hkt sgt wib aest aedt hst akst akdt"
    .split())

# Words around a zone that do not change it: "in Seoul", "по Москве", "Tokyo time", "한국 시간으로".
_ZONE_FILLER = frozenset("""
in at by for the time timezone zone standard daylight local по в во на время времени времечко часовой пояс
시간 시간으로 시간으론 시간으로는 시간대 기준 기준으로 으로 표준시
""".split())
_KO_ZONE_SUFFIXES = ("시간으로는", "시간으로", "시간기준으로", "시간기준", "시간대", "시간", "기준으로", "기준",
                     "으로는", "으로", "표준시")
# Russian adjective endings: "московскому" and "московское" both become "московск".
_RU_ADJ = re.compile(r"(ск|ческ|нн|н)(?:ому|ого|ыми|ими|ым|им|ой|ом|ая|ую|ое|ий|ый|ие|ые|ых|их)$")


@dataclass(frozen=True)
class ZoneMatch:
    zone: str  # stored value
    # How the zone was found: "city" (name of a city in it), "alias" (an abbreviation such as "KST", a
    # country, "московское время"), "iana", "offset", "location".
    how: str
    # What we recognised, for the confirmation ("Seoul", "Asia/Seoul", "UTC+05:30").
    label: str
    # The event city that was named, if any (shown by its own name: "Ha Noi", not "Ho Chi Minh City").
    city_id: str | None = None


class HasZone(Protocol):
    """A person as the layers see them (a `Profile`, a delivery `Recipient`): their chosen zone."""

    @property
    def timezone(self) -> str: ...


def reader_zone(person: HasZone | None, event: Event) -> str:
    """The zone to show times in: the person's, or the event's for someone unknown (not registered)."""
    return person.timezone if person is not None else str(event.timezone)


def get_tz(zone: str) -> tzinfo:
    """The tzinfo for a stored zone string: an IANA name or a fixed offset ("UTC+05:30", which ZoneInfo refuses).

    The one way to turn a zone string into a tzinfo; nowhere else constructs ZoneInfo from a person's zone."""
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
    # The first zone to claim a name keeps it: in a fixed order (a set's order changes from one process to
    # the next), legacy links last, so "São Paulo" is America/Sao_Paulo, never Brazil/East.
    legacy = ("Brazil/", "Canada/", "Chile/", "Mexico/")
    for z in sorted(_all_zones().values(), key=lambda z: (z.startswith(legacy), z)):
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


def _alias_key(text: str) -> str:
    """A zone name without the words around it: "по московскому времени" -> "московск"."""
    words = []
    for w in normalize(text).split():
        if w in _ZONE_FILLER:
            continue
        if "\uac00" <= w[0] <= "\ud7a3":
            for suffix in _KO_ZONE_SUFFIXES:
                if w.endswith(suffix) and len(w) > len(suffix):
                    w = w[: -len(suffix)]
                    break
        elif "\u0400" <= w[0] <= "\u04ff":
            w = _RU_ADJ.sub(r"\1", w)
        words.append(w)
    return " ".join(words)


@cache
def _aliases() -> dict[str, str]:
    return {_alias_key(name): zone for zone, names in _ALIASES_RAW.items() for name in names}


def _ru_cases(word: str) -> list[str]:
    """Nominative guesses for a Russian place name in another case: "москве" -> "москва", "сеулу" -> "сеул"."""
    if not word or not ("\u0400" <= word[-1] <= "\u04ff"):
        return []
    out = []
    for ending in ("ами", "ом", "ем", "ой", "ей", "е", "у", "ю", "и", "ы", "а", "я"):
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            stem = word[: -len(ending)]
            out += [stem, stem + "а", stem + "я", stem + "ь", stem + "о", stem + "и"]
    return out


def resolve_exact(text: str, event: Event | None = None) -> ZoneMatch | None:
    """Like `resolve`, without guessing at typos: what a question names as a zone ("по Москве", "in KST")."""
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
    for cand in [raw, *re.split(r"[,;/()]", raw)]:
        key = normalize(cand)
        if key in names:
            return ZoneMatch(names[key], "city", cand.strip(), _event_city(key, event))
        short = _alias_key(cand)
        if not short:
            continue
        alias = _aliases().get(short)
        if alias:
            return ZoneMatch(alias, "alias", cand.strip())
        # "Tokyo time", "in Seoul", "по Москве", "서울 시간으로": the place name without the words around it.
        for key in (short, *_ru_cases(short)):
            if key in names:
                return ZoneMatch(names[key], "city", cand.strip(), _event_city(key, event))
    return None


def resolve(text: str, event: Event | None = None) -> ZoneMatch | None:
    """Resolve a typed city, IANA name, UTC offset or alias ("KST", "미국 동부") to a zone, or None."""
    exact = resolve_exact(text, event)
    if exact is not None:
        return exact
    raw = text.strip()
    if not raw or len(raw) > 80 or _OFFSET.match(raw.casefold().replace(" ", "")):
        return None
    names = _gazetteer(event)
    # A typo in a city's name ("Seol"): the closest known name, if close enough.
    candidates = [raw, *re.split(r"[,;/()]", raw)]
    for cand in candidates:
        key = normalize(cand)
        if len(key) < 4:
            continue
        best = process.extractOne(key, names.keys(), scorer=fuzz.ratio, score_cutoff=85)
        if best:
            return ZoneMatch(names[best[0]], "city", cand.strip(), _event_city(best[0], event))
    # A city the list does not know, with its country ("Kazan, Russia"): the capital's zone, to confirm.
    return resolve_country(raw)


# The capital's zone of countries that span several zones (a one-zone country has only that one).
_CAPITAL_ZONES = {
    "RU": "Europe/Moscow", "US": "America/New_York", "CA": "America/Toronto", "BR": "America/Sao_Paulo",
    "MX": "America/Mexico_City", "AU": "Australia/Sydney", "ID": "Asia/Jakarta", "KZ": "Asia/Almaty",
    "CN": "Asia/Shanghai", "AR": "America/Argentina/Buenos_Aires", "CL": "America/Santiago",
    "MN": "Asia/Ulaanbaatar", "UA": "Europe/Kyiv", "ES": "Europe/Madrid", "PT": "Europe/Lisbon",
    "NZ": "Pacific/Auckland", "CD": "Africa/Kinshasa", "MY": "Asia/Kuala_Lumpur", "EC": "America/Guayaquil",
    "DE": "Europe/Berlin", "UZ": "Asia/Tashkent", "GL": "America/Nuuk", "FM": "Pacific/Pohnpei",
    "KI": "Pacific/Tarawa", "PF": "Pacific/Tahiti", "PG": "Pacific/Port_Moresby",
}
# Short names people type for a country, beside CLDR's ("Korea" is CLDR's "South Korea").
_COUNTRY_ALIASES = {
    "korea": "KR", "republic of korea": "KR", "корея": "KR", "южная корея": "KR", "한국": "KR", "남한": "KR",
    "usa": "US", "us": "US",
    "america": "US", "сша": "US", "америка": "US", "uk": "GB", "britain": "GB", "england": "GB", "рф": "RU",
    "russian federation": "RU", "российская федерация": "RU", "uae": "AE", "оаэ": "AE", "турция": "TR",
    "turkiye": "TR", "vietnam": "VN", "вьетнам": "VN", "베트남": "VN",
}


@cache
def _countries() -> dict[str, tuple[str, bool]]:
    """Normalised country name (en, ru, ko, and common short forms) -> (its capital's zone, whether the country
    has several zones)."""
    from babel.core import get_global

    zones: Mapping[str, list[str]] = get_global("territory_zones")
    out: dict[str, tuple[str, bool]] = {}

    def zone_of(code: str) -> tuple[str, bool] | None:
        listed = zones.get(code) or []
        zone = _CAPITAL_ZONES.get(code) or (listed[0] if len(listed) == 1 else None)
        return (zone, len(listed) > 1) if zone and is_valid_zone(zone) else None

    for lang in LANGS:
        for code, name in Locale.parse(lang).territories.items():
            found = zone_of(code) if len(code) == 2 else None
            if found:
                out.setdefault(normalize(name), found)
    for name, code in _COUNTRY_ALIASES.items():
        found = zone_of(code)
        if found:
            out[normalize(name)] = found
    return out


def resolve_country(text: str, *, capitals: bool = False) -> ZoneMatch | None:
    """A country named in `text` ("Lyon, France", "Busan South Korea", "Россия") -> its zone.

    A country with one zone is that zone. One with several (Russia, the USA) is not guessed unless `capitals`:
    then its capital's zone is an offer the person confirms (registration suggests it for a city the zone
    list does not know, such as "Kazan, Russia")."""
    countries = _countries()
    parts = [p for p in re.split(r"[,;/()]", text) if p.strip()]
    for part in reversed(parts):
        words = [w for w in normalize(part).split() if not _RU_COUNTRY.match(w)]
        # The whole part, then its last two words, then its last word ("Busan South Korea" -> "south korea").
        for key in (" ".join(words), " ".join(words[-2:]), " ".join(words[-1:])):
            for cand in (key, *(_ru_cases(key) if " " not in key else [])):
                found = countries.get(cand)
                if found is not None and (capitals or not found[1]):
                    return ZoneMatch(found[0], "country", part.strip())
    return None


_RU_COUNTRY = re.compile(r"^(?:из|в)$")


@cache
def _finder() -> TimezoneFinder:
    from timezonefinder import TimezoneFinder

    return TimezoneFinder(in_memory=True)


def from_location(latitude: float, longitude: float) -> ZoneMatch | None:
    """The zone at a shared location (offline lookup)."""
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    zone = _finder().timezone_at(lng=longitude, lat=latitude)
    if not zone:
        return None
    return ZoneMatch(zone, "location", zone)


# -- showing instants ----------------------------------------------------------------------------

# Formatting with Babel was the largest part of answering a question about time (issue 18); these functions are
# pure (an aware instant, a zone name, a language), so each result is kept: the instants are the program's.
FORMATTED = 4096


def to_local(instant: datetime, zone: str) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("naive datetime")
    return instant.astimezone(get_tz(zone))


@lru_cache(maxsize=FORMATTED)
def utc_offset_label(instant: datetime, zone: str) -> str:
    """"GMT+9", "GMT-6", "GMT+5:30" for the zone at that instant."""
    off = to_local(instant, zone).utcoffset() or timedelta(0)
    total = int(off.total_seconds() // 60)
    sign = "+" if total >= 0 else "-"
    h, m = divmod(abs(total), 60)
    return f"GMT{sign}{h}" + (f":{m:02d}" if m else "")


@lru_cache(maxsize=FORMATTED)
def fmt_time(instant: datetime, zone: str, lang: str) -> str:
    """"15:00" in the reader's zone, formatted for their locale (24-hour in all three)."""
    return format_time(to_local(instant, zone), "HH:mm", locale=lang)


@lru_cache(maxsize=FORMATTED)
def fmt_date(instant: datetime, zone: str, lang: str) -> str:
    """"17 Nov", "17 нояб.", "11월 17일" in the reader's zone."""
    # "MMMd" is a CLDR skeleton (each locale orders it), not a pattern: format_date would print "нояб.17".
    day = to_local(instant, zone).date()
    return format_skeleton("MMMd", day, locale=lang) if lang != "en" else format_date(day, "d MMM", locale=lang)


@lru_cache(maxsize=FORMATTED)
def fmt_long_date(instant: datetime, zone: str, lang: str) -> str:
    """"November 17, 2020", "17 ноября 2020 г.", "2020년 11월 17일"."""
    return format_date(to_local(instant, zone).date(), "long", locale=lang)


@lru_cache(maxsize=FORMATTED)
def fmt_full_date(instant: datetime, zone: str, lang: str) -> str:
    """The date with its weekday: "Tuesday, November 17, 2020", "вторник, 17 ноября 2020 г.", "2020년 11월 17일
    화요일"."""
    return format_date(to_local(instant, zone).date(), "full", locale=lang)


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
    return _zone_name(zone, lang, at or datetime.now(UTC))


@lru_cache(maxsize=FORMATTED)
def _zone_name(zone: str, lang: str, at: datetime) -> str:
    if zone.startswith(("UTC", "Etc/")):
        return utc_offset_label(at, zone)
    try:
        city = get_timezone_location(zone, locale=Locale.parse(lang), return_city=True)
    except (KeyError, LookupError, ValueError):
        city = zone
    return f"{city} ({utc_offset_label(at, zone)})"


def place_of_zone(zone: str, lang: str) -> tuple[str, str] | None:
    """(city, country) a zone is named after, in `lang` (CLDR's exemplar city and the zone's territory):
    "Asia/Seoul" -> ("Seoul", "South Korea"). A shared location gives a zone, and this a city to confirm."""
    from babel.core import get_global

    if not is_valid_zone(zone) or "/" not in zone:
        return None
    try:
        city = get_timezone_location(zone, locale=lang, return_city=True)
        territory = get_global("zone_territories").get(zone)
        country = Locale.parse(lang).territories.get(territory, "") if territory else ""
    except Exception:  # an unusual zone Babel does not describe: ask the person to type
        return None
    return (city, country) if city else None
