"""Routing (bot/routing.py) and the update path's hops: a message reaches the handler it reached before, with
one check per router that cannot take it, and no filter of a known person's update runs in a worker thread."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from aiogram import F, Router
from aiogram.filters import Command, CommandStart, StateFilter
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Chat, Message, User

from bot.routing import RouterGate, gate_for
from services import program as program_uc
from tests.harness import Harness, make_settings, register

UID = 5_600_001


class Steps(StatesGroup):
    name = State()
    city = State()


async def _noop(*_: Any) -> None:
    return None


def _router(*filter_sets: tuple[Any, ...]) -> Router:
    router = Router()
    for filters in filter_sets:
        router.message.register(_noop, *filters)
    return router


def _message(text: str | None, caption: str | None = None) -> Message:
    from datetime import UTC, datetime

    return Message(message_id=1, date=datetime.now(UTC), chat=Chat(id=1, type="private"), text=text,
                   caption=caption, from_user=User(id=1, is_bot=False, first_name="A"))


async def test_a_gate_lets_through_its_commands_and_states_only() -> None:
    gate = gate_for(_router((Command("now"),), (CommandStart(),), (StateFilter(Steps.name), F.text),
                            (StateFilter(Steps), F.location)).message.handlers)
    assert isinstance(gate, RouterGate)
    assert await gate(_message("/now"))
    assert await gate(_message("/NOW@some_bot with words"))  # the handler decides case and mention
    assert await gate(_message("/start abc"))
    assert await gate(_message(None, caption="/now"))  # aiogram's Command reads captions too
    assert not await gate(_message("/program"))
    assert not await gate(_message("when is the quiz?"))
    assert not await gate(_message("now"))
    assert await gate(_message("Anna"), raw_state=Steps.name.state)
    assert await gate(_message("Seoul"), raw_state=Steps.city.state)  # the whole group
    assert not await gate(_message("Anna"), raw_state="Other:step")
    assert not await gate(_message("Anna"))


async def test_magic_filters_gate_free_text_and_documents() -> None:
    """A handler of free text (`F.text`, not a command) or of documents: the gate applies its magic filters as
    aiogram would (all of one handler's at once)."""
    gate = gate_for(_router((Command("excom"),), (F.document,), (F.text, ~F.text.startswith("/"))
                            ).message.handlers)
    assert isinstance(gate, RouterGate)
    assert await gate(_message("/excom"))
    assert await gate(_message("when is the quiz?"))
    assert not await gate(_message("/now"))  # text, but a command: the free-text handler refuses it
    assert not await gate(_message(None, caption="a photo"))  # neither text nor a document


async def test_routers_that_take_any_message_are_not_gated() -> None:
    assert gate_for(_router((Command("now"),), ()).message.handlers) is None  # any message
    assert gate_for(_router((Command("now"),), (_noop,)).message.handlers) is None  # a filter no gate reads
    assert gate_for(_router((Command(re.compile(r"q\d")),)).message.handlers) is None  # a pattern
    assert gate_for(_router((StateFilter("*"),)).message.handlers) is None
    assert gate_for(_router().message.handlers) is None
    # No state: only people outside any conversation step (as StateFilter(None) says).
    gate = gate_for(_router((StateFilter(None), F.text)).message.handlers)
    assert gate is not None
    assert await gate(_message("hello"))
    assert not await gate(_message("hello"), raw_state=Steps.name.state)


async def test_the_bots_routers_answer_as_before(tmp_path: Path) -> None:
    """Commands of routers far down the chain, a conversation step, free text, and an unknown command."""
    h = await Harness.create(make_settings(tmp_path))
    try:
        await register(h, UID, language="en", timezone="Europe/Moscow")
        await h.send(UID, "/now")
        assert "Next" in h.last_text(UID) or "starts in" in h.last_text(UID)
        await h.send(UID, "/NOW")  # aiogram's Command is case-sensitive: the fallback answers, as before
        upper = h.last_text(UID)
        await h.send(UID, "/reminders")
        assert h.last_text(UID) != upper
        await h.send(UID, "when is the quiz?")
        assert "Quiz" in h.last_text(UID)
        await h.send(UID, "/leaderboard")
        await h.send(UID, "/help")
        assert "/now" in h.last_text(UID)
    finally:
        await h.close()


async def test_a_known_persons_update_takes_no_worker_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    """aiogram runs a filter that is not a coroutine in a worker thread: two thread hops per update (issue 18)."""
    h = await Harness.create(make_settings(tmp_path))
    try:
        await register(h, UID, language="en", timezone="Europe/Moscow")
        await h.send(UID, "/now")
        hops: list[Any] = []
        to_thread = asyncio.to_thread

        async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
            hops.append(func)
            return await to_thread(func, *args, **kwargs)

        monkeypatch.setattr(asyncio, "to_thread", counted)
        await h.send(UID, "/now")
        await h.send(UID, "when is the quiz?")
        await h.send(UID, "/program")
        assert hops == []
        assert len(h.texts(UID)) >= 3
    finally:
        await h.close()


def test_a_question_about_time_is_read_once_per_text_and_language(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.config import DEFAULT_EVENT_FILE
    from domain.event import load_event

    event = load_event(DEFAULT_EVENT_FILE)
    calls: list[tuple[str, str]] = []
    real = program_uc.parse_when

    def parse(text: str, lang: str, ev: Any) -> Any:
        calls.append((text, lang))
        return real(text, lang, ev)

    monkeypatch.setattr(program_uc, "parse_when", parse)
    first = program_uc.question_about_time("when is the quiz? (routing test)", "en", event)
    again = program_uc.question_about_time("when is the quiz? (routing test)", "en", event)
    assert first == again == real("when is the quiz? (routing test)", "en", event)
    assert calls == [("when is the quiz? (routing test)", "en")]
    program_uc.question_about_time("when is the quiz? (routing test)", "ru", event)
    assert len(calls) == 2


async def _script(h: Harness) -> list[tuple[int, str, str, tuple[str, ...]]]:
    """Messages of every kind from a newcomer (through registration steps), a delegate and an organiser; what
    the bot sent back to each, in order."""
    from bot.offline.local_api import UpdateFactory

    newcomer, organiser = UID + 1, 999
    await register(h, UID, language="en", timezone="Europe/Moscow")
    await register(h, organiser, language="en", timezone="Europe/Moscow")
    plan: list[tuple[int, str | dict[str, Any]]] = [
        (newcomer, "when is the quiz?"), (newcomer, "/start"), (newcomer, "English"),
        (newcomer, "where are you?"), (newcomer, "Anna Lee"), (newcomer, "/now"), (newcomer, "hello there"),
        (newcomer, "/cancel"), (newcomer, "/start"), (newcomer, "/NOW"), (newcomer, "/unknown"),
    ]
    for text in ("/now", "/next", "/program", "/reminders", "/meet", "/availability", "/quiz", "/leaderboard",
                 "/help", "/language", "/timezone", "/profile", "/stats", "/excom", "/broadcast", "/console",
                 "/myid", "📋 Program", "▶️ Now and next", "/now@delegate_test_bot", "when is the quiz?",
                 "how long until lunch?", "hello", "/cancel", "/start"):
        plan += [(UID, text), (organiser, text)]
    factory: UpdateFactory = h.updates
    plan += [(UID, factory.location(UID, 55.75, 37.62)), (UID, factory.sticker(UID)),
             (UID, factory.document(UID, "f1", "list.csv")), (organiser, factory.document(organiser, "f2", "x.csv")),
             (organiser, "/people"), (organiser, "Anna")]
    seen: list[tuple[int, str, str, tuple[str, ...]]] = []
    for who, what in plan:
        requests = await (h.send(who, what) if isinstance(what, str) else h.feed(what))
        seen += [(who, r.method, r.text, tuple(t for t, _ in r.buttons)) for r in requests]
    return seen


async def test_the_switchboard_reaches_the_handler_aiograms_walk_reaches(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The same script answered with the switchboard and without it (no routes: every message goes on to
    aiogram's walk through the routers), call for call."""
    from bot.routing import Switchboard

    async def play(sub: str) -> list[tuple[int, str, str, tuple[str, ...]]]:
        (tmp_path / sub).mkdir()
        h = await Harness.create(make_settings(tmp_path / sub))
        try:
            assert h.app.dp.sub_routers[0].name == "switchboard"
            return await _script(h)
        finally:
            await h.close()

    answered = await play("a")
    monkeypatch.setattr(Switchboard, "route", lambda self, routers, gates: None)
    expected = await play("b")
    assert len(answered) > 60
    assert answered == expected


async def test_a_session_with_nothing_to_do_is_neither_committed_nor_closed(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A known person's /now runs no statement: its session has nothing for a commit or a close (a greenlet
    round trip each); one that wrote is committed as before (and closed only if the commit left something)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import AsyncSession

    from storage.db import untouched

    h = await Harness.create(make_settings(tmp_path))
    try:
        await register(h, UID, language="en", timezone="Europe/Moscow")
        await h.send(UID, "/now")  # the first update loads the profile and state (one statement)
        calls: list[str] = []
        for name in ("commit", "close"):
            real = getattr(AsyncSession, name)

            async def counted(self: AsyncSession, *, _real: Any = real, _name: str = name) -> None:
                calls.append(_name)
                await _real(self)

            monkeypatch.setattr(AsyncSession, name, counted)
        await h.send(UID, "/now")
        await h.send(UID, "when is the quiz?")
        assert calls == []
        await h.send(UID + 5, "/start")  # a newcomer: a statement, a write (the first step): committed
        assert calls == ["commit"]
        async with h.app.sessions() as s:
            assert untouched(s)
            await s.execute(text("SELECT 1"))
            assert not untouched(s)
    finally:
        await h.close()
