"""How a row of the outbox becomes a message when it is sent: the renderer of each kind and what it sees.

Plain types (no SQLAlchemy at run time): use cases define renderers against them; the engine (delivery/engine.py)
and the sender call them. The SQL repository of the outbox is storage/outbox.py; the rows and message types are
domain/messages.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from domain.messages import Drop, OutboxRow, Payload, Recipient, Sent

if TYPE_CHECKING:
    from aiogram.utils.i18n import I18n
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from domain.event import Event


# -- rendering ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RenderContext:
    event: Event
    i18n: I18n
    now: datetime
    sessions: async_sessionmaker[AsyncSession]
    # Units of work for renderers that read more (`async with ctx.uows() as uow`); services.ports.UnitOfWork.
    uows: Any = None


Renderer = Callable[[RenderContext, OutboxRow, Recipient | None], Awaitable[Payload | Drop]]
# Called once a row of its kind was sent (e.g. to remember a quiz poll's id: poll answers name only that).
AfterSent = Callable[[RenderContext, OutboxRow, Sent], Awaitable[None]]


class Renderers:
    """The renderer of each message kind; features register theirs at wiring time (bot/app.py)."""

    def __init__(self) -> None:
        self._by_kind: dict[str, Renderer] = {}
        self._after: dict[str, AfterSent] = {}

    def register(self, kind: str, renderer: Renderer, *, after_sent: AfterSent | None = None) -> None:
        if kind in self._by_kind:
            raise ValueError(f"a renderer for {kind!r} is already registered")
        self._by_kind[kind] = renderer
        if after_sent is not None:
            self._after[kind] = after_sent

    def after_sent(self, kind: str) -> AfterSent | None:
        return self._after.get(kind)

    def get(self, kind: str) -> Renderer | None:
        return self._by_kind.get(kind)

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(self._by_kind)


