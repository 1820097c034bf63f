"""Reminders: who is reminded of what and when, how they read (zone, language), /reminders, and the plan."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import new_delivery
from delivery.engine import Delivery
from domain.clock import Clock
from domain.messages import DROPPED, PENDING, SENT, NewMessage
from handlers.reminders import RemCb
from services import reminder_jobs
from services import reminders as rem
from storage.outbox import Outbox
from storage.repo import Delegates, Follows, Reminders, ReminderSettings, forget_person
from tests.harness import Harness, drain, make_settings, msk, register


async def follow(h: Harness, uid: int, *items: str, lead: int | None = None, follow_all: bool | None = None,
                 on: bool | None = None) -> None:
    async with h.app.sessions() as s:
        for item in items:
            await Follows(s).follow(uid, item, h.clock.now())
        await Reminders(s).update(uid, h.clock.now(), lead=lead, follow_all=follow_all, on=on)
        await s.commit()


def jobs(d: Delivery) -> reminder_jobs.ReminderPlanner:
    """The reminders' planner, as the app wired it."""
    return reminder_jobs.planner(d)


async def outbox_rows(h: Harness, **kw: object) -> list:
    async with h.app.sessions() as s:
        return await Outbox(s).rows(**kw)


# -- the reminder itself ------------------------------------------------------------------------------------

async def test_a_reminder_names_the_session_its_local_time_and_how_to_join(harness: Harness) -> None:
    h = harness
    await register(h, 1, language="ko", timezone="Asia/Seoul")
    await register(h, 2, language="ru", timezone="Europe/Moscow")
    await register(h, 3, language="en", timezone="America/Los_Angeles")
    await follow(h, 1, "opening")
    await follow(h, 2, "opening")
    await follow(h, 3, "opening")
    d = h.app.delivery
    h.clock.set(msk(8, 50))
    assert await jobs(d).run_reminder("opening", 10) == 3
    assert await jobs(d).run_reminder("opening", 10) == 0  # a second fan-out creates nothing
    sent = dict(await drain(h))
    assert "<b>개회식" in sent[1] or "개회" in sent[1]
    assert "10분 후 15:00에 시작해요" in sent[1]
    # No verb that a plural title ("Матчмейкинг-встречи") would have to agree with.
    assert "<b>Церемония открытия</b> — начало: 09:00, через 10 минут." in sent[2]
    # Los Angeles is still on 16 Nov when the event opens: the date is shown.
    assert "starts at 16 Nov, 22:00, in 10 minutes" in sent[3]
    assert "How to join:" in sent[3] and "DVMS" in sent[3]
    settings = [b for b in h.session.sent(3)[-1].buttons]
    assert settings == [("⚙️ Reminder settings", RemCb(action="open").pack())]
    assert RemCb(action="open").pack() == rem.SETTINGS_CALLBACK
    rows = await outbox_rows(h, topic="reminder:opening:10")
    assert {r.status for r in rows} == {SENT}
    assert rows[0].key == "reminder:1:opening:10:20201117T0600Z"


async def test_only_people_who_follow_with_that_lead_and_reminders_on(harness: Harness) -> None:
    h = harness
    for uid in (1, 2, 3, 4, 5):
        await register(h, uid)
    await follow(h, 1, "plenary")                      # lead 10 by default
    await follow(h, 2, "plenary", lead=30)             # reminded by the 30-minute fan-out instead
    await follow(h, 3, "plenary", on=False)            # reminders off
    await follow(h, 4, follow_all=True)                # the whole program
    await follow(h, 5, "opening")                      # another session
    h.clock.set(msk(9, 30))
    d = h.app.delivery
    assert await jobs(d).run_reminder("plenary", 10) == 2
    assert sorted(c for c, _ in await drain(h)) == [1, 4]
    h.clock.set(msk(9, 10))
    assert await jobs(d).run_reminder("plenary", 30) == 1


