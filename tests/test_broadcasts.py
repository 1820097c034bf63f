"""Broadcasts: the /broadcast conversation (message, variants per language, audience, preview, confirmation),
sending through the outbox with a progress message, cancel, /broadcasts and its report, rights."""

from __future__ import annotations

from typing import Any

import pytest

from domain.messages import BLOCKED, CANCELLED, SENT, TopicCounts
from domain.organiser import Audience
from handlers.broadcasts import BcCancel, BcCb
from services import broadcasts as bc
from services.organiser import Sources
from storage.models import Broadcast
from storage.outbox import Outbox
from tests.harness import Harness, drain, drain_sender, make_settings, register, sender

ORGANISER = 999
REFUSED = "This command is for the organisers."


def formatted(h: Harness, uid: int, text: str, bold: str) -> dict[str, Any]:
    """A text with `bold` in bold, as Telegram delivers it (entities, not HTML)."""
    update = h.updates.text(uid, text)
    start = text.index(bold)
    update["message"]["entities"] = [{"type": "bold", "offset": start, "length": len(bold)}]
    return update


async def rows(h: Harness, **kw: Any) -> list[Any]:
    async with h.app.sessions() as s:
        return await Outbox(s).rows(**kw)


async def broadcast_row(h: Harness, bid: int) -> Broadcast:
    async with h.app.sessions() as s:
        found = await s.get(Broadcast, bid)
        assert found is not None
        return found


async def tick(h: Harness, bid: int) -> bool:
    return await bc.planner(h.app.delivery).tick(bid)


def sources(h: Harness) -> Sources:
    found = h.app.sources
    assert isinstance(found, Sources)
    return found


async def compose(h: Harness, text: str = "Hello everyone", *, audience: tuple[str, ...] = ("Everyone registered",),
                  variants: dict[str, str] | None = None) -> None:
    """The organiser walks /broadcast up to the confirmation."""
    await h.send(ORGANISER, "/broadcast")
    await h.send(ORGANISER, text)
    for lang, variant in (variants or {}).items():
        await h.press(ORGANISER, {"ru": "Русский", "ko": "한국어", "en": "English"}[lang])
        await h.send(ORGANISER, variant)
    await h.press(ORGANISER, "Choose the audience")
    for label in audience:
        await h.press(ORGANISER, label)


# -- the conversation ------------------------------------------------------------------------------------------

async def test_a_formatted_broadcast_with_a_russian_variant_reaches_everyone_in_their_language(h: Harness) -> None:
    await register(h, 1, language="en")
    await register(h, 2, language="ru")
    await register(h, 3, language="ko")
    await h.send(ORGANISER, "/broadcast")
    assert "Send me the message" in h.last_text(ORGANISER)
    await h.feed(formatted(h, ORGANISER, "Hello all: the plenary moved to 11:00", "the plenary moved"))
    assert "Add a variant" in h.last_text(ORGANISER)
    await h.press(ORGANISER, "Русский")
    assert "Send the text for readers of Русский" in h.last_text(ORGANISER)
    await h.feed(formatted(h, ORGANISER, "Всем привет: пленарное заседание в 11:00", "пленарное заседание"))
    assert "Variants so far: Русский" in h.last_text(ORGANISER)
    await h.press(ORGANISER, "Choose the audience")
    await h.press(ORGANISER, "Everyone registered")
    texts = h.texts(ORGANISER)
    # The preview is the message itself, formatting included, then the Russian variant.
    assert "Hello all: <b>the plenary moved</b> to 11:00" in texts
    assert "Всем привет: <b>пленарное заседание</b> в 11:00" in texts
    assert "Send this broadcast to <b>3</b> people now?" in h.last_text(ORGANISER)
    await h.press(ORGANISER, "Send to 3 people")
    assert h.last_text(ORGANISER).startswith("📣 <b>Broadcast #1</b>: sending…")
    assert h.buttons(ORGANISER) == ["⏹ Cancel the broadcast"]
    assert h.session.sent(1) == []  # nothing is sent inside the update: the outbox does it
    queued = await rows(h, topic="broadcast:1")
    assert [(r.key, r.priority) for r in queued] == [("broadcast:1:1", 3), ("broadcast:1:2", 3), ("broadcast:1:3", 3)]
    await drain(h)
    assert h.last_text(1) == "Hello all: <b>the plenary moved</b> to 11:00"
    assert h.last_text(2) == "Всем привет: <b>пленарное заседание</b> в 11:00"
    assert h.last_text(3) == "Hello all: <b>the plenary moved</b> to 11:00"  # no Korean variant: the default


async def test_a_photo_with_a_caption_is_sent_as_a_photo(h: Harness) -> None:
    await register(h, 1)
    await h.send(ORGANISER, "/broadcast")
    update = h.updates.photo(ORGANISER)
    update["message"]["caption"] = "Our poster"
    await h.feed(update)
    await h.press(ORGANISER, "Choose the audience")
    await h.press(ORGANISER, "Everyone registered")
    assert [r.method for r in h.session.sent(ORGANISER)][-2:] == ["sendPhoto", "sendMessage"]
    await h.press(ORGANISER, "Send to 1 person")
    await drain(h)
    [photo] = h.session.sent(1)
    assert (photo.method, photo.params["photo"], photo.params["caption"]) == ("sendPhoto", "ph", "Our poster")


