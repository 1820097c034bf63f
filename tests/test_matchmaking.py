"""Matchmaking through the bot: hosts mark free slots (/availability), cities and sponsors book them with one tap
(/meet), hosts decline, either side cancels until organisers publish (/matchmaking), and the races are decided
by the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from bot.config import DEFAULT_EVENT_FILE
from domain import matchmaking as rules
from domain.errors import ServiceError
from domain.matchmaking import SlotUnavailable
from handlers.matchmaking import MmAct, MmAvail, MmBook
from services import matchmaking as mm_uc
from storage.models import MmAvailability, MmBooking, MmOutsideRequest, MmProfile, MmSeat
from storage.uow import UnitOfWorkFactory
from testkit.databases import throwaway_database
from tests.harness import Harness, drain, make_settings, register
from tests.test_reminders import follow, outbox_rows

MSK = ZoneInfo("Europe/Moscow")
ORGANISER = 999
SLOTS = ["1040", "1050", "1100", "1110", "1120"]
SEOUL, HANOI, KIGALI = 101, 102, 103  # host cities
ACME, UNI, BERLIN = 201, 202, 203  # requesters: a sponsor, an institution, a city that does not host


def at(month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2020, month, day, hour, minute, tzinfo=MSK)


BOOKING_OPEN = at(10, 28)


async def people(h: Harness) -> None:
    await register(h, SEOUL, participant_type="excom", city="Seoul", city_id="seoul", matchmaking=True,
                   full_name="Sam Seoul")
    await register(h, HANOI, participant_type="wego_member", city="Hanoi", city_id="hanoi", matchmaking=True,
                   full_name="Ha Hanoi", timezone="Asia/Ho_Chi_Minh")
    await register(h, KIGALI, participant_type="local_gov", city="Kigali", city_id="kigali", matchmaking=True,
                   full_name="Kim Kigali")
    await register(h, ACME, participant_type="partner", city="Berlin", full_name="Ada Acme", timezone="Asia/Seoul")
    await register(h, UNI, participant_type="institution", city="Paris", full_name="Uma Uni", language="ru")
    await register(h, BERLIN, participant_type="wego_member", city="Berlin", matchmaking=False,
                   full_name="Ben Berlin")


async def offer(h: Harness, host: int, *slots: str) -> None:
    async with h.app.sessions() as s:
        for slot in slots:
            s.add(MmAvailability(user_id=host, slot_id=slot, created_at=h.clock.now()))
        await s.commit()


async def bookings(h: Harness) -> list[tuple[int, int, str]]:
    async with h.app.sessions() as s:
        rows = await s.scalars(select(MmBooking).order_by(MmBooking.slot_id, MmBooking.host_id))
        return [(r.host_id, r.requester_id, r.slot_id) for r in rows]


# The organisers' real meeting address (the event file ships a placeholder, which publishing refuses).
LINK = "https://video.wego-rehearsal.org/excom2020/{meeting_id}"


def linked_event(tmp_path: Path) -> Path:
    """The event file with the organisers' meeting link in place of the placeholder."""
    text = DEFAULT_EVENT_FILE.read_text(encoding="utf-8")
    placeholder = 'meeting_link = "https://meet.example.org/wego-excom2020/{meeting_id}"'
    assert placeholder in text
    path = tmp_path / "excom2020.toml"
    path.write_text(text.replace(placeholder, f'meeting_link = "{LINK}"'), encoding="utf-8")
    return path


@pytest.fixture
async def h(tmp_path) -> AsyncIterator[Harness]:
    harness = await Harness.create(make_settings(tmp_path, event_file=linked_event(tmp_path)), at=BOOKING_OPEN)
    await people(harness)
    yield harness
    await harness.close()


# -- availability ---------------------------------------------------------------------------------------------

async def test_a_host_marks_free_slots_with_toggles(tmp_path) -> None:
    h = await Harness.create(make_settings(tmp_path), at=at(10, 20))  # before the availability date
    try:
        await people(h)
        await h.send(SEOUL, "/availability")
        text = h.last_text(SEOUL)
        assert "When can your city meet?" in text and "October 23, 2020" in text
        # Read on 20 Oct, every slot carries its date.
        assert h.buttons(SEOUL)[:5] == ["▫️ 17 Nov, 10:40–10:50", "▫️ 17 Nov, 10:50–11:00", "▫️ 17 Nov, 11:00–11:10",
                                    "▫️ 17 Nov, 11:10–11:20", "▫️ 17 Nov, 11:20–11:30"]
        await h.press(SEOUL, "10:40")
        await h.press(SEOUL, "11:20–11:30")
        assert h.buttons(SEOUL)[0] == "✅ 17 Nov, 10:40–10:50" and h.buttons(SEOUL)[4] == "✅ 17 Nov, 11:20–11:30"
        await h.press(SEOUL, "11:20–11:30")  # toggled back
        async with h.app.sessions() as s:
            assert list(await s.scalars(select(MmAvailability.slot_id))) == ["1040"]
        # Hanoi's host sees the slots in their own zone (GMT+7).
        await h.send(HANOI, "/availability")
        assert h.buttons(HANOI)[0] == "▫️ 17 Nov, 14:40–14:50"
        # Not a host: a sponsor, and a city that said no at registration.
        await h.send(ACME, "/availability")
        assert h.last_text(ACME) == rules.NOT_LOCAL_GOVERNMENT
        await h.send(BERLIN, "/availability")
        assert "You said your city is not available" in h.last_text(BERLIN)
        # Booking has not opened yet: /meet says when it does, by the bot's clock.
        await h.send(BERLIN, "/meet")
        assert "Booking opens after October 23, 2020, 23:59 (GMT+3)" in h.last_text(BERLIN)
        await h.send(ACME, "/meet")  # in Seoul, that is already the 24th
        assert "Booking opens after October 24, 2020, 05:59 (GMT+9)" in h.last_text(ACME)
    finally:
        await h.close()


# -- the directory and booking ----------------------------------------------------------------------------------

async def test_directory_card_and_one_tap_booking_notifies_the_host(h: Harness) -> None:
    await offer(h, SEOUL, "1040", "1050", "1100")
    await offer(h, HANOI, "1110")
    await h.send(ACME, "/meet")
    text = h.last_text(ACME)
    assert "Cities open for meetings</b>: 2" in text
    assert "<b>Ha Noi</b>, Vietnam · 1 free slot" in text and "<b>Seoul</b>, Republic of Korea" in text
    await h.press(ACME, "Seoul")
    card = h.last_text(ACME)
    # Bookers see the city, its country and organisation; the contact's name only once a meeting is booked.
    assert "Sam Seoul" not in card and "City Hall" in card and "Seoul (GMT+9)" in card
    assert "Booking tells the city your name, position, organisation and city" in card
    # ACME reads in Seoul time
    assert h.buttons(ACME)[:3] == ["17 Nov, 16:40–16:50", "17 Nov, 16:50–17:00", "17 Nov, 17:00–17:10"]
    await h.press(ACME, "16:50–17:00")
    assert "✅ <b>Booked:</b> a meeting with Seoul at 17 Nov, 16:50–17:00" in h.last_text(ACME)
    assert await bookings(h) == [(SEOUL, ACME, "1050")]
    sent = await drain(h)
    [(chat, notice)] = [(c, t) for c, t in sent if "New matchmaking meeting" in t]
    assert chat == SEOUL
    assert "10:50–11:00" in notice and "Ada Acme, Officer, City Hall, Berlin" in notice
    assert "Decline this meeting" in h.buttons(SEOUL)