async def test_the_closed_session_is_reminded_only_to_excom_member_cities(harness: Harness) -> None:
    h = harness
    await register(h, 1, participant_type="excom")
    await register(h, 2, participant_type="wego_member")
    await register(h, 3, participant_type="partner")
    await follow(h, 1, follow_all=True)
    await follow(h, 2, "closed-session")  # even an explicit follow does not make it theirs
    await follow(h, 3, follow_all=True)
    h.clock.set(msk(12, 50))
    d = h.app.delivery
    # One fan-out for the two items starting at 13:00, whichever of them is named.
    assert await jobs(d).run_reminder("closed-session", 10) == 2
    assert await jobs(d).run_reminder("reconnection", 10) == 0
    sent = await drain(h)
    assert sorted(c for c, t in sent if "<b>EXCOM Meeting 2020 Closed Session" in t) == [1]
    assert sorted(c for c, t in sent if "<b>(Re)connection" in t) == [1, 3]


async def test_the_whole_program_includes_the_first_coffee_break(harness: Harness) -> None:
    # The first coffee break is a program item like the second (the one with the quiz): followed with the
    # whole program, reminded, and shown as followed in /program.
    h = harness
    await register(h, 1, participant_type="partner")
    await follow(h, 1, follow_all=True)
    h.clock.set(msk(7))
    await h.send(1, "/program")
    assert "🔔 Online Coffee Break" in h.last_text(1)
    h.clock.set(msk(10, 30))
    assert await jobs(h.app.delivery).run_reminder("coffee1", 10) == 1
    [(_, text)] = await drain(h)
    # The matchmaking meetings start with it: a partner (not asked about matchmaking) follows both.
    assert "these sessions start at the same time" in text
    assert "<b>Online Coffee Break</b>" in text and "<b>Matchmaking Meetings</b>" in text


async def test_the_first_coffee_break_can_be_followed_from_its_card(harness: Harness) -> None:
    h = harness
    await register(h, 1)
    h.clock.set(msk(7))
    await h.send(1, "/program")
    await h.press(1, "10:40 Online Coffee Break")
    await h.press(1, "🔔 Remind me")
    assert "🔕 Don't remind me" in h.buttons(1)
    h.clock.set(msk(10, 30))
    assert await jobs(h.app.delivery).run_reminder("coffee1", 10) == 1
    [(_, text)] = await drain(h)
    assert text.startswith("⏰ <b>Online Coffee Break</b> starts at 10:40, in 10 minutes.")


async def test_a_plural_title_reads_right_in_russian(harness: Harness) -> None:
    h = harness
    await register(h, 1, language="ru", participant_type="wego_member", matchmaking=True)
    await follow(h, 1, "matchmaking")
    h.clock.set(msk(10, 30))
    await jobs(h.app.delivery).run_reminder("coffee1", 10)
    [(_, text)] = await drain(h)
    assert text.startswith("⏰ <b>Матчмейкинг-встречи</b> — начало: 10:40, через 10 минут.")


async def test_no_matchmaking_reminders_for_people_who_said_no(harness: Harness) -> None:
    h = harness
    await register(h, 1, participant_type="wego_member", matchmaking=False)
    await register(h, 2, participant_type="wego_member", matchmaking=True)
    await register(h, 3, participant_type="wego_member", matchmaking=False)
    await follow(h, 1, follow_all=True)
    await follow(h, 2, follow_all=True)
    await follow(h, 3, "matchmaking", follow_all=True)  # said No, then pressed "Remind me" on its card
    h.clock.set(msk(7))
    await h.send(1, "/program")
    assert "🔔 Matchmaking Meetings" not in h.last_text(1) and "🔔 Online Coffee Break" in h.last_text(1)
    await h.press(1, "10:40 Matchmaking Meetings")
    assert "🔔 Remind me" in h.buttons(1)  # not covered by the whole program: their own choice
    h.clock.set(msk(10, 30))
    assert await jobs(h.app.delivery).run_reminder("coffee1", 10) == 3
    sent = dict(await drain(h))
    assert "Matchmaking" not in sent[1] and "<b>Online Coffee Break</b> starts at 10:40" in sent[1]
    assert "<b>Matchmaking Meetings</b>" in sent[2] and "<b>Online Coffee Break</b>" in sent[2]
    assert "<b>Matchmaking Meetings</b>" in sent[3]


