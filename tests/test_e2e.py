"""End to end: `python -m bot` as a process, long-polling a fake Bot API server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path

import pytest

from testkit.fake_botapi import FakeBotAPI, Record
from testkit.processes import bot_env, spawn_bot

ROOT = Path(__file__).resolve().parent.parent
UID = 777001
GROUP = -1001234567890
pytestmark = pytest.mark.e2e


def e2e_env(tmp_path: Path, api_url: str | None, **extra: str) -> dict[str, str]:
    return bot_env(f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}", api_url=api_url,
                   **{"CLOCK_START": "2020-11-01T10:00:00+03:00", **extra})


async def start_bot(tmp_path: Path, api: FakeBotAPI) -> asyncio.subprocess.Process:
    return await spawn_bot(tmp_path, e2e_env(tmp_path, api.url),
                           stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def stop_bot(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _out, err = await asyncio.wait_for(proc.communicate(), 20)
    except TimeoutError:
        proc.kill()
        _out, err = await proc.communicate()
    return proc.returncode or 0, err.decode(errors="replace")


async def answer(api: FakeBotAPI, text: str, *, contains: str, timeout: float = 15) -> Record:
    since = api.mark()
    api.push_text(UID, text)
    return await api.wait_for(lambda r: contains in (r.text or ""), method="sendMessage", chat_id=UID,
                              since=since, timeout=timeout)


async def press(api: FakeBotAPI, label: str, *, then: str) -> Record:
    """Press the newest button labelled `label` and wait for a message containing `then`."""
    for rec in reversed(api.sent(UID)):
        for text, data in api.buttons(rec):
            if label in text and data:
                since = api.mark()
                api.push_callback(UID, data, rec.result["message_id"] if isinstance(rec.result, dict) else None)
                return await api.wait_for(lambda r: then in (r.text or ""), chat_id=UID, since=since, timeout=15)
    raise AssertionError(f"no button {label!r}:\n{api.dump()}")


async def test_registration_through_a_bot_api_server(tmp_path: Path, api: FakeBotAPI) -> None:
    proc = await start_bot(tmp_path, api)
    try:
        await api.wait_until(lambda: api.waiting_polls > 0, timeout=30)
        # Start-up: webhook removed, command menu in every language.
        assert any(r.method == "deleteWebhook" for r in api.records)
        for lang in ("en", "ru", "ko"):
            assert any(c["command"] == "program" for c in api.commands(lang)), lang

        await answer(api, "/start", contains="Please choose your language.")
        await press(api, "English", then="What is your full name?")
        await answer(api, "Ada Lovelace", contains="position")
        await answer(api, "Chief Digital Officer", contains="organisation")
        await answer(api, "Seoul Metropolitan Government", contains="city and country")
        await answer(api, "Seoul", contains="type of participant")
        await press(api, "EXCOM member city", then="e-mail")
        await answer(api, "ada@example.org", contains="time zone")
        await answer(api, "Seoul", contains="it is now")
        await press(api, "Yes", then="matchmaking")
        await press(api, "Yes, available", then="May we store")
        await press(api, "I agree", then="Please check your registration")
        await press(api, "Confirm", then="You are registered")
        # In a group the registered person's /profile gets the private chat's link, not their data.
        since = api.mark()
        api.push_text(UID, "/profile@delegate_test_bot", chat_id=GROUP)
        reply = await api.wait_for(lambda r: True, method="sendMessage", chat_id=GROUP, since=since, timeout=15)
        assert "https://t.me/delegate_test_bot?start=profile" in (reply.text or "")
        assert "ada@example.org" not in (reply.text or "")
    finally:
        code, err = await stop_bot(proc)
    assert code == 0, err
    assert "Traceback" not in err, err
    with sqlite3.connect(tmp_path / "e2e.db") as db:
        row = db.execute("select full_name, timezone, participant_type from delegates where user_id=?",
                         (UID,)).fetchone()
    assert row == ("Ada Lovelace", "Asia/Seoul", "excom")


async def test_conversation_continues_after_the_process_is_killed(tmp_path: Path, api: FakeBotAPI) -> None:
    proc = await start_bot(tmp_path, api)
    await api.wait_until(lambda: api.waiting_polls > 0, timeout=30)
    await answer(api, "/start", contains="Please choose your language.")
    await press(api, "English", then="What is your full name?")
    await answer(api, "Ada Lovelace", contains="position")
    proc.kill()  # no chance to clean up
    await proc.wait()
    proc = await start_bot(tmp_path, api)
    try:
        # The answer waits for the new process to start polling (slow on a busy machine).
        await answer(api, "Chief Digital Officer", contains="Which organisation do you represent?", timeout=60)
    finally:
        await stop_bot(proc)


async def run_cli(tmp_path: Path, stdin: str, **env: str) -> tuple[int, str, str]:
    proc = await spawn_bot(tmp_path, e2e_env(tmp_path, None, **env), stdin=asyncio.subprocess.PIPE,
                           stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_offline_chat_without_a_token(tmp_path: Path) -> None:
    code, out, err = await run_cli(tmp_path, "/start\n#1\nAda Lovelace\n#9\n/quit\n")
    assert code == 0, err
    assert "offline chat" in out and "BOT_TOKEN" in out  # the banner says how to connect instead
    assert "Please choose your language." in out and "[#1.1] English" in out
    assert "What is your full name?" in out and "What is your position" in out
    assert "no such button" in out


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ADMIN_IDS": "12,@boss"}, "ADMIN_IDS: expected comma-separated numeric Telegram user ids"),
        ({"CLOCK_START": "2020-11-17 08:50"}, "CLOCK_START: needs a UTC offset"),
        ({"CLOCK_SPEED": "0"}, "CLOCK_SPEED"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL: expected sqlite+aiosqlite"),
        ({"TELEGRAM_API_URL": "api.telegram.org"}, "TELEGRAM_API_URL: expected a base URL"),
        ({"EVENT_FILE": "nope.toml"}, "EVENT_FILE: no such file"),
    ],
)
async def test_bad_configuration_stops_with_one_line(tmp_path: Path, env: dict[str, str], message: str) -> None:
    code, _out, err = await run_cli(tmp_path, "", **env)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err


async def test_invalid_event_file_stops_start_up_naming_the_item(tmp_path: Path) -> None:
    text = (ROOT / "tests" / "data" / "mini_event.toml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("end = 11:00:00", "end = 09:00:00", 1), encoding="utf-8")
    code, _out, err = await run_cli(tmp_path, "", EVENT_FILE=str(bad))
    assert code == 2
    assert str(bad) in err and "'talk'" in err and "is not after start" in err, err
