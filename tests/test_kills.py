"""Kill -9 at random moments of a scripted day: nothing confirmed is lost, duplicates stay within the bound.

`python -m bot` runs as a process (SQLite) against the fake Bot API with slow answers (300 ms a call, so
several sends are in flight at any instant) and Telegram's limits. The day: a fan-out of Open Session
reminders (lead 30 min) to people registered beforehand falls due at the start; meanwhile people register
through the conversation (/start, language, name, ..., consent, Confirm) and press "Remind me" on the Open
Session. The process is killed (SIGKILL, seeded random moments 0.3-2.5 s after each start) KILLS times
(5 here; `make soak` runs 20), then it runs undisturbed until everyone has finished, and a last start with
the clock at 10:49:50 sends the reminders the conversation people asked for (lead 10 min, 10:50).

Afterwards: everyone who was told "You are registered" has a delegates row; everyone the fan-out was for
got their reminder, and every conversation person whose "Remind me" was confirmed got theirs; reminders
sent twice are at most the sends in flight at the kills (the documented bound, docs/architecture.md: a
kill doubles at most the requests in flight at that instant, at most the sender's 8). The figures are
printed (`-s` shows them): kills, sends in flight at the kills, duplicates, duplicates per kill.

Lost updates (a message being handled when the process is killed: the offset was already acknowledged) are
being fixed in the update path by another change; until then a person whose message got no answer sends
/start, which resumes the conversation where it stopped, and the test counts those separately instead of
failing on them.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from storage.repo import Follows, LatePasses, Reminders
from testkit.fake_botapi import FakeBotAPI, Record
from testkit.processes import bot_env, spawn_bot
from tests.harness import Harness, make_settings, register

pytestmark = pytest.mark.e2e

KILLS = int(os.environ.get("KILLS", "5"))
SEED = int(os.environ.get("KILL_SEED", "8"))
LATENCY = 0.3
MAX_IN_FLIGHT = 8  # delivery.sender.Sender's default: the documented bound per kill
T0 = datetime.fromisoformat("2020-11-17T10:29:58+03:00")  # the fan-out (Open Session, lead 30) is due at 10:30
LATE = datetime.fromisoformat("2020-11-17T10:49:50+03:00")  # lead 10 reminders are due at 10:50
FANOUT = range(700_001, 700_001 + 40 * KILLS + 100)
PEOPLE = range(800_001, 800_007)
REMINDER = "EXCOM Meeting 2020 Open Session"
ANSWER_WAIT = 120.0  # longer than the kills of make test with their restarts: a late answer is not a lost one
RESTARTED = "I restarted just as I was answering you"


async def _prepare(tmp_path: Path) -> None:
    h = await Harness.create(make_settings(tmp_path))
    try:
        for uid in FANOUT:
            await register(h, uid, timezone="Asia/Seoul")
        async with h.app.sessions() as s:
            now = h.clock.now()
            for uid in FANOUT:
                await Follows(s).follow(uid, "open-session", now)
                await Reminders(s).update(uid, now, lead=30)
            for uid in PEOPLE:  # registration closed on 10 November: an organiser let them in
                await LatePasses(s).grant(uid, 1, now)
            await s.commit()
    finally:
        await h.close()


@dataclass
class Bot:
    tmp_path: Path
    api: FakeBotAPI
    started_real: float = 0.0
    proc: asyncio.subprocess.Process | None = None
    starts: int = 0
    mark: int = 0

    async def start(self, clock: datetime) -> None:
        env = bot_env(f"sqlite+aiosqlite:///{self.tmp_path / 'bot.db'}", api_url=self.api.url,
                      CLOCK_START=clock.isoformat(), CLOCK_SPEED="1", SEND_RATE="25")
        self.starts += 1
        self.mark = self.api.mark()
        with (self.tmp_path / f"run{self.starts}.log").open("wb") as err:
            self.proc = await spawn_bot(self.tmp_path, env, stdout=asyncio.subprocess.DEVNULL, stderr=err)

    def clock(self) -> datetime:
        """The bot's clock runs on across restarts (as it would in production)."""
        return T0 + timedelta(seconds=time.monotonic() - self.started_real)

    async def up(self) -> None:
        """Wait until the process has started polling."""
        await self.api.wait_for(method="deleteWebhook", since=self.mark, timeout=60)
        assert self.proc is not None and self.proc.returncode is None, self.log()

    def log(self) -> str:
        return (self.tmp_path / f"run{self.starts}.log").read_text(errors="replace")

    async def kill(self) -> int:
        """SIGKILL; returns the requests the server had received and not answered at that instant."""
        assert self.proc is not None
        in_flight = self.api.in_progress
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        return in_flight

    async def stop(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(self.proc.wait(), 30)
        assert self.proc.returncode == 0, self.log()


STEPS: list[tuple[str, str, str]] = [
    # (text to send or button to press, the answer that shows it was handled)
    ("text", "/start", "Please choose your language."),
    ("press", "English", "What is your full name?"),
    ("text", "{name}", "position"),
    ("text", "Chief Digital Officer", "organisation"),
    ("text", "City Hall", "city and country"),
    ("text", "Seoul", "type of participant"),
    ("press", "EXCOM member city", "e-mail"),
    ("text", "{email}", "time zone"),
    ("text", "Seoul", "it is now"),
    ("press", "Yes", "matchmaking"),
    ("press", "Yes, available", "May we store"),
    ("press", "I agree", "Please check your registration"),
    ("press", "Confirm", "You are registered"),
]


@dataclass
class Person:
    uid: int
    api: FakeBotAPI
    registered: bool = False  # told "You are registered"
    following: bool = False   # told "I will remind you"
    unanswered: int = 0       # messages that got no answer within ANSWER_WAIT
    pushed: list[int] = field(default_factory=list)  # the update ids of everything this person sent
    log: list[str] = field(default_factory=list)

    async def _wait(self, since: int, contains: str | None) -> Record | None:
        def found(r: Record) -> bool:
            text = r.text or ""
            # A reply lost to a kill after its update committed is replaced by "I restarted ... saved"
            # (bot/polling.py) with the step's prompt where there is a next step.
            return r.method in ("sendMessage", "editMessageText") and (
                contains is None or contains in text or RESTARTED in text)
        try:
            return await self.api.wait_for(found, ANSWER_WAIT, chat_id=self.uid, since=since)
        except TimeoutError:
            return None

    def _push(self, kind: str, what: str) -> bool:
        if kind == "text":
            self.pushed.append(self.api.push_text(
                self.uid, what.format(name=f"Person {self.uid}", email=f"p{self.uid}@example.org"))["update_id"])
            return True
        for rec in reversed(self.api.sent(self.uid)):
            for text, data in self.api.buttons(rec):
                if what in text and data:
                    msg = rec.result["message_id"] if isinstance(rec.result, dict) else None
                    self.pushed.append(self.api.push_callback(self.uid, data, msg, strict=False)["update_id"])
                    return True
        return False

    async def _resync(self) -> int | None:
        """After an unanswered message: /start resumes the conversation; the prompt says where. Returns the
        next step, or None when the person is registered."""
        for _ in range(5):
            since = self.api.mark()
            self.pushed.append(self.api.push_text(self.uid, "/start")["update_id"])
            answer = await self._wait(since, None)
            if answer is None:
                self.unanswered += 1
                self.log.append(f"{time.monotonic():.1f} /start unanswered")
                continue
            text = answer.text or ""
            if "Welcome back" in text:
                return None
            for i, (_kind, _what, expect) in enumerate(STEPS):
                if expect in text:
                    return i + 1
            # The summary is shown again with its Confirm button, or a step's prompt worded differently.
            if "registration" in text:
                return len(STEPS) - 1
            return 1
        raise AssertionError(f"{self.uid}: /start unanswered five times")

    async def run(self) -> None:
        step = 0
        while step is not None and step < len(STEPS):
            kind, what, expect = STEPS[step]
            since = self.api.mark()
            if not self._push(kind, what):
                step = await self._resync()
                continue
            answer = await self._wait(since, expect)
            if answer is None:
                self.unanswered += 1
                self.log.append(f"{time.monotonic():.1f} step {step} ({what}) unanswered")
                step = await self._resync()
                continue
            self.log.append(f"step {step} done")
            step += 1
        self.registered = any("You are registered" in (r.text or "") for r in self.api.sent(self.uid))
        # "Remind me" on the Open Session (its button's callback data: handlers.ui.FollowCb).
        for _ in range(5):
            since = self.api.mark()
            self.pushed.append(self.api.push_callback(self.uid, "fol:open-session:1", strict=False)["update_id"])
            try:
                await self.api.wait_for(lambda r: "I will remind you" in str(r.params.get("text", ""))
                                        or (r.chat_id == self.uid and RESTARTED in (r.text or "")), since=since,
                                        timeout=ANSWER_WAIT)
            except TimeoutError:
                self.unanswered += 1
                self.log.append(f"{time.monotonic():.1f} Remind me unanswered")
                continue
            self.following = True
            return


async def test_kills_during_a_scripted_day(tmp_path: Path) -> None:
    await _prepare(tmp_path)
    rng = random.Random(SEED)
    kills: list[int] = []  # sends in flight at each kill
    at: list[str] = []  # when each kill and restart happened, for a failure's message
    async with FakeBotAPI(global_rate=30, per_chat_rate=1, latency=LATENCY) as api:
        bot = Bot(tmp_path, api, started_real=time.monotonic())
        await bot.start(T0)
        await bot.up()
        people = [Person(uid, api) for uid in PEOPLE]
        talking = asyncio.gather(*(p.run() for p in people))
        try:
            for _ in range(KILLS):
                await asyncio.sleep(rng.uniform(0.3, 2.5))  # the fault injected: a kill at a random moment
                kills.append(await bot.kill())
                at.append(f"kill {time.monotonic():.1f}")
                await bot.start(bot.clock())
                await bot.up()
                at.append(f"up {time.monotonic():.1f}")
            try:
                await asyncio.wait_for(asyncio.shield(talking), 400)
            except TimeoutError:
                raise AssertionError(f"the conversations did not finish: {[(p.uid, p.log) for p in people]}\n"
                                     f"{api.dump(60)}") from None
        finally:
            if not talking.done():
                talking.cancel()
        # Everything sent by now; a clean stop, then the clock at 10:49:50 for the lead-10 reminders.
        await api.wait_until(lambda: sum(1 for c in api.delivered_per_chat() if c in FANOUT) == len(FANOUT),
                             timeout=120)
        await bot.stop()
        await bot.start(LATE)
        await bot.up()
        followers = [p.uid for p in people if p.following]
        try:
            await api.wait_until(lambda: all(any(REMINDER in (r.text or "") for r in api.sent(uid))
                                             for uid in followers), timeout=60)
            await asyncio.sleep(1)  # a duplicate would show up now
        finally:
            await bot.stop()

    reminders = Counter(r.chat_id for r in api.sent() if REMINDER in (r.text or ""))
    duplicates = sum(n - 1 for n in reminders.values() if n > 1)
    unanswered = sum(p.unanswered for p in people)
    print(f"\nkills: {len(kills)}, sends in flight at the kills: {sum(kills)} {kills}, "
          f"reminders to {len(reminders)} people, duplicates: {duplicates} "
          f"({duplicates / len(kills):.2f} a kill; bound {MAX_IN_FLIGHT} a kill), "
          f"messages without an answer: {unanswered}")

    with sqlite3.connect(tmp_path / "bot.db") as db:
        stored = {uid for (uid,) in db.execute("select user_id from delegates")}
        handled = {uid for (uid,) in db.execute("select update_id from inbox where handled_at is not null")}
    # No update lost: everything anyone sent was stored in the inbox and handled.
    pushed = {uid for p in people for uid in p.pushed}
    assert pushed <= handled, sorted(pushed - handled)
    # No confirmed registration lost.
    told = [p.uid for p in people if p.registered]
    assert told, "nobody finished registering"
    assert set(told) <= stored, [p.log for p in people]
    # No reminder lost: the fan-out, and everyone told "I will remind you".
    assert all(reminders[uid] >= 1 for uid in FANOUT)
    assert all(reminders[uid] >= 1 for uid in followers)
    # Duplicates within the bound: at most the sends in flight at each kill.
    assert duplicates <= MAX_IN_FLIGHT * len(kills)
    # Every message answered within ANSWER_WAIT: an update in hand is handled after the restart, and one whose
    # reply was lost after its commit gets "I restarted ... saved" and where the person is. (Under `make soak`
    # the kills go on for minutes, longer than anyone waits: it prints the figure, the inbox check above holds.)
    if KILLS <= 5:
        assert unanswered == 0, (at, [[e for e in p.log if "unanswered" in e] for p in people])