async def test_search_by_name_in_three_languages_and_country_filter(h: Harness) -> None:
    await offer(h, SEOUL, "1040")
    await offer(h, HANOI, "1040")
    await offer(h, KIGALI, "1040")
    for query in ("Сеул", "서울", "seoul", "Korea"):
        await h.send(ACME, f"/meet {query}")
        text = h.last_text(ACME)
        assert "matching" in text and "Seoul" in text and "Ha Noi" not in text, query
    await h.send(ACME, "/meet Atlantis")
    assert "No city matches" in h.last_text(ACME)
    await h.send(ACME, "/meet")
    await h.press(ACME, "By country")
    assert set(h.buttons(ACME)) >= {"Republic of Korea", "Vietnam", "Rwanda", "All cities"}
    await h.press(ACME, "Rwanda")
    text = h.last_text(ACME)
    assert "Cities in Rwanda" in text and "Kigali" in text and "<b>Seoul</b>" not in text
    # Russian reader: names in Russian.
    await h.send(UNI, "/meet", lang="ru")
    assert "Сеул" in h.last_text(UNI) and "Ханой" in h.last_text(UNI), h.last_text(UNI)


async def test_rules_one_meeting_per_pair_limit_and_self(h: Harness) -> None:
    await offer(h, SEOUL, *SLOTS)
    await offer(h, HANOI, *SLOTS)
    await offer(h, KIGALI, *SLOTS)
    await h.press_data(ACME, MmBook(host=SEOUL, slot="1040").pack())
    # The same pair again: refused.
    requests = await h.press_data(ACME, MmBook(host=SEOUL, slot="1050").pack())
    [answer] = [r for r in requests if r.method == "answerCallbackQuery"]
    assert answer.params["text"] == rules.PAIR_MET
    # The same slot with another city: refused (nobody is in two meetings at once).
    requests = await h.press_data(ACME, MmBook(host=HANOI, slot="1040").pack())
    [answer] = [r for r in requests if r.method == "answerCallbackQuery"]
    assert answer.params["text"] == rules.REQUESTER_BUSY
    await h.press_data(ACME, MmBook(host=HANOI, slot="1050").pack())
    await h.press_data(ACME, MmBook(host=KIGALI, slot="1100").pack())
    # A fourth: the limit of 3.
    await register(h, 104, participant_type="excom", city="Moscow", city_id="moscow", matchmaking=True)
    await offer(h, 104, *SLOTS)
    requests = await h.press_data(ACME, MmBook(host=104, slot="1110").pack())
    [answer] = [r for r in requests if r.method == "answerCallbackQuery"]
    assert "You already have 3 meetings" in answer.params["text"]
    # A host booking itself (a forged button).
    requests = await h.press_data(SEOUL, MmBook(host=SEOUL, slot="1110").pack())
    [answer] = [r for r in requests if r.method == "answerCallbackQuery"]
    assert answer.params["text"] == rules.SELF
    assert len(await bookings(h)) == 3
    # A host busy as a requester cannot receive a meeting in that slot, and the other way round.
    await h.press_data(SEOUL, MmBook(host=HANOI, slot="1110").pack())
    requests = await h.press_data(UNI, MmBook(host=SEOUL, slot="1110").pack(), lang="ru")
    assert "1110" not in [b for _h, _r, b in await bookings(h) if _h == SEOUL]


async def test_taken_slot_offers_the_next_free_slots_and_the_outside_request(h: Harness) -> None:
    await offer(h, SEOUL, "1040", "1050")
    await h.send(ACME, "/meet")
    await h.press(ACME, "Seoul")
    await h.press_data(UNI, MmBook(host=SEOUL, slot="1040").pack(), lang="ru")  # UNI is quicker
    await h.press(ACME, "16:40–16:50")
    text = h.last_text(ACME)
    assert text.startswith(rules.SLOT_TAKEN) and "still free for you" in text
    assert h.buttons(ACME)[0] == "17 Nov, 16:50–17:00"
    await h.press(ACME, "16:50–17:00")
    assert await bookings(h) == [(SEOUL, UNI, "1040"), (SEOUL, ACME, "1050")]
    # Nothing left for a third: ask to meet outside the event.
    await register(h, 205, participant_type="partner", full_name="Carl Corp")
    await h.send(205, "/meet")
    assert "No city has a slot free for you" in h.last_text(205)
    await h.press_data(205, MmBook(host=SEOUL, slot="1050").pack())
    assert "no other slot free" in h.last_text(205)
    await h.press(205, "Ask to meet outside the event")
    assert "request to meet this city outside the event is recorded" in h.last_text(205)
    await h.press_data(205, MmAct(action="out", id=SEOUL).pack())  # twice: recorded once
    async with h.app.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(MmOutsideRequest)) == 1
    # With a free slot left, the request is refused: book it instead.
    await offer(h, SEOUL, "1100")
    requests = await h.press_data(205, MmAct(action="out", id=KIGALI).pack())
    [answer] = [r for r in requests if r.method == "answerCallbackQuery"]
    assert answer.params["text"] == rules.NOT_HOST
    await h.send(ORGANISER, "/matchmaking")
    assert "Requests to meet outside the event</b>: 1" in h.last_text(ORGANISER)
    assert "Carl Corp" in h.last_text(ORGANISER)


async def test_slots_that_clash_with_followed_sessions_are_marked(h: Harness) -> None:
    await offer(h, SEOUL, *SLOTS)
    await follow(h, BERLIN, "open-session")
    await h.send(BERLIN, "/meet")
    await h.press(BERLIN, "Seoul")
    text = h.last_text(BERLIN)
    assert h.buttons(BERLIN)[:5] == ["17 Nov, 10:40–10:50", "17 Nov, 10:50–11:00", "⚠️ 17 Nov, 11:00–11:10",
                                     "⚠️ 17 Nov, 11:10–11:20", "⚠️ 17 Nov, 11:20–11:30"]
    assert "⚠️ 17 Nov, 11:00–11:10 overlaps" in text and "which you follow" in text
    # Someone who does not follow it sees no mark.
    await h.send(ACME, "/meet")
    await h.press(ACME, "Seoul")
    assert not any("⚠️" in b for b in h.buttons(ACME))
    # "The whole program" counts as following it.
    await follow(h, ACME, follow_all=True)
    await h.send(ACME, "/meet")
    await h.press(ACME, "Seoul")
    assert [b for b in h.buttons(ACME) if "⚠️" in b] == ["⚠️ 17 Nov, 17:00–17:10", "⚠️ 17 Nov, 17:10–17:20",
                                                        "⚠️ 17 Nov, 17:20–17:30"]


