"""Organiser tools besides broadcasts: /admit's notice, the registrations list and card (EXCOM decisions, a typo
fixed), /stats with its chart, /export's CSV files, /audit, data retention, and rights for every command."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from domain.event import EventFileError, load_event
from handlers.organiser import OrgCb
from services import organiser as org
from services.organiser import Sources
from storage.models import AuditEntry, Delegate
from storage.outbox import Outbox
from storage.repo import Delegates
from tests.harness import Harness, drain, make_settings, register

ORGANISER = 999
REFUSED = "This command is for the organisers."
BUTTON_REFUSED = "This button is for the organisers."


def sources(h: Harness) -> Sources:
    found = h.app.sources
    assert isinstance(found, Sources)
    return found


def last_answer(h: Harness) -> str:
    return [r for r in h.session.requests if r.method == "answerCallbackQuery"][-1].params.get("text", "")


async def audit_actions(h: Harness) -> list[tuple[str, str]]:
    async with h.app.sessions() as s:
        from sqlalchemy import select

        return [(a, d) for a, d in await s.execute(select(AuditEntry.action, AuditEntry.detail)
                                                    .order_by(AuditEntry.id))]


# -- /admit tells the person ----------------------------------------------------------------------------------

async def test_admit_tells_the_person_in_their_language_with_a_button(h: Harness) -> None:
    await h.send(61, "/start", lang="ru")
    await h.press(61, "Русский", lang="ru")
    await h.send(ORGANISER, "/admit 61")
    assert "User 61 can now register" in h.last_text(ORGANISER)
    assert "I am telling them" in h.last_text(ORGANISER)
    await h.send(ORGANISER, "/admit 62")  # never wrote to the bot: English
    await drain(h)
    ru = h.session.sent(61)[-1]
    assert ru.text.startswith("Хорошая новость")
    [(label, _)] = ru.buttons
    assert label == "📝 Зарегистрироваться"
    markup = ru.params["reply_markup"]
    assert "https://t.me/" in str(markup) and "start=register" in str(markup)
    assert h.last_text(62).startswith("Good news: an organiser has let you register")
    assert ("admit", "user 61") in await audit_actions(h)


async def test_admit_to_someone_who_never_started_the_bot_is_recorded_and_the_organiser_told(h: Harness) -> None:
    h.session.fail_next("sendMessage", chat_id=63, status=403,
                        description="Forbidden: bot can't initiate conversation with a user")
    await h.send(ORGANISER, "/admit 63")
    await drain(h)
    async with h.app.sessions() as s:
        [row] = [r for r in await Outbox(s).rows(topic="admit:63")]
    assert row.status == "blocked" and "initiate conversation" in (row.error or "")
    checks = sources(h).admitted.__self__
    assert await checks.check(63)
    assert not await checks.check(63)  # told once
    await drain(h)
    note = h.last_text(ORGANISER)
    assert "I could not tell user 63" in note and "https://t.me/" in note


# -- registrations -------------------------------------------------------------------------------------------

async def test_registrations_are_paged_and_searchable(h: Harness) -> None:
    for uid in range(1, 8):
        await register(h, uid, full_name=f"Person {uid}", city="Seoul" if uid % 2 else "Moscow")
    await h.send(ORGANISER, "/people")
    text = h.last_text(ORGANISER)
    assert "<b>Registrations</b>: 7" in text and "Page 1 of 2." in text
    await h.press(ORGANISER, "▶️")
    assert "Page 2 of 2." in h.last_text(ORGANISER)
    await h.send(ORGANISER, "/people moscow")
    text = h.last_text(ORGANISER)
    assert "matching “moscow”</b>: 3" in text and "Person 2" in text and "Person 1<" not in text
    await h.send(ORGANISER, "/people u5@example")
    assert "Person 5" in h.last_text(ORGANISER)
    await h.send(ORGANISER, "/people nobody-like-this")
    assert h.last_text(ORGANISER) == "Nobody matches “nobody-like-this”."


async def test_a_card_confirms_an_excom_claim_with_the_notice(h: Harness) -> None:
    await register(h, 5, participant_type="excom", excom_status="pending", full_name="Ada Claimant")
    await h.send(ORGANISER, "/people Ada")
    await h.press(ORGANISER, "Ada Claimant")
    card = h.last_text(ORGANISER)
    assert "<b>EXCOM membership:</b> waiting for confirmation" in card
    await h.press(ORGANISER, "Confirm EXCOM membership")
    assert last_answer(h) == "Confirmed: Ada Claimant. They will be told."
    async with h.app.sessions() as s:
        assert (await s.get(Delegate, 5)).excom_status == "confirmed"
        assert [r.kind for r in await Outbox(s).rows(user_id=5)] == ["excom_decision"]
    assert ("excom_decision", "user 5: confirmed") in await audit_actions(h)
    await h.press(ORGANISER, "Fix: Full name")  # the card was edited: no Confirm button any more
    assert "Confirm EXCOM membership" not in h.buttons(ORGANISER)


async def test_a_typo_is_fixed_with_the_registration_rules(h: Harness) -> None:
    await register(h, 5, full_name="Ada Lovelase")
    await h.press_data(ORGANISER, OrgCb(action="card", uid=5).pack())
    await h.press(ORGANISER, "Fix: E-mail")
    assert "Type the corrected e-mail of Ada Lovelase (now: u5@example.org)" in h.last_text(ORGANISER)
    await h.send(ORGANISER, "not an e-mail")
    assert "does not look like an e-mail address" in h.last_text(ORGANISER)
    assert "Please type it again, or /cancel." in h.last_text(ORGANISER)
    await h.send(ORGANISER, "ada@example.org")
    assert h.last_text(ORGANISER).startswith("Saved.")
    await h.press(ORGANISER, "Fix: Full name")
    await h.send(ORGANISER, "Ada Lovelace")
    async with h.app.sessions() as s:
        row = await s.get(Delegate, 5)
        assert row is not None and (row.email, row.full_name) == ("ada@example.org", "Ada Lovelace")
    assert ("profile_fix", "user 5: full_name") in await audit_actions(h)


async def test_search_ignores_case_in_every_script(h: Harness) -> None:
    """Issue 20, bug 1: capitalised Cyrillic found nobody on SQLite (its lower() folds ASCII only)."""
    await register(h, 1, full_name="Иван Петров", city="Казань")
    await register(h, 2, full_name="김서울", city="서울")
    await register(h, 3, full_name="Ada Lovelace", city="London")
    for query, who in (("Иван", "Иван Петров"), ("ПЕТРОВ", "Иван Петров"), ("иван", "Иван Петров"),
                       ("казань", "Иван Петров"), ("서울", "김서울"), ("ADA", "Ada Lovelace")):
        await h.send(ORGANISER, f"/people {query}")
        text = h.last_text(ORGANISER)
        assert f"matching “{query}”</b>: 1" in text and who in text, (query, text)


async def test_search_ignores_case_on_postgresql(pg_url: str) -> None:
    from storage.db import make_engine, make_sessionmaker, migrate
    from storage.organiser import People
    from testkit.people import delegate

    engine = make_engine(pg_url)
    try:
        await migrate(engine)
        sessions = make_sessionmaker(engine)
        async with sessions() as s:
            from datetime import UTC, datetime

            await Delegates(s).save(delegate(1, full_name="Иван Петров", city="서울"), datetime.now(UTC))
            await s.commit()
            for query in ("Иван", "ПЕТРОВ", "서울"):
                found, total = await People(s).search(query)
                assert total == 1 and found[0].full_name == "Иван Петров", query
    finally:
        await engine.dispose()


async def test_a_typo_fix_in_a_confirmed_city_keeps_the_decision(h: Harness) -> None:
    """Issue 20, bug 2: correcting "Bucharets" put a confirmed EXCOM claim back to pending, silently."""
    await register(h, 5, participant_type="excom", city="Bucharets", full_name="Ana Pop")
    await h.press_data(ORGANISER, OrgCb(action="card", uid=5).pack())
    await h.press(ORGANISER, "Fix: City")
    await h.send(ORGANISER, "Bucharest, Romania")
    assert h.last_text(ORGANISER).startswith("Saved.")
    async with h.app.sessions() as s:
        row = await s.get(Delegate, 5)
        assert row is not None and (row.city, row.city_id, row.excom_status) == ("Bucharest", "bucharest",
                                                                                 "confirmed")


async def test_a_real_change_of_a_confirmed_claim_asks_before_saving(h: Harness) -> None:
    await register(h, 5, participant_type="excom", city="Bucharest", city_id="bucharest", full_name="Ana Pop")
    await h.press_data(ORGANISER, OrgCb(action="card", uid=5).pack())
    await h.press(ORGANISER, "Fix: City")
    await h.send(ORGANISER, "Chengdu, China")
    warning = h.last_text(ORGANISER)
    assert "This is not a typo fix: it changes the EXCOM member city Ana Pop claims" in warning
    assert "(confirmed) would go back to pending" in warning
    async with h.app.sessions() as s:
        assert (await s.get(Delegate, 5)).city == "Bucharest"
    await h.press(ORGANISER, "Keep it as it was")
    assert h.last_text(ORGANISER) == "Kept as it was."
    await h.press(ORGANISER, "Fix: City")
    await h.send(ORGANISER, "Chengdu, China")
    await h.press(ORGANISER, "Save anyway")
    assert h.last_text(ORGANISER).startswith("Saved.")
    async with h.app.sessions() as s:
        row = await s.get(Delegate, 5)
        assert row is not None and (row.city_id, row.excom_status) == ("chengdu", "pending")


# -- stats and exports ---------------------------------------------------------------------------------------

async def test_stats_as_text_and_a_chart_with_feature_counters(h: Harness) -> None:
    await register(h, 1, participant_type="excom", language="ru")
    await register(h, 2, participant_type="partner", language="ko", timezone="Asia/Seoul")
    await register(h, 3)
    async with h.app.sessions() as s:
        await Delegates(s).mark_blocked(3, h.clock.now())
        await s.commit()

    async def quiz_count(uow: Any) -> int:
        return 17

    sources(h).add_counter("quiz", org.QUIZ_PARTICIPANTS, quiz_count)
    await h.send(ORGANISER, "/stats")
    text, chart = h.session.sent(ORGANISER)[-2:]
    assert "<b>Registered: 3</b>" in text.text
    assert "EXCOM member city: 1" in text.text and "Русский: 1" in text.text and "Asia/Seoul: 1" in text.text
    assert "Quiz participants: 17" in text.text and "People who blocked the bot: 1" in text.text
    assert chart.method == "sendPhoto"
    png = next(iter(chart.files.values()))
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


async def test_export_registrations_is_a_csv_excel_opens_with_consent_and_its_time(h: Harness) -> None:
    sources(h).exports.clear()  # the bot's own files only (the quiz's and matchmaking's are tested apart)
    await register(h, 1, full_name="Иван Петров")
    await register(h, 2, full_name="=HYPERLINK(\"x\")")
    await h.send(ORGANISER, "/export")
    assert h.buttons(ORGANISER) == ["Registrations", "Broadcast deliveries"]
    await h.press(ORGANISER, "Registrations")
    doc = h.session.sent(ORGANISER)[-1]
    assert doc.method == "sendDocument"
    data = next(iter(doc.files.values()))
    assert data.startswith("\ufeff".encode())
    text = data.decode("utf-8-sig")
    header, first, second = text.splitlines()[:3]
    assert header.startswith("Telegram user id,Full name,Position")
    assert "Consent given at (UTC)" in header
    assert "Иван Петров" in first and "2020-11-01T07:00:00+00:00" in first
    assert "'=HYPERLINK" in second  # a formula is not run by Excel
    assert ("export", "registrations: excom2020-registrations.csv") in await audit_actions(h)


async def test_feature_exports_appear_when_registered(h: Harness) -> None:
    async def quiz_results(uow: Any, event: Any) -> tuple[str, bytes]:
        return "quiz.csv", b"\xef\xbb\xbfRank,Name\r\n1,Ada\r\n"

    sources(h).add_export("quiz", org.QUIZ_RESULTS, quiz_results)
    await h.send(ORGANISER, "/export")
    assert "Quiz results" in h.buttons(ORGANISER)
    await h.press(ORGANISER, "Quiz results")
    assert next(iter(h.session.sent(ORGANISER)[-1].files.values())).endswith(b"1,Ada\r\n")


# -- audit ---------------------------------------------------------------------------------------------------

async def test_audit_shows_the_latest_actions(h: Harness) -> None:
    await h.send(ORGANISER, "/audit")
    assert h.last_text(ORGANISER) == "No organiser action has been recorded yet."
    await h.send(ORGANISER, "/admit 77")
    async with h.app.delivery.uows() as uow:
        await org.audit(uow, ORGANISER, "quiz_open", "round 1", h.clock.now())  # as another feature would
        await uow.commit()
    await h.send(ORGANISER, "/audit")
    text = h.last_text(ORGANISER)
    assert text.index("quiz_open · round 1") < text.index("admit · user 77")
    assert "<code>999</code>" in text


async def test_opening_and_closing_the_quiz_are_in_the_audit_log(h: Harness) -> None:
    await h.send(ORGANISER, "/quiz_open")
    await h.send(ORGANISER, "/quiz_close")
    await h.send(ORGANISER, "/audit")
    text = h.last_text(ORGANISER)
    assert text.index("quiz_close") < text.index("quiz_open"), text


# -- retention -----------------------------------------------------------------------------------------------

async def test_retention_warns_a_week_before_and_then_deletes_personal_data(h: Harness) -> None:
    event = h.app.event
    when = event.retention_date
    assert when == event.ends + timedelta(days=30)
    await register(h, 1)
    await h.send(2, "/start")  # an unfinished registration holds personal data too
    await h.press(2, "English")
    await h.send(2, "Grace Hopper")
    delivery = h.app.delivery
    planner = delivery.planners["retention"]
    h.clock.set(when - timedelta(days=8))
    await planner.sync(delivery)
    await drain(h)
    assert not [t for t in h.texts(ORGANISER) if "will be deleted" in t]
    h.clock.set(when - timedelta(days=7))
    await planner.sync(delivery)
    await planner.sync(delivery)  # once
    await drain(h)
    [notice] = [t for t in h.texts(ORGANISER) if "will be deleted" in t]
    assert "December 17, 2020" in notice and "Exports you made before stay your responsibility" in notice
    h.clock.set(when)
    await planner.sync(delivery)
    async with h.app.sessions() as s:
        assert await s.get(Delegate, 1) is None
        assert await Outbox(s).rows(user_id=1) == []
    assert await h.app.storage.get_data(h.state_key(2)) == {}
    assert ("retention", "2 people's data deleted (attached files: 0)") in await audit_actions(h)


async def test_retention_forgets_quiz_players_guests_and_their_outbox_rows(h: Harness) -> None:
    """Not only delegates (issue 17 item 5): a quiz player who never registered (private chat and group), a
    guest with their language, zone and follows, and the outbox rows of each are deleted too; so are the files
    organisers attached to broadcasts (a photo may show people)."""
    from domain.messages import NewMessage
    from storage.models import Follow, Guest, QuizAnswer, QuizAttempt, Upload
    from storage.organiser import Uploads

    solo, grouped, guest = 7301, 7302, 7303
    now = h.clock.now()
    async with h.app.sessions() as s:
        for uid, chat in ((solo, None), (grouped, -100777)):
            s.add(QuizAttempt(user_id=uid, name=f"Player {uid}", lang="en", group_chat=chat, index=1, asked_at=now,
                              started_at=now))
            await s.flush()
            s.add(QuizAnswer(user_id=uid, index=0, question_id="q1", choice=1, right=True, points=100,
                             time_ms=900, answered_at=now, created_at=now))
        s.add(Guest(user_id=guest, language="ko", timezone="Asia/Seoul", zone_chosen=True, created_at=now,
                    updated_at=now))
        s.add(Follow(user_id=guest, item_id=h.app.event.program[0].id, created_at=now))
        await Outbox(s).add([NewMessage(f"t:{uid}", uid, "t", "t", now, {}) for uid in (solo, grouped, guest)], now)
        await Uploads(s).add(kind="photo", filename="team.png", content_type="image/png", data=b"\x89PNG team",
                             by=ORGANISER, now=now)
        await s.commit()
    delivery = h.app.delivery
    planner = delivery.planners["retention"]
    h.clock.set(h.app.event.retention_date - timedelta(days=7))
    await planner.sync(delivery)
    h.clock.set(h.app.event.retention_date)
    await planner.sync(delivery)
    async with h.app.sessions() as s:
        for model in (QuizAttempt, QuizAnswer, Guest, Follow, Upload):
            assert (await s.scalars(select(model))).all() == [], model.__name__
        for uid in (solo, grouped, guest):
            assert await Outbox(s).rows(user_id=uid) == []
    assert ("retention", "3 people's data deleted (attached files: 1)") in await audit_actions(h)


async def test_a_bot_started_after_the_retention_date_warns_first_and_deletes_a_week_later(h: Harness) -> None:
    when = h.app.event.retention_date
    assert when is not None
    await register(h, 1)
    delivery = h.app.delivery
    planner = delivery.planners["retention"]
    h.clock.set(when + timedelta(days=100))  # e.g. the real clock, long after the event
    await planner.sync(delivery)
    async with h.app.sessions() as s:
        assert await s.get(Delegate, 1) is not None, "nobody was warned yet: nothing is deleted"
    await drain(h)
    [notice] = [t for t in h.texts(ORGANISER) if "will be deleted" in t]
    assert "on April 3, 2021" in notice  # a week from the notice, not the date already past
    h.clock.advance(days=6)
    await planner.sync(delivery)
    async with h.app.sessions() as s:
        assert await s.get(Delegate, 1) is not None
    h.clock.advance(days=1)
    await planner.sync(delivery)
    async with h.app.sessions() as s:
        assert await s.get(Delegate, 1) is None


def test_the_retention_period_is_checked_in_the_event_file(tmp_path) -> None:
    from pathlib import Path

    source = Path(__file__).resolve().parent.parent / "events" / "excom2020.toml"
    text = source.read_text(encoding="utf-8").replace("days_after = 30", "days_after = 0")
    bad = tmp_path / "event.toml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(EventFileError, match="retention"):
        load_event(bad)


async def test_organisers_get_their_commands_in_their_own_chat_only(h: Harness) -> None:
    from bot.app import set_commands

    await set_commands(h.bot, h.app.i18n, frozenset({ORGANISER}))
    menus = h.session.commands
    assert "broadcast" not in {c["command"] for c in menus[""]}
    mine = {c["command"]: c["description"] for c in menus[f"chat:{ORGANISER}:ru"]}
    assert {"program", "broadcast", "stats", "export", "people", "audit"} <= set(mine)
    assert mine["stats"] != "Organisers: figures and a chart"


# -- rights --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["/people", "/people Ada", "/stats", "/export", "/audit", "/admit 5",
                                     "/broadcast", "/broadcasts", "/excom"])
async def test_every_organiser_command_is_refused_to_others_with_one_line(h: Harness, command: str) -> None:
    await register(h, 5)
    for uid in (5, 6):  # registered, and not
        before = len(h.session.sent(uid))
        await h.send(uid, command)
        assert [r.text for r in h.session.sent(uid)[before:]] == [REFUSED]


async def test_forged_organiser_buttons_are_refused(h: Harness) -> None:
    await register(h, 5, participant_type="excom", excom_status="pending")
    for cb in (OrgCb(action="card", uid=5), OrgCb(action="ok", uid=5), OrgCb(action="fix", uid=5, value="email"),
               OrgCb(action="ex", value="registrations"), OrgCb(action="pg", page=1)):
        await h.press_data(6, cb.pack())
        assert last_answer(h) == BUTTON_REFUSED
    async with h.app.sessions() as s:
        assert (await s.get(Delegate, 5)).excom_status == "pending"
    assert [r for r in h.session.sent(6) if r.method == "sendDocument"] == []


async def test_on_postgresql_broadcasts_people_stats_and_exports_work(tmp_path, pg_url: str) -> None:
    h = await Harness.create(make_settings(tmp_path, database_url=pg_url))
    try:
        await register(h, 1, full_name="Ada Lovelace", language="ru")
        await register(h, 2, full_name="Grace Hopper")
        await h.send(3, "/start")
        await h.press(3, "English")
        await h.send(ORGANISER, "/broadcast")
        await h.send(ORGANISER, "Hello")
        await h.press(ORGANISER, "Choose the audience")
        await h.press(ORGANISER, "Started registering")
        await h.press(ORGANISER, "Send to 1 person")
        await drain(h)
        assert h.last_text(3) == "Hello"
        await h.send(ORGANISER, "/people lovelace")
        assert "matching “lovelace”</b>: 1" in h.last_text(ORGANISER)
        await h.send(ORGANISER, "/stats")
        assert "<b>Registered: 2</b>" in h.session.sent(ORGANISER)[-2].text
        await h.send(ORGANISER, "/export")
        await h.press(ORGANISER, "Broadcast deliveries")
        data = next(iter(h.session.sent(ORGANISER)[-1].files.values())).decode("utf-8-sig")
        assert data.splitlines()[1].startswith("1,3,sent,")
        await h.send(ORGANISER, "/broadcasts")
        assert "sent 1 of 1" in h.last_text(ORGANISER)
    finally:
        await h.close()


def test_wiring_registers_the_quiz_and_matchmaking_sources() -> None:
    from bot.app import organiser_sources
    from services import matchmaking, quiz

    wired = organiser_sources()
    assert set(wired.audiences) == {"quiz", "matchmaking"}
    assert set(wired.counters) == {"quiz", "meetings"} and set(wired.exports) == {"quiz", "meetings"}
    assert wired.audiences["quiz"].fn is quiz.participant_ids
    assert wired.audiences["matchmaking"].fn is matchmaking.participant_ids


async def test_stats_over_many_days_stay_within_one_message(h: Harness) -> None:
    for uid in range(1, 41):
        await register(h, uid, full_name=f"Person {uid}", city=f"City {uid}")
        h.clock.advance(days=1)
    await h.send(ORGANISER, "/stats")
    text = h.session.sent(ORGANISER)[-2].text
    assert "By day (UTC), the last 21 days (the chart shows every day)" in text
    assert len(text) < 4096


async def test_a_korean_organiser_gets_korean_figures_and_a_chart(h: Harness) -> None:
    await register(h, 1, participant_type="partner")
    await h.send(ORGANISER, "/stats", lang="ko")
    text, chart = h.session.sent(ORGANISER)[-2:]
    assert "<b>등록: 1명</b>" in text.text and "참가자 유형별" in text.text
    assert chart.method == "sendPhoto"


async def test_every_chart_label_renders_in_korean_and_russian(h: Harness, monkeypatch: pytest.MonkeyPatch,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    """Issue 20, bug 4: the /stats chart drew Korean labels as empty boxes (its font had no Hangul)."""
    import warnings

    from domain.registration import PARTICIPANT_LABELS

    await register(h, 1, participant_type="partner", city="서울")
    await register(h, 2, participant_type="excom", city="Казань")
    async with h.app.sessions() as s:
        await s.execute(Delegate.__table__.update().values(country="대한민국").where(Delegate.user_id == 1))
        await s.execute(Delegate.__table__.update().values(country="Россия").where(Delegate.user_id == 2))
        await s.commit()
    async with h.app.sessions() as s:
        from storage.uow import SqlUnitOfWork

        stats = await org.stats(SqlUnitOfWork(s), sources(h))
    i18n = h.app.i18n
    for lang in ("ko", "ru"):
        titles = {k: i18n.gettext(v, locale=lang) for k, v in (
            ("title", "By participant type"), ("by_day", "By day (UTC)"), ("by_type", "By participant type"),
            ("by_language", "By language"), ("by_country", "By country"))}
        types = {k: i18n.gettext(v, locale=lang) for k, v in PARTICIPANT_LABELS.items()}
        # The chart may silence matplotlib's warnings; here every one of them reaches the test.
        monkeypatch.setattr(warnings, "simplefilter", lambda *a, **k: None)
        with warnings.catch_warnings(record=True) as caught:
            warnings.filterwarnings("always")
            assert org.chart_png(stats, titles, types).startswith(b"\x89PNG")
        missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
        missing += [r.getMessage() for r in caplog.records if "glyphs" in r.getMessage()]
        assert missing == [], (lang, missing)


@pytest.mark.parametrize(("html", "problem"), [
    ("Coffee break: 15 min <3", "<3"),
    ("Moscow < Seoul", "<"),
    ("Join the Q&A at 16:00", "Q&A"),
])
def test_a_bare_lt_or_amp_in_console_html_is_refused_before_sending(html: str, problem: str) -> None:
    """Telegram refuses a message whose "<" starts no tag or whose "&" starts no entity: the composer says so
    (naming where) instead of a broadcast that fails for every recipient."""
    from domain.organiser import check_html
    from services.errors import ServiceError

    with pytest.raises(ServiceError) as err:
        check_html(html)
    assert err.value.code == "bad_html" and err.value.params["problem"] == problem
    assert check_html("Q&amp;A &lt;3 <b>now</b> &#33;") == "Q&amp;A &lt;3 <b>now</b> &#33;"