async def test_a_document_with_a_caption_and_a_russian_organiser(h: Harness) -> None:
    await register(h, 1, language="ko")
    await h.send(ORGANISER, "/broadcast", lang="ru")
    assert "Новая рассылка" in h.last_text(ORGANISER)
    await h.feed(h.updates.document(ORGANISER, "BQACAgIAAx0", "agenda.pdf", language_code="ru"))
    assert "Please send" not in h.last_text(ORGANISER)  # a document without a caption is fine
    await h.press(ORGANISER, "Выбрать получателей", lang="ru")
    await h.press(ORGANISER, "Все зарегистрированные", lang="ru")
    assert "Отправить рассылку <b>1</b> получателю сейчас?" in h.last_text(ORGANISER)
    await h.press(ORGANISER, "Отправить 1 получателю", lang="ru")
    assert "Рассылка №1" in h.last_text(ORGANISER)
    await drain(h)
    [doc] = h.session.sent(1)
    assert (doc.method, doc.params["document"]) == ("sendDocument", "BQACAgIAAx0")
    assert await tick(h, 1) is False
    await drain(h)
    final = [r for r in h.session.sent(ORGANISER) if r.method == "editMessageText"][-1].text
    assert "завершена" in final and "Отправлено: 1 из 1" in final


async def test_unsupported_input_and_an_overlong_caption_get_a_way_forward(h: Harness) -> None:
    await h.send(ORGANISER, "/broadcast")
    await h.feed(h.updates.sticker(ORGANISER))
    assert h.last_text(ORGANISER) == "Please send text, or a photo or a document with a caption."
    update = h.updates.photo(ORGANISER)
    update["message"]["caption"] = "x" * 1025
    await h.feed(update)
    assert "at most 1024 characters; this one has 1025" in h.last_text(ORGANISER)
    await h.send(ORGANISER, "Fine, a short one")
    assert "Add a variant" in h.last_text(ORGANISER)


async def test_discarding_a_draft_sends_nothing_and_a_stale_send_button_is_refused(h: Harness) -> None:
    await register(h, 1)
    await compose(h)
    await h.press(ORGANISER, "Discard the draft")
    assert h.last_text(ORGANISER) == "Draft discarded. Nothing was sent."
    await h.press_data(ORGANISER, BcCb(action="send").pack())  # the old confirmation
    assert await rows(h) == []


async def test_typing_while_a_button_is_expected_and_cancel(h: Harness) -> None:
    await register(h, 1)
    await compose(h, audience=())
    await h.send(ORGANISER, "hello?")
    assert h.last_text(ORGANISER) == "Please use the buttons above, or send /cancel to drop the draft."
    await h.send(ORGANISER, "/cancel")
    assert h.last_text(ORGANISER) == "Cancelled. Your data is unchanged."
    await h.press(ORGANISER, "Everyone registered")  # the old menu
    assert await rows(h) == []
    await h.send(ORGANISER, "hello?")  # no draft any more: a free question, not the draft's prompt
    assert "Please use the buttons above" not in h.last_text(ORGANISER)


async def test_pressing_send_twice_sends_once(h: Harness) -> None:
    await register(h, 1)
    await compose(h)
    await h.press(ORGANISER, "Send to 1 person")
    await h.press_data(ORGANISER, BcCb(action="send").pack())
    assert len(await rows(h, topic="broadcast:1")) == 1
    assert len(await rows(h, topic="broadcast:2")) == 0


# -- audiences ----------------------------------------------------------------------------------------------------

async def test_audiences_by_type_language_country_members_and_unfinished(h: Harness) -> None:
    await register(h, 1, participant_type="excom", language="ru")  # confirmed
    await register(h, 2, participant_type="excom", excom_status="pending", language="ru")
    await register(h, 3, participant_type="partner", language="ko")
    await register(h, 4, participant_type="wego_member", language="en")
    # Someone who started registering and stopped at the e-mail step (and someone only reading /program).
    await h.send(50, "/start")
    await h.press(50, "Русский", lang="ru")
    await h.send(50, "Иван Петров", lang="ru")
    await h.send(51, "/program")
    s = sources(h)
    async with h.app.delivery.uows() as uow:
        assert list(await bc.recipients(uow, Audience(), s)) == [1, 2, 3, 4]
        assert list(await bc.recipients(uow, Audience(types=("excom",)), s)) == [1, 2]
        assert list(await bc.recipients(uow, Audience(members=True), s)) == [1]
        assert list(await bc.recipients(uow, Audience(languages=("ru",)), s)) == [1, 2]
        assert list(await bc.recipients(uow, Audience(countries=("somewhere",)), s)) == [1, 2, 3, 4]
        assert list(await bc.recipients(uow, Audience(countries=("Narnia",)), s)) == []
        assert await bc.recipients(uow, Audience(unfinished=True), s) == {50: "ru"}


async def test_the_unfinished_get_it_in_the_language_they_chose(h: Harness) -> None:
    await h.send(50, "/start")
    await h.press(50, "Русский", lang="ru")
    await compose(h, "Finish your registration", audience=("Started registering",),
                  variants={"ru": "Завершите регистрацию"})
    await h.press(ORGANISER, "Send to 1 person")
    await drain(h)
    assert h.last_text(50) == "Завершите регистрацию"