# -- decline, cancel, publish ---------------------------------------------------------------------------------------

async def test_host_declines_and_the_requester_is_offered_alternatives(h: Harness) -> None:
    await offer(h, SEOUL, "1040", "1050")
    await h.press_data(ACME, MmBook(host=SEOUL, slot="1040").pack())
    await drain(h)
    await h.press(SEOUL, "Decline this meeting")
    assert await bookings(h) == []
    sent = await drain(h)
    [(chat, text)] = [(c, t) for c, t in sent if "declined" in t]
    assert chat == ACME and "Seoul declined the matchmaking meeting at 17 Nov, 16:40–16:50" in text
    assert h.buttons(ACME) == ["17 Nov, 16:40–16:50", "17 Nov, 16:50–17:00"]
    await h.press(ACME, "16:50–17:00")
    assert await bookings(h) == [(SEOUL, ACME, "1050")]
    # Only the host declines; the requester cancels.
    [mid] = [m.id for m in await _meetings(h)]
    requests = await h.press_data(ACME, MmAct(action="dec", id=mid).pack())
    [answer] = [r for r in requests if r.method == "answerCallbackQuery"]
    assert answer.params["text"] == rules.ONLY_HOST_DECLINES
    # Someone else's meeting.
    requests = await h.press_data(BERLIN, MmAct(action="can", id=mid).pack())
    [answer] = [r for r in requests if r.method == "answerCallbackQuery"]
    assert answer.params["text"] == rules.NOT_YOURS


async def _meetings(h: Harness) -> list:
    async with UnitOfWorkFactory(h.app.sessions)() as uow:
        return await uow.matchmaking.meetings()


async def test_requester_cancels_from_my_meetings_and_the_host_is_told(h: Harness) -> None:
    await offer(h, SEOUL, "1040")
    await h.press_data(ACME, MmBook(host=SEOUL, slot="1040").pack())
    await h.send(ACME, "/meet")
    await h.press(ACME, "My meetings")
    assert "17 Nov, 16:40–16:50</b>: Sam Seoul" in h.last_text(ACME)
    await h.press(ACME, "Cancel 17 Nov, 16:40")
    assert await bookings(h) == []
    sent = await drain(h)
    assert [c for c, t in sent if "was cancelled by them" in t and "10:40–10:50" in t] == [SEOUL]
    # The booking notice to the host was dropped: the meeting is gone.
    assert not [t for _c, t in sent if "New matchmaking meeting" in t]
    await h.press(ACME, "All cities")
    assert "Seoul" in h.last_text(ACME)


async def test_publish_freezes_and_sends_schedules_with_links_ics_and_reminders(h: Harness) -> None:
    await offer(h, SEOUL, "1040", "1100")
    await h.press_data(ACME, MmBook(host=SEOUL, slot="1040").pack())
    await h.press_data(UNI, MmBook(host=SEOUL, slot="1100").pack(), lang="ru")
    await drain(h)
    # Others may not publish: one neutral line.
    await h.send(ACME, "/matchmaking")
    assert h.last_text(ACME) == "This command is for the organisers."
    await h.send(ORGANISER, "/matchmaking")
    grid = h.last_text(ORGANISER)
    assert "Cities open for meetings: 1 · slots offered: 2 · meetings booked: 2" in grid
    assert "<code>✅·✅··</code> Seoul (2/2)" in grid
    await h.press(ORGANISER, "Export CSV")
    [doc] = [r for r in h.session.requests if r.method == "sendDocument"]
    data = next(iter(doc.files.values()))
    assert data.startswith("\ufeff".encode())
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0] == ",".join(mm_uc.CSV_HEADERS)
    assert lines[1].startswith("2020-11-17 07:40,10:40,Sam Seoul,Seoul,Ada Acme,Berlin,confirmed,")
    async with UnitOfWorkFactory(h.app.sessions)() as uow:  # what the organiser tools read
        assert await mm_uc.participant_ids(uow) == {SEOUL, ACME, UNI}
        assert await mm_uc.meetings_booked(uow) == 2
    await h.press(ORGANISER, "Publish schedule")
    assert "Publish the final schedule now?" in h.last_text(ORGANISER) and "Participants: 3." in h.last_text(ORGANISER)
    await h.press(ORGANISER, "Yes, publish")
    assert "The schedule was published" in h.last_text(ORGANISER)
    await h.send(ORGANISER, "/audit")
    assert "schedule_publish · 2 meetings, 3 participants" in h.last_text(ORGANISER)
    # Frozen: no cancel, no booking, no availability change.
    [mid, _other] = [m.id for m in await _meetings(h)]
    requests = await h.press_data(ACME, MmAct(action="can", id=mid).pack())
    [answer] = [r for r in requests if r.method == "answerCallbackQuery"]
    assert "final schedule has been published" in answer.params["text"]
    await h.send(SEOUL, "/availability")
    assert h.last_text(SEOUL) == rules.AVAILABILITY_CLOSED
    requests = await h.press_data(SEOUL, MmAvail(slot="1050").pack())
    assert len(await bookings(h)) == 2
    # Everyone gets their schedule (in their language and zone) and an .ics file.
    sent = await drain(h)
    schedules = {c: t for c, t in sent if "matchmaking schedule" in t or "расписание" in t}
    assert set(schedules) == {SEOUL, ACME, UNI}
    assert "17 Nov, 16:40–16:50: Sam Seoul" in schedules[ACME]
    assert "https://video.wego-rehearsal.org/excom2020/" in schedules[ACME]
    assert "Seoul (GMT+9)" in schedules[ACME]
    docs = [r for r in h.session.requests if r.method == "sendDocument" and r.chat_id == ACME]
    [ev] = Calendar.from_ical(next(iter(docs[-1].files.values()))).walk("VEVENT")
    assert ev.decoded("dtstart").astimezone(MSK) == at(11, 17, 10, 40)
    assert "video.wego-rehearsal.org" in str(ev["LOCATION"])
    # 5 minutes before the meeting, each side is reminded.
    h.clock.set(at(11, 17, 10, 35))
    sent = await drain(h)
    reminded = sorted(c for c, t in sent if ("starts at" in t and "in 5 minutes" in t) or "через 5 минут" in t)
    assert reminded == [SEOUL, ACME]
    # After publishing, publishing again is refused.
    await h.send(ORGANISER, "/matchmaking")
    assert "Publish schedule" not in h.buttons(ORGANISER)