async def test_parallel_sessions_make_one_reminder_naming_them_all(harness: Harness) -> None:
    h = harness
    await register(h, 1, language="ru", timezone="Asia/Seoul")
    await register(h, 2)
    await follow(h, 1, "tour", "quiz")
    await follow(h, 2, "quiz")
    h.clock.set(msk(14, 5))
    d = h.app.delivery
    assert await jobs(d).run_reminder("tour", 10) == 2
    assert await jobs(d).run_reminder("quiz", 10) == 0  # the same start instant: the same fan-out and keys
    await d.sync()  # the catch-up finds nothing new either
    sent = await drain(h)
    assert [c for c, _ in sent] == [1, 2]
    both, one = sent[0][1], sent[1][1]
    assert both.startswith("⏰ Через 10 минут (20:15) одновременно начинаются:")
    assert "Виртуальный тур по Москве" in both and "викториной" in both and both.count("Как подключиться") == 1
    assert one.startswith("⏰ <b>Online Coffee Break with the Smart City Quiz</b> starts at 14:15")
    rows = await outbox_rows(h, topic="reminder:tour:10")
    assert sorted(r.key for r in rows) == ["reminder:1:tour:10:20201117T1115Z", "reminder:2:tour:10:20201117T1115Z"]


async def test_rows_made_one_per_item_before_the_merge_are_not_sent_twice(harness: Harness) -> None:
    h = harness
    await register(h, 1)
    await follow(h, 1, "tour", "quiz")
    h.clock.set(msk(14, 5))
    async with h.app.sessions() as s:  # a row of the old shape, as an older version queued it
        quiz = h.app.delivery.event.item("quiz")
        await Outbox(s).add([NewMessage(rem.reminder_key(1, quiz, 10), 1, rem.KIND_REMINDER,
                                        rem.reminder_topic("quiz", 10), h.clock.now(),
                                        {"item": "quiz", "lead": 10, "starts": quiz.starts.isoformat()},
                                        expires_at=quiz.ends)], h.clock.now())
        await s.commit()
    assert await jobs(h.app.delivery).run_reminder("tour", 10) == 0
    [(_, text)] = await drain(h)
    assert "Smart City Quiz" in text


async def test_a_new_time_zone_changes_later_reminders(harness: Harness) -> None:
    h = harness
    await register(h, 1, timezone="Europe/Moscow")
    await follow(h, 1, "opening")
    h.clock.set(msk(8, 50))
    await jobs(h.app.delivery).run_reminder("opening", 10)
    # The row exists; the person moves to Seoul and Korean before it is sent.
    async with h.app.sessions() as s:
        await Delegates(s).update_fields(1, h.clock.now(), timezone="Asia/Seoul", language="ko")
        await s.commit()
    [(_, text)] = await drain(h)
    assert "15:00" in text and "09:00" not in text and "시작해요" in text


async def test_a_reminder_whose_session_ended_is_dropped_and_recorded(harness: Harness) -> None:
    h = harness
    await register(h, 1)
    await follow(h, 1, "opening")
    h.clock.set(msk(8, 50))
    await jobs(h.app.delivery).run_reminder("opening", 10)
    await register(h, 2)
    await follow(h, 2, "plenary")
    h.clock.set(msk(9, 30))
    await jobs(h.app.delivery).run_reminder("plenary", 10)
    h.clock.set(msk(9, 31))  # the opening's row is still unsent when the opening ends
    sent = await drain(h)
    assert [c for c, _ in sent] == [2]
    [row] = await outbox_rows(h, topic="reminder:opening:10")
    assert (row.status, row.error) == (DROPPED, "expired")


async def test_late_but_not_over_reads_as_started(harness: Harness) -> None:
    h = harness
    await register(h, 1)
    await follow(h, 1, "opening")
    h.clock.set(msk(8, 50))
    await jobs(h.app.delivery).run_reminder("opening", 10)
    h.clock.set(msk(9, 5))
    [(_, text)] = await drain(h)
    assert "started at 09:00 and is on until 09:30" in text


async def test_unfollowing_or_switching_off_after_the_fan_out_drops_the_row(harness: Harness) -> None:
    h = harness
    await register(h, 1)
    await register(h, 2)
    await follow(h, 1, "opening")
    await follow(h, 2, "opening")
    h.clock.set(msk(8, 50))
    await jobs(h.app.delivery).run_reminder("opening", 10)
    async with h.app.sessions() as s:
        await Follows(s).unfollow(1, "opening")
        await Reminders(s).update(2, h.clock.now(), on=False)
        await s.commit()
    assert await drain(h) == []
    assert sorted(r.error for r in await outbox_rows(h)) == ["no longer followed", "reminders off"]