async def test_a_participant_type_audience_is_chosen_from_a_second_menu(h: Harness) -> None:
    await register(h, 1, participant_type="partner")
    await register(h, 2, participant_type="wego_member")
    await compose(h, audience=("By participant type",))
    assert "Which one?" in h.last_text(ORGANISER)
    await h.press(ORGANISER, "Partner")
    assert "Send this broadcast to <b>1</b> person now?" in h.last_text(ORGANISER)
    await h.press(ORGANISER, "Change the audience")
    await h.press(ORGANISER, "By country")
    await h.press(ORGANISER, "Somewhere (2)")
    assert "Send this broadcast to <b>2</b> people now?" in h.last_text(ORGANISER)


async def test_an_empty_audience_is_refused_with_a_way_forward(h: Harness) -> None:
    await register(h, 1, participant_type="partner")
    await compose(h, audience=("EXCOM member cities",))
    answer = [r for r in h.session.requests if r.method == "answerCallbackQuery"][-1]
    assert answer.params["text"] == "Nobody is in this audience yet. Please choose another one."
    assert "Who should get it?" in h.last_text(ORGANISER)  # the menu stays


async def test_feature_audiences_appear_only_when_registered(h: Harness) -> None:
    sources(h).audiences.clear()  # whatever the merged features registered: none, then a fake one
    await register(h, 1)
    await register(h, 2)
    await compose(h, audience=())
    assert "Quiz participants" not in h.buttons(ORGANISER)

    async def quiz_people(uow: Any) -> set[int]:
        return {2}

    sources(h).add_audience("quiz", "Quiz participants", quiz_people)
    await h.press(ORGANISER, "Discard")
    await compose(h, audience=())
    assert "Quiz participants" in h.buttons(ORGANISER)
    await h.press(ORGANISER, "Quiz participants")
    await h.press(ORGANISER, "Send to 1 person")
    assert [r.user_id for r in await rows(h, topic="broadcast:1")] == [2]


# -- progress, cancel, blocked, restart ----------------------------------------------------------------------------

async def test_progress_is_edited_in_place_from_the_outbox_figures_until_done(h: Harness) -> None:
    for uid in range(1, 6):
        await register(h, uid)
    h.session.blocked.add(3)
    await compose(h)
    await h.press(ORGANISER, "Send to 5 people")
    progress_id = h.session.sent(ORGANISER)[-1]
    message_id = next(m["message_id"] for m in reversed(h.session.messages.values())
                      if m["chat"]["id"] == ORGANISER)
    before = len(h.session.requests)

    def edits() -> list[Any]:
        return [r for r in h.session.requests[before:] if r.method == "editMessageText"]

    assert await tick(h, 1)  # queued: 5 left
    s = sender(h, bulk_batch=2)
    s.prefetch_at = 0
    await s.drain_once()  # the progress edit (interactive) first, then two of the broadcast
    await s.settled()
    assert edits() and int(edits()[0].params["message_id"]) == message_id
    assert "Sent: 0 of 5" in edits()[0].text and "Left: 5" in edits()[0].text
    counts = await h.app.delivery.counts("broadcast:1")
    h.clock.advance(seconds=5)
    assert await tick(h, 1)
    # The edit is rendered when it is sent, from the figures of that moment: claimed alone, nothing else of
    # the broadcast settles first (claimed with two broadcast rows, it waited for the organiser's chat while
    # they went out whenever the virtual timer had not run a second since the first edit: a CI flake).
    batch, s.batch = s.batch, 1
    await s.drain_once()
    await s.settled()
    s.batch = batch
    text = edits()[-1].text
    assert f"Sent: {counts.sent} of 5" in text and f"Left: {counts.open}" in text
    assert "Time left: about 8 s." in text  # 3 left at the pace so far: 2 settled in 5 s
    await drain_sender(s)
    h.clock.advance(seconds=5)
    assert not await tick(h, 1)  # everything settled: the final figures are recorded
    await drain_sender(s)
    final = edits()[-1]
    assert "finished" in final.text and "Sent: 4 of 5" in final.text and "Blocked the bot: 1" in final.text
    assert "Left: 0" in final.text and not final.buttons
    row = await broadcast_row(h, 1)
    assert (row.status, row.sent, row.blocked, row.failed) == ("done", 4, 1, 0)
    assert progress_id.text.startswith("📣")


async def test_cancel_mid_way_cancels_only_what_is_not_sent(h: Harness) -> None:
    for uid in range(1, 11):
        await register(h, uid)
    await compose(h)
    await h.press(ORGANISER, "Send to 10 people")
    s = sender(h, bulk_batch=3)
    s.prefetch_at = 0
    await s.drain_once()
    await s.settled()
    await h.press(ORGANISER, "Cancel the broadcast")
    answer = [r for r in h.session.requests if r.method == "answerCallbackQuery"][-1]
    assert answer.params["text"] == "Cancelled: 7 messages will not be sent."
    await drain_sender(s)
    assert await h.app.delivery.counts("broadcast:1") == TopicCounts(sent=3, cancelled=7)
    assert len([r for r in h.session.sent() if r.chat_id in range(1, 11)]) == 3
    assert not await tick(h, 1)
    row = await broadcast_row(h, 1)
    assert (row.status, row.sent, row.cancelled) == ("cancelled", 3, 7)
    await h.press_data(ORGANISER, BcCancel(id=1).pack())
    answer = [r for r in h.session.requests if r.method == "answerCallbackQuery"][-1]
    assert answer.params["text"] == "This broadcast has finished already; nothing was cancelled."