async def test_times_not_on_the_readers_today_carry_their_date(h: Harness) -> None:
    """Issue 20 bug 8: a Mexico City host's meetings are at 01:40 at night on 17 Nov; slots, the booking
    confirmation and notice, the published schedule and the reminder said "01:40" without the date."""
    mexico = 104
    await register(h, mexico, participant_type="local_gov", city="Mexico City", matchmaking=True,
                   full_name="Mia Mexico", timezone="America/Mexico_City")
    await offer(h, mexico, "1040", "1050", "1100")
    await h.send(mexico, "/availability")  # read on 28 Oct
    assert h.buttons(mexico)[0] == "✅ 17 Nov, 01:40–01:50"
    await h.send(ACME, "/meet Mexico")
    await h.press(ACME, "Mexico City")
    assert h.buttons(ACME)[:2] == ["17 Nov, 16:40–16:50", "17 Nov, 16:50–17:00"]
    await h.press(ACME, "17 Nov, 16:40–16:50")
    assert "a meeting with Mexico City at 17 Nov, 16:40–16:50" in h.last_text(ACME)
    sent = await drain(h)
    [notice] = [t for c, t in sent if c == mexico]
    assert "17 Nov, 01:40–01:50" in notice
    # In Russian and Korean the date comes too, and the Russian does not read "в 17 нояб." (review R2).
    await register(h, 105, participant_type="partner", full_name="Rita", language="ru",
                   timezone="America/Mexico_City")
    await register(h, 106, participant_type="partner", full_name="Kyung", language="ko",
                   timezone="America/Mexico_City")
    await h.press_data(105, MmBook(host=mexico, slot="1050").pack(), lang="ru")
    assert "17 нояб., 01:50–02:00" in h.last_text(105) and "в 17" not in h.last_text(105)
    await h.send(106, "/meet", lang="ko")
    await h.press(106, "Mexico City", lang="ko")
    assert h.buttons(106)[0] == "11월 17일, 02:00–02:10"
    # The schedule, published on 11 Nov, carries the date.
    h.clock.set(at(11, 11))
    await h.send(ORGANISER, "/matchmaking")
    await h.press(ORGANISER, "Publish schedule")
    await h.press(ORGANISER, "Yes, publish")
    sent = await drain(h)
    [schedule] = [t for c, t in sent if c == mexico and "schedule" in t]
    assert "17 Nov, 01:40–01:50: Ada Acme" in schedule and "17 Nov, 01:50–02:00: Rita" in schedule
    [ru] = [t for c, t in sent if c == 105 and "расписание" in t]
    assert "17 нояб., 01:50–02:00" in ru
    # On the night itself the reminder needs no date: 01:40 is today for the host.
    h.clock.set(at(11, 17, 10, 35))
    sent = await drain(h)
    [reminder] = [t for c, t in sent if c == mexico and "in 5 minutes" in t]
    assert "starts at 01:40" in reminder and "Nov" not in reminder


async def test_a_city_describes_itself_bookers_filter_by_topic_and_leave_a_note(h: Harness) -> None:
    """Issue 20, matchmaking as Brella users expect: topics from the event file's list and a line of free text
    in the directory, a filter by topic, a booker's one-line note shown to the host."""
    await offer(h, SEOUL, "1040", "1050")
    await offer(h, HANOI, "1100")
    await h.send(SEOUL, "/availability")
    assert "Tell bookers what your city would like to discuss" in h.last_text(SEOUL)
    await h.press(SEOUL, "Topics")
    assert "▫️ Open government" in h.buttons(SEOUL) and "▫️ Smart city strategy" in h.buttons(SEOUL)
    await h.press(SEOUL, "Open government")
    await h.press(SEOUL, "Smart city strategy")
    await h.press(SEOUL, "Smart city strategy")  # taken away again
    assert "✅ Open government" in h.buttons(SEOUL) and "▫️ Smart city strategy" in h.buttons(SEOUL)
    await h.press(SEOUL, "Back")
    await h.press(SEOUL, "A line about your city")
    await h.send(SEOUL, "x" * 201)
    assert "at most 200 characters (this one has 201)" in h.last_text(SEOUL)
    await h.send(SEOUL, "We would  like to share our   open data portal")
    assert "<b>In the directory</b>: Topics: Open government\n«We would like to share our open data portal»" in \
        h.last_text(SEOUL)
    # A booker filters by topic (in Russian too) and sees the city's profile on its card.
    await h.send(UNI, "/meet", lang="ru")
    await h.press(UNI, "По теме", lang="ru")
    assert h.buttons(UNI)[0] == "Открытое правительство"
    await h.press(UNI, "Открытое правительство", lang="ru")
    assert "<b>Города, открытые для встреч, по теме «Открытое правительство»</b>: 1" in h.last_text(UNI)
    assert "Ханой" not in h.last_text(UNI)
    await h.send(ACME, "/meet open data")  # the city's own words are searched too
    await h.press(ACME, "Seoul")
    card = h.last_text(ACME)
    assert "Topics: Open government" in card and "«We would like to share our open data portal»" in card
    await h.press(ACME, "16:40–16:50")
    await h.press(ACME, "Add a note for the city")
    assert "Send one line (up to 150 characters)" in h.last_text(ACME)
    await h.send(ACME, "Smart mobility pilots with sponsors")
    assert "Your note is on its way to the city" in h.last_text(ACME)
    sent = await drain(h)
    [note] = [t for c, t in sent if c == SEOUL and "note" in t]
    assert "A note from Ada Acme (Berlin) about your meeting at 17 Nov, 10:40–10:50" in note
    assert "«Smart mobility pilots with sponsors»" in note
    await h.send(SEOUL, "/meet")
    await h.press(SEOUL, "My meetings")
    assert "Note: «Smart mobility pilots with sponsors»" in h.last_text(SEOUL)
    # Another person's booking takes no note from UNI.
    [meeting] = await _meetings(h)
    await h.press_data(UNI, MmAct(action="note", id=meeting.id).pack(), lang="ru")
    answer = [r for r in h.session.requests if r.method == "answerCallbackQuery"][-1]
    assert answer.params.get("show_alert")


async def test_my_meetings_after_publishing_show_link_and_date_and_resend_the_calendar(h: Harness) -> None:
    """Issue 20: after publishing, My meetings shows each meeting's link and date and sends the .ics again; the
    calendar file has an alarm at the person's reminder lead."""
    await offer(h, SEOUL, "1040")
    await h.press_data(ACME, MmBook(host=SEOUL, slot="1040").pack())
    async with UnitOfWorkFactory(h.app.sessions)() as uow:
        await uow.reminders.update(ACME, h.clock.now(), lead=15)
        await uow.commit()
    h.clock.set(at(11, 11))
    async with UnitOfWorkFactory(h.app.sessions)() as uow:
        await mm_uc.publish(uow, h.app.event, ORGANISER, h.clock.now())
    await drain(h)
    await h.send(ACME, "/meet")
    await h.press(ACME, "My meetings")
    text = h.last_text(ACME)
    assert "17 Nov, 16:40–16:50</b>: Sam Seoul" in text and "Link: https://video.wego-rehearsal.org/excom2020/" in text
    before = len([r for r in h.session.sent(ACME) if r.method == "sendDocument"])
    await h.press(ACME, "Send the calendar file again")
    await drain(h)
    docs = [r for r in h.session.sent(ACME) if r.method == "sendDocument"]
    assert len(docs) == before + 1
    [ev] = Calendar.from_ical(next(iter(docs[-1].files.values()))).walk("VEVENT")
    [alarm] = ev.walk("VALARM")
    assert alarm.decoded("trigger") == -timedelta(minutes=15)
    # Someone who turned reminders off gets no alarm.
    async with UnitOfWorkFactory(h.app.sessions)() as uow:
        await uow.reminders.update(SEOUL, h.clock.now(), on=False)
        await uow.commit()
        await mm_uc.resend_calendar(uow, h.app.event, SEOUL, h.clock.now())
    await drain(h)
    [ev] = Calendar.from_ical(next(iter([r for r in h.session.sent(SEOUL)
                                         if r.method == "sendDocument"][-1].files.values()))).walk("VEVENT")
    assert ev.walk("VALARM") == []


