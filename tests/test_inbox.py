"""Issue 8 item 3: an update in hand when the process is killed is handled after the restart, and only once.

The bot runs as a process against the fake Bot API. A slow answer from the fake keeps an update in hand; the
process is killed with SIGKILL once Telegram (the fake) has seen the update acknowledged, which is when
aiogram's own polling would have lost it for good.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from testkit.fake_botapi import FakeBotAPI
from tests.test_e2e import UID, answer, press, start_bot, stop_bot

pytestmark = pytest.mark.e2e
STARTUP = 90  # seconds; a busy shared machine takes long to import everything


def _db(tmp_path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(tmp_path / "e2e.db") as db:
        return db.execute(sql).fetchall()


def _state(tmp_path: Path) -> tuple[str | None, dict[str, object]]:
    rows = _db(tmp_path, "select state, data from fsm_state")
    assert len(rows) == 1, rows
    state, data = rows[0]
    return (str(state) if state else None), json.loads(str(data))


async def _started(api: FakeBotAPI, getmes_before: int) -> None:
    await api.wait_until(lambda: sum(r.method == "getUpdates" for r in api.records) > getmes_before,
                         timeout=STARTUP)


async def test_an_update_in_hand_at_a_kill_is_handled_after_the_restart_once(tmp_path: Path) -> None:
    async with FakeBotAPI() as api:
        proc = await start_bot(tmp_path, api)
        try:
            await _started(api, 0)
            await answer(api, "/start", contains="Please choose your language.")
            # The language button's handler first answers the callback query: make that answer hang, so the
            # update is in hand (nothing written yet) when the process dies.
            api.delay_next("answerCallbackQuery", 120)  # (its chat is not a parameter of the call)
            rec = next(r for r in reversed(api.sent(UID)) if "choose your language" in (r.text or ""))
            data = next(d for t, d in api.buttons(rec) if t == "English")
            api.push_callback(UID, data, rec.result["message_id"] if isinstance(rec.result, dict) else None)
            await api.wait_until(lambda: not api.pending_updates, timeout=30)  # acknowledged to Telegram
            assert not any("Language: English" in (r.text or "") for r in api.sent(UID))
        finally:
            proc.kill()
            await proc.wait()
        api.clear_faults()
        polls = sum(r.method == "getUpdates" for r in api.records)
        proc = await start_bot(tmp_path, api)
        try:
            await _started(api, polls)
            await api.wait_for(lambda r: "What is your full name?" in (r.text or ""), method="sendMessage",
                               chat_id=UID, timeout=30)
            await answer(api, "Ada Lovelace", contains="position")
        finally:
            code, err = await stop_bot(proc)
        assert code == 0, err
        texts = [r.text or "" for r in api.sent(UID)]
        assert sum("Language: English" in t for t in texts) == 1, texts
        assert sum("What is your full name?" in t for t in texts) == 1, texts
    state, data = _state(tmp_path)
    assert state is not None and state.endswith("position")
    assert data["answers"] == {"language": "en", "full_name": "Ada Lovelace"}
    assert _db(tmp_path, "select count(*) from inbox where handled_at is null") == [(0,)]
    assert _db(tmp_path, "select count(*) from inbox where payload is not null") == [(0,)]
    assert _db(tmp_path, "select count(*) from inbox where payload is not null") == [(0,)]


async def test_a_press_answered_too_late_still_does_what_it_asked(tmp_path: Path) -> None:
    # After a restart a press is handled again long after it was made: Telegram refuses to answer the query
    # ("query is too old"); the language is set all the same.
    from tests.harness import Harness, make_settings

    h = await Harness.create(make_settings(tmp_path))
    try:
        await h.send(UID, "/start")
        h.session.fail_next("answerCallbackQuery", status=400,
                            description="Bad Request: query is too old and response timeout expired or query ID "
                                        "is invalid")
        await h.press(UID, "English")
        assert "Language: English." in h.texts(UID)
        assert "What is your full name?" in h.last_text(UID)
    finally:
        await h.close()


async def test_an_update_whose_effects_were_committed_is_not_handled_again(tmp_path: Path) -> None:
    async with FakeBotAPI() as api:
        proc = await start_bot(tmp_path, api)
        try:
            await _started(api, 0)
            await answer(api, "/start", contains="Please choose your language.")
            await press(api, "English", then="What is your full name?")
            # The answer is stored (committed before the reply), then the reply hangs and the process dies.
            api.delay_next("sendMessage", 120, chat_id=UID)
            api.push_text(UID, "Ada Lovelace")
            for _ in range(600):
                state, _data = _state(tmp_path)
                if state and state.endswith("position"):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the name was never committed")
        finally:
            proc.kill()
            await proc.wait()
        api.clear_faults()
        polls = sum(r.method == "getUpdates" for r in api.records)
        proc = await start_bot(tmp_path, api)
        try:
            await _started(api, polls)
            # The reply to the name was lost with the process: the restart tells the person where they are.
            told = await api.wait_for(lambda r: "restarted" in (r.text or ""), method="sendMessage",
                                      chat_id=UID, timeout=30)
            assert "What is your position" in (told.text or ""), told.text
            # Handled again, "Ada Lovelace" would be stored as the position and the bot would ask for the
            # organisation; it is the position it still waits for.
            await answer(api, "Chief Digital Officer", contains="Which organisation do you represent?")
        finally:
            code, err = await stop_bot(proc)
        assert code == 0, err
        assert sum("restarted" in (r.text or "") for r in api.sent(UID)) == 1
    _state_now, data = _state(tmp_path)
    assert data["answers"] == {
        "language": "en", "full_name": "Ada Lovelace", "position": "Chief Digital Officer"}
    assert _db(tmp_path, "select count(*) from inbox where handled_at is null") == [(0,)]
    assert _db(tmp_path, "select count(*) from inbox where payload is not null") == [(0,)]
