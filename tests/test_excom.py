"""EXCOM membership is confirmed by an organiser: a self-declared claim sees "pending", not the Closed
Session's join details, until an organiser confirms it in the /excom queue or with a list they send."""

from __future__ import annotations

import pytest
from alembic import command
from icalendar import Calendar
from sqlalchemy import text
from sqlalchemy.engine import Connection

from domain import excom as rules
from handlers.excom import ExcomCb
from handlers.program import CardCb
from services import excom as excom_uc
from storage.db import alembic_config, make_engine
from storage.models import Delegate
from storage.outbox import Outbox
from tests.harness import Harness, drain, make_settings, msk, register
from tests.test_registration import tr, walk_to
from tests.test_reminders import jobs

ORGANISER = 999
JOIN = "EXCOM members join the closed session on DVMS"
PENDING = "waiting for an organiser's confirmation"


# 17 Nov, 07:00 GMT+3: the Closed Session (13:00) is ahead (the conftest's `h`).
pytestmark = pytest.mark.harness(at=msk(7))


async def row(h: Harness, uid: int) -> Delegate:
    async with h.app.sessions() as s:
        found = await s.get(Delegate, uid)
        assert found is not None
        return found


async def card(h: Harness, uid: int) -> str:
    await h.send(uid, "/program")
    await h.press(uid, "Closed Ses")
    return h.last_text(uid)


async def claimant(h: Harness, uid: int, name: str, **kw: object) -> None:
    await register(h, uid, participant_type="excom", excom_status="pending", full_name=name, **kw)


async def notices(h: Harness) -> list:
    async with h.app.sessions() as s:
        return [r for r in await Outbox(s).rows() if r.kind == "excom_decision"]


# -- a claim is not membership -------------------------------------------------------------------------------

async def test_registering_as_excom_from_narnia_shows_pending_not_the_join_details(tmp_path) -> None:
    h = await Harness.create(make_settings(tmp_path))  # 1 Nov: registration is open
    try:
        await _register_from_narnia(h)
    finally:
        await h.close()


async def _register_from_narnia(h: Harness) -> None:
    await walk_to(h, "city", uid=7001)
    await h.send(7001, "Nowhere, Narnia")
    await h.press(7001, "EXCOM member city")
    await h.send(7001, "grace@example.org")
    await h.send(7001, "Seoul")
    await h.press(7001, "Yes")
    await h.press(7001, "Yes, available")
    await h.press(7001, "I agree")
    await h.press(7001, "Confirm")
    assert "You are registered" in h.last_text(7001)
    assert PENDING in h.last_text(7001), "told right after registering"
    assert (await row(h, 7001)).excom_status == "pending"
    text = await card(h, 7001)
    assert JOIN not in text
    assert "waiting for an organiser's confirmation" in text
    assert "🔔 Remind me" not in h.buttons(7001)
    await h.send(7001, "/profile")
    assert "EXCOM membership:</b> waiting for an organiser's confirmation" in h.last_text(7001)
    # Following it anyway (a forged button) is refused, and no reminder is fanned out to them.
    await h.press_data(7001, "fol:closed-session:1")
    assert await jobs(h.app.delivery).run_reminder("closed-session", 10) == 0


async def test_pending_is_shown_in_russian_and_korean(h: Harness) -> None:
    for uid, lang in ((7011, "ru"), (7012, "ko")):
        await claimant(h, uid, "Ivan", language=lang)
        await h.press_data(uid, CardCb(item="closed-session").pack(), lang=lang)
        assert tr(h, rules.PENDING_NOTE, lang) in h.last_text(uid)


async def test_calendar_file_has_no_join_details_until_confirmed(h: Harness) -> None:
    await claimant(h, 7002, "Pending Person")
    await card(h, 7002)
    requests = await h.press(7002, "Add to calendar")
    [doc] = [r for r in requests if r.method == "sendDocument"]
    [ev] = Calendar.from_ical(next(iter(doc.files.values()))).walk("VEVENT")
    assert "closed session on DVMS" not in str(ev["DESCRIPTION"])