async def test_a_recipient_who_blocked_the_bot_is_reported_and_marked(h: Harness) -> None:
    await register(h, 1, full_name="Ada Lovelace")
    await register(h, 2, full_name="Grace Hopper")
    h.session.blocked.add(2)
    await compose(h)
    await h.press(ORGANISER, "Send to 2 people")
    await drain(h)
    assert {r.user_id: r.status for r in await rows(h, topic="broadcast:1")} == {1: SENT, 2: BLOCKED}
    await tick(h, 1)
    await h.send(ORGANISER, "/broadcasts")
    text = h.last_text(ORGANISER)
    assert "<b>#1</b>" in text and "sent 1 of 2, failed 0, blocked the bot 1, cancelled 0" in text
    await h.press(ORGANISER, "#1: who was not reached")
    assert "• Grace Hopper (<code>2</code>): blocked the bot" in h.last_text(ORGANISER)
    assert "Ada" not in h.last_text(ORGANISER)


async def test_a_restart_in_the_middle_sends_everyone_the_broadcast_once(tmp_path) -> None:
    settings = make_settings(tmp_path)
    h = await Harness.create(settings)
    try:
        for uid in range(1, 21):
            await register(h, uid)
        await compose(h)
        await h.press(ORGANISER, "Send to 20 people")
        s = sender(h, bulk_batch=5)
        s.prefetch_at = 0
        await s.drain_once()
        await s.settled()
        # Claimed and not finished when the process dies: a second claim whose sends never happen.
        await s.claim()
        sent_before = [r.chat_id for r in h.session.sent() if r.chat_id in range(1, 21)]
    finally:
        await h.app.close()
        await h.bot.session.close()
    h2 = await Harness.create(settings)
    try:
        delivery = h2.app.delivery
        await delivery.start(h2.bot)  # what the Dispatcher's startup does: claims given back, planners run
        assert delivery.is_planned("broadcast-progress:1"), "the progress message is edited again"
        await delivery.stop()
        await drain(h2)
        sent_after = [r.chat_id for r in h2.session.sent() if r.chat_id in range(1, 21)]
        assert sorted(sent_before + sent_after) == list(range(1, 21))
        assert await delivery.counts("broadcast:1") == TopicCounts(sent=20)
    finally:
        await h2.close()


async def test_a_cancelled_row_is_never_sent_later(h: Harness) -> None:
    await register(h, 1)
    await compose(h)
    await h.press(ORGANISER, "Send to 1 person")
    await h.press(ORGANISER, "Cancel the broadcast")
    await drain(h)
    assert h.session.sent(1) == []
    assert [r.status for r in await rows(h, topic="broadcast:1")] == [CANCELLED]


# -- rights ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["/broadcast", "/broadcasts"])
async def test_organiser_commands_are_refused_to_others(h: Harness, command: str) -> None:
    await register(h, 5)
    await h.send(5, command)
    assert h.last_text(5) == REFUSED
    await h.send(6, command)  # not registered either
    assert h.last_text(6) == REFUSED


async def test_forged_broadcast_buttons_are_refused_to_others(h: Harness) -> None:
    await register(h, 1)
    await compose(h)
    await h.press(ORGANISER, "Send to 1 person")
    for data in (BcCancel(id=1).pack(), BcCb(action="send").pack(), BcCb(action="open", value="1").pack(),
                 BcCb(action="aud", value="everyone").pack()):
        await h.press_data(5, data)
        answer = [r for r in h.session.requests if r.method == "answerCallbackQuery"][-1]
        assert answer.params["text"] == "This button is for the organisers."
    assert await h.app.delivery.counts("broadcast:1") == TopicCounts(queued=1)


# -- a broadcast at full speed does not slow the rest down --------------------------------------------------------

RECIPIENTS = 2000
CHATTERS = 10
REMINDER_AFTER = 2.0     # a reminder's fan-out falls due this long after Send is pressed
AFTER_REMINDER = 3.0     # the broadcast keeps running this long after the reminder's instant, then is cancelled


