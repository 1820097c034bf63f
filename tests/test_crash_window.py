"""The crash window of the outbox: what a kill -9 may double, and what it may not.

A claimed row is either "claimed, not started" (nothing was asked of Telegram: sent again at once after a
restart, never a duplicate) or "request started, outcome unknown" (`Outbox.start_attempt`: not sent again
until its first attempt can no longer land). The process-level measurement is tests/test_kills.py.
"""

from __future__ import annotations

from datetime import timedelta

from aiogram.exceptions import TelegramNetworkError, TelegramServerError
from aiogram.methods import SendMessage

from delivery.sender import classify
from domain.messages import PENDING, SENDING
from storage.outbox import Outbox
from tests.harness import Harness
from tests.test_sender import _add, _note, _rows

LEASE = timedelta(seconds=120)


def test_only_an_outcome_that_may_still_land_waits() -> None:
    method = SendMessage(chat_id=1, text="x")
    # The request reached the server, or may have: it may still land.
    assert classify(TelegramNetworkError(method, "Request timeout error")).unknown
    assert classify(TelegramNetworkError(method, "ServerDisconnectedError: Server disconnected")).unknown
    # No connection was made, or Telegram answered: certainly not delivered, retried with the usual backoff.
    refused = "ClientConnectorError: Cannot connect to host 127.0.0.1:8081 ssl:default [Connect call failed]"
    assert not classify(TelegramNetworkError(method, refused)).unknown
    assert not classify(ConnectionRefusedError()).unknown
    assert not classify(TelegramServerError(method, "Bad Gateway")).unknown


async def test_a_restart_sends_unstarted_rows_at_once_and_started_ones_only_after_the_wait(harness: Harness) -> None:
    h = harness
    await _add(h, *(_note(f"k{i}", 100 + i) for i in range(5)))
    now, wall = h.clock.now(), h.clock.wall_now()
    async with h.app.sessions() as s:
        claimed = await Outbox(s).claim(now, wall, LEASE, 5)
        # Two requests started (then the process is killed); three rows were claimed but never started.
        for row in claimed[:2]:
            assert await Outbox(s).start_attempt(row, now, now + timedelta(seconds=20), 1)
        await s.commit()
    assert {r.status for r in await _rows(h)} == {SENDING}

    # The restart (SQLite: the one sender gives every claim back).
    async with h.app.sessions() as s:
        assert await Outbox(s).release_all_claims(now) == (3, 2)
        await s.commit()
        again = await Outbox(s).claim(now, wall, LEASE, 5)
        await s.commit()
    # Only the rows never started go out at once; the started ones are not doubled while they may land.
    assert sorted(r.key for r in again) == sorted(r.key for r in claimed[2:])
    started = {r.key: r for r in await _rows(h) if r.key in {c.key for c in claimed[:2]}}
    assert all(r.status == PENDING and r.attempts == 1 for r in started.values())
    async with h.app.sessions() as s:
        assert await Outbox(s).claim(now + timedelta(seconds=19), wall, LEASE, 5) == []
        later = await Outbox(s).claim(now + timedelta(seconds=20), wall, LEASE, 5)
    assert sorted(r.key for r in later) == sorted(started)


async def test_an_expired_lease_does_not_resend_a_request_that_may_still_land(harness: Harness) -> None:
    """PostgreSQL's path (another process claims a dead sender's rows when the lease runs out): a started row
    waits for its own instant too, even if the lease ran out first."""
    h = harness
    await _add(h, _note("a", 1), _note("b", 2))
    now, wall = h.clock.now(), h.clock.wall_now()
    short = timedelta(seconds=1)
    async with h.app.sessions() as s:
        a, b = await Outbox(s).claim(now, wall, short, 2)
        await Outbox(s).start_attempt(a, now, now + timedelta(minutes=5), 1)
        await s.commit()
    async with h.app.sessions() as s:
        after_lease = await Outbox(s).claim(now, wall + timedelta(seconds=2), LEASE, 2)
        await s.commit()
    assert [r.key for r in after_lease] == [b.key]
    async with h.app.sessions() as s:
        late = await Outbox(s).claim(now + timedelta(minutes=5), wall + timedelta(seconds=3), LEASE, 2)
    assert [r.key for r in late] == [a.key]
