"""The one backoff: how long to wait before trying again after a transient failure.

Every retry loop uses it (issue 16 item 5): the sender (`delivery.sender`), start-up calls to the Bot API
(`bot.reach`) and long polling (`bot.polling`). Each picks its numbers from the named policies below; the
computation is this one. Delays are deterministic (no jitter): one sender process per outbox row and one poller
per bot, so there is no crowd of clients to spread out, and the tests can count on the delays.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["POLLING", "SENDER", "START", "Backoff"]


@dataclass(frozen=True)
class Backoff:
    """Delays `base`, `base*factor`, `base*factor**2`, ... up to `cap`, then `cap` every time (never a last try).
    """

    base: float = 2.0
    factor: float = 2.0
    cap: float = 60.0

    def delay(self, attempts: int) -> float:
        """Seconds to wait after `attempts` failed tries in a row (1 = the first failure)."""
        return min(self.cap, self.base * self.factor ** min(30, max(0, attempts - 1)))


# A message the Bot API did not take (timeout, 5xx): 2, 4, 8, 16, 32 s, then a minute, while worth sending.
SENDER = Backoff(base=2.0, factor=2.0, cap=60.0)
# Start-up calls (getMe, deleteWebhook, setMyCommands, setWebhook) while the Bot API is away: 1, 2, 4 ... 60 s.
START = Backoff(base=1.0, factor=2.0, cap=60.0)
# getUpdates or storing a batch failed: soon again (a poll that waits long delays every person's reply).
POLLING = Backoff(base=1.0, factor=1.3, cap=5.0)