async def test_a_yes_at_registration_offers_every_slot_and_says_how_to_narrow_them(tmp_path) -> None:
    """Issue 20 (the seeds' process): a local government that says at registration that it is available is
    available: every slot of the window, narrowed in /availability until the deadline. The question says what
    bookers will see of the city (issue 17 item 4)."""
    from tests.test_registration import UID, walk_to

    h = await Harness.create(make_settings(tmp_path, event_file=linked_event(tmp_path)), at=at(10, 20))
    try:
        await walk_to(h, "matchmaking")
        question = h.last_text(UID)
        assert "see your city, country and organisation" in question and "also sees your name and position" in question
        await h.press(UID, "Yes, available")
        await h.press(UID, "I agree")
        await h.press(UID, "Confirm")
        welcome = h.last_text(UID)
        assert "Your city is open for matchmaking meetings and offers every slot (17 Nov, 16:40–17:30)" in welcome
        assert "/availability to narrow them (until October 24, 2020, 05:59 (GMT+9))" in welcome
        async with h.app.sessions() as s:
            assert sorted(await s.scalars(select(MmAvailability.slot_id))) == SLOTS
        await h.send(UID, "/availability")
        assert h.buttons(UID)[:5] == ["✅ 17 Nov, 16:40–16:50", "✅ 17 Nov, 16:50–17:00", "✅ 17 Nov, 17:00–17:10",
                                      "✅ 17 Nov, 17:10–17:20", "✅ 17 Nov, 17:20–17:30"]
        await h.press(UID, "17:20–17:30")  # narrowed
        assert h.buttons(UID)[4] == "▫️ 17 Nov, 17:20–17:30"
        # After the deadline the city may still take a slot away, but not add one.
        h.clock.set(at(10, 28))
        await h.press(UID, "17:20–17:30")
        answer = [r for r in h.session.requests if r.method == "answerCallbackQuery"][-1]
        assert "Since then the organisers decide" in answer.params["text"]
        await h.press(UID, "17:10–17:20")
        assert h.buttons(UID)[3] == "▫️ 17 Nov, 17:10–17:20"
    finally:
        await h.close()


async def test_a_city_registering_after_the_availability_deadline_is_told_organisers_decide(tmp_path) -> None:
    """Issue 20 bug 9: a city registering after 23 Oct was still asked and could offer slots, with no notice."""
    from tests.test_registration import UID, walk_to

    h = await Harness.create(make_settings(tmp_path, event_file=linked_event(tmp_path)), at=BOOKING_OPEN)
    try:
        await people(h)
        await walk_to(h, "consent")  # says "Yes, available" on 28 Oct
        await h.press(UID, "I agree")
        await h.press(UID, "Confirm")
        welcome = h.last_text(UID)
        assert "Cities said whether they are open for meetings until October 24, 2020, 05:59 (GMT+9)" in welcome
        assert "the organisers decide" in welcome and "regina@we-gov.org" in welcome
        async with h.app.sessions() as s:
            assert list(await s.scalars(select(MmAvailability).where(MmAvailability.user_id == UID))) == []
        await h.send(UID, "/availability")
        assert "the organisers decide" in h.last_text(UID)
        await h.press(UID, "16:40–16:50")
        answer = [r for r in h.session.requests if r.method == "answerCallbackQuery"][-1]
        assert "the organisers decide" in answer.params["text"]
        await h.send(ACME, "/meet")
        assert "<b>Cities open for meetings</b>: 0" in h.last_text(ACME)  # nobody has offered a slot
        # Only an organiser opens it: every slot, the city is told, the audit log says who.
        await h.send(UID, "/matchmaking")
        assert h.last_text(UID) == "This command is for the organisers."
        await h.send(ORGANISER, "/matchmaking")
        await h.press(ORGANISER, "Open a city for meetings")
        await h.send(ORGANISER, "nobody@example.org")
        assert "No registered delegate has this e-mail" in h.last_text(ORGANISER)
        await h.send(ORGANISER, str(ACME))
        assert "is not registered as a local government" in h.last_text(ORGANISER)
        await h.send(ORGANISER, "ada@example.org")
        assert "is open for meetings and offers every slot" in h.last_text(ORGANISER)
        async with h.app.sessions() as s:
            assert len(list(await s.scalars(select(MmAvailability).where(MmAvailability.user_id == UID)))) == 5
        sent = await drain(h)
        assert any(c == UID and "The organisers opened your city" in t for c, t in sent)
        await h.send(ORGANISER, "/audit")
        assert "mm_open_city" in h.last_text(ORGANISER)
        await h.send(ORGANISER, "hello")  # the conversation is over: no more e-mails expected
        assert "open for meetings" not in h.last_text(ORGANISER)
    finally:
        await h.close()


async def test_publishing_is_refused_while_the_meeting_link_is_the_placeholder(tmp_path) -> None:
    """Issue 20 bug 3: the event file's placeholder link (meet.example.org) was sent to everyone without a word."""
    h = await Harness.create(make_settings(tmp_path), at=BOOKING_OPEN)  # the event file as shipped
    try:
        await people(h)
        await offer(h, SEOUL, "1040")
        await h.press_data(ACME, MmBook(host=SEOUL, slot="1040").pack())
        await h.send(ORGANISER, "/matchmaking")
        await h.press(ORGANISER, "Publish schedule")
        text = h.last_text(ORGANISER)
        assert "The schedule was not published" in text
        assert "https://meet.example.org/wego-excom2020/{meeting_id}" in text
        assert "meeting_link" in text and "[matchmaking]" in text and "events/excom2020.toml" in text
        assert "Yes, publish" not in h.buttons(ORGANISER)
        # The use case refuses too (the web console publishes through it).
        async with UnitOfWorkFactory(h.app.sessions)() as uow:
            with pytest.raises(ServiceError) as err:
                await mm_uc.publish(uow, h.app.event, ORGANISER, h.clock.now())
            assert err.value.code == "placeholder_link"
            assert await uow.matchmaking.published_at(h.app.event.id) is None
        # In Russian too.
        await h.send(ORGANISER, "/matchmaking", lang="ru")
        await h.press(ORGANISER, "Опубликовать расписание", lang="ru")
        assert "Расписание не опубликовано" in h.last_text(ORGANISER)
        assert [r for r in await outbox_rows(h) if r.kind == mm_uc.KIND_SCHEDULE] == []
    finally:
        await h.close()


