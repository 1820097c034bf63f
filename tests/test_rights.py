"""Rights, generated from the handlers themselves (issue 16 item 4): every handler registered with
`flags=ORGANISER_ONLY` (handlers/ui.py) is reached by a person who is not an organiser, through the command,
the button (`CallbackData` factory) or the conversation state its filters name, and gives the one neutral
line; nothing else is said and nothing is stored. A new organiser handler is in this list by being flagged,
and every command of the organisers' menu (bot.app.ORGANISER_COMMANDS) and every button factory of the
organiser routers must be flagged, so none can be forgotten."""

from __future__ import annotations

import typing
from typing import Any

import pytest
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData, CallbackQueryFilter
from aiogram.fsm.state import State

from bot.app import ORGANISER_COMMANDS, build_routers
from handlers.ui import ORGANISER_ONLY
from tests.harness import Harness, register

PERSON = 4242  # registered, not an organiser
COMMAND_LINE = "This command is for the organisers."
BUTTON_LINE = "This button is for the organisers."
# Routers whose every button is the organisers' (the quiz's and matchmaking's are everyone's, with an
# organiser factory of their own: MmOrg).
ORGANISER_FACTORIES = ("BcCb", "BcCancel", "ExcomCb", "OrgCb", "MmOrg")


def _flagged() -> list[tuple[str, str, Any]]:
    """(router, event kind, handler object) of every handler flagged organiser-only, in dispatch order."""
    found = []
    for router in build_routers():
        for kind in ("message", "callback_query"):
            for handler in router.observers[kind].handlers:
                if handler.flags.get("organiser_only") == ORGANISER_ONLY["organiser_only"]:
                    found.append((router.name, kind, handler))
    return found


def _factory_sample(factory: type[CallbackData]) -> CallbackData:
    """An instance of the factory with a plausible value in every field."""
    values: dict[str, Any] = {}
    hints = typing.get_type_hints(factory)
    for name, field in factory.model_fields.items():
        if not field.is_required():
            continue
        kind = hints.get(name)
        values[name] = 1 if kind is int or kind == int | None else "x"
    return factory(**values)


def _ways_in(kind: str, handler: Any) -> list[tuple[str, Any]]:
    """How a person reaches `handler`: ("command", "/x"), ("button", data) or ("state", state name)."""
    ways: list[tuple[str, Any]] = []
    for f in handler.filters or []:
        cb = f.callback
        if isinstance(cb, Command):
            ways += [("command", f"/{c}") for c in cb.commands if isinstance(c, str)]
        elif isinstance(cb, CallbackQueryFilter):
            ways.append(("button", _factory_sample(cb.callback_data).pack()))
        elif isinstance(cb, StateFilter):
            ways += [("state", s.state if isinstance(s, State) else s) for s in cb.states if s not in (None, "*")]
    return ways


FLAGGED = _flagged()


def test_every_organiser_command_and_button_factory_is_flagged() -> None:
    commands = {w for _r, kind, h in FLAGGED for how, w in _ways_in(kind, h) if how == "command"}
    assert {f"/{c}" for c, _ in ORGANISER_COMMANDS} <= commands
    factories = set()
    for router in build_routers():
        for handler in router.observers["callback_query"].handlers:
            for f in handler.filters or []:
                if isinstance(f.callback, CallbackQueryFilter) and \
                        f.callback.callback_data.__name__ in ORGANISER_FACTORIES:
                    factories.add(f.callback.callback_data.__name__)
                    assert handler.flags.get("organiser_only"), (router.name, handler.callback.__name__)
    assert factories == set(ORGANISER_FACTORIES)


CASES = [(f"{r}.{h.callback.__name__}:{how}:{way}", kind, how, way)
         for r, kind, h in FLAGGED for how, way in _ways_in(kind, h)]


@pytest.mark.parametrize(("name", "kind", "how", "way"), CASES, ids=[c[0] for c in CASES])
async def test_a_non_organiser_gets_the_neutral_line_and_nothing_changes(h: Harness, name: str, kind: str,
                                                                          how: str, way: Any) -> None:
    await register(h, PERSON)
    key = h.state_key(PERSON)
    if how == "state":
        await h.app.dp.storage.set_state(key, way)
        await h.app.dp.storage.set_data(key, {"draft": "kept"})
    before = (await h.app.dp.storage.get_state(key), await h.app.dp.storage.get_data(key))
    if kind == "callback_query":
        sent = await h.press_data(PERSON, way)
        assert [(r.method, r.params.get("text")) for r in sent] == [("answerCallbackQuery", BUTTON_LINE)]
    else:
        sent = await h.send(PERSON, way if how == "command" else "some text")
        assert [(r.method, r.text) for r in sent] == [("sendMessage", COMMAND_LINE)], name
    assert (await h.app.dp.storage.get_state(key), await h.app.dp.storage.get_data(key)) == before
    assert not [r for r in h.session.sent() if r.chat_id != PERSON]  # nobody else was told anything
