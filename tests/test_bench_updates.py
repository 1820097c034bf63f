"""The update benchmark's machinery at a tiny scale, so that `python -m bench.updates` cannot rot."""

from __future__ import annotations

import pytest

from bench.updates import MODES, Row, run_pair, table, visits


async def test_visits_mix_kinds_and_languages() -> None:
    people = visits(20)
    assert len({v.user_id for v in people}) == 20
    assert {v.kind for v in people} == {"now", "question", "start"}
    assert {v.lang for v in people if v.kind == "question"} == {"en", "ru", "ko"}


@pytest.mark.parametrize("mode", MODES)
async def test_every_update_is_answered_by_both_bots(mode: str) -> None:
    row: Row = await run_pair(mode, 20, burst=20)
    starts = sum(v.kind == "start" for v in visits(20))
    for run in (row.ours, row.bare):
        assert run.n == 20
        assert run.answered == 20, f"{run.bot}: {20 - run.answered} people got no answer"
        assert run.errors == 0
        assert len(run.latencies) == 20
        assert run.ok
    assert row.bare.send_messages == 20
    assert row.ours.send_messages == 20 + starts  # /start: the greeting and the language step
    assert "ours/bare" in table([row])


async def test_a_failing_bot_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    # An empty text is refused by the local Bot API (400): the bare bot's answers all fail.
    monkeypatch.setattr("bench.updates.BARE_TEXT", "")
    row = await run_pair("burst", 5, burst=5)
    assert row.ours.ok
    assert not row.bare.ok
    assert (row.bare.answered, row.bare.errors) == (0, 5)
    assert "lost 5" in row.bare.status and "errors 5" in row.bare.status


async def test_an_apology_is_not_an_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    # Our bot's error handler apologises (a sendMessage) and logs: the failed updates count as errors.
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("handlers.program.on_now", broken)
    row = await run_pair("sequential", 5, burst=5)
    now = sum(v.kind == "now" for v in visits(5))
    assert row.bare.ok
    assert not row.ours.ok
    assert row.ours.errors == now
    assert f"errors {now}" in row.ours.status
