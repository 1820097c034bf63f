"""The machinery of bench.quiz and bench.http at a tiny scale, so that the benches cannot rot."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import http, quiz


async def test_quiz_bench_answers_every_step_alike_in_both_bots() -> None:
    ours, bare, per_person = await quiz.run(6)
    assert per_person == 7  # /now, question, card (answer + card), follow (edit + answer), /next
    for run in (ours, bare):
        assert run.updates == 6 * len(quiz.STEPS)
        assert run.errors == 0
        assert run.calls == 6 * per_person
        assert len(run.latencies) == run.updates


@pytest.mark.e2e
async def test_http_bench_runs_both_bots_as_processes(capsys: pytest.CaptureFixture[str]) -> None:
    code = await http.main(["--delegates", "40", "--at-once", "10", "--rate", "20", "--seconds", "0.5",
                            "--burst", "30"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "every update answered: yes" in out
    assert "memory (RSS): idle ours" in out
    for phase in ("at once", "again", "steady", "burst"):
        assert phase in out


@pytest.mark.e2e
async def test_http_bench_before_and_after_with_one_phase_profiled(capsys: pytest.CaptureFixture[str],
                                                                   tmp_path: Path) -> None:
    code = await http.main(["--delegates", "30", "--at-once", "8", "--skip", "steady,burst", "--before-root",
                            str(http.ROOT), "--profile", str(tmp_path), "--profile-phase", "again"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "again     before" in out and "again     ours" in out
    for which in ("bare", "before", "ours"):  # the phase's profile, and the collector's passes during it
        assert (tmp_path / f"{which}.prof").stat().st_size > 0
        assert "objects tracked" in (tmp_path / f"{which}.gc.txt").read_text()


@pytest.mark.e2e
async def test_quiz_play_bench_records_every_answer_once(capsys: pytest.CaptureFixture[str]) -> None:
    from bench import quiz_play

    code = await quiz_play.main(["--players", "4", "--modes", "flat out", "--board", "50"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "answers recorded == answers sent: yes" in out and "leaderboard (top 10" in out
