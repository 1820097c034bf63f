"""The organisers' audit log: who did what, when. One function every feature calls for its organiser actions
(broadcasts, exports, /admit, EXCOM decisions, opening the quiz, publishing the schedule); `/audit` shows it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.ports import UnitOfWork

# Actions (stable names, stored). Other features may use names of their own ("quiz_open", "schedule_publish").
BROADCAST, BROADCAST_CANCEL, EXPORT, ADMIT, EXCOM_DECISION, PROFILE_FIX, RETENTION = (
    "broadcast", "broadcast_cancel", "export", "admit", "excom_decision", "profile_fix", "retention")


async def audit(uow: UnitOfWork, actor: int, action: str, detail: str, now: datetime) -> None:
    """Record an organiser's action in the caller's transaction (it commits with the action itself)."""
    await uow.audit.add(now, actor, action, detail)
