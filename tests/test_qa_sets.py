"""Issue 21: the free-question path on the phone-casual question sets (tests/data/qa_set*.toml), through
bench/qa_sets.py's scorer. Floors on accuracy only (never on time: `python -m bench.qa_sets` prints the ms).

    .venv/bin/pytest tests/test_qa_sets.py -q -s     # prints the tables and the misses
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench.qa_sets import DATA, LANGS, load_set, report, run_set, score
from domain.event import load_event
from tests.test_program import EVENT_FILE

CONF = load_event(EVENT_FILE)
# The floors each set keeps (overall, each language): the levels reached, so a regression fails. Sets 1-4 were
# used while building fixes by now (issue 21 asks >= 97 % of those), set 5 never was; their first runs are in
# docs/performance.md.
FLOORS = {"qa_set1.toml": (0.99, 0.98), "qa_set2.toml": (0.96, 0.90), "qa_set3.toml": (0.98, 0.95),
          "qa_set4.toml": (0.90, 0.90), "qa_set5.toml": (0.88, 0.80)}


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_question_set_accuracy(name: str) -> None:
    path = DATA / name
    if not path.exists():
        pytest.skip(f"{name} not written yet")
    results = asyncio.run(run_set(CONF, load_set(path)))
    print("\n" + report(name, results, misses=True))
    s = score(results)
    overall, per_language = FLOORS[name]
    assert s["overall"] >= overall
    for lang in LANGS:
        assert s[lang] >= per_language, lang
    # No reply may state a wrong time, date or hour.
    assert s["wrong_time"] == 0


def test_sets_are_shaped_as_the_issue_asks() -> None:
    qs = load_set(Path(DATA / "qa_set1.toml"))
    assert len(qs) >= 150
    assert all(sum(q["lang"] == lang for q in qs) >= 50 for lang in LANGS)
    assert sum(q["kind"] == "time" for q in qs) >= len(qs) / 3 - 1
    assert sum(q["expect"] == "unknown" for q in qs) >= len(qs) // 10
    faq = {f.id for f in CONF.faq}
    for q in qs:
        assert q["zone"] and q["at"], q
        kind, _, target = q["expect"].partition(":")
        assert (CONF.item(target) is not None) if kind == "item" else (target in faq) if kind == "faq" else True, q