@pytest.mark.slow  # 2,000 messages through the fake Bot API at its real rate limit
async def test_replies_and_a_reminder_keep_their_pace_while_a_2000_person_broadcast_runs(tmp_path) -> None:
    """The organiser starts a broadcast to 2,000 people through /broadcast (over HTTP, against the fake Bot API
    enforcing 30 messages a second overall and one a second per chat); while it runs at full speed, ten people
    chat with the bot and a reminder falls due. Every reply comes within two seconds, the reminder within
    three, the progress message is edited with the outbox's figures, and the organiser's Cancel stops the
    rest: nobody gets the broadcast twice and every row is accounted for."""
    import asyncio
    import contextlib
    import random
    import statistics
    import time
    from datetime import timedelta

    from sqlalchemy import insert

    from bench.delivery import FAN_OUT_AT, ITEM, LEAD, _person
    from bot.app import build_app, make_bot
    from bot.config import Settings
    from delivery.limiter import limiter_of
    from domain.clock import Clock
    from services import reminder_jobs
    from storage.models import Delegate, Follow
    from testkit.fake_botapi import FakeBotAPI

    first, reminded, chatter0 = 20_000_001, 40_000_001, 30_000_001
    bulk_ids = set(range(first, first + RECIPIENTS))
    rng = random.Random(7)
    async with FakeBotAPI(global_rate=30, per_chat_rate=1, seed=1) as api:
        settings = Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path / 'load.db'}",
                            bot_token="42:LOAD", telegram_api_url=api.url, redis_url=None, admin_ids=str(ORGANISER),
                            clock_start=None, clock_speed=1, send_rate=28, log_level="WARNING")
        # Just past the reminders' 10-minute fan-out of a session (its catch-up pass ran at start-up, before
        # anyone followed it); the test plans the fan-out again once the broadcast runs.
        clock = Clock(FAN_OUT_AT + timedelta(seconds=30), 1.0)
        app = await build_app(settings, clock=clock)
        bot = make_bot(app.settings)
        polling = None
        try:
            now = clock.now()
            async with app.sessions() as s:
                await s.execute(insert(Delegate), [_person(uid, now) for uid in sorted(bulk_ids | {reminded})])
                await s.commit()
            polling = asyncio.create_task(app.dp.start_polling(
                bot, handle_signals=False, close_bot_session=False, polling_timeout=10,
                allowed_updates=app.dp.resolve_used_update_types()))

            async def say(text: str, wait_for: str) -> None:
                mark = api.mark()
                api.push_text(ORGANISER, text, language_code="en")
                await api.wait_for(lambda r: wait_for in (r.text or ""), since=mark, chat_id=ORGANISER)

            async def press(data: str, wait_for: str) -> None:
                mark = api.mark()
                api.push_callback(ORGANISER, data)
                await api.wait_for(lambda r: wait_for in (r.text or ""), since=mark, chat_id=ORGANISER)

            await say("/broadcast", "New broadcast")
            await say("Dear delegates, the plenary starts at 11:00.", "Add a variant")
            await press(BcCb(action="next").pack(), "Who should get it?")
            await press(BcCb(action="aud", value="everyone").pack(), f"<b>{RECIPIENTS + 1}</b> people")
            await press(BcCb(action="send").pack(), "Broadcast #1")
            # The reminder's fan-out, planned on the engine's scheduler as the reminders' planner plans it.
            async with app.sessions() as s:
                await s.execute(insert(Follow), [{"user_id": reminded, "item_id": ITEM, "created_at": now}])
                await s.commit()
            delivery = app.delivery
            due = clock.now() + timedelta(seconds=REMINDER_AFTER)
            due_real = clock.to_real(due).timestamp()
            delivery.at("test-reminder", due, reminder_jobs.planner(delivery).run_reminder, ITEM, LEAD)

            delays: list[float] = []
            waits: list[tuple[float, float]] = []  # (asked, answered), monotonic
            asked = 0
            stop = asyncio.Event()

            async def chat(uid: int) -> None:
                nonlocal asked
                while not stop.is_set():
                    with contextlib.suppress(TimeoutError):  # think (nobody types faster), unless it is over
                        await asyncio.wait_for(stop.wait(), 1.0 + rng.expovariate(1 / 1.5))
                    if stop.is_set():
                        return
                    mark = api.mark()
                    t0 = time.monotonic()
                    api.push_text(uid, "/now", language_code="en")
                    asked += 1
                    rec = await api.wait_for(method="sendMessage", chat_id=uid, since=mark, timeout=10)
                    delays.append(rec.monotonic - t0)
                    waits.append((t0, rec.monotonic))

            talkers = [asyncio.create_task(chat(chatter0 + i)) for i in range(CHATTERS)]
            # The load's length: people keep talking until a while after the reminder's instant.
            await asyncio.sleep(due_real + AFTER_REMINDER - time.time())
            stop.set()
            await asyncio.gather(*talkers)  # the answers still awaited arrive
            edits = [r for r in api.calls if r.ok and r.method == "editMessageText" and r.chat_id == ORGANISER
                     and "Left:" in (r.text or "")]
            await press(BcCancel(id=1).pack(), "")
            for _ in range(100):
                counts = await delivery.counts("broadcast:1")
                if not counts.open:
                    break
                await asyncio.sleep(0.1)
        finally:
            if polling is not None:
                await app.dp.stop_polling()
                await asyncio.wait_for(polling, 30)
            if (limiter := limiter_of(bot)) is not None:
                await limiter.close()
            await bot.session.close()
            await app.close()

    delivered = [r for r in api.calls if r.delivered]
    bulk = [r for r in delivered if r.chat_id in bulk_ids]
    reached = {r.chat_id for r in bulk}
    span = bulk[-1].monotonic - bulk[0].monotonic
    in_span = [r for r in delivered if bulk[0].monotonic <= r.monotonic <= bulk[-1].monotonic]
    # The figures (shown with -s; docs/performance.md quotes them).
    print(f"\nbroadcast {len(bulk)} in {span:.1f} s = {len(bulk) / span:.1f}/s; all messages "
          f"{len(in_span) / span:.1f}/s (fake's limit 30/s); replies {len(delays)}/{asked}, max "
          f"{max(delays):.3f} s, median {statistics.median(delays):.3f} s; reminder "
          f"{next(r.time for r in delivered if r.chat_id == reminded) - due_real:.2f} s after its instant; "
          f"progress edits {len(edits)}; 429s {api.stats.too_many_requests}; {counts}")
    # No wall-clock thresholds (a shared machine is slow at random): what priorities promise is counted in
    # messages. A reply waits at most for the broadcast rows already claimed (about a second's worth) and
    # those in flight, never behind the queue of 2,000.
    assert len(bulk) == len(reached), "nobody gets the broadcast twice"
    assert asked >= CHATTERS and len(delays) == asked
    behind = [sum(1 for r in bulk if asked_at < r.monotonic < answered) for asked_at, answered in waits]
    assert max(behind) <= 2 * 28, sorted(behind)[-5:]
    # The reminder went out in the middle of the broadcast, ahead of the bulk rows queued before it.
    reminder = next(r for r in delivered if r.chat_id == reminded and "Dear delegates" not in (r.text or ""))
    assert reminder.monotonic < bulk[-1].monotonic
    assert sum(1 for r in bulk if due_real < r.time < reminder.time) <= 3 * 28
    # The progress message was edited in place with the figures; the cancel left every row accounted for.
    assert edits and all("of 2001" in (r.text or "") for r in edits)
    # The reminded delegate (the last id) is in the audience too: not reached before the cancel.
    assert counts.sent == len(reached)
    assert counts.total == RECIPIENTS + 1 and counts.open == 0 and counts.cancelled > 0
    assert counts.sent + counts.cancelled == counts.total


