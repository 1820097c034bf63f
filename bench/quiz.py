"""Benchmark: a quiz-shaped load in process, our bot against a bare aiogram bot that sends the same replies.

    python -m bench.quiz                     # 1,000 registered people, 5 updates each
    python -m bench.quiz --people 200

There is no quiz yet, so each person sends five updates of the kinds that exist, one after the other (each
waits for the answer to the previous one, as a person tapping through does), with all the people at once:
`/now`, a free question ("when is the quiz?" in their language), a press on the quiz's session card button
(the card: reminder settings and follows are read), a press on the card's "Remind me" (a write: the shape
of a quiz answer, stored before the reply), and `/next`.

The bare bot is aiogram's default Dispatcher with one handler for messages and one for callback queries that
send the very replies ours sent (recorded from ours in the warm-up, per step and language: same methods, texts
and buttons), so the two differ only by what our bot does to decide them. Both answer through
`bot.offline.local_api.LocalSession` (in process). The bare bot runs before and after ours; the faster run is kept
(a shared machine only ever slows a run down).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiogram.methods
from aiogram import Bot, Dispatcher, Router
from aiogram.types import CallbackQuery, Message

from bench.updates import AT, LANGS, QUESTIONS, machine, quiet_logging
from bot.app import build_app, make_bot
from bot.offline.local_api import LocalSession, Request, UpdateFactory
from bot.offline.telegram import Upload
from domain.clock import FrozenClock
from domain.registration import Profile
from storage.repo import Delegates
from testkit.databases import throwaway_sqlite
from testkit.people import offline_settings

STEPS = ("now", "question", "card", "follow", "next")
ITEM = "quiz"
FIRST_UID = 40_000_001
WARM_UID = 39_000_001


class Session(LocalSession):
    """LocalSession that remembers the last message sent to each chat (the card a person presses on)."""

    def __init__(self) -> None:
        super().__init__()
        self.last: dict[int, dict[str, Any]] = {}
        self.recording: dict[tuple[str, str], list[Request]] | None = None
        self.step: tuple[str, str] | None = None

    def _answer(self, r: Request, uploads: dict[str, Upload]) -> tuple[int, dict[str, Any]]:
        if self.recording is not None and self.step is not None:
            self.recording.setdefault(self.step, []).append(r)
        status, body = super()._answer(r, uploads)
        sent = body.get("result")
        if r.method.startswith("send") and isinstance(sent, dict) and "message_id" in sent:
            self.last[int(sent["chat"]["id"])] = sent
        return status, body


@dataclass
class Target:
    dp: Dispatcher
    bot: Bot
    session: Session
    close: Callable[[], Awaitable[None]]


def update_for(factory: UpdateFactory, session: Session, uid: int, step: str, lang: str) -> dict[str, Any]:
    if step == "now":
        return factory.text(uid, "/now", language_code=lang)
    if step == "next":
        return factory.text(uid, "/next", language_code=lang)
    if step == "question":
        return factory.text(uid, QUESTIONS[lang], language_code=lang)
    if step == "card":
        return factory.callback(uid, f"card:{ITEM}", session.last.get(uid), language_code=lang)
    return factory.callback(uid, f"fol:{ITEM}:1", session.last.get(uid), language_code=lang)


async def ours(url: str, uids: list[int]) -> Target:
    settings = offline_settings(url)
    clock = FrozenClock(AT)
    app = await build_app(settings, clock=clock)
    async with app.sessions() as s:
        for uid in uids:
            lang = LANGS[uid % 3]
            await Delegates(s).save(Profile(
                user_id=uid, language=lang, full_name=f"Delegate {uid}", position="Officer",
                organisation="City Hall", city="Seoul", country="Korea", participant_type="wego_member",
                email=f"u{uid}@example.org", timezone="Europe/Moscow", matchmaking=None), clock.now())
        await s.commit()
    session = Session()
    bot = make_bot(settings, session)

    async def close() -> None:
        await bot.session.close()
        await app.close()

    return Target(app.dp, bot, session, close)


def _replay(recorded: dict[tuple[str, str], list[Request]]) -> Router:
    """Handlers that send, for each step and language, what ours sent (ids swapped for this update's)."""
    classes = {r.method: getattr(aiogram.methods, r.method[0].upper() + r.method[1:])
               for rs in recorded.values() for r in rs}

    async def send(bot: Bot, key: tuple[str, str], uid: int, query: CallbackQuery | None) -> None:
        for r in recorded.get(key, []):
            params = dict(r.params)
            if "chat_id" in params:
                params["chat_id"] = uid
            if query is not None:
                params["callback_query_id"] = query.id if "callback_query_id" in params else None
                if "message_id" in params and query.message is not None:
                    params["message_id"] = query.message.message_id
            params = {k: v for k, v in params.items() if v is not None}
            await bot(classes[r.method].model_validate(params))

    async def on_message(message: Message, bot: Bot) -> None:
        text = message.text or ""
        step = "now" if text == "/now" else "next" if text == "/next" else "question"
        lang = (message.from_user.language_code if message.from_user else None) or "en"
        await send(bot, (step, lang), message.chat.id, None)

    async def on_query(query: CallbackQuery, bot: Bot) -> None:
        step = "card" if (query.data or "").startswith("card:") else "follow"
        await send(bot, (step, query.from_user.language_code or "en"), query.from_user.id, query)

    router = Router(name="bare-quiz")
    router.message.register(on_message)
    router.callback_query.register(on_query)
    return router


async def bare(recorded: dict[tuple[str, str], list[Request]]) -> Target:
    dp = Dispatcher()
    dp.include_router(_replay(recorded))
    session = Session()
    bot = make_bot(offline_settings("sqlite+aiosqlite://"), session)

    async def close() -> None:
        await bot.session.close()
        await dp.storage.close()

    return Target(dp, bot, session, close)


@dataclass
class Run:
    bot: str
    updates: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    calls: int = 0

    @property
    def rate(self) -> float:
        return self.updates / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        s = sorted(self.latencies)
        return 1000 * s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))] if s else math.nan


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


