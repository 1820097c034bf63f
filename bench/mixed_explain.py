"""Where a reply's time goes under bench/mixed.py's mix (`python -m bench.mixed --explain`).

Wraps the bot's limiter (the one its replies and the outbox share) and reads the fake Bot API's records after
the run. Per update fed under the mix:
- before: from the feed to the reply's first place in the limiter's line (person lock, database, handler);
- queue: the limiter's wait when the reply was not held for its chat (other replies, the bucket, pauses);
- spaced: the wait of a reply kept a second after an outbox message to the same person;
- retried: the time from a 429 to the reply's next grant, and how many 429s;
- after: the rest (the request itself, the handler's tail).
And per 429 the fake answered: what went to that chat last, how long before, and whether the message
refused or the one before it was the limiter's grant of an outbox row landing late (the grant-to-arrival
delay of outbox sends).
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections import Counter, defaultdict
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from delivery.limiter import Limiter, Ticket
from domain.messages import Priority


@dataclass
class Turn:
    priority: int
    chat_id: int | None
    queued: float
    granted: float | None = None


@dataclass
class UpdateTrace:
    fed: float
    done: float | None = None
    turns: list[Turn] = field(default_factory=list)
    refusals: list[float] = field(default_factory=list)  # when each 429 of this update's replies came


CURRENT: ContextVar[UpdateTrace | None] = ContextVar("mixed_explain_update", default=None)


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Explain:
    def __init__(self, limiter: Limiter) -> None:
        self.limiter = limiter
        self.updates: list[UpdateTrace] = []
        # Outbox grants per chat: (granted at, priority).
        self.outbox_grants: dict[int, list[tuple[float, int]]] = defaultdict(list)
        self.refused: list[tuple[float, int | None, float, bool]] = []  # (at, chat, seconds, paused every send)
        self.grants: list[tuple[float, int]] = []  # every grant: (when, priority)
        self.lags: list[float] = []  # the event loop's lateness, sampled every 50 ms
        self._lag_task: asyncio.Task[None] | None = None
        self._cpu = (0.0, 0.0)
        self._wrap()

    def start(self) -> None:
        """Phase 2 begins: sample the event loop's lateness and the process's CPU time."""
        self._cpu = (time.process_time(), time.monotonic())
        self._lag_task = asyncio.get_running_loop().create_task(self._sample())

    async def _sample(self) -> None:
        while True:
            t0 = time.monotonic()
            await asyncio.sleep(0.05)
            self.lags.append(time.monotonic() - t0 - 0.05)

    def stop(self) -> None:
        cpu, mono = self._cpu
        self.cpu_share = (time.process_time() - cpu) / max(1e-9, time.monotonic() - mono)
        if self._lag_task is not None:
            self._lag_task.cancel()

    def _wrap(self) -> None:
        limiter = self.limiter
        queue, wait, refused = limiter.queue, limiter.wait, limiter.refused
        turns: dict[int, Turn] = {}

        def traced_queue(priority: int = Priority.REPLY, chat_id: int | None = None, **kw: Any) -> Ticket:
            ticket = queue(priority, chat_id, **kw)
            turn = Turn(int(priority), chat_id, time.monotonic())
            turns[id(ticket)] = turn
            if (trace := CURRENT.get()) is not None and trace.done is None and priority == Priority.REPLY:
                trace.turns.append(turn)
            return ticket

        async def traced_wait(ticket: Ticket) -> bool:
            try:
                granted = await wait(ticket)
            finally:
                turn = turns.pop(id(ticket), None)
            if turn is not None and granted:
                turn.granted = time.monotonic()
                self.grants.append((turn.granted, turn.priority))
                if turn.priority != Priority.REPLY and turn.chat_id is not None:
                    self.outbox_grants[turn.chat_id].append((turn.granted, turn.priority))
            return granted

        def traced_refused(seconds: float, chat_id: int | None) -> None:
            pauses = limiter.stats.pauses
            refused(seconds, chat_id)
            now = time.monotonic()
            self.refused.append((now, chat_id, seconds, limiter.stats.pauses != pauses))
            if (trace := CURRENT.get()) is not None:
                trace.refusals.append(now)

        limiter.queue = traced_queue  # type: ignore[method-assign]
        limiter.wait = traced_wait  # type: ignore[method-assign]
        limiter.refused = traced_refused  # type: ignore[method-assign]

    def begin(self) -> UpdateTrace:
        trace = UpdateTrace(time.monotonic())
        CURRENT.set(trace)
        return trace

    def end(self, trace: UpdateTrace, keep: bool) -> None:
        trace.done = time.monotonic()
        if keep:
            self.updates.append(trace)

    # -- the report ------------------------------------------------------------------------------------------------

    def _parts(self, t: UpdateTrace) -> dict[str, float]:
        assert t.done is not None
        total = t.done - t.fed
        parts = {"before": 0.0, "queue": 0.0, "spaced": 0.0, "retried": 0.0}
        if not t.turns:
            return parts | {"after": total, "total": total}
        parts["before"] = t.turns[0].queued - t.fed
        for turn in t.turns:
            if turn.granted is None:
                continue
            waited = turn.granted - turn.queued
            if any(turn.queued - 2.5 <= r <= turn.queued + 0.01 for r in t.refusals) and turn is not t.turns[0]:
                parts["retried"] += waited
                continue
            spaced = self._spaced(turn)
            parts["spaced"] += spaced
            parts["queue"] += waited - spaced
        parts["after"] = total - sum(parts.values())
        parts["total"] = total
        return parts

    def _spaced(self, turn: Turn) -> float:
        """The part of a reply's wait spent keeping its chat's second after an outbox message to it: from that
        message's grant (or the reply's arrival in line, if later) to the reply's grant, when that is close."""
        assert turn.granted is not None
        before = [g for g, _ in self.outbox_grants.get(turn.chat_id or 0, []) if g <= turn.granted]
        if not before or turn.granted - before[-1] > 1.3:
            return 0.0
        return max(0.0, turn.granted - max(turn.queued, before[-1]))

    def report(self, api: Any, since: int) -> None:
        print("\nwhere the replies' time went (updates under the mix):")
        rows = [self._parts(t) for t in self.updates]
        for name in ("total", "before", "queue", "spaced", "retried", "after"):
            values = [r[name] for r in rows]
            print(f"  {name:8} p50 {_pct(values, .5):.3f}  p95 {_pct(values, .95):.3f}  max {max(values):.3f}  "
                  f"sum {sum(values):.1f} s")
        slow = [r for r in rows if r["total"] > 0.5]
        causes = Counter(max(("before", "queue", "spaced", "retried", "after"), key=lambda k: r[k]) for r in slow)
        print(f"  {len(slow)} of {len(rows)} over 0.5 s; their largest part: {dict(causes)}")
        with_429 = sum(1 for t in self.updates if t.refusals)
        print(f"  updates whose reply met a 429: {with_429}; spaced after an outbox message: "
              f"{sum(1 for r in rows if r['spaced'] > 0.01)}")
        stats = self.limiter.stats
        print(f"  limiter: pauses of every send {stats.pauses}, chat pauses {stats.chat_pauses}, "
              f"granted {stats.granted}, floor grants {stats.floor_grants}")
        print(f"  the process's CPU over phase 2: {self.cpu_share:.0%} of a core; event loop late by p50 "
              f"{_pct(self.lags, .5) * 1000:.0f} ms, p95 {_pct(self.lags, .95) * 1000:.0f} ms, max "
              f"{max(self.lags, default=0) * 1000:.0f} ms")
        self._queue_waits()
        self._refusals(api, since)

    def _queue_waits(self) -> None:
        """What the limiter granted while replies waited in its line (not for their chat)."""
        times = [g[0] for g in self.grants]
        long = [turn for t in self.updates for turn in t.turns
                if turn.granted is not None and turn.granted - turn.queued - self._spaced(turn) > 0.3]
        for turn in long[:12]:
            assert turn.granted is not None
            lo, hi = bisect.bisect_right(times, turn.queued), bisect.bisect_left(times, turn.granted)
            seen = Counter(p for _, p in self.grants[lo:hi])
            wait = turn.granted - turn.queued
            print(f"    at +{turn.queued - self._cpu[1]:.1f} s a reply waited {wait:.3f} s in the line: meanwhile "
                  f"granted {dict(sorted(seen.items()))} "
                  f"({(hi - lo) / wait:.1f}/s)")
        span = [g for g in self.grants if g[0] >= self._cpu[1]]
        if span:
            seconds = span[-1][0] - span[0][0]
            print(f"  grants in phase 2 and after: {dict(sorted(Counter(p for _, p in span).items()))} in "
                  f"{seconds:.1f} s ({len(span) / max(seconds, 1e-9):.1f}/s)")

    def _refusals(self, api: Any, since: int) -> None:
        calls = sorted((r for r in api.calls if r.seq > since and r.chat_id is not None), key=lambda r: r.monotonic)
        last_ok: dict[int, Any] = {}
        lines: list[str] = []
        close: list[float] = []  # a reply's arrival after an outbox message to the same chat
        for rec in calls:
            if rec.status == 429:
                prev = last_ok.get(rec.chat_id)
                gap = rec.monotonic - prev.monotonic if prev is not None else float("nan")
                what = _kind(prev) if prev is not None else "-"
                lines.append(f"    429 {rec.method} {_kind(rec)} to {rec.chat_id}: after {what} {gap:.3f} s "
                             f"before (retry_after {rec.retry_after})")
            elif rec.status == 200 and rec.method.startswith("send"):
                prev = last_ok.get(rec.chat_id)
                if prev is not None and _kind(rec) == "reply" and _kind(prev) != "reply":
                    close.append(rec.monotonic - prev.monotonic)
                last_ok[rec.chat_id] = rec
        kinds = Counter(f"{r.method}:{_kind(r)}" for r in calls
                        if r.status == 200 and r.method != "answerCallbackQuery")
        print(f"  accepted by the fake after the mark: {dict(kinds)}")
        near = sorted(g for g in close if g < 1.5)
        print(f"  replies after an outbox message to the same chat: {len(close)}, {len(near)} of them within 1.5 s "
              f"(gaps {', '.join(f'{g:.3f}' for g in near[:20])})")
        print(f"  429s from the fake after the mark: {len(lines)}")
        for line in lines[:30]:
            print(line)
        # Outbox grant -> arrival at the fake (the limiter marks the chat at grant time).
        lags: list[float] = []
        arrivals = defaultdict(list)
        for rec in calls:
            if rec.method.startswith("send"):
                arrivals[rec.chat_id].append(rec.monotonic)
        for chat, grants in self.outbox_grants.items():
            for granted, _ in grants:
                if granted < self._cpu[1]:  # before phase 2 (the quiz's announcements): not in `calls`
                    continue
                later = [a - granted for a in arrivals.get(chat, []) if a >= granted]
                if later:
                    lags.append(min(later))
        if lags:
            print(f"  outbox grant -> arrival at the fake: p50 {_pct(lags, .5):.3f}  p95 {_pct(lags, .95):.3f}  "
                  f"max {max(lags):.3f} s ({len(lags)} sends)")
        paused = sum(1 for r in self.refused if r[3])
        print(f"  429s the bot saw: {len(self.refused)}, {paused} of them paused every send")


def _kind(rec: Any) -> str:
    text = str(rec.params.get("text", ""))
    if text.startswith("⏰"):
        return "reminder"
    if text.startswith("📣"):
        return "broadcast"
    return "reply"
