"""The registry of languages (domain/languages.py): what detection and the word lists read from it."""

from __future__ import annotations

from typing import get_args

import pytest

from domain import languages
from domain.languages import LANGS, Lang, Language, detect_language, supported


def test_the_literal_names_every_registered_language() -> None:
    assert get_args(Lang) == LANGS == ("en", "ru", "ko")


@pytest.mark.parametrize(("text", "fallback", "expected"), [
    ("When is the quiz?", "ru", "en"),
    ("Когда квиз?", "en", "ru"),
    ("퀴즈 언제예요?", "en", "ko"),
    ("квиз 퀴즈퀴즈", "en", "ko"),   # a tie between scripts: Hangul is listed first
    ("quiz квиз", "ko", "ru"),
    ("12:30 👍", "ko", "ko"),    # no letters: the fallback
    ("a", "ru", "ru"),           # one Latin letter is not a language
])
def test_detection_by_script(text: str, fallback: str, expected: str) -> None:
    assert detect_language(text, fallback) == expected


def test_a_second_latin_script_language_is_kept_when_it_is_the_readers(monkeypatch: pytest.MonkeyPatch) -> None:
    de = Language(code="de", name="Deutsch", script=languages.LATIN, called=("german", "deutsch"), yes=("ja",),
                  no=("nein",), back=("zurück",), hello=("hallo",), thanks=("danke",))
    monkeypatch.setitem(languages.LANGUAGES, "de", de)
    assert detect_language("Wann ist das Quiz?", "de") == "de"
    assert detect_language("Wann ist das Quiz?", "ru") == "en"  # not the reader's: the first Latin one
    assert supported("de-AT") == "de"
    assert "ja" in languages.words("yes")


def test_telegram_codes_map_to_a_supported_language() -> None:
    assert [supported(c) for c in ("ru", "ko-KR", "en-GB", "de", "", None)] == ["ru", "ko", "en", "en", "en", "en"]
