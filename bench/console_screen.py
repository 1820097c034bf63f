"""Benchmark: the console's quiz screen while players answer (issue 19: a new answer shown within 2 s, p95).

    python -m bench.console_screen                 # 200 players, paced (1-4 s of reading per question)

Our bot as a process (as bench.quiz_play runs it: SQLite with the players registered, its clock in the quiz's
window) serving the console on a free port; an organiser signs in with the link /console gives, then a
watcher reads /console/quiz/screen.json every second, as the screen's script does. The players play as in
bench.quiz_play's paced mode. Measured: for every press, from its feedback reaching the player (the answer is
stored: the bot replies after its commit) to the first screen read that counts it (the screen's `answers`
total), p50/p95/max; and the screen reads' own time.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import shutil
import socket
import tempfile
import time
from bisect import bisect_left
from pathlib import Path

import aiohttp

from bench import http
from bench.quiz_play import CLOCK_START, MODES, Players, Run, play, prepare
from testkit.fake_botapi import FakeBotAPI

ORGANISER = 1
LINK = re.compile(r"(http://127\.0\.0\.1:\d+)/console/signin\?t=(\S+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


async def main(players: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="console-screen-"))
    template = work / "template.db"
    await prepare(template, players)
    db = work / "ours.db"
    shutil.copy(template, db)
    port = free_port()
    env = http.bot_env("", f"sqlite+aiosqlite:///{db}")
    env.update({"CLOCK_START": CLOCK_START, "SEND_RATE": "1000", "QUIZ_CAPACITY": str(players),
                "WEB_PORT": str(port), "ADMIN_IDS": str(ORGANISER)})
    feedback: list[float] = []  # when each press's feedback reached the player
    reads: list[tuple[float, int]] = []  # (when a screen read was answered, answers it counted)
    read_ms: list[float] = []
    failed: list[float] = []
    async with FakeBotAPI() as api:
        env["TELEGRAM_API_URL"] = api.url
        watch = Players(api)
        proc = await asyncio.create_subprocess_exec(*http.bot_command("ours"), cwd=work, env=env,
                                                    stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=(work / "bot.log").open("ab"))
        stop = asyncio.Event()
        try:
            await api.wait_until(lambda: api.waiting_polls > 0, timeout=180)
            api.push_text(ORGANISER, "/console")
            rec = await api.wait_for(lambda r: "/console/signin" in (r.text or ""), chat_id=ORGANISER, timeout=60)
            found = LINK.search(rec.text or "")
            assert found, rec.text
            base, token = found.groups()
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as web:
                async with web.post(f"{base}/console/signin", data={"t": token}) as r:
                    assert r.status == 200, await r.text()

                async def watcher() -> None:
                    while not stop.is_set():
                        t0 = time.monotonic()
                        async with web.get(f"{base}/console/quiz/screen.json") as r:
                            data = await r.json() if r.status == 200 else None
                        t1 = time.monotonic()
                        if data is None:
                            failed.append(t1)
                            await asyncio.sleep(1.0)
                            continue
                        read_ms.append((t1 - t0) * 1000)
                        reads.append((t1, int(data["answers"])))
                        await asyncio.sleep(max(0.0, 1.0 - (t1 - t0)))

                def on_feedback(rec: object) -> None:
                    method = getattr(rec, "method", "")
                    text = str(getattr(rec, "params", {}).get("text"))
                    # A press's feedback (right, wrong or late) opens the edit; the first question does not.
                    if method == "editMessageText" and getattr(rec, "ok", False) and \
                            text.lstrip("<b>").startswith(("✅", "❌", "⏰")):
                        feedback.append(time.monotonic())

                api.on_record(on_feedback)
                task = asyncio.create_task(watcher())
                run = Run("ours", "paced", players)
                uids = [http.FIRST_UID + i for i in range(players)]
                await asyncio.gather(*(play(api, watch, run, uid, http.text_for(uid - http.FIRST_UID)[1],
                                            random.Random(2020).random(), MODES["paced"], random.Random(uid))
                                       for uid in uids))
                await asyncio.sleep(2.5)
                stop.set()
                await task
        finally:
            await http.stop(proc)
    # The k-th stored answer is on the screen from the first read counting at least k answers.
    feedback.sort()
    times = [t for t, _ in reads]
    counts = [n for _, n in reads]
    lags = []
    for k, at in enumerate(feedback, start=1):
        i = bisect_left(times, at)
        while i < len(reads) and counts[i] < k:
            i += 1
        if i < len(reads):
            lags.append(times[i] - at)
    print(f"quiz screen, {players} players paced, {run.presses} presses, {len(feedback)} feedbacks, "
          f"{len(reads)} screen reads")
    print(f"an answer on the screen after its feedback: p50 {pct(lags, 50):.2f} s, p95 {pct(lags, 95):.2f} s, "
          f"max {max(lags, default=float('nan')):.2f} s (target p95 < 2 s); {len(feedback) - len(lags)} not seen")
    print(f"screen read: p50 {pct(read_ms, 50):.0f} ms, p95 {pct(read_ms, 95):.0f} ms; {len(failed)} failed "
          f"(the bot's log: {work / 'bot.log'})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--players", type=int, default=200)
    asyncio.run(main(parser.parse_args().players))