async def person(target: Target, factory: UpdateFactory, uid: int, lat: list[float]) -> None:
    lang = LANGS[uid % 3]
    for step in STEPS:
        t0 = time.perf_counter()
        await target.dp.feed_raw_update(target.bot, update_for(factory, target.session, uid, step, lang))
        lat.append(time.perf_counter() - t0)


async def measure(target: Target, which: str, uids: list[int]) -> Run:
    gc.collect()
    factory = UpdateFactory()
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    lat: list[float] = []
    try:
        t0 = time.perf_counter()
        await asyncio.gather(*(person(target, factory, u, lat) for u in uids))
        seconds = time.perf_counter() - t0
    finally:
        logging.getLogger().removeHandler(errors)
    return Run(which, len(uids) * len(STEPS), seconds, lat, errors.count, len(target.session.requests))


async def run(people: int) -> tuple[Run, Run, int]:
    uids = list(range(FIRST_UID, FIRST_UID + people))
    warm = [WARM_UID + i for i in range(3)]  # one per language: uid % 3 picks it
    async with throwaway_sqlite(prefix="bench-quiz-") as url:
        target = await ours(url, uids + warm)
        try:
            # Warm-up, recording what ours sends per step and language for the bare bot to send.
            target.session.recording = {}
            factory = UpdateFactory()
            for uid in warm:
                for step in STEPS:
                    target.session.step = (step, LANGS[uid % 3])
                    await target.dp.feed_raw_update(target.bot, update_for(factory, target.session, uid, step,
                                                                           LANGS[uid % 3]))
            recorded = target.session.recording
            target.session.recording, target.session.step = None, None
            target.session.clear()
            bare_before = await _bare_run(recorded, uids)
            ours_run = await measure(target, "ours", uids)
        finally:
            await target.close()
    bare_after = await _bare_run(recorded, uids)
    per_person = sum(len(recorded[(s, "en")]) for s in STEPS)
    return ours_run, min(bare_before, bare_after, key=lambda r: r.seconds), per_person


async def _bare_run(recorded: dict[tuple[str, str], list[Request]], uids: list[int]) -> Run:
    target = await bare(recorded)
    try:
        return await measure(target, "bare", uids)
    finally:
        await target.close()


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Quiz-shaped load: our bot against a bare one, in process.")
    parser.add_argument("--people", type=int, default=1000)
    args = parser.parse_args(argv)
    quiet_logging()
    print(f"quiz-shaped updates, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}; {args.people:,} people x "
          f"{len(STEPS)} updates ({', '.join(STEPS)}), all people at once", flush=True)
    o, b, per_person = await run(args.people)
    print(f"{'bot':<5} {'updates':>8} {'seconds':>8} {'upd/s':>7} {'p50/p95/p99 ms':>22} {'API calls':>10} "
          f"{'errors':>7}")
    for r in (o, b):
        print(f"{r.bot:<5} {r.updates:>8,} {r.seconds:>8.2f} {r.rate:>7,.0f} "
              f"{f'{r.pct(50):.1f} / {r.pct(95):.1f} / {r.pct(99):.1f}':>22} {r.calls:>10,} {r.errors:>7}")
    ratio = o.rate / b.rate if b.rate else 0.0
    print(f"ratio ours/bare: {ratio:.3f}; API calls per person: {per_person} (both bots)")
    ok = o.errors == 0 and b.errors == 0 and o.calls == b.calls == per_person * args.people
    print("every update answered alike:", "yes" if ok else "NO")
    return 0 if ok else 1


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(asyncio.run(main()))