# -- the organisers' queue --------------------------------------------------------------------------------

async def test_only_organisers_get_the_queue(h: Harness) -> None:
    await claimant(h, 7003, "Ada Claimant")
    await h.send(7003, "/excom")
    assert h.last_text(7003) == "This command is for the organisers."
    await register(h, 7004)  # a registered non-organiser, too
    await h.send(7004, "/excom")
    assert h.last_text(7004) == "This command is for the organisers."
    await h.send(7004, "/help")
    assert "/excom" not in h.last_text(7004)
    await h.send(ORGANISER, "/help")
    assert "/excom — confirm or reject EXCOM member claims" in h.last_text(ORGANISER)


async def test_organiser_confirms_with_one_tap_and_the_person_is_told(h: Harness) -> None:
    await claimant(h, 7010, "Grace Narnia", city="Nowhere", city_id=None)
    await claimant(h, 7020, "Sam Seoul", city="Seoul", city_id="seoul")
    await h.send(ORGANISER, "/excom")
    queue = h.last_text(ORGANISER)
    assert "waiting for confirmation</b>: 2" in queue
    narnia, seoul = [line for line in queue.split("\n\n") if "Grace" in line or "Sam" in line]
    assert "Grace Narnia" in narnia and "Officer" in narnia and "City Hall" in narnia and "Nowhere" in narnia
    assert "not on the event's EXCOM list" in narnia
    assert "✅ on the event's EXCOM list" in seoul
    assert h.buttons(ORGANISER) == ["✅ Confirm 1", "❌ Reject 1", "✅ Confirm 2", "❌ Reject 2"]

    await h.press(ORGANISER, "✅ Confirm 1")  # an organiser may confirm a city not on the list
    stored = await row(h, 7010)
    assert (stored.excom_status, stored.excom_decided_by) == ("confirmed", ORGANISER)
    assert stored.excom_decided_at is not None
    assert "waiting for confirmation</b>: 1" in h.last_text(ORGANISER)  # the queue message is updated
    assert "Grace" not in h.last_text(ORGANISER)

    sent = await drain(h)
    assert [c for c, t in sent if "confirmed you as the representative of an EXCOM member city" in t] == [7010]
    text = await card(h, 7010)
    assert JOIN in text and PENDING not in text
    await h.press(7010, "🔔 Remind me")
    h.clock.set(msk(12, 50))
    assert await jobs(h.app.delivery).run_reminder("closed-session", 10) == 1
    sent = await drain(h)
    assert [c for c, t in sent if "Closed Session" in t and "How to join" in t] == [7010]
    await h.send(7010, "/profile")
    assert "EXCOM membership:</b> confirmed by the organisers" in h.last_text(7010)


async def test_organiser_rejects(h: Harness) -> None:
    await claimant(h, 7030, "Mallory Fake", language="ru")
    await h.send(ORGANISER, "/excom")
    await h.press(ORGANISER, "❌ Reject 1")
    assert (await row(h, 7030)).excom_status == "rejected"
    sent = await drain(h)
    [(chat, text)] = sent
    assert chat == 7030 and "regina@we-gov.org" in text
    assert text == tr(h, excom_uc.REJECTED_NOTICE, "ru").format(contact="regina@we-gov.org")
    await h.send(7030, "/program", lang="ru")
    await h.press_data(7030, CardCb(item="closed-session").pack(), lang="ru")
    text = h.last_text(7030)
    assert JOIN not in text and tr(h, rules.REJECTED_NOTE, "ru") in text
    await h.send(ORGANISER, "/excom")
    assert "none is waiting" in h.last_text(ORGANISER)


