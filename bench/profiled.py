"""Run a module under cProfile switched on and off by signals, to profile one phase of a benchmark only.

    python -m bench.profiled OUT.prof bot        # like `python -m bot`; SIGUSR1 starts, SIGUSR2 stops and writes

bench.http uses it for `--profile DIR --profile-phase again`: start-up, the warm-up and first contact stay out
of the profile. Only the main thread is profiled (the event loop; aiosqlite's and asyncio.to_thread's worker
threads are not), by its CPU time.
"""

from __future__ import annotations

import cProfile
import gc
import runpy
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any


def main() -> None:
    out, module = sys.argv[1], sys.argv[2]
    # The main thread's CPU time, not the wall clock: a send() preempted on a busy machine or the event loop's
    # idle epoll would otherwise count as cost.
    profile = cProfile.Profile(time.thread_time)
    # The garbage collector's passes while profiling, per generation: (count, seconds). cProfile charges a
    # collection to whatever function allocated when it started; this says how much of the time it was.
    collections: dict[int, list[float]] = {}
    began: list[float] = []
    on = False

    def watch_gc(phase: str, info: dict[str, Any]) -> None:
        if not on:
            return
        if phase == "start":
            began[:] = [time.perf_counter()]
        elif began:
            entry = collections.setdefault(info["generation"], [0, 0.0])
            entry[0] += 1
            entry[1] += time.perf_counter() - began[0]

    def start(_sig: int, _frame: FrameType | None) -> None:
        nonlocal on
        collections.clear()
        profile.clear()
        on = True
        profile.enable()

    def stop(_sig: int, _frame: FrameType | None) -> None:
        nonlocal on
        profile.disable()
        on = False
        profile.dump_stats(out)
        Path(out).with_suffix(".gc.txt").write_text("".join(
            f"generation {g}: {int(n)} collections, {s * 1000:.1f} ms\n" for g, (n, s) in sorted(collections.items()))
            + f"objects tracked now: {len(gc.get_objects())}, frozen: {gc.get_freeze_count()}\n")

    gc.callbacks.append(watch_gc)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    sys.argv = [module, *sys.argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
