"""The implementations the wiring hands to use cases, checked against services/ports.py by the type checker.

Nothing here runs: `make typecheck` (mypy) fails when a repository or the unit of work no longer has the shape
its Protocol promises (a method renamed, a parameter added, a return type changed), before any test does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiogram.fsm.context import FSMContext

    from bot.app import PersonConversation
    from services import ports
    from storage.uow import SqlUnitOfWork


def unit_of_work(uow: SqlUnitOfWork) -> ports.UnitOfWork:
    return uow


def conversation(state: FSMContext) -> ports.Conversation:
    return state


def console_conversation(state: PersonConversation) -> ports.Conversation:
    return state
