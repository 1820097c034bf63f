"""The delivery engine: priorities, one limiter for replies and the outbox, topics, payload kinds, groups,
retries through an outage, and the limiter shared through Redis."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import UTC, timedelta
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.app import make_bot
from bot.offline.local_api import LocalSession
from delivery.limiter import Limiter, LimiterMiddleware, RedisBucket, limiter_of
from delivery.sender import DEFER, Sender
from domain.messages import (
    CANCELLED,
    PENDING,
    SENT,
    Document,
    Drop,
    Edit,
    FileRef,
    NewMessage,
    Photo,
    Poll,
    Priority,
    Rendered,
    TopicCounts,
)
from infra.backoff import Backoff
from storage.outbox import Outbox
from testkit.fake_botapi import FakeBotAPI
from tests.harness import REHEARSAL_START, Harness, VirtualTimer, drain_sender, sender

T0 = REHEARSAL_START.astimezone(UTC)
GROUP = -1001234567890


async def render_payload(ctx: Any, row: Any, who: Any) -> Any:
    """A test kind: the payload says what to send."""
    p = row.payload
    match p.get("as", "text"):
        case "text":
            return Rendered(p["text"])
        case "photo":
            return Photo(FileRef(data=b"\x89PNG fake", filename="chart.png"), caption=p["text"])
        case "document":
            return Document(FileRef(file_id="BQACAgIAAx0"), caption=p["text"])
        case "quiz":
            return Poll("Which city hosts WeGO's secretariat?", ("Seoul", "Moscow", "Ulyanovsk"), correct_option=0,
                        explanation="Seoul, since 2010.", open_period=30)
        case "edit":
            return Edit(int(p["message_id"]), p["text"])
    return Drop("unknown")


@pytest.fixture
async def h(harness: Harness) -> Harness:
    harness.app.delivery.renderers.register("t", render_payload)
    return harness


def msg(key: str, chat: int, text: str = "", *, priority: Priority = Priority.TIMELY, topic: str = "t",
        user_id: int | None = -1, **payload: Any) -> NewMessage:
    uid = chat if user_id == -1 else user_id
    return NewMessage(key, uid, "t", topic, T0, {"text": text or key, **payload}, chat_id=chat, priority=priority)


async def add(h: Harness, *messages: NewMessage) -> None:
    async with h.app.sessions() as s:
        await Outbox(s).add(messages, h.clock.now())
        await s.commit()


async def rows(h: Harness, **kw: Any) -> dict[str, Any]:
    async with h.app.sessions() as s:
        return {r.key: r for r in await Outbox(s).rows(**kw)}


# -- priorities ---------------------------------------------------------------------------------------------

async def test_rows_go_out_by_priority_then_due_time(h: Harness) -> None:
    await add(h, msg("bulk1", 1, priority=Priority.BULK), msg("bulk2", 2, priority=Priority.BULK),
              msg("reminder", 3, priority=Priority.TIMELY), msg("quiz", 4, priority=Priority.INTERACTIVE))
    await drain_sender(sender(h))
    assert [r.text for r in h.session.sent()] == ["quiz", "reminder", "bulk1", "bulk2"]
    assert {r.priority for r in (await rows(h)).values()} == {1, 2, 3}


async def test_a_reminder_does_not_wait_behind_a_broadcast_in_progress(h: Harness) -> None:
    await add(h, *(msg(f"b{i:03}", 1000 + i, priority=Priority.BULK, topic="broadcast") for i in range(200)))
    s = sender(h, rate=25)
    first = await s.drain_once()
    # A broadcast is claimed about a second of sending at a time, not all at once.
    assert first == s.bulk_batch == 25
    await add(h, msg("reminder", 7, "⏰ the plenary starts in 10 minutes"))
    await drain_sender(s)
    texts = [r.text for r in h.session.sent()]
    # Right after the bulk rows already claimed (this claim and the next, made while it was sent: two
    # seconds of sending at most), not behind the other 150.
    assert texts.index("⏰ the plenary starts in 10 minutes") <= 2 * s.bulk_batch
    assert len(texts) == 201


async def test_replies_are_served_before_waiting_bulk_sends() -> None:
    timer = VirtualTimer()
    limiter = Limiter(10, timer=timer)
    order: list[str] = []

    async def take(name: str, priority: Priority) -> None:
        await limiter.acquire(priority)
        order.append(name)

    tasks = [asyncio.ensure_future(take(f"bulk{i}", Priority.BULK)) for i in range(4)]
    await asyncio.sleep(0)
    tasks.append(asyncio.ensure_future(take("reply", Priority.REPLY)))
    tasks.append(asyncio.ensure_future(take("quiz", Priority.INTERACTIVE)))
    await asyncio.gather(*tasks)
    # bulk0 was granted at once; the reply and the quiz question overtake the bulk sends still waiting.
    assert order[0] == "bulk0"
    assert order[1:3] == ["reply", "quiz"]


# -- topics ---------------------------------------------------------------------------------------------------

async def test_a_topic_can_be_cancelled_while_it_runs_and_is_counted(h: Harness) -> None:
    await add(h, *(msg(f"b{i}", 100 + i, priority=Priority.BULK, topic="broadcast:7") for i in range(5)),
              msg("other", 9, topic="reminder:x"))
    h.session.blocked.add(101)
    s = sender(h, bulk_batch=3)
    s.prefetch_at = 0  # one claim at a time, to count what it left
    await s.drain_once()  # "other" and three of the broadcast
    await s.settled()
    delivery = h.app.delivery
    assert await delivery.counts("broadcast:7") == TopicCounts(queued=2, sent=2, blocked=1)
    assert await delivery.cancel("broadcast:7") == 2
    await drain_sender(s)
    counts = await delivery.counts("broadcast:7")
    assert counts == TopicCounts(sent=2, blocked=1, cancelled=2)
    assert (counts.total, counts.open) == (5, 0)
    assert len(h.session.sent()) == 3
    statuses = {k: r.status for k, r in (await rows(h)).items()}
    assert statuses["other"] == SENT and list(statuses.values()).count(CANCELLED) == 2
    assert await delivery.cancel("broadcast:7") == 0  # nothing else changes


# -- payload kinds ---------------------------------------------------------------------------------------------

async def test_each_payload_kind_calls_its_bot_api_method(h: Harness) -> None:
    h.session.put_file("BQACAgIAAx0", b"%PDF agenda", "agenda.pdf")  # sent before: Telegram knows its file_id
    await add(h, msg("text", 1, "<b>hello</b>"), msg("photo", 2, "the chart", **{"as": "photo"}),
              msg("doc", 3, "the agenda", **{"as": "document"}), msg("quiz", GROUP, user_id=None, **{"as": "quiz"}))
    await drain_sender(sender(h))
    by_method = {r.method: r for r in h.session.sent()}
    assert set(by_method) == {"sendMessage", "sendPhoto", "sendDocument", "sendPoll"}
    assert by_method["sendMessage"].params["text"] == "<b>hello</b>"
    photo = by_method["sendPhoto"]
    assert (photo.chat_id, photo.params["caption"], photo.files) == (2, "the chart", {"chart.png": b"\x89PNG fake"})
    doc = by_method["sendDocument"]
    assert (doc.chat_id, doc.params["document"], doc.params["caption"]) == (3, "BQACAgIAAx0", "the agenda")
    quiz = by_method["sendPoll"].params
    assert by_method["sendPoll"].chat_id == GROUP
    assert (quiz["type"], quiz["is_anonymous"], quiz["correct_option_id"]) == ("quiz", False, 0)
    assert quiz["open_period"] == 30
    assert quiz["explanation"] == "Seoul, since 2010."
    assert [o if isinstance(o, str) else o["text"] for o in quiz["options"]] == ["Seoul", "Moscow", "Ulyanovsk"]
    stored = await rows(h)
    assert all(r.status == SENT and r.message_id for r in stored.values())
    assert (stored["quiz"].chat_id, stored["quiz"].user_id) == (GROUP, None)


async def test_an_edit_updates_an_earlier_message_and_not_modified_counts_as_done(h: Harness) -> None:
    sent = await h.bot.send_message(5, "Progress: 0 of 10")
    await add(h, msg("p1", 5, "Progress: 5 of 10", **{"as": "edit", "message_id": sent.message_id}))
    await drain_sender(sender(h))
    assert h.session.messages[sent.message_id]["text"] == "Progress: 5 of 10"
    h.clock.advance(seconds=2)
    await add(h, msg("p2", 5, "Progress: 5 of 10", **{"as": "edit", "message_id": sent.message_id}))
    await drain_sender(sender(h))
    stored = await rows(h)
    assert (stored["p1"].status, stored["p2"].status) == (SENT, SENT)
    assert stored["p2"].message_id == sent.message_id


# -- groups ------------------------------------------------------------------------------------------------------

async def test_a_group_gets_at_most_20_messages_a_minute_and_others_do_not_wait(h: Harness) -> None:
    await add(h, msg("g1", GROUP, user_id=None), msg("g2", GROUP, user_id=None), msg("person", 8))
    s = sender(h)
    await drain_sender(s)
    assert [r.text for r in h.session.sent()] == ["g1", "person"]
    g2 = (await rows(h))["g2"]
    # Back in the outbox until the group may receive again (3 s: 20 a minute), no try counted.
    assert (g2.status, g2.attempts) == (PENDING, 0)
    assert timedelta(seconds=2.5) < g2.next_at - h.clock.now() <= timedelta(seconds=3)
    s.timer.now += 3
    h.clock.advance(seconds=3)
    await drain_sender(s)
    assert [r.text for r in h.session.sent()] == ["g1", "person", "g2"]


# -- direct replies pass the same limiter -------------------------------------------------------------------

async def test_a_reply_that_meets_429_waits_retry_after_and_is_delivered(h: Harness) -> None:
    timer = VirtualTimer()
    limiter = Limiter(30, timer=timer)
    h.bot = make_bot(h.app.settings, h.session, limiter=limiter)
    h.session.fail_next("sendMessage", chat_id=5, status=429, retry_after=4, times=2)
    await h.send(5, "/help")
    assert h.session.sent(5), "the reply was dropped"
    assert limiter.stats.retried_replies == 2
    assert sum(timer.sleeps) >= 8  # exactly retry_after each time, for every send
    assert limiter.stats.granted[Priority.REPLY] >= 3


async def test_the_outbox_is_paced_once_by_the_limiter_its_replies_share(h: Harness) -> None:
    limiter = Limiter(30, timer=VirtualTimer())
    bot = make_bot(h.app.settings, h.session, limiter=limiter)
    assert limiter_of(bot) is limiter
    await add(h, msg("a", 1, priority=Priority.BULK), msg("b", 2), msg("c", 3))
    await drain_sender(h.app.delivery.make_sender(bot))
    # Each row was granted once, with its own priority: the reply middleware did not count them again.
    assert limiter.stats.granted == {Priority.TIMELY: 2, Priority.BULK: 1}
    await bot.send_message(4, "a direct reply")
    assert limiter.stats.granted[Priority.REPLY] == 1


def test_make_bot_paces_real_sessions_and_leaves_the_in_process_api_alone(h: Harness) -> None:
    assert limiter_of(make_bot(h.app.settings, LocalSession())) is None
    real = make_bot(h.app.settings)
    assert isinstance(limiter_of(real), Limiter)
    assert any(isinstance(m, LimiterMiddleware) for m in real.session.middleware._middlewares)


# -- an outage longer than the old five tries ---------------------------------------------------------------

async def test_an_outage_longer_than_five_tries_loses_nothing(h: Harness) -> None:
    async with FakeBotAPI() as api:
        bot = Bot("42:TEST", session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))
        try:
            await add(h, *(msg(f"r{i}", 300 + i) for i in range(5)),
                      msg("broadcast", 400, priority=Priority.BULK, topic="broadcast:1"))
            await api.refuse_connections()
            s = sender(h, bot=bot, backoff=Backoff(base=2, factor=2, cap=60), request_timeout=2)
            for _ in range(9):  # 2+4+8+16+32+60+60+60 s: about four minutes of refused connections
                await drain_sender(s)
                h.clock.advance(seconds=60)
            stored = await rows(h)
            assert {r.status for r in stored.values()} == {PENDING}
            assert min(r.attempts for r in stored.values()) >= 8
            assert all("connect" in (r.error or "").lower() or "network" in (r.error or "").lower()
                       for r in stored.values())
            await api.accept_connections()
            await drain_sender(s)
            assert {r.status for r in (await rows(h)).values()} == {SENT}
            per_chat = api.delivered_per_chat()
            assert sorted(per_chat) == [300, 301, 302, 303, 304, 400]
            assert set(per_chat.values()) == {1}
        finally:
            await bot.session.close()


# -- the limiter shared through Redis ----------------------------------------------------------------------------

async def test_the_redis_bucket_is_shared_by_processes(redis_url: str) -> None:
    key = f"test-limiter:{uuid.uuid4().hex}"
    a, b = RedisBucket(redis_url, 20, key=key), RedisBucket(redis_url, 20, key=key)
    try:
        waits = []
        for _ in range(5):
            waits.append(await a.reserve())
            waits.append(await b.reserve())
        # Ten slots handed out by two "processes" are one sequence 1/20 s apart (the first two at once:
        # burst 2), not two sequences side by side.
        assert waits[:2] == [pytest.approx(0, abs=0.02)] * 2
        gaps = [y - x for x, y in itertools.pairwise(waits[1:])]
        assert all(g == pytest.approx(0.05, abs=0.02) for g in gaps), waits
        # A 429 seen by one pauses the other.
        await a.pause(5)
        assert await b.reserve() == pytest.approx(5, abs=0.5)
        # The limiter in each process orders its own waiters over the shared bucket.
        limiter = Limiter(20, bucket=RedisBucket(redis_url, 1000, key=f"{key}:x"))
        await limiter.acquire(Priority.BULK)
        await limiter.close()
    finally:
        await a.redis.delete(*a.keys)
        await a.close()
        await b.close()


# -- time-bound rows under a flood of replies (issue 17 item 1) ----------------------------------------------

async def _reply_flood(limiter: Limiter, people: int, until: float, grants: list[float]) -> None:
    """`people` conversations each asking for a reply slot again as soon as they got one, until `until` on
    the limiter's timer: more replies than the rate allows, all the time."""
    async def person() -> None:
        while limiter.timer.monotonic() < until:
            await limiter.acquire(Priority.REPLY, space_chat=False)
            grants.append(limiter.timer.monotonic())
    await asyncio.gather(*(person() for _ in range(people)))


