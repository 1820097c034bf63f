"""Benchmark: one reminder fanned out to 1,000 and 10,000 delegates through a local fake Bot API.

    python -m bench.reminders            # 1,000 then 10,000 delegates (about 8 minutes: 11,000 messages at 25/s)
    python -m bench.reminders --quick    # 1,000 only (under a minute)
    python -m bench.reminders --sizes 200,2000 --rate 25 --random-429 0.001 --seed 7

The fake Bot API (testkit/fake_botapi.py) enforces Telegram's limits, 30 messages a second overall and one a
second per chat, answering 429 with retry_after beyond them, and also answers a random share of sends with
429 retry_after=1. The bot's sender paces itself at SEND_RATE (default 25/s).

For each size it prints:
- schedule: the time to build every scheduler job for the program (reminder fan-outs, day-before notes) with
  that many people registered. It must not grow with the number of people: jobs are per start instant and lead time.
- fan-out: the time to create the rows of one reminder for everyone.
- achieved rate over the configured rate (target >= 0.95): deliveries between the first and the last one,
  as the fake Bot API saw them, 429 pauses included.
- lost (target 0): recipients who got nothing; duplicates (target 0): the same message delivered twice.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiogram import Bot
from sqlalchemy import func, insert, select

from bot.app import build_app, make_bot
from bot.config import Settings
from delivery.engine import Delivery
from domain.clock import Clock, FrozenClock
from domain.messages import FINAL, SENT
from services import reminder_jobs
from storage.models import Delegate, OutboxMessage
from testkit.fake_botapi import FakeBotAPI
from testkit.people import offline_settings

# The reminder measured: (Re)connection in the New Reality, 13:00 GMT+3, ten minutes ahead.
ITEM, LEAD = "reconnection", 10
FAN_OUT_AT = datetime.fromisoformat("2020-11-17T12:50:00+03:00")
# Scheduling is measured on the rehearsal's first day, when every job lies ahead.
PLAN_AT = datetime.fromisoformat("2020-11-01T10:00:00+03:00")
ZONES = ("Asia/Seoul", "Europe/Moscow", "America/Mexico_City", "Africa/Nairobi", "Asia/Jakarta", "Europe/Istanbul",
         "Asia/Ulaanbaatar", "America/New_York", "Asia/Kolkata", "UTC+05:45")
LANGS = ("en", "ru", "ko")
FIRST_UID = 10_000_001


@dataclass
class Result:
    delegates: int
    schedule_s: float
    jobs: int
    fan_out_s: float
    rows: int
    delivered: int
    send_s: float
    rate: float
    configured: float
    lost: int
    duplicates: int
    too_many_requests: int
    not_sent: dict[str, int]

    @property
    def ratio(self) -> float:
        return self.rate / self.configured if self.configured else 0.0


def _settings(tmp: Path, api_url: str, rate: float) -> Settings:
    return offline_settings(f"sqlite+aiosqlite:///{tmp / 'bench.db'}", bot_token="42:BENCH",
                            telegram_api_url=api_url, send_rate=rate)


def _delegates(n: int, now: datetime) -> list[dict[str, Any]]:
    return [{"user_id": FIRST_UID + i, "language": LANGS[i % len(LANGS)], "full_name": f"Delegate {i}",
             "position": "Officer", "organisation": "City Hall", "city": "City", "country": "Country",
             "participant_type": "wego_member", "email": f"d{i}@example.org", "timezone": ZONES[i % len(ZONES)],
             "matchmaking": None, "consent_at": now, "registered_at": now, "updated_at": now,
             "reminder_lead": LEAD, "reminders_on": True, "follow_all": True} for i in range(n)]


async def run_case(n: int, *, rate: float = 25.0, random_429: float = 0.001, seed: int = 1,
                   telegram_limit: float = 30.0, timeout: float | None = None, quiet: bool = False) -> Result:
    """Register `n` delegates, time the plan, fan one reminder out to all and send it through the fake API."""
    say = (lambda *_: None) if quiet else (lambda *a: print(*a, flush=True))
    async with FakeBotAPI(global_rate=telegram_limit, per_chat_rate=1, random_429_ratio=random_429,
                          seed=seed) as api:
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            clock = Clock(FAN_OUT_AT, 1.0)
            app = await build_app(_settings(Path(tmp), api.url, rate), clock=clock)
            bot: Bot = make_bot(app.settings)
            try:
                async with app.sessions() as s:
                    rows = _delegates(n, clock.now())
                    for i in range(0, n, 1000):
                        await s.execute(insert(Delegate), rows[i:i + 1000])
                    await s.commit()

                planner = Delivery(settings=app.settings, event=app.event, clock=FrozenClock(PLAN_AT),
                                   engine=app.engine, sessions=app.sessions, i18n=app.i18n)
                reminder_jobs.register(planner)
                t0 = time.perf_counter()
                await planner.plan()
                schedule_s = time.perf_counter() - t0
                jobs = len(planner.scheduler.planned)

                delivery = app.delivery
                t0 = time.perf_counter()
                created = await reminder_jobs.planner(delivery).run_reminder(ITEM, LEAD)
                fan_out_s = time.perf_counter() - t0
                say(f"  {n:,} delegates: plan {schedule_s:.3f} s ({jobs} jobs), fan-out {fan_out_s:.3f} s "
                    f"({created:,} rows); sending at {rate:g}/s…")

                sender = delivery.make_sender(bot)
                sender.start()
                limit = timeout if timeout is not None else 60 + 3 * n / rate
                deadline = time.monotonic() + limit
                try:
                    while time.monotonic() < deadline:
                        async with app.sessions() as s:
                            open_rows = await s.scalar(select(func.count()).select_from(OutboxMessage)
                                                       .where(OutboxMessage.status.not_in(FINAL)))
                        if not open_rows:
                            break
                        await asyncio.sleep(0.25)
                finally:
                    await sender.stop()
                async with app.sessions() as s:
                    statuses = dict((await s.execute(select(OutboxMessage.status, func.count())
                                                     .group_by(OutboxMessage.status))).all())
            finally:
                await bot.session.close()
                await app.close()

        recipients = set(range(FIRST_UID, FIRST_UID + n))
        delivered = [rec for rec in api.calls if rec.delivered and rec.chat_id in recipients]
        reached = {rec.chat_id for rec in delivered}
        times = sorted(rec.monotonic for rec in delivered)
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        achieved = (len(times) - 1) / span if span > 0 else 0.0
        return Result(
            delegates=n, schedule_s=schedule_s, jobs=jobs, fan_out_s=fan_out_s, rows=created,
            delivered=len(delivered), send_s=span, rate=achieved, configured=rate, lost=len(recipients - reached),
            duplicates=len(delivered) - len(reached), too_many_requests=api.stats.too_many_requests,
            not_sent={k: v for k, v in statuses.items() if k != SENT},
        )


def table(results: list[Result]) -> str:
    head = (f"{'delegates':>10} {'schedule':>9} {'jobs':>5} {'fan-out':>8} {'delivered':>9} {'send time':>9} "
            f"{'rate/s':>7} {'achieved/configured':>19} {'lost':>5} {'duplicates':>10} {'429s':>5}")
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(f"{r.delegates:>10,} {r.schedule_s:>8.3f}s {r.jobs:>5} {r.fan_out_s:>7.3f}s {r.delivered:>9,} "
                     f"{r.send_s:>8.1f}s {r.rate:>7.2f} {r.ratio:>19.3f} {r.lost:>5} {r.duplicates:>10} "
                     f"{r.too_many_requests:>5}")
        if r.not_sent:
            lines.append(f"{'':>10} rows not sent: {r.not_sent}")
    return "\n".join(lines)


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fan a reminder out through a fake Bot API and measure it.")
    parser.add_argument("--quick", action="store_true", help="1,000 delegates only")
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated numbers of delegates")
    parser.add_argument("--rate", type=float, default=25.0, help="SEND_RATE, messages a second")
    parser.add_argument("--random-429", type=float, default=0.001,
                        help="share of sends the fake answers 429 retry_after=1 (default 0.001)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    sizes = [1000] if args.quick else [int(s) for s in args.sizes.split(",") if s.strip()]
    print(f"delivery benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: SEND_RATE={args.rate:g}/s; fake Bot API "
          f"with Telegram's limits (30/s overall, 1/s per chat) and {args.random_429:.2%} random 429 "
          f"(retry_after=1), seed {args.seed}", flush=True)
    results = []
    for n in sizes:
        results.append(await run_case(n, rate=args.rate, random_429=args.random_429, seed=args.seed))
    print()
    print(table(results))
    ok = all(r.ratio >= 0.95 and r.lost == 0 and r.duplicates == 0 for r in results)
    print()
    print("targets (achieved/configured >= 0.95, lost 0, duplicates 0):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