async def test_stale_double_and_forged_presses_are_answered_politely(h: Harness) -> None:
    await claimant(h, 7040, "Double Tap")
    await h.send(ORGANISER, "/excom")
    await h.press(ORGANISER, "✅ Confirm 1")
    # The old queue message pressed again: the claim was decided, nothing more happens.
    stale = await h.press_data(ORGANISER, ExcomCb(action="no", uid=7040).pack())
    [answer] = [r for r in stale if r.method == "answerCallbackQuery"]
    assert "already decided" in answer.params["text"]
    assert (await row(h, 7040)).excom_status == "confirmed"
    assert len(await notices(h)) == 1
    # A non-organiser who got hold of the button.
    await claimant(h, 7041, "Self Approver")
    forged = await h.press_data(7041, ExcomCb(action="ok", uid=7041).pack())
    [answer] = [r for r in forged if r.method == "answerCallbackQuery"]
    assert answer.params["text"] == "This button is for the organisers."
    assert (await row(h, 7041)).excom_status == "pending"
    # Someone unknown, an id out of range, junk and an unknown action.
    for data in (ExcomCb(action="ok", uid=123).pack(), "xc:ok:99999999999999999999:0", "xc:ok:x:y", "xc:zz:1:0",
                 "xc"):
        requests = await h.press_data(ORGANISER, data)
        assert [r for r in requests if r.method == "answerCallbackQuery"], data
    assert len(ExcomCb(action="ok", uid=2**52 - 1, page=999).pack().encode()) < 64


async def test_queue_pages(h: Harness) -> None:
    for n in range(7):
        await claimant(h, 7100 + n, f"Person {n}")
    await h.send(ORGANISER, "/excom")
    assert "Page 1 of 2." in h.last_text(ORGANISER)
    assert "Person 4" in h.last_text(ORGANISER) and "Person 5" not in h.last_text(ORGANISER)
    await h.press(ORGANISER, "▶️")
    assert "Page 2 of 2." in h.last_text(ORGANISER)
    assert "6. <b>Person 5" in h.last_text(ORGANISER) and "7. <b>Person 6" in h.last_text(ORGANISER)
    await h.press(ORGANISER, "✅ Confirm 7")
    assert (await row(h, 7106)).excom_status == "confirmed"
    await h.press(ORGANISER, "◀️")
    assert "Page 1 of 2." in h.last_text(ORGANISER)


# -- a list the organisers send ---------------------------------------------------------------------------

async def upload(h: Harness, uid: int, content: bytes, name: str = "excom.csv") -> list:
    h.session.put_file("f1", content, name)
    return await h.feed(h.updates.document(uid, "f1", name, size=len(content), mime_type="text/csv"))


async def test_a_list_confirms_in_bulk_and_says_how_many_matched(h: Harness) -> None:
    await claimant(h, 7201, "By Mail")  # u7201@example.org
    await claimant(h, 7202, "By Id")
    await claimant(h, 7203, "Not Listed")
    await register(h, 7204)  # a WeGO member: left as they are
    content = ("email;name\nU7201@Example.org;By Mail\n7202\nu7204@example.org\nnobody@example.org\n"
               "\n").encode("utf-8-sig")
    await h.send(ORGANISER, "/excom")
    await upload(h, ORGANISER, content)
    reply = h.last_text(ORGANISER)
    assert "3 people in the list are registered." in reply
    assert "2 newly confirmed as EXCOM members" in reply
    assert "1 registered with another participant type and was left as is." in reply
    assert "1 e-mail or id matched nobody registered." in reply
    assert "1 line held neither" in reply
    assert [(await row(h, u)).excom_status for u in (7201, 7202, 7203)] == ["confirmed", "confirmed", "pending"]
    assert (await row(h, 7204)).excom_status is None
    sent = await drain(h)
    assert sorted(c for c, t in sent if "confirmed you" in t) == [7201, 7202]
    # The same list again: nothing new, nobody told twice.
    await upload(h, ORGANISER, content)
    assert "0 newly confirmed" in h.last_text(ORGANISER) and "2 were confirmed already." in h.last_text(ORGANISER)
    assert len(await notices(h)) == 2