async def test_reminders_go_out_on_time_while_replies_saturate_the_rate(h: Harness) -> None:
    """120 reminders for a session 10 minutes away, fanned out while replies alone would take every slot:
    each reminder goes out once, before the session starts; replies keep most of the rate."""
    await add(h, *(msg(f"r{i:03}", 2000 + i, f"⏰ plenary {i}") for i in range(120)))
    timer = VirtualTimer()
    sent_at: dict[str, list[float]] = {}
    h.session.on_request = lambda r: sent_at.setdefault(r.text, []).append(timer.now)
    s = sender(h, timer, rate=25)
    start = timer.now
    session_starts = start + 600
    replies: list[float] = []
    flood = asyncio.ensure_future(_reply_flood(s.limiter, 40, session_starts + 60, replies))
    await drain_sender(s)
    reminders_done = timer.now
    await flood
    assert len(sent_at) == 120 and all(len(times) == 1 for times in sent_at.values())
    assert max(t for times in sent_at.values() for t in times) < session_starts
    # The reminders took their floor share (a quarter of 25 a second): about 20 s, not 10 minutes.
    assert reminders_done - start < 30
    # Replies kept the rest of the rate meanwhile.
    during = [t for t in replies if t <= reminders_done]
    assert len(during) >= 0.7 * (len(during) + 120)
    assert {r.status for r in (await rows(h)).values()} == {SENT}