# -- catch-up and the plan ---------------------------------------------------------------------------------

async def test_catch_up_reaches_late_followers_but_never_after_the_start(harness: Harness) -> None:
    h = harness
    await register(h, 1)
    d = h.app.delivery
    h.clock.set(msk(8, 50))
    await jobs(d).run_reminder("opening", 10)
    h.clock.set(msk(8, 55))
    await follow(h, 1, "opening")  # after the 10-minute fan-out ran
    await d.sync()
    [(_, text)] = await drain(h)
    assert "in 5 minutes" in text
    await d.sync()
    assert await drain(h) == []  # the key keeps it to one
    await register(h, 2)
    h.clock.set(msk(9, 1))
    await follow(h, 2, "opening")
    await d.sync()
    assert await drain(h) == []


async def test_the_plan_has_one_job_per_start_and_lead_with_stable_ids(harness: Harness) -> None:
    h = harness
    await register(h, 1, timezone="Asia/Seoul")
    await register(h, 2, timezone="Asia/Tokyo")  # the same 18:00 instant as Seoul
    await register(h, 3, timezone="America/Mexico_City")
    for uid in (1, 2, 3):
        await follow(h, uid, follow_all=True)
    for _ in range(2):  # a second plan (a restart) replaces, never adds
        d = new_delivery(h.app)
        await d.plan()
        planned = d.scheduler.planned
    reminders = {k for k in planned if k.startswith("reminder:")}
    # Items that start together (parallel tracks) share one job, named after the first of them.
    starts = {i.starts for i in h.app.event.program}
    assert len(reminders) == len(starts) * len(rem.LEADS) == 10 * 4
    assert "reminder:reconnection:10" in reminders and "reminder:closed-session:10" not in reminders
    assert planned["reminder:opening:10"] == msk(8, 50)
    assert planned["reminder:plenary:30"] == msk(9, 10)
    day_before = {k: v for k, v in planned.items() if k.startswith("day_before:")}
    assert day_before == {
        "day_before:20201116T0900Z": datetime(2020, 11, 16, 9, 0, tzinfo=UTC),   # 18:00 in Seoul and Tokyo
        "day_before:20201117T0000Z": datetime(2020, 11, 17, 0, 0, tzinfo=UTC),   # 18:00 in Mexico City
    }


async def test_jobs_follow_the_replay_clock(harness: Harness) -> None:
    # CLOCK_START=08:45 CLOCK_SPEED=10: the 08:50 fan-out is five bot-minutes away, thirty real seconds.
    h = harness
    clock = Clock(msk(8, 45), speed=10)
    d = Delivery(settings=h.app.settings, event=h.app.event, clock=clock, engine=h.app.engine,
                 sessions=h.app.sessions, i18n=h.app.i18n)
    reminder_jobs.register(d)  # the wiring, as bot/app.py does it
    d.scheduler.start()
    try:
        await d.plan()
        real = d.scheduler.real_run_time("reminder:opening:10")
        assert real is not None
        assert (real - Clock.wall_now()).total_seconds() == pytest.approx(30, abs=1)
        assert d.sync_interval == 6.0
        assert "reminder:checkin:10" not in d.scheduler.job_ids()  # 07:50: past
    finally:
        d.scheduler.shutdown()
        await asyncio.sleep(0)


# -- the evening before ----------------------------------------------------------------------------------------