async def test_forged_buttons_from_an_organiser_get_a_polite_answer(tmp_path) -> None:
    h = await Harness.create(make_settings(tmp_path), record_errors=True)
    try:
        for data in ("bcx:999999999999999999999", "bcx:-1", "bc:open::", "bc:open:99999999999999999999999:",
                     "bc:val:x:nope", "bc:aud:nope:", "bc:var:xx:", "bc:page:-5:", "bc:send::",
                     "og:card:999999999999999999999:0:", "og:fix:1:0:bogus", "og:ex:0:0:nope", "og:pg:0:-3:x",
                     "og:ok:-4:0:"):
            before = len(h.session.requests)
            await h.press_data(ORGANISER, data)
            answers = [r for r in h.session.requests[before:] if r.method == "answerCallbackQuery"]
            assert answers and "went wrong" not in answers[0].params.get("text", ""), data
        assert h.errors == []
    finally:
        await h.close()


async def test_with_redis_the_unfinished_are_found_where_their_state_lives(tmp_path, redis_url: str) -> None:
    import random

    h = await Harness.create(make_settings(tmp_path, redis_url=redis_url))
    uid = random.randint(10**11, 2 * 10**11)  # the Redis database may be shared with other tests
    try:
        await register(h, uid + 1)
        await h.send(uid, "/start", lang="ko")
        await h.press(uid, "한국어", lang="ko")
        s = sources(h)
        assert s.conversations is not None
        async with h.app.delivery.uows() as uow:
            found = await bc.recipients(uow, Audience(unfinished=True), s)
        assert found[uid] == "ko" and uid + 1 not in found
        assert await s.conversations.forget({uid}) == 2
        assert await h.app.storage.get_data(h.state_key(uid)) == {}
    finally:
        await h.close()


# -- combined audiences, a test to me, send at, link buttons (issue 20) -----------------------------------------

async def _from(h: Harness, uid: int, country: str) -> None:
    from sqlalchemy import update

    from storage.models import Delegate

    async with h.app.sessions() as s:
        await s.execute(update(Delegate).where(Delegate.user_id == uid).values(country=country))
        await s.commit()


async def test_an_audience_combines_two_countries_a_type_and_a_language(h: Harness) -> None:
    people = {1: ("Korea", "excom", "ko"), 2: ("Korea", "excom", "ru"), 3: ("Russia", "excom", "ru"),
              4: ("Russia", "partner", "ru"), 5: ("Vietnam", "excom", "ru"), 6: ("korea", "excom", "ru")}
    for uid, (country, ptype, lang) in people.items():
        await register(h, uid, participant_type=ptype, language=lang)
        await _from(h, uid, country)
    await compose(h, audience=("By country",))
    await h.press(ORGANISER, "Korea (")
    assert "Send this broadcast to <b>3</b> people now?" in h.last_text(ORGANISER)  # Korea and korea
    await h.press(ORGANISER, "Add a condition")
    assert "So far: Country: Korea (3)" in h.last_text(ORGANISER)
    await h.press(ORGANISER, "By country")
    await h.press(ORGANISER, "Russia (")
    assert "<b>5</b> people" in h.last_text(ORGANISER)  # Korea or Russia
    await h.press(ORGANISER, "Add a condition")
    await h.press(ORGANISER, "By participant type")
    await h.press(ORGANISER, "EXCOM member city")
    assert "<b>4</b> people" in h.last_text(ORGANISER)
    await h.press(ORGANISER, "Add a condition")
    await h.press(ORGANISER, "By language")
    await h.press(ORGANISER, "Русский")
    texts = h.texts(ORGANISER)
    assert any("Country: Korea / Russia · Participant type: EXCOM member city · Language: Русский" in t for t in texts)
    assert "Send this broadcast to <b>3</b> people now?" in h.last_text(ORGANISER)
    await h.press(ORGANISER, "Send to 3 people")
    assert sorted(r.user_id for r in await rows(h, topic="broadcast:1")) == [2, 3, 6]
    # The web console reads the same rule: the stored audience resolves to the same people.
    row = await broadcast_row(h, 1)
    async with h.app.delivery.uows() as uow:
        again = await bc.recipients(uow, Audience.from_dict(row.audience), sources(h))
    assert sorted(again) == [2, 3, 6]
    # A narrowing that leaves nobody is refused, and the audience stays as it was.
    await compose(h, audience=("By country",))
    await h.press(ORGANISER, "Vietnam (")
    await h.press(ORGANISER, "Add a condition")
    await h.press(ORGANISER, "By participant type")
    await h.press(ORGANISER, "Partner")
    answer = [r for r in h.session.requests if r.method == "answerCallbackQuery"][-1]
    assert answer.params["text"] == "Nobody is in this audience yet. Please choose another one."


