"""Benchmark: a 10,000-person broadcast while 40 people chat with the bot and a reminder falls due.

    python -m bench.delivery                 # 10,000 recipients (about six and a half minutes)
    python -m bench.delivery --quick         # 1,000 recipients (under a minute)
    python -m bench.delivery --recipients 5000 --chatters 40 --send-rate 28 --think 40 --seed 1

The bot runs as in production, in this process: the real Dispatcher long-polls the fake Bot API
(testkit/fake_botapi.py) over HTTP, its delivery engine sends the outbox, and every call that puts a message
into a chat passes the one rate limiter (`bot.app.make_bot`). The fake enforces Telegram's limits: 30
messages a second overall (a rolling second) and one a second per chat; beyond them it answers 429.

- The broadcast: `--recipients` rows of BULK priority queued at the start.
- The people chatting: `--chatters` people each send /now, wait for the answer, think (a second plus an
  exponential pause of `--think` seconds on average: 40 people write about once a second together) and
  send again, for as long as the broadcast runs. Their answers are direct replies: REPLY priority.
- The reminder: one registered delegate follows a session whose 10-minute reminder falls due
  `--reminder-after` seconds into the broadcast; the engine's scheduler fans it out then (TIMELY priority).

SEND_RATE (`--send-rate`, default 28) is the limiter's rate for everything the bot sends. The bucket holds
at most two tokens, so in any rolling second the bot sends at most SEND_RATE + 2: 28 keeps that within the
fake's 30 even when a burst follows a quiet moment, so the bot never meets a 429 of its own making (a 429
costs a whole second of silence: retry_after is at least 1). Replies take their share of the same 28.

It prints: the broadcast's rate as a fraction of the fake's limit (target >= 0.9), all messages' rate as a
fraction of it, replies delivered (target: all), their delay from the message to the answer at the fake
(p50, p99 target < 2 s, max), lost and duplicated broadcast messages (target 0 and 0), the reminder's delay
after its due time (target < 5 s), and the 429s the fake answered.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from bot.app import build_app, make_bot
from bot.config import Settings
from delivery.limiter import limiter_of
from domain.clock import Clock
from domain.messages import FINAL, NewMessage, Priority, Rendered
from storage.models import Delegate, Follow, OutboxMessage
from testkit.fake_botapi import FakeBotAPI, Record

# The reminder: (Re)connection in the New Reality starts at 13:00 GMT+3; its 10-minute fan-out is at 12:50.
ITEM, LEAD = "reconnection", 10
FAN_OUT_AT = datetime.fromisoformat("2020-11-17T12:50:00+03:00")
FIRST_RECIPIENT = 20_000_001
FIRST_CHATTER = 30_000_001
REMINDED = 40_000_001
KIND, TOPIC = "bench_broadcast", "broadcast:bench"


@dataclass
class Result:
    recipients: int
    chatters: int
    limit: float
    send_rate: float
    bulk_delivered: int = 0
    bulk_span: float = 0.0
    bulk_rate: float = 0.0
    all_rate: float = 0.0
    lost: int = 0
    duplicates: int = 0
    asked: int = 0
    answered: int = 0
    reply_delays: list[float] = field(default_factory=list)
    reminder_delay: float | None = None
    too_many_requests: int = 0
    replies_retried: int = 0
    not_sent: dict[str, int] = field(default_factory=dict)

    @property
    def bulk_fraction(self) -> float:
        return self.bulk_rate / self.limit

    @property
    def all_fraction(self) -> float:
        return self.all_rate / self.limit

    def percentile(self, q: float) -> float:
        if not self.reply_delays:
            return 0.0
        if len(self.reply_delays) == 1:
            return self.reply_delays[0]
        return statistics.quantiles(self.reply_delays, n=100, method="inclusive")[int(q) - 1]

    @property
    def ok(self) -> bool:
        return (self.bulk_fraction >= 0.9 and self.answered == self.asked and self.percentile(99) < 2.0
                and self.lost == 0 and self.duplicates == 0 and self.reminder_delay is not None
                and self.reminder_delay < 5.0)


def _settings(tmp: Path, api_url: str, rate: float) -> Settings:
    return Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp / 'bench.db'}",
                    bot_token="42:BENCH", telegram_api_url=api_url, redis_url=None, admin_ids="",
                    clock_start=None, clock_speed=1, send_rate=rate, log_level="WARNING")


def _person(uid: int, now: datetime) -> dict[str, Any]:
    return {"user_id": uid, "language": "en", "full_name": "Bench Delegate", "position": "Officer",
            "organisation": "City Hall", "city": "Seoul", "country": "Korea", "participant_type": "wego_member",
            "email": "bench@example.org", "timezone": "Asia/Seoul", "matchmaking": None, "consent_at": now,
            "registered_at": now, "updated_at": now, "reminder_lead": LEAD, "reminders_on": True,
            "follow_all": False}


async def _render_broadcast(ctx: Any, row: Any, who: Any) -> Rendered:
    return Rendered(f"📣 {row.payload['text']}")


async def run_case(recipients: int, *, chatters: int = 40, send_rate: float = 28.0, limit: float = 30.0,
                   think: float = 40.0, reminder_after: float = 20.0, seed: int = 1, timeout: float | None = None,
                   quiet: bool = False) -> Result:
    say = (lambda *_: None) if quiet else (lambda *a: print(*a, flush=True))
    rng = random.Random(seed)
    result = Result(recipients, chatters, limit, send_rate)
    bulk_ids = set(range(FIRST_RECIPIENT, FIRST_RECIPIENT + recipients))
    chatter_ids = list(range(FIRST_CHATTER, FIRST_CHATTER + chatters))
    async with FakeBotAPI(global_rate=limit, per_chat_rate=1, seed=seed) as api:
        with tempfile.TemporaryDirectory(prefix="bench-delivery-") as tmp:
            # The bot's clock: the reminder's fan-out falls due `reminder_after` seconds from now.
            clock = Clock(FAN_OUT_AT - timedelta(seconds=reminder_after), 1.0)
            app = await build_app(_settings(Path(tmp), api.url, send_rate), clock=clock)
            bot = make_bot(app.settings)
            delivery = app.delivery
            delivery.renderers.register(KIND, _render_broadcast)
            replies: dict[int, asyncio.Future[Record]] = {}
            polling: asyncio.Task[None] | None = None
            try:
                now = clock.now()
                async with app.sessions() as s:
                    await s.execute(insert(Delegate), [_person(REMINDED, now)])
                    await s.execute(insert(Follow), [{"user_id": REMINDED, "item_id": ITEM, "created_at": now}])
                    await s.commit()
                created = await delivery.enqueue(
                    NewMessage(f"bench:{uid}", uid, KIND, TOPIC, now, {"text": f"Broadcast to {uid}"},
                               priority=Priority.BULK) for uid in sorted(bulk_ids))
                say(f"  {created:,} broadcast rows queued; {chatters} people chatting; reminder due in "
                    f"{reminder_after:g} s; SEND_RATE={send_rate:g}/s against a limit of {limit:g}/s…")

                def on_record(rec: Record) -> None:
                    if rec.ok and rec.method == "sendMessage" and rec.chat_id in replies:
                        fut = replies[rec.chat_id]
                        if not fut.done():
                            fut.set_result(rec)

                api.on_record(on_record)
                polling = asyncio.create_task(app.dp.start_polling(
                    bot, handle_signals=False, close_bot_session=False, polling_timeout=10,
                    allowed_updates=app.dp.resolve_used_update_types()))
                stop = asyncio.Event()

                async def chat(uid: int) -> None:
                    while not stop.is_set():
                        await asyncio.sleep(1.0 + rng.expovariate(1 / think))  # nobody types faster
                        if stop.is_set():
                            return
                        fut = replies[uid] = asyncio.get_running_loop().create_future()
                        asked = time.monotonic()
                        api.push_text(uid, "/now", language_code="en")
                        result.asked += 1
                        try:
                            rec = await asyncio.wait_for(fut, 30)
                        except TimeoutError:
                            continue
                        result.answered += 1
                        result.reply_delays.append(rec.monotonic - asked)

                talkers = [asyncio.create_task(chat(uid)) for uid in chatter_ids]
                limit_s = timeout if timeout is not None else 120 + 2 * recipients / send_rate
                deadline = time.monotonic() + limit_s
                while time.monotonic() < deadline:
                    async with app.sessions() as s:
                        open_rows = await s.scalar(select(func.count()).select_from(OutboxMessage)
                                                   .where(OutboxMessage.status.not_in(FINAL)))
                    # Done when the outbox is empty, the reminder went out and the people chatting got answers.
                    if not open_rows and api.delivered_per_chat().get(REMINDED) and result.answered >= chatters:
                        break
                    await asyncio.sleep(0.5)
                stop.set()
                await asyncio.gather(*talkers)
                async with app.sessions() as s:
                    statuses = dict((await s.execute(select(OutboxMessage.status, func.count())
                                                     .group_by(OutboxMessage.status))).all())
                result.not_sent = {k: v for k, v in statuses.items() if k != "sent"}
                limiter = limiter_of(bot)
                result.replies_retried = limiter.stats.retried_replies if limiter else 0
            finally:
                if polling is not None:
                    await app.dp.stop_polling()
                    await asyncio.wait_for(polling, 30)
                if (limiter := limiter_of(bot)) is not None:
                    await limiter.close()
                await bot.session.close()
                await app.close()

        delivered = [rec for rec in api.calls if rec.delivered]
        bulk = [rec for rec in delivered if rec.chat_id in bulk_ids]
        reached = {rec.chat_id for rec in bulk}
        result.bulk_delivered = len(bulk)
        result.lost = len(bulk_ids - reached)
        result.duplicates = len(bulk) - len(reached)
        if len(bulk) > 1:
            first, last = bulk[0].monotonic, bulk[-1].monotonic
            result.bulk_span = last - first
            result.bulk_rate = (len(bulk) - 1) / result.bulk_span
            in_span = [rec for rec in delivered if first <= rec.monotonic <= last]
            result.all_rate = (len(in_span) - 1) / result.bulk_span
        reminder = [rec for rec in delivered if rec.chat_id == REMINDED]
        if reminder:
            due = clock.to_real(FAN_OUT_AT).timestamp()
            result.reminder_delay = reminder[0].time - due
        result.too_many_requests = api.stats.too_many_requests
    return result


def report(r: Result) -> str:
    reminder = f"{r.reminder_delay:.2f} s" if r.reminder_delay is not None else "NOT DELIVERED"
    lines = [
        f"recipients {r.recipients:,}, {r.chatters} people chatting, SEND_RATE {r.send_rate:g}/s, "
        f"fake's limit {r.limit:g}/s",
        f"  broadcast: {r.bulk_delivered:,} delivered in {r.bulk_span:.1f} s = {r.bulk_rate:.2f}/s = "
        f"{r.bulk_fraction:.3f} of the limit (target >= 0.9); all messages {r.all_fraction:.3f} of the limit",
        f"  replies: {r.answered}/{r.asked} delivered; delay p50 {r.percentile(50):.3f} s, p99 "
        f"{r.percentile(99):.3f} s (target < 2 s), max {max(r.reply_delays, default=0):.3f} s; "
        f"{r.replies_retried} replies met a 429 and were sent again",
        f"  lost {r.lost}, duplicates {r.duplicates}; reminder sent {reminder} after its due time "
        f"(target < 5 s); 429s answered by the fake: {r.too_many_requests}",
    ]
    if r.not_sent:
        lines.append(f"  outbox rows not sent: {r.not_sent}")
    return "\n".join(lines)


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A broadcast, people chatting and a reminder, through one limiter.")
    parser.add_argument("--quick", action="store_true", help="1,000 recipients")
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--chatters", type=int, default=40)
    parser.add_argument("--send-rate", type=float, default=28.0, help="SEND_RATE, messages a second")
    parser.add_argument("--limit", type=float, default=30.0, help="the fake's overall limit, messages a second")
    parser.add_argument("--think", type=float, default=40.0, help="a chatter's mean pause between messages, s")
    parser.add_argument("--reminder-after", type=float, default=20.0, help="seconds until the reminder is due")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    recipients = 1000 if args.quick else args.recipients
    print(f"delivery engine benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    result = await run_case(recipients, chatters=args.chatters, send_rate=args.send_rate, limit=args.limit,
                            think=args.think, reminder_after=args.reminder_after, seed=args.seed)
    print()
    print(report(result))
    print()
    print("targets (broadcast >= 0.9 of the limit, every reply, p99 < 2 s, lost 0, duplicates 0, reminder < 5 s):",
          "met" if result.ok else "NOT met")
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
