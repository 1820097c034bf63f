"""Routing a message past the routers that cannot take it, with one check per router instead of one per handler.

aiogram tries a message against every handler of every router in order until one accepts it: a free question
from a person outside any conversation step went through about 60 handler filter checks (Command parsing
the text again each time), and `/now` through about 35, before reaching its handler (issue 18: routing was
the largest piece of a known person's update). Most routers only take given commands or messages in given
conversation states, so `gate_routers` gives each such router one root filter, computed from its handlers'
own filters: "the message is one of these commands, or the person is in one of these states". The gate is
a necessary condition of every handler of the router (it may let through a message a handler then refuses,
never the reverse), so which handler answers is exactly what it was.

A gate still costs aiogram's walk a visit to its router (the router's outer-middleware wrapping, its root
filters through the handler machinery): a free question visited 15 routers, `/now` 11. The `Switchboard`
(the first router of private chats) reads the gates itself and hands a message to the routers whose gates
let it through, in their order, through aiogram's public `Router.propagate_event`. Gates also apply the magic
filters of handlers that take no command and no state (`F.text, ~F.text.startswith("/")` for the menu's
labels, `F.document` for an EXCOM list): a free question visits menu and questions, `/now` program only.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from re import Pattern
from typing import Any

from aiogram import Dispatcher, Router
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.filters import Command, Filter, StateFilter
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message
from magic_filter import MagicFilter

ANY = None  # a handler's condition that nothing narrows (the router is not gated)


@dataclass(frozen=True)
class _Commands:
    prefixes: frozenset[str]
    names: frozenset[str]  # casefolded


@dataclass(frozen=True)
class _States:
    names: frozenset[str | None]


@dataclass(frozen=True)
class _Magic:
    filters: tuple[MagicFilter, ...]  # all of them hold for every message the handler takes


def _command_condition(f: Command) -> _Commands | None:
    names: set[str] = set()
    for allowed in f.commands:
        if isinstance(allowed, Pattern) or not isinstance(allowed, str):
            return ANY  # a pattern: any command name may match
        names.add(allowed.casefold())
    prefixes = f.prefix if isinstance(f.prefix, str) else "".join(f.prefix)
    return _Commands(frozenset(prefixes), frozenset(names))


def _state_condition(f: StateFilter) -> _States | None:
    names: set[str | None] = set()
    for allowed in f.states:
        if isinstance(allowed, str) or allowed is None:
            if allowed == "*":
                return ANY
            names.add(allowed)
        elif isinstance(allowed, State):
            if allowed.state == "*":
                return ANY
            names.add(allowed.state)
        elif isinstance(allowed, StatesGroup):
            names.update(type(allowed).__all_states_names__)
        elif inspect.isclass(allowed) and issubclass(allowed, StatesGroup):
            names.update(allowed.__all_states_names__)
        else:
            return ANY
    return _States(frozenset(names))


def _condition(handler: HandlerObject) -> _Commands | _States | _Magic | None:
    """A condition every message this handler accepts meets: its Command filter's, else its StateFilter's,
    else all of its magic filters (`F.text`, `F.document`, ...) at once."""
    found: _Commands | _States | None = ANY
    magic: list[MagicFilter] = []
    for f in handler.filters or ():
        callback = f.callback
        if isinstance(callback, Command):
            condition = _command_condition(callback)
            if condition is not ANY:
                return condition
        elif isinstance(callback, StateFilter) and found is ANY:
            found = _state_condition(callback)
        elif f.magic is not None:  # aiogram keeps the filter itself in FilterObject.magic
            magic.append(f.magic)
    if found is ANY and magic:
        return _Magic(tuple(magic))
    return found


class RouterGate(Filter):
    """Root filter of a router's message observer: the message is one of `commands` (prefix, name before
    any @mention, casefolded), or the person's state is one of `states`, or it meets every magic filter of
    one of `magic` (a handler's: "text, not a command", "a document")."""

    def __init__(self, prefixes: Iterable[str], commands: Iterable[str], states: Iterable[str | None],
                 magic: Iterable[tuple[MagicFilter, ...]] = ()) -> None:
        self.prefixes = frozenset(prefixes)
        self.commands = frozenset(commands)
        self.states = frozenset(states)
        self.magic = tuple(magic)

    async def __call__(self, event: Message, **data: Any) -> bool:
        return self.admits(event, data.get("raw_state"))

    def admits(self, event: Message, raw_state: str | None) -> bool:
        # As aiogram's StateFilter reads it: no raw_state means no state.
        if self.states and raw_state in self.states:
            return True
        if self.commands and self._command(event):
            return True
        return any(self._meets(event, filters) for filters in self.magic)

    def _command(self, event: Message) -> bool:
        text = event.text or event.caption
        if not text or text[0] not in self.prefixes:
            return False
        # As aiogram's Command.extract_command splits it: "/now@bot args" -> "now".
        word = text.split(maxsplit=1)[0]
        return word[1:].partition("@")[0].casefold() in self.commands

    @staticmethod
    def _meets(event: Message, filters: tuple[MagicFilter, ...]) -> bool:
        """As aiogram's FilterObject checks a magic filter (`resolve(event)`, truthy passes); one that fails to
        resolve lets the message through (the handler's own check decides, as it would have)."""
        try:
            return all(f.resolve(event) for f in filters)
        except Exception:
            return True


def gate_for(handlers: Iterable[HandlerObject]) -> RouterGate | None:
    """The gate of a message observer with `handlers`, or None when one of them takes messages no gate
    describes (any message, a filter that is neither a command, a state nor a magic filter: a menu label
    alone) or there are no handlers."""
    prefixes: set[str] = set()
    commands: set[str] = set()
    states: set[str | None] = set()
    magic: list[tuple[MagicFilter, ...]] = []
    seen = False
    for handler in handlers:
        condition = _condition(handler)
        if condition is ANY:
            return None
        seen = True
        if isinstance(condition, _Commands):
            prefixes |= condition.prefixes
            commands |= condition.names
        elif isinstance(condition, _Magic):
            magic.append(condition.filters)
        else:
            states |= condition.names
    return RouterGate(prefixes, commands, states, magic) if seen else None


def gate_routers(dp: Dispatcher) -> dict[Router, RouterGate]:
    """Give every router whose message handlers all need a command or a state its gate; the routers gated.
    A router with routers inside is left alone (its root filter would hold back theirs too)."""
    gated: dict[Router, RouterGate] = {}
    for router in dp.chain_tail:
        if router is dp or router.sub_routers:
            continue
        gate = gate_for(router.message.handlers)
        if gate is not None:
            router.message.filter(gate)
            gated[router] = gate
    return gated


class Switchboard:
    """The message handler of the first router of private chats: the message goes to the routers after it
    whose gates let it through (and to those no gate describes), in the Dispatcher's order, each by
    `Router.propagate_event`, until one handles it. A router whose gate refuses it would have refused it
    as its root filter, so the handler reached is the one aiogram's walk reaches (tests/test_routing.py
    compares them). Nothing handled (cannot happen in a private chat: the fallback router takes every
    message): aiogram's walk goes on past this router as it would without it."""

    def __init__(self) -> None:
        self.routes: list[tuple[Router, RouterGate | None]] = []

    def route(self, routers: Iterable[Router], gates: dict[Router, RouterGate]) -> None:
        """The routers to hand messages to, in order, and the gates `gate_routers` gave them."""
        self.routes = [(router, gates.get(router)) for router in routers]

    async def dispatch(self, message: Message, **data: Any) -> Any:
        """The switchboard router's one message handler (a coroutine function: aiogram would run a callable
        object's __call__ in a worker thread)."""
        raw_state = data.get("raw_state")
        # What aiogram's walk hands a router: the Dispatcher's data, without this handler's own entries.
        data.pop("handler", None)
        data.pop("event_router", None)
        for router, gate in self.routes:
            if gate is not None and not gate.admits(message, raw_state):
                continue
            response = await router.propagate_event("message", message, **data)
            if response is not UNHANDLED:
                return response
        return UNHANDLED


def switchboard_router() -> tuple[Router, Switchboard]:
    """The router to include first (before the group router: it sees private chats only) and its
    switchboard, to be given the routers after it (`Switchboard.route`) once they are gated."""
    from handlers.groups import private_only

    board = Switchboard()
    router = private_only(Router(name="switchboard"))
    router.message.register(board.dispatch)
    return router, board

