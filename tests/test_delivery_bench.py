"""The delivery benchmark's machinery at a tiny scale, so that `python -m bench.delivery` cannot rot."""

from __future__ import annotations

from bench.delivery import report, run_case


async def test_delivery_bench_machinery_at_tiny_scale() -> None:
    # 60 recipients at 100 a second (the fake allows 120), 4 people chatting, a reminder due after 1 s.
    result = await run_case(60, chatters=4, send_rate=100, limit=120, think=0.5, reminder_after=1.0, seed=3,
                            timeout=60, quiet=True)
    assert (result.bulk_delivered, result.lost, result.duplicates) == (60, 0, 0)
    assert result.not_sent == {}
    assert result.asked >= 1 and result.answered == result.asked  # every chatter's message was answered
    assert result.reminder_delay is not None  # the scheduler fanned the reminder out and it was sent
    assert "of the limit" in report(result)