async def test_a_claimed_row_without_a_turn_before_its_lease_ends_is_handed_back(h: Harness) -> None:
    """With no share for time-bound rows at all (a limiter that serves replies only), claimed rows are handed
    back before their lease ends instead of staying in `sending`, and are sent once when the rate frees."""
    await add(h, *(msg(f"r{i:02}", 3000 + i) for i in range(10)))
    timer = VirtualTimer()
    limiter = Limiter(25, timer=timer, timely_share=0)
    s = sender(h, timer, limiter=limiter, lease=30)
    replies: list[float] = []
    flood_ends = timer.now + 1000  # far past the lease: the hand-back comes first even if thread hops move time
    flood = asyncio.ensure_future(_reply_flood(limiter, 40, flood_ends, replies))
    first = await s.drain_once()
    assert first == 10
    # Handed back within the lease (its last 7.5 s kept as a margin), untried.
    assert timer.now < flood_ends
    assert {(r.status, r.attempts) for r in (await rows(h)).values()} == {(PENDING, 0)}
    assert not s._held
    await drain_sender(s)
    await flood
    assert sorted(r.text for r in h.session.sent()) == [f"r{i:02}" for i in range(10)]
    assert {(r.status, r.attempts) for r in (await rows(h)).values()} == {(SENT, 1)}