async def test_booking_closes_after_the_final_schedule_date(h: Harness) -> None:
    await offer(h, SEOUL, "1040")
    h.clock.set(at(11, 11))
    await h.send(UNI, "/meet", lang="ru")
    assert "Запись закрылась 10 ноября 2020" in h.last_text(UNI) and "23:59 (GMT+3)" in h.last_text(UNI)
    with pytest.raises(ServiceError) as info:
        async with UnitOfWorkFactory(h.app.sessions)() as uow:
            profile = await uow.delegates.get(ACME)
            await mm_uc.book(uow, h.app.event, profile, SEOUL, "1040", h.clock.now())
    assert info.value.code == "closed"


async def test_forget_removes_matchmaking_rows_and_tells_the_other_side(h: Harness) -> None:
    await offer(h, SEOUL, "1040", "1050")
    await h.press_data(ACME, MmBook(host=SEOUL, slot="1040").pack())
    await h.press_data(SEOUL, MmBook(host=SEOUL, slot="1050").pack())
    async with UnitOfWorkFactory(h.app.sessions)() as uow:  # the city's directory profile goes too
        await uow.matchmaking.set_profile(SEOUL, rules.CityProfile(("open_gov",), "Open data"), h.clock.now())
        await uow.commit()
    await drain(h)
    await h.send(SEOUL, "/forget")
    await h.press(SEOUL, "Yes, delete everything")
    async with h.app.sessions() as s:
        for model in (MmAvailability, MmBooking, MmSeat, MmProfile):
            assert await s.scalar(select(func.count()).select_from(model)) == 0, model
    sent = await drain(h)
    [(chat, text)] = [(c, t) for c, t in sent if "cancelled" in t]
    assert chat == ACME and "the other participant withdrew" in text and "Sam" not in text


async def test_directory_open_notice_on_the_availability_date(tmp_path) -> None:
    h = await Harness.create(make_settings(tmp_path), at=at(10, 23, 23, 0))
    try:
        await people(h)
        await offer(h, SEOUL, "1040")
        planner = h.app.delivery.planners["matchmaking"]
        assert await planner.run() == 0  # not yet open
        h.clock.set(at(10, 24, 0, 0))
        assert await planner.run() == 6  # every registered city, sponsor and institution (hosts too)
        assert await planner.run() == 0  # once each
        await planner.plan(h.app.delivery)  # a restart after the opening: nothing twice
        assert len([r for r in await outbox_rows(h) if r.kind == "mm_directory"]) == 6
        sent = await drain(h)
        [text] = [t for c, t in sent if c == ACME]
        assert "Matchmaking meetings are open" in text and "(17 Nov, 16:40–17:30): 1." in text
        await h.press(ACME, "See the cities")
        assert "<b>Seoul</b>" in h.last_text(ACME)
    finally:
        await h.close()


async def test_stale_and_forged_buttons_get_a_polite_answer(h: Harness) -> None:
    for data in ("mmb:101:9999", "mmb:x:y", "mmx:zz:1", "mmx:can:424242", "mmh:777", "mma:0000", "mmo:pub",
                 "mml:x:y"):
        requests = await h.press_data(ACME, data)
        assert [r for r in requests if r.method == "answerCallbackQuery"], data


# -- races, decided by the database ----------------------------------------------------------------------------------

async def _race(sessions, event, requester_ids, targets, now) -> list[object]:
    """Everyone presses at once: each press is its own unit of work (its own connection)."""
    uows = UnitOfWorkFactory(sessions)

    async def press(requester: int, host: int, slot: str) -> object:
        async with uows() as uow:
            profile = await uow.delegates.get(requester)
            try:
                return await mm_uc.book(uow, event, profile, host, slot, now)
            except ServiceError as err:
                return err

    return await asyncio.gather(*(press(r, host, slot) for r in requester_ids for host, slot in targets))


async def _race_scenarios(h: Harness) -> None:
    event, now = h.app.event, h.clock.now()
    crowd = list(range(3000, 3050))
    for uid in crowd:
        await register(h, uid, participant_type="partner", full_name=f"P{uid}")
    await offer(h, SEOUL, *SLOTS)
    await offer(h, HANOI, *SLOTS)
    await offer(h, KIGALI, *SLOTS)
    # 50 requesters press Seoul's 10:40 at the same instant: exactly one booking.
    results = await _race(h.app.sessions, event, crowd, [(SEOUL, "1040")], now)
    won = [r for r in results if not isinstance(r, ServiceError)]
    lost = [r for r in results if isinstance(r, SlotUnavailable)]
    assert len(won) == 1 and len(lost) == 49
    assert all([s.id for s in r.alternatives] == ["1050", "1100", "1110"] for r in lost)
    assert [b for b in await bookings(h) if b[2] == "1040"] == [(SEOUL, won[0].requester, "1040")]
    # One requester presses three hosts' same slot at once: one booking.
    results = await _race(h.app.sessions, event, [ACME], [(SEOUL, "1050"), (HANOI, "1050"), (KIGALI, "1050")], now)
    assert sum(not isinstance(r, ServiceError) for r in results) == 1
    assert len([b for b in await bookings(h) if b[1] == ACME]) == 1
    # One requester presses ten hosts at once with room for 2 more: the limit of 3 holds.
    for uid in range(110, 117):
        await register(h, uid, participant_type="local_gov", matchmaking=True, full_name=f"H{uid}")
        await offer(h, uid, *SLOTS)
    hosts = [HANOI, KIGALI, *range(110, 117)]
    results = await _race(h.app.sessions, event, [ACME], [(x, s) for x, s in zip(hosts, SLOTS * 2, strict=False)
                                                          if s != "1050"], now)
    assert len([b for b in await bookings(h) if b[1] == ACME]) == 3
    # Two host cities book each other at the same instant (in different slots): one meeting per pair, and no
    # deadlock between their locks and the foreign-key checks.
    both = await asyncio.gather(_race(h.app.sessions, event, [SEOUL], [(KIGALI, "1120")], now),
                                _race(h.app.sessions, event, [KIGALI], [(SEOUL, "1110")], now))
    assert sum(not isinstance(r, ServiceError) for [r] in both) == 1
    assert next(r.code for [r] in both if isinstance(r, ServiceError)) in ("pair_met", "slot_taken")
    assert len([b for b in await bookings(h) if {b[0], b[1]} == {SEOUL, KIGALI}]) == 1
    async with h.app.sessions() as s:  # every booking has its two seats
        assert await s.scalar(select(func.count()).select_from(MmSeat)) == 2 * len(await bookings(h))


