"""Benchmark: the quiz's ranking rule (domain/quiz.py) in plain Python at 10,000 participants.

    python -m bench.quiz_ranking                 # 10,000 participants, 20 rounds
    python -m bench.quiz_ranking --size 50000 --rounds 5

The database will compute the leaderboard later; this measures the rule itself, side by side in one run:
- leaderboard: the top 10 with ranks (a bounded heap, no full sort);
- rank_of: one person's rank (one pass counting who is strictly better);
- ranking: the full sort with ranks (for the final messages and the CSV), as the baseline;
- plan: computing one person's 10 questions and option orders (done at "Start" and after a restart).
It prints the median milliseconds of each and the ratios to the full sort.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from domain.event import load_event
from domain.quiz import Result, leaderboard, plan, rank_of, ranking

EVENT_FILE = Path(__file__).resolve().parent.parent / "events" / "excom2020.toml"


def results(size: int, seed: int = 2020) -> list[Result]:
    rnd = random.Random(seed)
    start = datetime(2020, 11, 17, 11, 15, tzinfo=UTC)
    return [Result(uid, rnd.randrange(0, 1501, 10), rnd.randrange(20_000, 200_000, 100),
                   start + timedelta(seconds=rnd.randrange(1800))) for uid in range(1, size + 1)]


def median_ms(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    quiz = load_event(EVENT_FILE).quiz
    assert quiz is not None
    pool = results(args.size)
    someone = pool[len(pool) // 2].user_id
    full = median_ms(lambda: ranking(pool), args.rounds)
    top = median_ms(lambda: leaderboard(pool, 10), args.rounds)
    mine = median_ms(lambda: rank_of(pool, someone), args.rounds)
    plans = median_ms(lambda: [plan(quiz, uid) for uid in range(1000)], max(3, args.rounds // 4)) / 1000
    print(f"participants: {args.size:,}  rounds: {args.rounds}  (median ms)")
    print(f"  ranking (full sort)  {full:8.2f} ms")
    print(f"  leaderboard top 10   {top:8.2f} ms   ratio to full sort {top / full:.2f}")
    print(f"  rank_of one person   {mine:8.2f} ms   ratio to full sort {mine / full:.2f}")
    print(f"  top 10 + own rank    {top + mine:8.2f} ms   (what /leaderboard needs)")
    print(f"  plan for one person  {plans:8.3f} ms   ({quiz.per_play} of {len(quiz.questions)} questions)")


if __name__ == "__main__":
    main()