async def test_a_sender_never_claims_a_row_it_still_holds(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past its lease, a row still held by this sender is not claimed again by it (the KeyError in
    drain_once, and a second send, came from that)."""
    await add(h, msg("a", 1))
    s = sender(h, lease=60)
    rows_, _ = await s.claim()
    assert [r.key for r in rows_] == ["a"]
    later = h.clock.wall_now() + timedelta(minutes=5)  # the lease ran out (it is on the real clock)
    monkeypatch.setattr(s.clock, "wall_now", lambda: later)
    again, _ = await s.claim()
    assert again == []
    await s._release(rows_)
    assert [r.key for r in (await s.claim())[0]] == ["a"]


async def test_a_reply_keeps_its_distance_from_an_outbox_message_to_the_same_person() -> None:
    """A reply right after a reminder to the same chat met Telegram's per-chat 429, and a second such 429
    elsewhere paused every send for a second (the mixed load bench): it waits out the chat's second instead;
    replies to other chats, and a reply after a reply, do not wait."""
    timer = VirtualTimer()
    limiter = Limiter(1000, timer=timer)
    await limiter.acquire(Priority.TIMELY, 7)
    start = timer.now
    await limiter.acquire(Priority.REPLY, 8, space_chat=False)
    assert timer.now - start == pytest.approx(0, abs=0.01)
    await limiter.acquire(Priority.REPLY, 7, space_chat=False)
    assert timer.now - start == pytest.approx(1.0, abs=0.01)
    before = timer.now
    await limiter.acquire(Priority.REPLY, 7, space_chat=False)  # a handler's second message in a row
    assert timer.now - before == pytest.approx(0, abs=0.01)


async def test_a_reply_waiting_in_line_keeps_its_distance_from_a_reminder_granted_meanwhile() -> None:
    """Whether a reply keeps its chat's second is decided when its slot comes: a reminder to the same person
    granted while the reply waited in line (its share of the slots) is followed by the reply a second later,
    not at once (the fake's per-chat 429 in bench/mixed.py, 4 pauses of every send in 40 s)."""
    timer = VirtualTimer()
    limiter = Limiter(10, timer=timer, timely_share=1.0)
    start = timer.now
    granted: dict[str, float] = {}

    async def take(name: str, priority: Priority, space_chat: bool) -> None:
        await limiter.acquire(priority, 7, space_chat=space_chat)
        granted[name] = timer.now - start

    await asyncio.gather(take("reply", Priority.REPLY, False), take("reminder", Priority.TIMELY, True))
    assert granted["reminder"] == pytest.approx(0, abs=0.01)
    assert granted["reply"] == pytest.approx(1.0, abs=0.01)


async def test_a_chats_second_counts_from_when_the_last_send_to_it_finished() -> None:
    """A request reaches Telegram some time after its grant (the sender's "request started" commit, the
    network): the next message to the chat keeps a second from when the last one finished, both ways."""
    timer = VirtualTimer()
    limiter = Limiter(1000, timer=timer)
    start = timer.now
    await limiter.acquire(Priority.TIMELY, 7)
    await timer.sleep(0.3)
    limiter.landed(7, outbox=True)
    await limiter.acquire(Priority.REPLY, 7, space_chat=False)
    assert timer.now - start == pytest.approx(1.3, abs=0.01)
    start = timer.now
    await limiter.acquire(Priority.REPLY, 9, space_chat=False)
    await timer.sleep(0.2)
    limiter.landed(9)
    await limiter.acquire(Priority.BULK, 9)
    assert timer.now - start == pytest.approx(1.2, abs=0.01)


def _recording_sender(h: Harness, **kw: Any) -> tuple[Sender, VirtualTimer, list[tuple[str, float]]]:
    """A fast sender (rate 1000) on a virtual timer, and the (text, time) of every message it got out."""
    timer = VirtualTimer()
    s = sender(h, timer, rate=1000, **kw)
    sent: list[tuple[str, float]] = []
    h.session.on_request = lambda r: sent.append((r.text or "", timer.now))
    return s, timer, sent


async def test_a_person_in_a_conversation_gets_an_outbox_message_right_after_a_reply(h: Harness) -> None:
    """Rows of a fan-out to people chatting with the bot go after the others of their claim, at the moment
    right after a reply to them (the chat's second passes while they read it), or DEFER seconds late at
    most. Under bench/mixed.py's fan-out, 30-38 of 400 replies waited up to a second for their chat after a
    reminder or broadcast had gone to the person at another moment."""
    await add(h, *(msg(f"r{c}", c) for c in (1, 2, 3, 4)))
    s, timer, sent = _recording_sender(h)
    limiter = s.limiter
    await limiter.acquire(Priority.REPLY, 2, space_chat=False)  # person 2 is chatting: answered 3 s ago
    await timer.sleep(2.5)
    await limiter.acquire(Priority.REPLY, 4, space_chat=False)  # person 4 was answered half a second ago
    await timer.sleep(0.5)
    start = timer.now
    await drain_sender(s)
    order = [text for text, _ in sent]
    t = {text: at - start for text, at in sent}
    assert order == ["r1", "r3", "r4", "r2"]
    assert t["r1"] == pytest.approx(0, abs=0.05) and t["r3"] == pytest.approx(0, abs=0.05)
    assert t["r4"] == pytest.approx(0.5, abs=0.15)  # right after the chat's second since the reply
    assert DEFER - 0.5 <= t["r2"] <= DEFER + 0.5  # no new reply to time it by: put off DEFER seconds
    assert {r.status for r in (await rows(h)).values()} == {SENT}


async def test_an_interactive_row_to_a_person_in_a_conversation_is_not_put_off(h: Harness) -> None:
    """A quiz question or a broadcast's progress edit is what the person is waiting for: it goes at once."""
    await add(h, msg("question", 2, priority=Priority.INTERACTIVE), msg("reminder", 3))
    s, timer, sent = _recording_sender(h)
    for chat in (2, 3):
        await s.limiter.acquire(Priority.REPLY, chat, space_chat=False)
    await timer.sleep(3.0)
    start = timer.now
    await drain_sender(s)
    t = {text: at - start for text, at in sent}
    assert t["question"] == pytest.approx(0, abs=0.05)
    assert t["reminder"] > 1.0  # the reminder, time-bound, waits for its moment


async def test_a_claim_of_people_in_a_conversation_lets_the_next_rows_go_first(h: Harness) -> None:
    """When every row of a claim is put off for people in a conversation, the next rows are claimed and go
    meanwhile (the fan-out does not stall behind them; bench/mixed.py's chatters are its first 50 rows)."""
    await add(h, *(msg(f"r{c}", c) for c in (2, 4, 5, 6)))
    s, timer, sent = _recording_sender(h, batch=2)
    for chat in (2, 4):
        await s.limiter.acquire(Priority.REPLY, chat, space_chat=False)
    await timer.sleep(3.0)
    start = timer.now
    await drain_sender(s)
    order = [text for text, _ in sent]
    t = {text: at - start for text, at in sent}
    assert order[:2] == ["r5", "r6"] and sorted(order[2:]) == ["r2", "r4"]
    assert t["r5"] == pytest.approx(0, abs=0.1) and t["r6"] == pytest.approx(0, abs=0.1)
    assert t["r2"] <= DEFER + 0.5
    assert {r.status for r in (await rows(h)).values()} == {SENT}


async def test_a_row_to_a_person_whose_reply_waits_in_line_goes_after_it(h: Harness) -> None:
    """A reply waiting for its turn goes before an outbox message to the same person (else it waits out the
    chat's second after that message)."""
    await add(h, msg("reminder", 7))
    timer = VirtualTimer()
    s = sender(h, timer, rate=1000)
    sent: list[str] = []
    h.session.on_request = lambda r: sent.append(r.text or "")
    limiter = s.limiter
    limiter.pause(0.5)  # the reply waits in line for half a second
    reply = asyncio.ensure_future(limiter.acquire(Priority.REPLY, 7, space_chat=False))
    await asyncio.sleep(0)
    rows_, _ = await s.claim()
    assert not s._welcome(rows_[0], timer.now, limiter.replies_waiting())
    await s._release(rows_)
    await reply
    assert s._welcome(rows_[0], timer.now + 1.0, limiter.replies_waiting())
    await drain_sender(s)
    assert sent == ["reminder"]


async def test_a_chats_429_holds_a_reply_to_it_too() -> None:
    """After a 429 for a chat, a reply to it waits out retry_after (sent at once it meets another 429, and
    two chats' 429s pause every send); replies to other chats do not wait."""
    timer = VirtualTimer()
    limiter = Limiter(1000, timer=timer)
    start = timer.now
    limiter.refused(2, 7)
    await limiter.acquire(Priority.REPLY, 8, space_chat=False)
    assert timer.now - start == pytest.approx(0, abs=0.01)
    await limiter.acquire(Priority.REPLY, 7, space_chat=False)
    assert timer.now - start == pytest.approx(2.0, abs=0.01)