async def _cancel_decline_race(h: Harness) -> None:
    """The host declines while the requester cancels the same meeting, at the same instant: exactly one of
    them ends it, the other is told it is gone, and one notice goes out (to the side that did not end it)."""
    event = h.app.event
    await offer(h, SEOUL, *SLOTS)
    uows = UnitOfWorkFactory(h.app.sessions)
    seen: set[int] = set()
    for round_, slot in enumerate(SLOTS):
        now = BOOKING_OPEN + timedelta(minutes=round_)  # SQLite reuses a deleted booking's id
        async with uows() as uow:
            meeting = await mm_uc.book(uow, event, await uow.delegates.get(ACME if round_ % 2 else UNI), SEOUL,
                                       slot, now)

        async def end(person: int, decline: bool, booking_id: int = meeting.id, now: datetime = now) -> object:
            async with uows() as uow:
                try:
                    return await mm_uc.cancel(uow, event, person, booking_id, now, decline=decline)
                except ServiceError as err:
                    return err

        results = await asyncio.gather(end(SEOUL, True), end(meeting.requester, False))
        assert sum(not isinstance(r, ServiceError) for r in results) == 1, results
        assert [r.code for r in results if isinstance(r, ServiceError)] == ["gone"]
        notices = [r for r in await outbox_rows(h) if r.kind in (mm_uc.KIND_CANCELLED, mm_uc.KIND_DECLINED)
                   and r.id not in seen]
        seen |= {r.id for r in notices}
        assert len(notices) == 1, [(r.kind, r.user_id) for r in notices]
        ended_by = SEOUL if not isinstance(results[0], ServiceError) else meeting.requester
        assert notices[0].user_id == meeting.other(ended_by)
    assert await bookings(h) == []


async def test_races_on_sqlite(h: Harness) -> None:
    await _race_scenarios(h)


async def test_cancel_decline_race_on_sqlite(h: Harness) -> None:
    await _cancel_decline_race(h)


async def test_cancel_decline_race_on_postgresql(tmp_path, pg_url: str) -> None:
    h = await Harness.create(make_settings(tmp_path, database_url=pg_url), at=BOOKING_OPEN)
    try:
        await people(h)
        await _cancel_decline_race(h)
    finally:
        await h.close()


async def test_races_on_postgresql(tmp_path, pg_url: str) -> None:
    h = await Harness.create(make_settings(tmp_path, database_url=pg_url), at=BOOKING_OPEN)
    try:
        await people(h)
        await _race_scenarios(h)
    finally:
        await h.close()


# -- free questions ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("question", "lang", "expected"), [
    ("how does booking a meeting work", "en", ["first come, first served", "with /meet"]),
    ("deadline to sign up for matchmaking", "en", ["October 23: the last day", "By October 23, local governments"]),
    ("whats the deadline to sign up for matchmaking", "en", ["October 23: the last day"]),
    ("как записаться на встречу", "ru", ["в порядке очереди", "командой /meet"]),
    ("매치메이킹 신청", "ko", ["선착순", "/meet"]),
])
async def test_matchmaking_questions_get_steps_dates_by_the_clock_and_meet(tmp_path, question: str, lang: str,
                                                                           expected: list[str]) -> None:
    h = await Harness.create(make_settings(tmp_path), at=at(10, 20))  # hosts are still marking their times
    try:
        await h.send(7, question, lang=lang)
        text = h.last_text(7)
        for part in expected:
            assert part in text, (part, text)
        # The dates that apply, by the bot's clock: availability by 23 Oct, schedule by 10 Nov; never the
        # registration deadline.
        dates = {"en": ("Today is October 20, 2020", "October 23, 2020, 23:59 (GMT+3)",
                        "November 10, 2020, 23:59 (GMT+3)"),
                 "ru": ("20 октября 2020", "23 октября 2020", "10 ноября 2020"),
                 "ko": ("2020년 10월 20일", "2020년 10월 23일", "2020년 11월 10일")}[lang]
        for date in dates:
            assert date in text, (date, text)
        assert "registration closes" not in text.lower()
        meet = h.buttons(7)[0]
        assert "/meet" in meet
        before = h.last_text(7)
        await h.press(7, meet, lang=lang)
        assert h.last_text(7) != before and "2020" in h.last_text(7)  # booking opens after the 23 Oct deadline
        # Once booking is open, the same question says so.
        h.clock.set(at(10, 28))
        await h.send(7, question, lang=lang)
        assert {"en": "booking is open now", "ru": "запись открыта", "ko": "지금 /meet로"}[lang] in h.last_text(7)
    finally:
        await h.close()


async def test_a_host_who_stops_offering_meetings_loses_free_slots_but_keeps_booked_ones(h: Harness) -> None:
    """Issue 20: "No" in /profile takes the city out of the directory. A meeting already booked stays (both
    sides agreed to it; the host can still cancel it in /meet, and the booker is then told): the host is told
    so when saving, and the booker that the city takes no new meetings but theirs stands."""
    await offer(h, SEOUL, "1040", "1050")
    await h.press_data(ACME, MmBook(host=SEOUL, slot="1040").pack())
    await drain(h)
    await h.send(SEOUL, "/profile")
    await h.press(SEOUL, "Edit a field")
    await h.press(SEOUL, "Matchmaking")
    await h.press(SEOUL, "No")
    said = "\n".join(h.texts(SEOUL)[-3:])
    assert "Your city is no longer in the matchmaking directory" in said, said
    assert "Your 1 booked meeting stays" in said and "/meet" in said, said
    async with h.app.sessions() as s:
        assert list(await s.scalars(select(MmAvailability.slot_id))) == ["1040"]  # the booked one stays
    assert await bookings(h) == [(SEOUL, ACME, "1040")]
    await h.send(UNI, "/meet", lang="ru")
    assert "<b>Сеул</b>" not in h.last_text(UNI)
    sent = await drain(h)
    [(chat, text)] = [(c, t) for c, t in sent if "no longer takes new" in t]
    assert chat == ACME and "Seoul" in text and "17 Nov, 16:40–16:50" in text and "stays booked" in text, text
    assert "Sam" not in text
    # A host with nothing booked is told only that it left the directory; nobody else hears of it.
    await offer(h, HANOI, "1100")
    await h.send(HANOI, "/profile")
    await h.press(HANOI, "Edit a field")
    await h.press(HANOI, "Matchmaking")
    await h.press(HANOI, "No")
    said = "\n".join(h.texts(HANOI)[-3:])
    assert "Your city is no longer in the matchmaking directory" in said and "booked meeting" not in said, said
    assert [t for _c, t in await drain(h)] == []
    await h.send(HANOI, "/availability")  # the "no" was given in /profile, not at registration
    assert h.last_text(HANOI).startswith("You said your city is not available"), h.last_text(HANOI)


async def _say_yes_in_profile(h: Harness, uid: int, lang: str = "en") -> str:
    """/profile → Edit a field → Matchmaking → "Yes, available"; the replies to the last press."""
    from tests.test_registration import tr

    await h.send(uid, "/profile", lang=lang)
    await h.press(uid, tr(h, "✏️ Edit a field", lang), lang=lang)
    await h.press(uid, tr(h, "Matchmaking", lang), lang=lang)
    before = len(h.texts(uid))
    await h.press(uid, tr(h, "Yes, available", lang), lang=lang)
    return "\n".join(h.texts(uid)[before:])