async def test_day_before_at_18_local_lists_followed_sessions_in_local_time(harness: Harness) -> None:
    h = harness
    await register(h, 1, timezone="Asia/Seoul", language="en")
    await register(h, 2, timezone="America/Mexico_City", language="ru")
    await register(h, 3, timezone="Asia/Seoul")  # follows nothing: no note
    await follow(h, 1, "opening", "closing")
    await follow(h, 2, follow_all=True)
    d = h.app.delivery
    seoul = rem.day_before_at(h.app.event, "Asia/Seoul")
    assert seoul == datetime(2020, 11, 16, 9, 0, tzinfo=UTC)
    h.clock.set(seoul)
    assert await jobs(d).run_day_before(seoul) == 1
    [(uid, text)] = await drain(h)
    assert uid == 1
    assert "Seoul" in text and "<b>17 Nov</b>\n15:00 — " in text and "21:45 — " in text
    assert "10 minutes before each one" in text
    mexico = rem.day_before_at(h.app.event, "America/Mexico_City")
    h.clock.set(mexico)
    assert await jobs(d).run_day_before(mexico) == 1
    [(uid, text)] = await drain(h)
    # Mexico City: the program runs from the evening of 16 Nov into 17 Nov, grouped by local date.
    assert uid == 2 and "<b>16 нояб.</b>\n23:00 — " in text and "<b>17 нояб.</b>" in text
    assert "Coffee" not in text


async def test_no_day_before_job_once_18_local_has_passed(harness: Harness) -> None:
    h = harness
    await register(h, 1, timezone="Asia/Seoul")
    await register(h, 2, timezone="America/Mexico_City")
    for uid in (1, 2):
        await follow(h, uid, follow_all=True)
    h.clock.set(datetime(2020, 11, 16, 12, 0, tzinfo=UTC))  # after 18:00 in Seoul, before it in Mexico City
    d = new_delivery(h.app)
    await d.plan()
    assert [k for k in d.scheduler.planned if k.startswith("day_before:")] == ["day_before:20201117T0000Z"]


# -- the event file changed ---------------------------------------------------------------------------------

async def test_a_moved_item_moves_its_reminders_and_followers_get_one_notice(harness: Harness) -> None:
    h = harness
    await register(h, 1, timezone="Asia/Seoul")
    await register(h, 2)
    await register(h, 3, language="ko", timezone="Asia/Kolkata")  # GMT+5:30: the plenary moves to 12:30
    await follow(h, 1, "plenary")
    await follow(h, 3, "plenary")
    first = new_delivery(h.app)
    await first.plan()  # the first start-up only records the program
    assert await drain(h) == []
    # The organisers move the plenary from 09:40 to 10:00 and restart.
    event = h.app.event
    moved_program = tuple(i.model_copy(update={"starts": i.starts + timedelta(minutes=20)}) if i.id == "plenary"
                          else i for i in event.program)
    object.__setattr__(event, "program", moved_program)
    try:
        for _ in range(2):
            again = new_delivery(h.app)
            await again.plan()
        assert again.scheduler.planned["reminder:plenary:10"] == msk(9, 50)
        sent = dict(await drain(h))
        assert sorted(sent) == [1, 3]
        assert "now starts at 16:00 (it was 15:40)" in sent[1]
        # The Korean particle follows how the time is read: "12:30으로" (삼십 분), never "(으)로".
        assert "시작 시간이 12:30으로 바뀌었어요(기존 12:10)" in sent[3]
        h.clock.set(msk(9, 50))
        await jobs(again).run_reminder("plenary", 10)
        texts = dict(await drain(h))
        assert "starts at 16:00, in 10 minutes" in texts[1]
    finally:
        object.__setattr__(event, "program", tuple(
            i.model_copy(update={"starts": i.starts - timedelta(minutes=20)}) if i.id == "plenary" else i
            for i in event.program))


# -- /reminders ----------------------------------------------------------------------------------------------

async def test_reminders_command_lists_and_changes_everything(harness: Harness) -> None:
    h = harness
    await register(h, 1, timezone="Asia/Seoul")
    await follow(h, 1, "plenary", "closing")
    await h.send(1, "/reminders")
    text = h.last_text(1)
    assert "On: 10 minutes before each session you follow." in text
    assert "15:40 — " in text and "21:45 — " in text
    assert "Seoul" in text
    assert h.buttons(1)[:4] == ["5 min", "✓ 10 min", "15 min", "30 min"]
    await h.press(1, "30 min")
    assert "On: 30 minutes before" in h.last_text(1)
    await h.press(1, "Follow the whole program")
    assert "You follow the whole program." in h.last_text(1)
    await h.press(1, "Turn reminders off")
    assert "Off: I will not remind you." in h.last_text(1)
    await h.press(1, "✖ ")  # unfollow the first explicit follow
    async with h.app.sessions() as s:
        assert await Reminders(s).settings(1) == ReminderSettings(lead=30, on=False, follow_all=True)
        assert await Follows(s).items(1) == {"closing"}


