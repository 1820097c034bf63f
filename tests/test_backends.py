"""The production backends: PostgreSQL for data and conversation state, Redis for conversation state."""

from __future__ import annotations

import uuid
from pathlib import Path

from aiogram.fsm.storage.redis import RedisStorage
from sqlalchemy import select

from storage.models import Delegate
from tests.harness import Harness, make_settings
from tests.test_registration import UID, walk_to


async def test_registration_on_postgresql_survives_a_restart(tmp_path: Path, pg_url: str) -> None:
    settings = make_settings(tmp_path, database_url=pg_url)
    first = await Harness.create(settings)
    try:
        await walk_to(first, "email")
    finally:
        await first.close()
    second = await Harness.create(settings)  # migrations run again: nothing to do, nothing breaks
    try:
        await second.send(UID, "ada@example.org")
        assert "Which time zone are you in?" in second.texts(UID)[-2]
        await second.send(UID, "Seoul")
        await second.press(UID, "Yes")
        await second.press(UID, "Yes, available")
        await second.press(UID, "I agree")
        await second.press(UID, "Confirm")
        async with second.app.sessions() as s:
            row = (await s.scalars(select(Delegate).where(Delegate.user_id == UID))).one()
        assert (row.full_name, row.timezone, row.email) == ("Ada Lovelace", "Asia/Seoul", "ada@example.org")
        assert row.registered_at.tzinfo is not None
    finally:
        await second.close()


async def test_conversation_state_in_redis_survives_a_restart(tmp_path: Path, redis_url: str) -> None:
    settings = make_settings(tmp_path, redis_url=redis_url)
    uid = 10_000_000 + uuid.uuid4().int % 1_000_000  # its own keys in a shared Redis
    first = await Harness.create(settings)
    assert isinstance(first.app.storage, RedisStorage)
    try:
        await walk_to(first, "organisation", uid=uid)
    finally:
        await first.close()
    second = await Harness.create(settings)
    try:
        await second.send(uid, "Seoul Metropolitan Government")
        assert "Which city and country" in second.last_text(uid)
        await second.send(uid, "/forget")  # clears the person's keys
        assert await second.app.storage.get_state(second.state_key(uid)) is None
    finally:
        await second.close()