@pytest.mark.parametrize("lang", ["en", "ru", "ko"])
async def test_a_city_that_said_no_and_says_yes_in_profile_before_the_deadline_offers_every_slot(
        tmp_path, lang: str) -> None:
    """Issue 20: a "yes" given any way before the availability deadline makes the city bookable with every slot,
    with the same "narrow it with /availability" note as at registration (a "no" at registration, then "yes" in
    /profile, left the city out of the directory until it found /availability)."""
    from tests.test_registration import tr

    h = await Harness.create(make_settings(tmp_path, event_file=linked_event(tmp_path)), at=at(10, 20))
    try:
        await people(h)
        city = 104
        await register(h, city, participant_type="local_gov", city="Busan", matchmaking=False, language=lang,
                       full_name="Bo Busan", timezone="Asia/Seoul")
        said = await _say_yes_in_profile(h, city, lang)
        head = tr(h, mm_uc.AFTER_YES, lang).split("{")[0]
        assert head in said and "16:40–17:30" in said and "/availability" in said, said
        async with h.app.sessions() as s:
            assert sorted(await s.scalars(select(MmAvailability.slot_id).where(MmAvailability.user_id == city))
                          ) == SLOTS
        # Listed in the directory with every slot once booking opens.
        h.clock.set(BOOKING_OPEN)
        await h.send(ACME, "/meet")
        assert "Busan" in h.last_text(ACME) and "5 free slots" in h.last_text(ACME), h.last_text(ACME)
    finally:
        await h.close()


async def test_a_new_type_that_hosts_and_a_yes_before_the_deadline_offer_every_slot(tmp_path) -> None:
    """The same "yes" reached by changing the participant type to a local government in /profile."""
    h = await Harness.create(make_settings(tmp_path, event_file=linked_event(tmp_path)), at=at(10, 20))
    try:
        await people(h)
        await h.send(ACME, "/profile")
        await h.press(ACME, "Edit a field")
        await h.press(ACME, "Participant type")
        await h.press(ACME, "Other local government")
        await h.press(ACME, "Yes, available")
        assert "offers every slot" in "\n".join(h.texts(ACME)[-3:])
        async with h.app.sessions() as s:
            assert sorted(await s.scalars(select(MmAvailability.slot_id).where(MmAvailability.user_id == ACME))
                          ) == SLOTS
    finally:
        await h.close()


async def test_a_yes_in_profile_after_the_deadline_is_told_organisers_decide(h: Harness) -> None:
    """After the availability deadline the existing rule holds: no slot offered, the city is told organisers
    decide (only they open a city then)."""
    said = await _say_yes_in_profile(h, BERLIN)
    assert "Since then the organisers decide" in said and "regina@we-gov.org" in said, said
    async with h.app.sessions() as s:
        assert list(await s.scalars(select(MmAvailability).where(MmAvailability.user_id == BERLIN))) == []
    await h.send(ACME, "/meet")
    assert "Berlin" not in h.last_text(ACME)


async def test_flows_on_postgresql(tmp_path, pg_url: str) -> None:
    """Booking, refusals after the locks, publishing and forgetting on PostgreSQL (its locks and constraints)."""
    for flow in (test_publish_freezes_and_sends_schedules_with_links_ics_and_reminders,
                 test_forget_removes_matchmaking_rows_and_tells_the_other_side):
        async with throwaway_database(pg_url) as url:
            (tmp_path / flow.__name__).mkdir()
            h = await Harness.create(make_settings(tmp_path / flow.__name__, database_url=url,
                                                   event_file=linked_event(tmp_path / flow.__name__)),
                                     at=BOOKING_OPEN)
            try:
                await people(h)
                await flow(h)
            finally:
                await h.close()


async def test_directory_pages(h: Harness) -> None:
    for uid in range(400, 410):
        await register(h, uid, participant_type="local_gov", matchmaking=True, city=f"Town {uid}",
                       full_name=f"Host {uid}")
        await offer(h, uid, "1040")
    await h.send(ACME, "/meet")
    assert "Cities open for meetings</b>: 10" in h.last_text(ACME) and "Page 1 of 2." in h.last_text(ACME)
    assert len([b for b in h.buttons(ACME) if b.startswith(("1.", "2.", "3.", "4.", "5.", "6.", "7.", "8."))]) == 8
    await h.press(ACME, "▶️")
    assert "Page 2 of 2." in h.last_text(ACME) and "9. <b>Town 408</b>" in h.last_text(ACME)
    await h.press(ACME, "◀️")
    assert "Page 1 of 2." in h.last_text(ACME)


async def test_the_organisers_grid_fits_one_message_with_many_cities(h: Harness) -> None:
    for uid in range(500, 620):
        await register(h, uid, participant_type="local_gov", matchmaking=True, city=f"Municipality {uid}")
        await offer(h, uid, "1040", "1100")
    await h.send(ORGANISER, "/matchmaking")
    text = h.last_text(ORGANISER)
    assert "Cities open for meetings: 120" in text and "more cities (all of them are in the CSV)" in text
    assert len(text) < 4096


async def test_bench_smoke(tmp_path, capsys) -> None:
    """`make bench-matchmaking` with tiny sizes still runs and prints its figures."""
    from bench import matchmaking as bench

    await bench.run(f"sqlite+aiosqlite:///{tmp_path / 'bench.db'}", hosts=3, requesters=53, rounds=2)
    out = capsys.readouterr().out
    assert "directory (/meet)" in out and "50 presses on one slot at once: 1 booking" in out


async def test_meetings_csv_keeps_a_formula_looking_name_as_text(tmp_path) -> None:
    """Issue 20 bug 10: the meetings export skipped the formula guard."""
    h = await Harness.create(make_settings(tmp_path), at=BOOKING_OPEN)
    try:
        await register(h, SEOUL, participant_type="excom", city="Seoul", city_id="seoul", matchmaking=True,
                       full_name="=HYPERLINK(\"http://evil.example\")")
        await register(h, ACME, participant_type="partner", city="+Berlin", full_name="-Ada", timezone="Asia/Seoul")
        await offer(h, SEOUL, "1040")
        await h.press_data(ACME, MmBook(host=SEOUL, slot="1040").pack())
        await h.send(ORGANISER, "/matchmaking")
        await h.press(ORGANISER, "Export CSV")
        [doc] = [r for r in h.session.requests if r.method == "sendDocument"]
        rows = list(csv.reader(io.StringIO(next(iter(doc.files.values())).decode("utf-8-sig"))))
        assert rows[1][2:6] == ['\'=HYPERLINK("http://evil.example")', "Seoul", "'-Ada", "'+Berlin"]
    finally:
        await h.close()


async def test_opening_a_city_by_a_text_with_a_nul_finds_nobody(tmp_path, pg_url: str) -> None:
    """Found by the fuzz on PostgreSQL + Redis (7 Dec): "@\\x00" sent for "Open a city for meetings" reached the
    e-mail lookup, and PostgreSQL refuses a NUL byte in a query ("invalid byte sequence for encoding UTF8")."""
    h = await Harness.create(make_settings(tmp_path, event_file=linked_event(tmp_path), database_url=pg_url),
                             at=BOOKING_OPEN, record_errors=True)
    try:
        await people(h)
        for text in ("@\x00", "ada\x00@example.org", "@"):
            await h.send(ORGANISER, "/matchmaking")
            await h.press(ORGANISER, "Open a city for meetings")
            await h.send(ORGANISER, text)
            assert "No registered delegate has this e-mail" in h.last_text(ORGANISER), (text, h.last_text(ORGANISER))
        assert h.errors == []
    finally:
        await h.close()