async def test_quiz_or_matchmaking_participants_and_unfinished_registrations_combine(h: Harness) -> None:
    sources(h).audiences.clear()

    async def quiz_people(uow: Any) -> set[int]:
        return {1, 2, 77}  # 77 played without registering

    async def mm_people(uow: Any) -> set[int]:
        return {3}

    sources(h).add_audience("quiz", "Quiz participants", quiz_people)
    sources(h).add_audience("matchmaking", "Matchmaking participants", mm_people)
    for uid, lang in ((1, "ru"), (2, "en"), (3, "ru")):
        await register(h, uid, language=lang)
    await h.send(50, "/start")
    await h.press(50, "Русский", lang="ru")
    s = sources(h)
    async with h.app.delivery.uows() as uow:
        assert list(await bc.recipients(uow, Audience(groups=("quiz",)), s)) == [1, 2, 77]
        assert list(await bc.recipients(uow, Audience(groups=("quiz", "matchmaking")), s)) == [1, 2, 3, 77]
        assert list(await bc.recipients(uow, Audience(groups=("quiz", "matchmaking"), languages=("ru",)), s)) == [1, 3]
        assert await bc.recipients(uow, Audience(unfinished=True, languages=("ru",)), s) == {50: "ru"}
        assert await bc.recipients(uow, Audience(unfinished=True, languages=("ko",)), s) == {}
    await compose(h, audience=("Quiz participants",))
    await h.press(ORGANISER, "Add a condition")
    await h.press(ORGANISER, "Matchmaking participants")
    assert "Send this broadcast to <b>4</b> people now?" in h.last_text(ORGANISER)


async def test_send_a_test_to_me_with_link_buttons_before_sending(h: Harness) -> None:
    await register(h, 1)
    await h.send(ORGANISER, "/broadcast")
    await h.send(ORGANISER, "The program is online")
    await h.press(ORGANISER, "Add link buttons")
    await h.send(ORGANISER, "Program without an address")
    assert "I could not read the line “Program without an address”" in h.last_text(ORGANISER)
    await h.send(ORGANISER, "Program - https://wego.example/program\nWatch live | https://wego.example/live")
    assert "Buttons under the message: Program, Watch live." in h.last_text(ORGANISER)
    await h.press(ORGANISER, "Choose the audience")
    await h.press(ORGANISER, "Everyone registered")
    [preview] = [r for r in h.session.sent(ORGANISER) if r.text == "The program is online"]
    assert preview.buttons == [("Program", "https://wego.example/program"), ("Watch live", "https://wego.example/live")]
    await h.press(ORGANISER, "Send a test to me")
    answer = [r for r in h.session.requests if r.method == "answerCallbackQuery"][-1]
    assert "A test is on its way to you" in answer.params["text"]
    before = len(h.session.sent(ORGANISER))
    await drain(h)
    [test] = h.session.sent(ORGANISER)[before:]
    assert test.text == "The program is online"
    assert test.buttons == [("Program", "https://wego.example/program"), ("Watch live", "https://wego.example/live")]
    assert h.session.sent(1) == [] and await rows(h, topic="broadcast:1") == []
    await h.press(ORGANISER, "Send to 1 person")  # the confirmation is still there
    await drain(h)
    [got] = h.session.sent(1)
    assert got.text == "The program is online" and got.buttons[0] == ("Program", "https://wego.example/program")


