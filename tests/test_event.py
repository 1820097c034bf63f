"""The event file events/excom2020.toml: its content, its times, and the loader's error messages."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel

from domain.event import LANGS, Event, EventFileError, Text, load_event
from tests.harness import EVENT_FILE, MSK, msk

PROGRAM_IDS = ["checkin", "opening", "plenary", "coffee1", "matchmaking", "open-session", "reconnection",
               "closed-session", "tour", "quiz", "workshop", "closing", "concert"]
# Items that run at the same time on different tracks, as the seed's program table shows them.
PARALLEL = [("coffee1", "matchmaking"), ("reconnection", "closed-session"), ("tour", "quiz")]

BROCHURE_MEMBERS = ["addis-ababa", "beyoglu", "bucharest", "chengdu", "hebron", "goyang", "hanoi", "jakarta",
                    "khartoum", "kigali", "mexico-city", "moscow", "nairobi", "pittsburgh", "seberang-perai",
                    "seoul", "ulaanbaatar", "ulyanovsk"]
WEBSITE_MEMBERS = [*BROCHURE_MEMBERS, "makati"]

CYRILLIC = re.compile(r"[А-Яа-яЁё]")
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def utc(hour: int, minute: int = 0) -> datetime:
    return datetime(2020, 11, 17, hour, minute, tzinfo=UTC)


def ids(items) -> list[str]:
    return [i.id for i in items]


def texts(node: object, path: str = "event"):
    """Every Text in the model tree, with where it is."""
    if isinstance(node, Text):
        yield path, node
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from texts(getattr(node, name), f"{path}.{name}")
    elif isinstance(node, tuple):
        for n, child in enumerate(node):
            label = getattr(child, "id", n)
            yield from texts(child, f"{path}[{label}]")


# -- content ---------------------------------------------------------------------------------------


def test_file_loads(event: Event) -> None:
    assert event.id == "excom2020"
    assert event.date.isoformat() == "2020-11-17"
    assert event.timezone == "Europe/Moscow"
    assert event.tz_label == "GMT+3"
    assert event.website == "wegoexcom2020.com"
    assert event.theme.en == "Rethinking Smart Cities: Agile and Connected"
    assert "wegoexcom2020.com" in event.closing.en
    assert "regina@we-gov.org" in event.closing.en
    assert "record" not in event.closing.en.lower()


def test_program_items_and_order(event: Event) -> None:
    assert len(event.program) == 13
    assert ids(event.program) == PROGRAM_IDS


def test_ids_are_unique(event: Event) -> None:
    for group in (event.program, event.faq, event.cities):
        assert len(ids(group)) == len(set(ids(group)))


@pytest.mark.parametrize(("item_id", "start", "end"), [
    ("checkin", utc(5), utc(6)),
    ("opening", utc(6), utc(6, 30)),
    ("plenary", utc(6, 40), utc(7, 30)),
    ("coffee1", utc(7, 40), utc(8, 30)),
    ("matchmaking", utc(7, 40), utc(8, 30)),
    ("open-session", utc(8), utc(10)),
    ("reconnection", utc(10), utc(11, 15)),
    ("closed-session", utc(10), utc(11, 15)),
    ("tour", utc(11, 15), utc(11, 45)),
    ("quiz", utc(11, 15), utc(11, 45)),
    ("workshop", utc(11, 45), utc(12, 45)),
    ("closing", utc(12, 45), utc(13, 15)),
    ("concert", utc(13, 15), utc(14, 45)),
])
def test_times_in_utc(event: Event, item_id: str, start: datetime, end: datetime) -> None:
    item = event.item(item_id)
    assert item is not None
    assert item.starts == start
    assert item.ends == end
    assert item.starts.tzinfo is UTC


def test_event_span(event: Event) -> None:
    assert event.starts == msk(8) == utc(5)
    assert event.ends == msk(17, 45) == utc(14, 45)


@pytest.mark.parametrize(("a", "b"), PARALLEL)
def test_parallel_items_share_times_on_different_tracks(event: Event, a: str, b: str) -> None:
    first, second = event.item(a), event.item(b)
    assert first is not None and second is not None
    assert (first.starts, first.ends) == (second.starts, second.ends)
    assert first.track == "main"
    assert second.track != first.track


def test_items_with_the_same_slot_never_share_a_track(event: Event) -> None:
    seen: dict[tuple[datetime, datetime, str], str] = {}
    for item in event.program:
        key = (item.starts, item.ends, item.track)
        assert key not in seen, f"{item.id} and {seen[key]} share a slot and a track"
        seen[key] = item.id


def test_tracks_and_kinds(event: Event) -> None:
    tracks = {i.id: i.track for i in event.program}
    assert tracks["matchmaking"] == "matchmaking"
    assert tracks["closed-session"] == "closed"
    assert tracks["quiz"] == "quiz"
    assert {t for i, t in tracks.items() if i not in ("matchmaking", "closed-session", "quiz")} == {"main"}
    kinds = {i.id: i.kind for i in event.program}
    assert kinds == {
        "checkin": "checkin", "opening": "ceremony", "plenary": "session", "coffee1": "break",
        "matchmaking": "matchmaking", "open-session": "meeting", "reconnection": "session",
        "closed-session": "meeting", "tour": "tour", "quiz": "quiz", "workshop": "workshop",
        "closing": "ceremony", "concert": "concert",
    }


def test_only_the_closed_session_is_members_only(event: Event) -> None:
    assert [i.id for i in event.program if i.members_only] == ["closed-session"]


def test_join_texts(event: Event) -> None:
    assert "DVMS" in event.platform.join.en
    assert [i.id for i in event.program if i.join is not None] == ["closed-session"]
    closed = event.item("closed-session")
    assert closed is not None and closed.join is not None
    assert "EXCOM members" in closed.join.en and "DVMS" in closed.join.en


def test_speakers_and_agenda(event: Event) -> None:
    opening, closing = event.item("opening"), event.item("closing")
    assert opening is not None and closing is not None
    assert [s.name.en for s in opening.speakers] == ["Sergey Cheremin", "Kyong-yul Lee"]
    assert opening.speakers[1].role.en == "Secretary General, WeGO"
    assert len(opening.agenda) == 3
    assert "10th anniversary" in opening.agenda[1].en
    assert [s.name.en for s in closing.speakers] == ["Eduard Lysenko"]
    assert "Health Responder Webinar" in closing.agenda[1].en


def test_every_text_is_translated(event: Event) -> None:
    found = list(texts(event))
    assert len(found) > 150
    for where, text in found:
        for lang in LANGS:
            assert text.get(lang).strip(), f"{where}.{lang} is empty"
        # Only the event's brand name is the same in every language.
        if where != "event.name":
            assert CYRILLIC.search(text.ru), f"{where}.ru is not in Russian: {text.ru!r}"
            assert HANGUL.search(text.ko), f"{where}.ko is not in Korean: {text.ko!r}"


def test_every_program_item_and_faq_entry_has_keywords_in_every_language(event: Event) -> None:
    for entry in (*event.program, *event.faq):
        for lang in LANGS:
            words = entry.keywords.get(lang)
            assert len(words) >= 4, f"{entry.id}: too few {lang} keywords"
            lowered = [w.lower() for w in words]
            assert len(lowered) == len(set(lowered)), f"{entry.id}: repeated {lang} keyword"


@pytest.mark.parametrize(("item_id", "lang", "word"), [
    ("quiz", "en", "quiz"), ("quiz", "ru", "викторина"), ("quiz", "ko", "퀴즈"),
    ("concert", "en", "concert"), ("concert", "ru", "концерт"), ("concert", "ko", "공연"),
    ("opening", "ru", "опенинг"), ("coffee1", "en", "break"), ("coffee1", "ru", "кофе-брейк"),
    ("coffee1", "ko", "네트워킹"), ("matchmaking", "en", "matchmaking"), ("matchmaking", "ru", "встречи"),
    ("matchmaking", "ko", "매칭"),
])
def test_keywords_people_use(event: Event, item_id: str, lang: str, word: str) -> None:
    item = event.item(item_id)
    assert item is not None
    assert word in item.keywords.get(lang)


def test_platform_registration_matchmaking_contact(event: Event) -> None:
    assert event.platform.name == "DVMS"
    assert event.platform.capacity == 1000
    assert event.registration.deadline == datetime(2020, 11, 10, 20, 59, 59, tzinfo=UTC)
    assert event.registration.free is True
    assert event.registration.url == "wegoexcom2020.com"
    assert event.registration_open(msk(9)) is False
    assert event.registration_open(datetime(2020, 11, 10, 23, 0, tzinfo=MSK))
    mm = event.matchmaking
    assert mm.availability_deadline == datetime(2020, 10, 23, 20, 59, 59, tzinfo=UTC)
    assert mm.schedule_deadline == datetime(2020, 11, 10, 20, 59, 59, tzinfo=UTC)
    assert mm.item == "matchmaking"
    assert len(mm.steps) == 3
    assert "first-come" in mm.steps[1].en
    contact = event.contact
    assert (contact.name.en, contact.name.ru, contact.name.ko) == ("Regina Joe", "Регина Джо", "레지나 조")
    assert contact.email == "regina@we-gov.org"
    assert contact.phone == "+82-2-720-2936"
    assert contact.languages.en == "English, Korean"


def test_faq(event: Event) -> None:
    assert len(event.faq) >= 25
    links = {f.id: f.item for f in event.faq}
    assert links["quiz"] == "quiz"
    assert links["closed-session"] == "closed-session"
    assert links["concert"] == "concert"
    assert links["tour"] == "tour"
    assert all(links[f] == "matchmaking" for f in links if f.startswith("matchmaking-"))
    assert links["register-how"] is None


def test_cities(event: Event) -> None:
    assert len(event.cities) == 19
    assert all(c.excom for c in event.cities)
    by_source = {src: sorted(c.id for c in event.excom_cities if src in c.excom_sources)
                 for src in ("brochure", "website")}
    assert by_source == {"brochure": sorted(BROCHURE_MEMBERS), "website": sorted(WEBSITE_MEMBERS)}
    makati = event.city("makati")
    assert makati is not None and makati.excom_sources == ("website",)
    offices = {c.id: c.regional_office.en for c in event.cities if c.regional_office}
    assert offices == {
        "chengdu": "East Asia Regional Office",
        "ulyanovsk": "Eurasia Regional Office",
        "beyoglu": "Mediterranean Regional Office",
        "mexico-city": "Latin America Regional Office",
    }
    with_facts = {c.id for c in event.cities if c.facts}
    assert with_facts == {"chengdu", "ulyanovsk", "beyoglu", "mexico-city", "moscow"}
    for city in event.cities:
        ZoneInfo(city.timezone)
        assert city.aliases, city.id


@pytest.mark.parametrize(("city_id", "timezone", "alias"), [
    ("hanoi", "Asia/Ho_Chi_Minh", "Hanoi"), ("hanoi", "Asia/Ho_Chi_Minh", "Ханой"),
    ("hanoi", "Asia/Ho_Chi_Minh", "하노이시"), ("beyoglu", "Europe/Istanbul", "Beyoğlu"),
    ("beyoglu", "Europe/Istanbul", "Бейоглу"), ("khartoum", "Africa/Khartoum", "Khartoum"),
    ("ulyanovsk", "Europe/Ulyanovsk", "Ulyanovsk"), ("ulyanovsk", "Europe/Ulyanovsk", "Ульяновск"),
    ("hebron", "Asia/Hebron", "Al-Khalil"), ("seberang-perai", "Asia/Kuala_Lumpur", "Seberang Prai"),
    ("makati", "Asia/Manila", "Makati City"), ("pittsburgh", "America/New_York", "Pittsburg"),
    ("chengdu", "Asia/Shanghai", "成都"), ("seoul", "Asia/Seoul", "서울특별시"),
])
def test_city_time_zones_and_aliases(event: Event, city_id: str, timezone: str, alias: str) -> None:
    city = event.city(city_id)
    assert city is not None
    assert city.timezone == timezone
    assert alias in city.aliases


def test_wego(event: Event) -> None:
    assert "Smart Sustainable Cities for All" in event.wego.vision.en
    assert "Seo Jong Hyup" in event.wego.president.en
    assert "18" in event.wego.members_note.en and "19" in event.wego.members_note.en
    assert "Makati" in event.wego.members_note.en
    assert "three years" in event.wego.excom.en


# -- now on / up next ------------------------------------------------------------------------------


@pytest.mark.parametrize(("instant", "on", "nxt"), [
    (msk(7), [], ["checkin"]),
    (msk(8), ["checkin"], ["opening"]),
    (msk(9, 35), [], ["plenary"]),
    (msk(10, 35), [], ["coffee1", "matchmaking"]),
    (msk(10, 40), ["coffee1", "matchmaking"], ["open-session"]),
    (msk(11, 15), ["coffee1", "matchmaking", "open-session"], ["reconnection", "closed-session"]),
    (msk(13, 30), ["reconnection", "closed-session"], ["tour", "quiz"]),
    (msk(14, 15), ["tour", "quiz"], ["workshop"]),
    (msk(17), ["concert"], []),
    (msk(17, 45), [], []),
])
def test_now_on_and_up_next(event: Event, instant: datetime, on: list[str], nxt: list[str]) -> None:
    assert ids(event.now_on(instant)) == on
    assert ids(event.up_next(instant)) == nxt


# -- loader errors ---------------------------------------------------------------------------------


def variant(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the real event file with one exact piece of text replaced."""
    text = EVENT_FILE.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"expected exactly one {old!r} in the event file"
    path = tmp_path / "excom2020.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(EventFileError) as info:
        load_event(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    return message


def test_error_end_before_start(tmp_path: Path) -> None:
    path = variant(tmp_path, 'id = "plenary"\nkind = "session"\nstart = 09:40:00\nend = 10:30:00\n',
                   'id = "plenary"\nkind = "session"\nstart = 09:40:00\nend = 09:10:00\n')
    message = load_error(path)
    assert "program item 'plenary'" in message
    assert "end 09:10 is not after start 09:40" in message


def test_error_missing_korean_title(tmp_path: Path) -> None:
    path = variant(tmp_path, 'title.ko = "폐회식"\n', "")
    message = load_error(path)
    assert "'closing'" in message
    assert "title > ko" in message
    assert "Field required" in message


def test_error_duplicate_id(tmp_path: Path) -> None:
    path = variant(tmp_path, 'id = "quiz"\nkind = "quiz"\n', 'id = "tour"\nkind = "quiz"\n')
    message = load_error(path)
    assert "duplicate program item id 'tour'" in message


def test_error_unknown_city_time_zone(tmp_path: Path) -> None:
    path = variant(tmp_path, 'timezone = "Asia/Hebron"', 'timezone = "Asia/Hebrn"')
    message = load_error(path)
    assert "cities[" in message and "'hebron'" in message
    assert "timezone: unknown time zone 'Asia/Hebrn'" in message


def test_error_unknown_event_time_zone(tmp_path: Path) -> None:
    path = variant(tmp_path, 'timezone = "Europe/Moscow"\ntz_label', 'timezone = "Europe/Moskow"\ntz_label')
    message = load_error(path)
    assert "timezone" in message and "Europe/Moskow" in message


def test_error_bad_toml(tmp_path: Path) -> None:
    old = 'title.en = "Opening Ceremony"\n'
    line = EVENT_FILE.read_text(encoding="utf-8").splitlines().index(old.rstrip("\n")) + 1
    path = variant(tmp_path, old, 'title.en = "Opening Ceremony\n')
    message = load_error(path)
    assert "not valid TOML" in message
    assert f"line {line}" in message


def test_error_missing_file(tmp_path: Path) -> None:
    message = load_error(tmp_path / "nope.toml")
    assert "file not found" in message
