"""Issue 17 item 10: the Bot API's update ids start again lower (a new Bot API server, the fake server of a
rehearsal restarted on the same database, Telegram after a week of silence). Updates of the new numbering
whose ids were seen before are answered; a real repeat is still recognised, within its numbering."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from bot.app import build_app, make_bot
from bot.config import Settings
from bot.polling import Poller
from delivery.limiter import limiter_of
from storage.db import make_engine, make_sessionmaker, migrate
from storage.inbox import Inbox
from storage.models import InboxUpdate
from testkit.databases import throwaway_database
from testkit.fake_botapi import FakeBotAPI


def _settings(db: Path, api: FakeBotAPI) -> Settings:
    return Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{db}", bot_token="42:RENUMBER",
                    telegram_api_url=api.url, redis_url=None, admin_ids="",
                    clock_start="2020-11-01T10:00:00+03:00", clock_speed=1, log_level="WARNING")


@contextlib.asynccontextmanager
async def _running(db: Path, api: FakeBotAPI) -> AsyncIterator[Any]:
    app = await build_app(_settings(db, api))
    bot = make_bot(app.settings)
    poller = Poller(app.dp, bot, app.inbox, polling_timeout=1)
    task = asyncio.create_task(poller.run())
    try:
        yield app
    finally:
        poller.stop()
        await asyncio.wait_for(task, 30)
        if (limiter := limiter_of(bot)) is not None:
            await limiter.close()
        await bot.session.close()
        await app.close()


async def test_after_the_bot_api_restarts_its_numbering_new_updates_are_answered(tmp_path: Path) -> None:
    db = tmp_path / "rehearsal.db"
    async with FakeBotAPI() as api, _running(db, api) as app:
        for uid in (501, 502, 503):
            api.push_text(uid, "/start", language_code="en")
            await api.wait_for(lambda r: "choose your language" in (r.text or ""), method="sendMessage",
                               chat_id=uid, timeout=30)
        await api.wait_until(lambda: not api.pending_updates, timeout=30)
        # The marks of read-only updates are written in batches: wait until every update is marked handled.
        for _ in range(3000):
            async with app.sessions() as s:
                left = await s.scalar(select(func.count()).select_from(InboxUpdate)
                                      .where(InboxUpdate.handled_at.is_(None)))
            if left == 0:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the read-only updates were never marked handled")
        async with app.sessions() as s:  # the first rehearsal ran an hour ago
            await s.execute(update(InboxUpdate).values(received_at=datetime.now(UTC) - timedelta(hours=1)))
            await s.commit()
    # The fake server restarted: its update ids start at 1 again, on the same database.
    async with FakeBotAPI() as api, _running(db, api):
        for uid in (601, 602):
            sent = api.push_text(uid, "/start", language_code="en")
            assert sent["update_id"] in (1, 2)
            await api.wait_for(lambda r: "choose your language" in (r.text or ""), method="sendMessage",
                               chat_id=uid, timeout=30)
        # A button press (no date) in the new numbering: its id 3 was seen in the old one.
        rec = next(r for r in reversed(api.sent(601)) if "choose your language" in (r.text or ""))
        data = next(d for t, d in api.buttons(rec) if t == "English")
        assert api.push_callback(601, data)["update_id"] == 3
        await api.wait_for(lambda r: "Language: English" in (r.text or ""), chat_id=601, timeout=30)


@pytest.fixture(params=["sqlite", "postgres"])
async def inbox(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Inbox]:
    async with contextlib.AsyncExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path / 'inbox.db'}"
        else:
            if not (base := os.environ.get("TEST_DATABASE_URL")):
                pytest.skip("TEST_DATABASE_URL is not set: PostgreSQL tests skipped")
            url = await stack.enter_async_context(throwaway_database(base))
        engine = make_engine(url)
        await migrate(engine)
        yield Inbox(make_sessionmaker(engine))
        await engine.dispose()


def _message(update_id: int, sent: float) -> tuple[int, dict[str, Any]]:
    return update_id, {"update_id": update_id, "message": {"message_id": update_id, "date": int(sent),
                                                           "chat": {"id": 7, "type": "private"}, "text": "hi"}}


def _press(update_id: int) -> tuple[int, dict[str, Any]]:
    return update_id, {"update_id": update_id, "callback_query": {"id": str(update_id), "chat_instance": "1",
                                                                  "from": {"id": 7, "is_bot": False,
                                                                           "first_name": "A"}, "data": "x"}}


async def test_repeats_are_recognised_within_a_numbering_only(inbox: Inbox) -> None:
    now = time.time()
    first = await inbox.receive([_message(5000 + 100 * i, now) for i in range(20)], [])
    assert sorted(first) == list(range(5000, 7000, 100))
    await inbox.mark_handled(list(first.values()))
    # Telegram sends a batch again (it was not acknowledged): a repeat, not handled again.
    assert await inbox.receive([_message(6000, now), _press(6900)], []) == {}
    # Ids far below the last one, seen before (the renumbering reached them): new.
    renumbered = await inbox.receive([_press(5100), _message(5200, now)], [])
    assert sorted(renumbered) == [5100, 5200]
    assert len(set(renumbered.values()) & set(first.values())) == 0
    # Within the new numbering, a repeat is a repeat again.
    assert await inbox.receive([_press(5100)], []) == {}
    assert sorted(await inbox.receive([_press(5300)], [])) == [5300]


async def test_a_message_sent_after_the_stored_one_arrived_is_new(inbox: Inbox) -> None:
    old = await inbox.receive([_message(1, time.time())], [])
    async with inbox.sessions() as s:
        await s.execute(text("UPDATE inbox SET received_at = :at"), {"at": datetime.now(UTC) - timedelta(hours=1)})
        await s.commit()
    assert await inbox.receive([_message(1, time.time() - 7200)], []) == {}  # sent before: a repeat
    new = await inbox.receive([_message(1, time.time())], [])
    assert list(new) == [1] and new[1] != old[1]
