"""A 90-second outage of the Bot API in the middle of a fan-out, then 429s and 5xx: delivered once, unattended.

`python -m bot` runs as a process (SQLite) against the fake Bot API (Telegram's limits) on the rehearsal
clock (CLOCK_SPEED=10, from 10:29:30 on the event day). At 10:30 the Matchmaking Meetings reminders (lead 10)
go out to 60 people; after 20 the server refuses every connection for 90 s (real), then listens again and
answers the first calls with 429s (sendMessage) and 502s (getUpdates, and the first try for each of the 30
people whose Open Session reminder, lead 10, falls due at 10:50, just after the outage). Nobody touches the
bot: every reminder arrives exactly once (the sender retries with backoff capped at a minute while the
message is worth sending), polling resumes by itself (a /start sent after the outage is answered), and
every outbox row ends `sent`.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path

import pytest

from domain.messages import SENT
from testkit.fake_botapi import FakeBotAPI
from testkit.fanout import outbox_counts, seed_followers, start_bot

pytestmark = pytest.mark.e2e
EARLY = range(510_001, 510_061)  # matchmaking 10:40, lead 10: due 10:30
LATE = range(610_001, 610_031)  # open session 11:00, lead 10: due 10:50, right after the outage
STRANGER = 910_001
OUTAGE = 90.0


def _reminders(api: FakeBotAPI, chats: range) -> Counter[int]:
    return Counter(r.chat_id for r in api.sent() if r.chat_id in chats and r.delivered)


async def test_an_outage_then_429s_and_5xx_deliver_everything_once(tmp_path: Path) -> None:
    await seed_followers(tmp_path, {"matchmaking": EARLY, "open-session": LATE})
    async with FakeBotAPI(global_rate=30, per_chat_rate=1) as api:
        proc = await start_bot(tmp_path, api, "bot.log", clock_start="2020-11-17T10:29:30+03:00", clock_speed=10)
        try:
            await api.wait_until(lambda: sum(_reminders(api, EARLY).values()) >= 20, timeout=60)
            await api.refuse_connections()
            before = sum(_reminders(api, EARLY).values())
            assert before < len(EARLY), "the outage came after the fan-out"
            await asyncio.sleep(OUTAGE)
            assert proc.returncode is None, "the bot gave up during the outage"
            await api.accept_connections()
            api.fail_next("sendMessage", status=429, retry_after=1, times=10)
            api.fail_next("getUpdates", status=502, times=3)
            for uid in LATE:
                api.fail_next("sendMessage", chat_id=uid, status=502 if uid % 2 else 500)
            # Polling resumes by itself: someone new writes after the outage and is answered.
            since = api.mark()
            api.push_command(STRANGER, "start")
            await api.wait_for(method="sendMessage", chat_id=STRANGER, since=since, timeout=30)
            await api.wait_until(lambda: set(_reminders(api, EARLY)) == set(EARLY)
                                 and set(_reminders(api, LATE)) == set(LATE), timeout=60)
            await asyncio.sleep(1)  # a duplicate would show up now
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 30)
    log = (tmp_path / "bot.log").read_text(errors="replace")
    assert proc.returncode == 0, log
    assert "Traceback" not in log, log
    # Exactly once, and the outage and the errors were met (not skipped by a lucky timing).
    assert set(_reminders(api, EARLY).values()) == {1}
    assert set(_reminders(api, LATE).values()) == {1}
    assert all("Matchmaking" in (r.text or "") for r in api.sent() if r.chat_id in EARLY and r.delivered)
    assert api.stats.too_many_requests >= 10 and api.stats.server_errors >= len(LATE)
    statuses: Counter[str] = Counter()
    for (_topic, status), n in (await outbox_counts(tmp_path)).items():
        statuses[status] += n
    assert statuses == Counter({SENT: len(EARLY) + len(LATE)}), statuses
