"""The one text folding used by the question matcher and the place-name lookup (domain/text.py)."""

from __future__ import annotations

import pytest

from domain import timezones as tzs
from domain.text import normalize


@pytest.mark.parametrize(("typed", "folded"), [
    ("Beyoğlu", "beyoglu"),
    ("  São   Paulo ", "sao paulo"),
    ("Xi'an", "xi an"),
    ("Hà Nội", "ha noi"),  # Vietnamese letters outside Latin-1/Extended-B lose their marks too
    ("Нью-Йорк", "нью йорк"),  # "й" is a letter of its own in Russian, not "и" with an accent
    ("Ёлки", "елки"),
    ("서울특별시", "서울특별시"),  # Hangul syllables stay whole
    ("Asia/Seoul", "asia seoul"),
    ("ＵＴＣ", "utc"),  # full-width letters (NFKC)
])
def test_normalize(typed: str, folded: str) -> None:
    assert normalize(typed) == folded


def test_place_names_match_however_they_are_typed() -> None:
    assert (m := tzs.resolve("нью-йорк")) is not None and m.zone == "America/New_York"
    assert (m := tzs.resolve("SAO PAULO, Brazil")) is not None and m.zone == "America/Sao_Paulo"
