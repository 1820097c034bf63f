"""The offline chat (bot/offline.py): numbered messages and buttons, `#3.2` also after a restart, files the
bot sends saved to a folder with their path printed, and its settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.app import build_app
from bot.config import ConfigError, load_settings
from bot.offline.chat import OfflineChat
from domain.clock import FrozenClock
from storage.repo import Delegates
from testkit.people import delegate
from tests.harness import make_settings, msk

UID = 1001


async def _chat(tmp_path: Path, out: list[str], *, register: bool = False) -> OfflineChat:
    clock = FrozenClock(msk(7))
    app = await build_app(make_settings(tmp_path), clock=clock)
    if register:
        async with app.sessions() as s:
            await Delegates(s).save(delegate(UID, timezone="Asia/Seoul"), clock.now())
            await s.commit()
    return OfflineChat(app, user_id=UID, write=out.append, files_dir=tmp_path / "files")


async def _close(chat: OfflineChat) -> None:
    await chat.bot.session.close()
    await chat.app.close()


def _lines(out: list[str]) -> list[str]:
    return "\n".join(out).splitlines()


async def test_buttons_are_numbered_by_message_and_any_earlier_one_can_be_pressed(tmp_path: Path) -> None:
    out: list[str] = []
    chat = await _chat(tmp_path, out, register=True)
    try:
        await chat.handle("/program")
        assert any(line.strip() == "[#1.1] 14:00 Check-in & Technical Check" for line in _lines(out))
        await chat.handle("#1.2")  # the Opening Ceremony's card: message 2, with buttons of its own
        assert "Opening Ceremony" in out[-1] and "[#2.1]" in out[-1]
        out.clear()
        await chat.handle("#1.1")  # message 1 is still pressable
        assert "Check-in & Technical Check" in out[-1] and "[#3.1]" in out[-1]
        out.clear()
        await chat.handle("#1")  # the latest message's first button, as before: "Remind me" on the card
        assert "(message 3 edited)" in out[0] and "[#3.1] 🔕 Don't remind me" in out[0]
        out.clear()
        await chat.handle("#1.99")
        assert "no such button: message 1 has" in out[-1]
        await chat.handle("#42.1")
        assert "there is no message 42" in out[-1]
    finally:
        await _close(chat)


async def test_files_the_bot_sends_are_saved_and_their_path_printed(tmp_path: Path) -> None:
    out: list[str] = []
    chat = await _chat(tmp_path, out, register=True)
    try:
        await chat.handle("/program")
        program = next(n for n, line in enumerate(_lines(out)) if "Whole program to my calendar" in line)
        label = _lines(out)[program].strip().split("]")[0].lstrip("[")  # "#1.14"
        out.clear()
        await chat.handle(label)
        saved = tmp_path / "files" / "excom2020-program.ics"
        assert saved.read_bytes().startswith(b"BEGIN:VCALENDAR")
        assert f"[file: excom2020-program.ics, {saved.stat().st_size} bytes, saved to {saved}]" in out[-1]
    finally:
        await _close(chat)


async def test_buttons_of_earlier_messages_work_after_a_restart(tmp_path: Path) -> None:
    out: list[str] = []
    chat = await _chat(tmp_path, out, register=True)
    try:
        await chat.handle("/program")
        await chat.handle("#1.2")
    finally:
        await _close(chat)
    state = json.loads((tmp_path / "files" / "buttons.json").read_text(encoding="utf-8"))
    assert sorted(state["numbers"]) == ["1", "2"]

    out.clear()
    again = await _chat(tmp_path, out)  # a new process: same database, same files folder
    try:
        await again.handle("#1.3")  # a button of the first run's /program
        assert "Plenary Session" in out[-1] and "[#3.1]" in out[-1]
        out.clear()
        await again.handle("#2.1")  # "Remind me" on the first run's card: the card is edited in place
        assert "(message 2 edited)" in out[0] and "[#2.1] 🔕 Don't remind me" in out[0]
    finally:
        await _close(again)


async def test_a_damaged_buttons_file_is_said_and_forgotten(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "buttons.json").write_text("{not json", encoding="utf-8")
    out: list[str] = []
    chat = await _chat(tmp_path, out)
    try:
        assert "could not read" in out[0]
        await chat.handle("#1.1")
        assert "no message has buttons yet" in out[-1]
        await chat.handle("#2")
        assert "no message has buttons yet" in out[-1]
    finally:
        await _close(chat)


def test_offline_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("OFFLINE_USER_ID", "999")
    monkeypatch.setenv("OFFLINE_LANGUAGE", "ko")
    monkeypatch.setenv("OFFLINE_FILES", str(tmp_path / "out"))
    settings = load_settings()
    assert (settings.offline_user_id, settings.offline_language, settings.offline_files) == (
        999, "ko", tmp_path / "out")
    monkeypatch.setenv("OFFLINE_USER_ID", "me")
    with pytest.raises(ConfigError, match="OFFLINE_USER_ID"):
        load_settings()