async def test_lists_that_cannot_be_used(h: Harness) -> None:
    await claimant(h, 7301, "Someone")
    await upload(h, ORGANISER, b"just words\nno ids here\n")
    assert "could not find any e-mail address" in h.last_text(ORGANISER)
    await upload(h, ORGANISER, b"%PDF-1.4", name="list.pdf")
    h.session.server.files.clear()
    assert "send a CSV or TXT file" in h.last_text(ORGANISER)
    # A file Telegram no longer has.
    await h.feed(h.updates.document(ORGANISER, "gone", "list.csv", size=10))
    assert "could not download" in h.last_text(ORGANISER)
    # A person who is not an organiser sends a list: it confirms nobody (not even themselves).
    await upload(h, 7301, b"7301\n")
    assert (await row(h, 7301)).excom_status == "pending"
    assert "newly confirmed" not in h.last_text(7301)


# -- a changed claim is decided again ---------------------------------------------------------------------

async def test_changing_city_or_type_in_profile_drops_the_confirmation(h: Harness) -> None:
    await register(h, 7401, participant_type="excom", city="Seoul", city_id="seoul")  # confirmed
    assert JOIN in await card(h, 7401)
    # Another field leaves it as it is.
    await h.send(7401, "/profile")
    await h.press(7401, "Edit a field")
    await h.press(7401, "Full name")
    await h.send(7401, "Sam Renamed")
    assert (await row(h, 7401)).excom_status == "confirmed"
    # The city: pending again, and the join details are gone.
    await h.send(7401, "/profile")
    await h.press(7401, "Edit a field")
    await h.press(7401, "City and country")
    await h.send(7401, "Nowhere, Narnia")
    stored = await row(h, 7401)
    assert (stored.excom_status, stored.excom_decided_by) == ("pending", None)
    assert "EXCOM membership:</b> waiting for an organiser's confirmation" in h.last_text(7401)
    assert JOIN not in await card(h, 7401)
    # The participant type: no claim at all any more.
    await h.send(7401, "/profile")
    await h.press(7401, "Edit a field")
    await h.press(7401, "Participant type")
    await h.press(7401, "WeGO member")
    await h.press(7401, "Yes, available")
    assert (await row(h, 7401)).excom_status is None
    assert "EXCOM membership" not in h.last_text(7401)
    # And back to EXCOM: pending, not the old confirmation.
    await h.send(7401, "/profile")
    await h.press(7401, "Edit a field")
    await h.press(7401, "Participant type")
    await h.press(7401, "EXCOM member city")  # matchmaking was answered as a WeGO member: not asked again
    assert (await row(h, 7401)).excom_status == "pending"


# -- rules -----------------------------------------------------------------------------------------------

def test_parse_list_reads_any_column_and_ignores_junk() -> None:
    parsed = rules.parse_list('"Name","E-mail","Telegram"\n"Ada","ADA@Example.org","12345"\n'
                              "Bob <bob@example.org>\n²³\n0\n99999999999999999999\n")
    assert parsed.emails == {"ada@example.org", "bob@example.org"}
    assert parsed.user_ids == {12345}
    assert parsed.unreadable == 4
    assert rules.decode("ivan@пример.рф".encode("cp1251")) == "ivan@пример.рф"


# -- existing databases ------------------------------------------------------------------------------------

async def test_the_migration_makes_earlier_self_declared_claims_pending(tmp_path) -> None:
    """A database from before confirmation existed: its EXCOM claims wait for an organiser, nobody keeps the
    join details by having picked the type."""
    def upgrade(conn: Connection, revision: str) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(upgrade, "0004")
            for uid, ptype in ((1, "excom"), (2, "wego_member")):
                await conn.execute(text(
                    "INSERT INTO delegates (user_id, language, full_name, position, organisation, city, country, "
                    "participant_type, email, timezone, consent_at, registered_at, updated_at) VALUES (:u, 'en', "
                    "'N', 'P', 'O', 'C', 'K', :t, 'e@example.org', 'Europe/Moscow', '2020-11-01 07:00:00', "
                    "'2020-11-01 07:00:00', '2020-11-01 07:00:00')"), {"u": uid, "t": ptype})
            await conn.run_sync(upgrade, "head")
            rows = (await conn.execute(text("SELECT user_id, excom_status FROM delegates ORDER BY user_id"))).all()
        assert [tuple(r) for r in rows] == [(1, "pending"), (2, None)]
    finally:
        await engine.dispose()
