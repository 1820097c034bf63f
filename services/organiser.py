"""What organiser tools read from other features, plugged in at wiring time, and the audit log.

Features built separately (the quiz, matchmaking) give the organiser tools an audience for broadcasts, a
figure for /stats and a file for /export by registering a function in `Sources` (bot/app.py
`organiser_sources`). A button or a line appears only for what is registered, so the tools work without them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from domain.i18n_marks import N_

if TYPE_CHECKING:
    from domain.event import Event
    from services.ports import UnitOfWork

AudienceFn = Callable[["UnitOfWork"], Awaitable[set[int]]]
CounterFn = Callable[["UnitOfWork"], Awaitable[int]]
ExportFn = Callable[["UnitOfWork", "Event"], Awaitable[tuple[str, bytes]]]

# Labels of the sources the other features are expected to register (msgids, translated where shown).
QUIZ_PARTICIPANTS = N_("Quiz participants")
MATCHMAKING_PARTICIPANTS = N_("Matchmaking participants")
MEETINGS_BOOKED = N_("Meetings booked")
QUIZ_RESULTS = N_("Quiz results")
MEETINGS = N_("Meetings")


@dataclass(frozen=True)
class Source:
    label: str  # a msgid
    fn: Any


@dataclass
class Sources:
    """Audiences (name -> who), stat counters (name -> a number) and exports (name -> a file) that features
    provide. `broadcast_started` is set at wiring: it plans a new broadcast's progress and wakes the sender."""

    audiences: dict[str, Source] = field(default_factory=dict)
    counters: dict[str, Source] = field(default_factory=dict)
    exports: dict[str, Source] = field(default_factory=dict)
    broadcast_started: Callable[[int], None] | None = None

    def add_audience(self, name: str, label: str, fn: AudienceFn) -> None:
        self.audiences[name] = Source(label, fn)

    def add_counter(self, name: str, label: str, fn: CounterFn) -> None:
        self.counters[name] = Source(label, fn)

    def add_export(self, name: str, label: str, fn: ExportFn) -> None:
        self.exports[name] = Source(label, fn)

    def started(self, broadcast_id: int) -> None:
        if self.broadcast_started is not None:
            self.broadcast_started(broadcast_id)


# -- the audit log -------------------------------------------------------------------------------------------

# Actions (stable names, stored).
BROADCAST, BROADCAST_CANCEL, EXPORT, ADMIT, EXCOM_DECISION, PROFILE_FIX, RETENTION = (
    "broadcast", "broadcast_cancel", "export", "admit", "excom_decision", "profile_fix", "retention")


async def audit(uow: UnitOfWork, actor: int, action: str, detail: str, now: datetime) -> None:
    """Record an organiser's action (not committed: it commits with the action itself).

    Other features call it for their organiser actions (opening the quiz, publishing the schedule)."""
    await uow.audit.add(now, actor, action, detail)


async def latest_actions(uow: UnitOfWork, limit: int = 20) -> list[Any]:
    return await uow.audit.latest(limit)
