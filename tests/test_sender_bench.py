"""The benchmark's machinery at a tiny scale, so that `python -m bench.reminders` cannot rot."""

from __future__ import annotations

from bench.reminders import run_case, table


async def test_bench_machinery_at_tiny_scale() -> None:
    # 30 delegates at 100 messages a second (the fake allows 120), a few injected 429s on the way.
    result = await run_case(30, rate=100, telegram_limit=120, random_429=0.1, seed=3, timeout=30, quiet=True)
    assert (result.rows, result.delivered, result.lost, result.duplicates) == (30, 30, 0, 0)
    assert result.not_sent == {}
    assert result.too_many_requests >= 1  # the 429 path ran: paused and sent the same rows again
    assert result.jobs >= 4 * 10  # one per start instant (10) and lead time (4), plus the day-before ones
    assert "achieved/configured" in table([result])
