"""“Add to calendar”: .ics files that calendar apps import with the right instants."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar

from domain.event import load_event
from tests.harness import EVENT_FILE, Harness, msk, register

CONF = load_event(EVENT_FILE)
UID = 601


def _document(requests) -> tuple[str, bytes, str]:
    [doc] = [r for r in requests if r.method == "sendDocument"]
    [(name, data)] = doc.files.items()
    return name, data, doc.text


def _check_rfc5545(data: bytes) -> Calendar:
    text = data.decode("utf-8")
    assert text.endswith("\r\n")
    lines = text.split("\r\n")[:-1]
    assert all(len(line.encode()) <= 75 for line in lines), "lines must be folded at 75 octets"
    assert "\n" not in text.replace("\r\n", "")
    cal = Calendar.from_ical(data)
    assert str(cal["VERSION"]) == "2.0"
    assert str(cal["PRODID"]).startswith("-//delegate-bot//")
    assert str(cal["METHOD"]) == "PUBLISH"
    zones = [c for c in cal.walk("VTIMEZONE")]
    assert [str(z["TZID"]) for z in zones] == ["Europe/Moscow"]
    return cal


async def test_whole_program_calendar(settings) -> None:
    h = await Harness.create(settings, at=msk(7))
    try:
        await register(h, UID, language="ko", timezone="Asia/Seoul", participant_type="wego_member")
        await h.send(UID, "/program", lang=None)
        requests = await h.press(UID, "📅")
        name, data, caption = _document(requests)
        assert name == "excom2020-program.ics"
        assert "WeGO EXCOM 2020" in caption
        cal = _check_rfc5545(data)
        events = cal.walk("VEVENT")
        # Not an EXCOM member city: the Closed Session is left out of their calendar.
        assert len(events) == len(CONF.program) - 1
        by_uid = {str(e["UID"]): e for e in events}
        assert len(by_uid) == len(events)
        assert "excom2020-closed-session@delegate-bot" not in by_uid
        for item in CONF.program:
            if item.members_only:
                continue
            ev = by_uid[f"excom2020-{item.id}@delegate-bot"]
            start, end = ev["DTSTART"], ev["DTEND"]
            assert start.params["TZID"] == "Europe/Moscow"
            assert start.dt.astimezone(UTC) == item.starts
            assert end.dt.astimezone(UTC) == item.ends
            assert str(ev["SUMMARY"]).startswith(item.title.ko)
            assert ev["DTSTAMP"].dt == datetime(2020, 11, 17, 4, 0, tzinfo=UTC)
            assert str(ev["URL"]) == "https://wegoexcom2020.com"
            assert "DVMS" in str(ev["LOCATION"])
        # The opening at 09:00 GMT+3 is 06:00 UTC and 15:00 in Seoul.
        opening = by_uid["excom2020-opening@delegate-bot"]["DTSTART"].dt
        assert opening.astimezone(ZoneInfo("Asia/Seoul")).strftime("%d %H:%M") == "17 15:00"
        # Downloading again gives the same UIDs: a calendar updates the events instead of duplicating them.
        requests = await h.press(UID, "📅")
        again = Calendar.from_ical(_document(requests)[1])
        assert {str(e["UID"]) for e in again.walk("VEVENT")} == set(by_uid)
    finally:
        await h.close()


async def test_one_session_calendar_with_join_details_for_an_excom_city(settings) -> None:
    h = await Harness.create(settings, at=msk(7))
    try:
        await register(h, UID, participant_type="excom", city_id="nairobi", timezone="Africa/Nairobi")
        await h.send(UID, "/program")
        await h.press(UID, "Closed Ses")
        requests = await h.press(UID, "Add to calendar")
        name, data, caption = _document(requests)
        assert name == "excom2020-closed-session.ics"
        assert "EXCOM Meeting 2020 Closed Session" in caption
        cal = _check_rfc5545(data)
        [ev] = cal.walk("VEVENT")
        assert ev["DTSTART"].dt.astimezone(UTC) == datetime(2020, 11, 17, 10, 0, tzinfo=UTC)
        assert ev["DTEND"].dt.astimezone(UTC) == datetime(2020, 11, 17, 11, 15, tzinfo=UTC)
        assert "closed session on DVMS" in str(ev["DESCRIPTION"])
    finally:
        await h.close()


async def test_whole_program_calendar_of_excom_cities_and_claimants_has_the_closed_session(settings) -> None:
    h = await Harness.create(settings, at=msk(7))
    try:
        await register(h, UID, participant_type="excom")  # confirmed
        await register(h, UID + 1, participant_type="excom", excom_status="pending")
        await register(h, UID + 2, participant_type="excom", excom_status="rejected")
        found = {}
        for uid in (UID, UID + 1, UID + 2):
            await h.send(uid, "/program")
            cal = Calendar.from_ical(_document(await h.press(uid, "📅"))[1])
            found[uid] = {str(e["UID"]): str(e["DESCRIPTION"]) for e in cal.walk("VEVENT")}
        closed = "excom2020-closed-session@delegate-bot"
        assert "closed session on DVMS" in found[UID][closed]
        # Waiting for an organiser: in the file, without the join details.
        assert closed in found[UID + 1] and "closed session on DVMS" not in found[UID + 1][closed]
        assert closed not in found[UID + 2]
    finally:
        await h.close()


async def test_calendar_files_carry_an_alarm_at_the_persons_reminder_lead(settings) -> None:
    """Issue 20: a calendar file's alarm matches the person's reminder lead (none when reminders are off)."""
    from datetime import timedelta

    from storage.uow import UnitOfWorkFactory

    h = await Harness.create(settings, at=msk(7))
    try:
        await register(h, UID)
        await h.send(UID, "/program")
        [ev] = [e for e in Calendar.from_ical(_document(await h.press(UID, "📅"))[1]).walk("VEVENT")][:1]
        [alarm] = ev.walk("VALARM")
        assert alarm.decoded("trigger") == -timedelta(minutes=10)  # the default lead
        assert str(alarm["ACTION"]) == "DISPLAY"
        async with UnitOfWorkFactory(h.app.sessions)() as uow:
            await uow.reminders.update(UID, h.clock.now(), lead=30)
            await uow.commit()
        cal = Calendar.from_ical(_document(await h.press(UID, "📅"))[1])
        assert {e.walk("VALARM")[0].decoded("trigger") for e in cal.walk("VEVENT")} == {-timedelta(minutes=30)}
        async with UnitOfWorkFactory(h.app.sessions)() as uow:
            await uow.reminders.update(UID, h.clock.now(), on=False)
            await uow.commit()
        cal = Calendar.from_ical(_document(await h.press(UID, "📅"))[1])
        assert all(e.walk("VALARM") == [] for e in cal.walk("VEVENT"))
    finally:
        await h.close()
