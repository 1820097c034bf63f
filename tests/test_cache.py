"""The process cache of profiles, conversation state, follows and reminder settings (storage.cache).

What a person would notice if it went wrong: a changed language, time zone or block that the bot ignores,
a conversation step that comes back after it moved on, a follow that does not show. Each test writes through
one path and reads through another."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, event, update

from storage.cache import MISSING, Caches, enable
from storage.db import make_engine, make_sessionmaker, migrate
from storage.fsm import SQLStorage
from storage.models import Delegate
from storage.repo import Delegates, Follows, Reminders, forget_person
from tests.harness import Harness, make_settings, register

UID = 5_500_001


async def _app(tmp_path: Path) -> Harness:
    h = await Harness.create(make_settings(tmp_path))
    await register(h, UID, language="en", timezone="Europe/Moscow")
    return h


def _count_statements(h: Harness) -> dict[str, int]:
    counts = {"statements": 0}

    def on_execute(*_: Any) -> None:
        counts["statements"] += 1

    event.listen(h.app.engine.sync_engine, "before_cursor_execute", on_execute)
    return counts


async def test_a_registered_delegates_now_and_question_use_no_database_once_known(tmp_path: Path) -> None:
    h = await _app(tmp_path)
    try:
        await h.send(UID, "/now")  # the first update of the person: one statement for profile and state
        counts = _count_statements(h)
        for _ in range(3):
            await h.send(UID, "/now")
            await h.send(UID, "when is the quiz?")
        assert counts["statements"] == 0
        assert len(h.texts(UID)) == 7
    finally:
        await h.close()


async def test_a_profile_change_committed_elsewhere_is_seen_at_once(tmp_path: Path) -> None:
    h = await _app(tmp_path)
    try:
        await h.send(UID, "/now")  # cached in English
        async with h.app.sessions() as s:
            await Delegates(s).update_fields(UID, h.clock.now(), language="ru")
            await s.commit()
        assert not any("а" <= ch <= "я" for ch in h.last_text(UID))
        await h.send(UID, "/now")
        assert any("а" <= ch <= "я" for ch in h.last_text(UID))  # answered in Russian
        async with h.app.sessions() as s:
            assert (await Delegates(s).get(UID)).language == "ru"
    finally:
        await h.close()


async def test_writes_that_roll_back_leave_the_committed_value(tmp_path: Path) -> None:
    h = await _app(tmp_path)
    try:
        async with h.app.sessions() as s:
            assert (await Delegates(s).get(UID)).timezone == "Europe/Moscow"
        async with h.app.sessions() as s:
            await Delegates(s).update_fields(UID, h.clock.now(), timezone="Asia/Seoul")
            assert (await Delegates(s).get(UID)).timezone == "Asia/Seoul"
            await s.rollback()
        async with h.app.sessions() as s:
            assert (await Delegates(s).get(UID)).timezone == "Europe/Moscow"
    finally:
        await h.close()


async def test_block_forget_follow_and_bulk_statements_reach_the_cache(tmp_path: Path) -> None:
    h = await _app(tmp_path)
    try:
        async with h.app.sessions() as s:
            assert (await Delegates(s).get(UID)).blocked is False
            assert await Follows(s).items(UID) == set()
            assert (await Reminders(s).settings(UID)).lead == 10
        async with h.app.sessions() as s:  # the sender notices a block
            await Delegates(s).mark_blocked(UID, h.clock.now())
            await Follows(s).follow(UID, "quiz", h.clock.now())
            await Reminders(s).update(UID, h.clock.now(), lead=30)
            await s.commit()
        async with h.app.sessions() as s:
            assert (await Delegates(s).get(UID)).blocked is True
            assert await Follows(s).is_following(UID, "quiz")
            assert (await Reminders(s).settings(UID)).lead == 30
        async with h.app.sessions() as s:  # a statement whose keys the cache cannot tell
            await s.execute(update(Delegate).values(language="ko"))
            await s.commit()
        async with h.app.sessions() as s:
            assert (await Delegates(s).get(UID)).language == "ko"
        async with h.app.sessions() as s:
            await Follows(s).unfollow(UID, "quiz")
            await s.commit()
        async with h.app.sessions() as s:
            assert await Follows(s).items(UID) == set()
            await Follows(s).follow(UID, "quiz", h.clock.now())
            await s.commit()
        async with h.app.sessions() as s:
            await forget_person(s, UID)
            await s.commit()
        async with h.app.sessions() as s:
            assert await Delegates(s).get(UID) is None
            assert await Follows(s).items(UID) == set()
            assert await Reminders(s).settings(UID) is None
    finally:
        await h.close()


async def test_conversation_state_is_cached_and_replaced_at_commit(tmp_path: Path) -> None:
    h = await Harness.create(make_settings(tmp_path))
    try:
        storage = h.app.storage
        assert isinstance(storage, SQLStorage)
        key = h.state_key(UID)
        await storage.set_state(key, "Reg:city")
        await storage.set_data(key, {"answers": {"full_name": "Ada"}})
        counts = _count_statements(h)
        assert await storage.get_state(key) == "Reg:city"
        assert (await storage.get_data(key))["answers"] == {"full_name": "Ada"}
        assert counts["statements"] == 0  # the committed values were put in the cache
        async with h.app.sessions() as s:  # a direct delete (as /forget's clean-up could do)
            await s.execute(delete(storage_table()))
            await s.commit()
        assert await storage.get_state(key) is None
    finally:
        await h.close()


def storage_table() -> Any:
    from storage.models import FsmRecord

    return FsmRecord


async def test_a_slow_reader_does_not_put_back_what_a_writer_replaced(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    await migrate(engine)
    caches = enable(engine, Caches())
    sessions = make_sessionmaker(engine)
    try:
        async with sessions() as s:
            await Delegates(s).save(_profile(), _now())
            await s.commit()
        caches.drop_all()
        reader = sessions()
        generation = caches.generation
        # The reader has read the old row when the writer commits ...
        row = await reader.get(Delegate, UID)
        assert row is not None
        async with sessions() as w:
            await Delegates(w).update_fields(UID, _now(), full_name="New Name")
            await w.commit()
        assert caches.generation != generation  # ... so a read begun before it would not be stored
        await reader.close()
        async with sessions() as s:
            assert (await Delegates(s).get(UID)).full_name == "New Name"
    finally:
        await engine.dispose()


def _profile() -> Any:
    from domain.registration import Profile

    return Profile(user_id=UID, language="en", full_name="Ada", position="P", organisation="O", city="Seoul",
                   country="Korea", participant_type="wego_member", email="a@example.org",
                   timezone="Europe/Moscow", matchmaking=None)


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime(2020, 11, 1, tzinfo=UTC)


@pytest.mark.redis
async def test_another_process_hears_of_a_write_through_redis(tmp_path: Path, redis_url: str) -> None:
    from redis.asyncio import Redis

    from storage.cache_sync import CacheSync

    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    channel = f"test-cache-{uuid.uuid4().hex[:8]}"
    engines = [make_engine(url), make_engine(url)]  # two "processes" on one database
    await migrate(engines[0])
    caches = [enable(e, Caches()) for e in engines]
    redis = [Redis.from_url(redis_url), Redis.from_url(redis_url)]
    syncs = [CacheSync(c, r, channel) for c, r in zip(caches, redis, strict=True)]
    for sync in syncs:
        await sync.start()
    a, b = (make_sessionmaker(e) for e in engines)
    try:
        async with a() as s:
            await Delegates(s).save(_profile(), _now())
            await s.commit()
        async with b() as s:
            assert (await Delegates(s).get(UID)).language == "en"
        async with a() as s:
            await Delegates(s).update_fields(UID, _now(), language="ko")
            await s.commit()
        for _ in range(250):  # the message crosses Redis
            if caches[1].profiles.get(UID) is MISSING:
                break
            await asyncio.sleep(0.02)
        async with b() as s:
            assert (await Delegates(s).get(UID)).language == "ko"
    finally:
        for sync in syncs:
            await sync.close()
        for r in redis:
            await r.aclose()
        for e in engines:
            await e.dispose()