async def test_send_at_a_later_instant_on_the_bots_clock(h: Harness) -> None:
    from datetime import datetime, timedelta

    await register(h, 1)
    await register(h, 2)
    await compose(h)  # the clock: 1 Nov 2020 10:00 GMT+3; the organiser is not registered: Moscow time
    await h.press(ORGANISER, "Send later")
    assert "By the bot's clock it is now 1 Nov, 10:00" in h.last_text(ORGANISER)
    await h.send(ORGANISER, "tomorrow morning")
    assert "I could not read “tomorrow morning” as a date and time" in h.last_text(ORGANISER)
    await h.send(ORGANISER, "2020-11-01 09:00")
    assert "1 Nov, 09:00 has passed already" in h.last_text(ORGANISER)
    await h.send(ORGANISER, "2020-11-02 09:30")
    assert "Send this broadcast to <b>2</b> people on 2 Nov, 09:30?" in h.last_text(ORGANISER)
    await h.press(ORGANISER, "Schedule for 2 people")
    assert "scheduled for 2 Nov, 09:30" in h.last_text(ORGANISER)
    queued = await rows(h, topic="broadcast:1")
    due = datetime.fromisoformat("2020-11-02T09:30:00+03:00")
    assert {r.due_at for r in queued} == {due}
    await drain(h)
    assert h.session.sent(1) == []  # not before its time
    assert await tick(h, 1) is True  # scheduled: the progress message is left alone
    h.clock.set(due + timedelta(seconds=1))
    await drain(h)
    assert h.last_text(1) == "Hello everyone" and h.last_text(2) == "Hello everyone"
    # /broadcasts lists a scheduled one as such; Cancel before the time sends nothing.
    await compose(h, "Second")
    await h.press(ORGANISER, "Send later")
    await h.send(ORGANISER, "2020-11-03 09:00")
    await h.press(ORGANISER, "Schedule for 2 people")
    await h.send(ORGANISER, "/broadcasts")
    assert "scheduled for 3 Nov, 09:00" in h.last_text(ORGANISER)
    await h.press(ORGANISER, "Cancel the broadcast")
    h.clock.set(datetime.fromisoformat("2020-11-03T09:01:00+03:00"))
    await drain(h)
    assert [t for t in h.texts(1) if t == "Second"] == []


async def test_new_buttons_without_a_draft_or_out_of_order_answer_politely(tmp_path) -> None:
    h = await Harness.create(make_settings(tmp_path), record_errors=True)
    try:
        await register(h, 1)
        for action in ("more", "test", "at", "now", "back", "btn"):  # no draft at all
            requests = await h.press_data(ORGANISER, BcCb(action=action).pack())
            answers = [r for r in requests if r.method == "answerCallbackQuery"]
            said = answers[0].params.get("text", "") if answers else ""
            assert "no longer" in said or "gone" in said, action
        await compose(h)
        await h.press(ORGANISER, "Change the audience")
        requests = await h.press_data(ORGANISER, BcCb(action="more").pack())  # an old "Add a condition" button
        assert [r.method for r in requests] == ["answerCallbackQuery"]  # answered; the menu is shown in place
        assert h.errors == []
    finally:
        await h.close()


def test_an_attachment_is_a_photo_by_its_bytes_else_a_document_of_a_known_type() -> None:
    from domain.errors import ServiceError
    from domain.organiser import UPLOAD_LIMIT, check_upload
    from testkit.files import PNG_1X1

    assert check_upload("poster.png", PNG_1X1) == ("photo", "poster.png", "image/png")
    webp = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 8
    assert check_upload("a.webp", webp)[:2] == ("photo", "a.webp")
    # Full quality on request; a file named like an image that is not one is no photo.
    assert check_upload("poster.png", PNG_1X1, as_document=True) == ("document", "poster.png", "image/png")
    assert check_upload("fake.png", b"not an image")[0] == "document"
    assert check_upload("C:\\Users\\x\\<Programme>.pdf", b"%PDF-1.4")[1] == "_Programme_.pdf"
    for name, data, code in (("x.exe", b"MZ", "upload_type"), ("empty.pdf", b"", "upload_empty"),
                             ("big.pdf", b"%" * (UPLOAD_LIMIT + 1), "upload_too_big"),
                             ("page.svg", b"<svg onload=alert(1)>", "upload_type")):
        with pytest.raises(ServiceError) as refused:
            check_upload(name, data)
        assert refused.value.code == code, name


async def test_send_at_for_an_organiser_whose_zone_is_a_utc_offset(h: Harness) -> None:
    """A zone typed as an offset ("UTC+05:30") is stored as such; ZoneInfo cannot read it, domain.timezones.get_tz
    can (the "Send later" prompt and the typed time crashed before one zone helper was used)."""
    from datetime import datetime

    await register(h, 1)
    await register(h, ORGANISER, timezone="UTC+05:30")
    await compose(h)
    await h.press(ORGANISER, "Send later")
    assert "By the bot's clock it is now 1 Nov, 12:30" in h.last_text(ORGANISER)
    await h.send(ORGANISER, "2020-11-02 09:30")
    assert "on 2 Nov, 09:30?" in h.last_text(ORGANISER)
    await h.press(ORGANISER, "Schedule for 2 people")
    queued = await rows(h, topic="broadcast:1")
    assert {r.due_at for r in queued} == {datetime.fromisoformat("2020-11-02T09:30:00+05:30")}


async def test_a_refused_send_at_quotes_what_was_typed_as_text(h: Harness) -> None:
    """The refusal's parameters are escaped for HTML (handlers.ui.refusal): a typed "<" is shown, not parsed."""
    await register(h, 1)
    await compose(h)
    await h.press(ORGANISER, "Send later")
    await h.send(ORGANISER, "<b>soon")
    assert "I could not read “&lt;b&gt;soon” as a date and time" in h.last_text(ORGANISER)  # HTML as sent