async def test_reminders_in_russian_and_for_strangers(harness: Harness) -> None:
    h = harness
    await h.send(7, "/reminders")
    assert "registered delegates" in h.last_text(7)
    await h.press_data(7, RemCb(action="lead", value="10").pack())
    await register(h, 1, language="ru")
    await h.send(1, "/reminders", lang="ru")
    assert "Вы пока не выбрали ни одной сессии" in h.last_text(1)
    await h.press_data(1, RemCb(action="lead", value="7").pack())  # forged: not a lead we offer
    async with h.app.sessions() as s:
        assert (await Reminders(s).settings(1)).lead == 10


async def test_registration_ends_with_the_offer_to_follow_the_whole_program(harness: Harness) -> None:
    h = harness
    await h.send(5, "/start")
    await h.press(5, "English")
    for answer in ("Minji Kim", "Officer", "Seoul Metropolitan Government", "Seoul, Republic of Korea"):
        await h.send(5, answer)
    await h.press(5, "WeGO member")
    await h.send(5, "minji@example.org")
    await h.send(5, "Asia/Seoul")
    await h.press(5, "Yes")
    if "available" in " ".join(h.buttons(5)).lower():
        await h.press(5, "No")
    await h.press(5, "I agree")
    await h.press(5, "Confirm")
    assert "You are registered" in h.last_text(5)
    await h.press(5, "Remind me before every session")
    async with h.app.sessions() as s:
        assert (await Reminders(s).settings(5)).follow_all is True
    assert "You follow the whole program." in h.last_text(5)


async def test_forgetting_a_person_deletes_their_outbox_rows(harness: Harness) -> None:
    h = harness
    await register(h, 1)
    await follow(h, 1, "opening")
    h.clock.set(msk(8, 50))
    await jobs(h.app.delivery).run_reminder("opening", 10)
    async with h.app.sessions() as s:
        await forget_person(s, 1)
        await s.commit()
    assert await outbox_rows(h) == []


# -- start and stop with the dispatcher ------------------------------------------------------------------------

async def test_the_engine_starts_and_stops_with_the_dispatcher(harness: Harness) -> None:
    h = harness
    await register(h, 1)
    await follow(h, 1, "opening")
    h.clock.set(msk(8, 45))  # the 15- and 30-minute fan-outs are past, the 10-minute one ahead
    await h.app.dp.emit_startup(bot=h.bot, **h.app.dp.workflow_data)
    d = h.app.delivery
    try:
        assert d.is_leader and d.sender is not None
        assert "reminder:opening:10" in d.scheduler.job_ids()
        h.clock.set(msk(8, 50))
        await jobs(d).run_reminder("opening", 10)
        for _ in range(300):
            if h.session.sent(1):
                break
            await asyncio.sleep(0.01)
        assert "in 10 minutes" in h.session.sent(1)[-1].text
    finally:
        await h.app.dp.emit_shutdown(bot=h.bot, **h.app.dp.workflow_data)
    assert d.sender is None and not d.scheduler.running
    assert {r.status for r in await outbox_rows(h)} == {SENT}
    assert PENDING not in {r.status for r in await outbox_rows(h)}


@pytest.mark.postgres
async def test_reminders_end_to_end_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    h = await Harness.create(make_settings(tmp_path, database_url=pg_url))
    try:
        await register(h, 1, participant_type="excom", timezone="Asia/Seoul")
        await register(h, 2)
        await follow(h, 1, follow_all=True)
        await follow(h, 2, "closed-session", "reconnection")
        d = h.app.delivery
        await d.plan()
        h.clock.set(msk(12, 50))
        assert await jobs(d).run_reminder("closed-session", 10) == 2  # one per person for both tracks
        assert await jobs(d).run_reminder("reconnection", 10) == 0
        sent = await drain(h)
        assert sorted(c for c, _ in sent) == [1, 2]
        assert {r.status for r in await outbox_rows(h)} == {SENT}
    finally:
        await h.close()
