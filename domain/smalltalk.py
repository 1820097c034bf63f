"""Greetings and thanks: a short friendly answer instead of "I did not understand" (in en, ru, ko)."""

from __future__ import annotations

from typing import Literal

from domain.languages import words
from domain.text import normalize

Kind = Literal["hello", "thanks"]

# The words of each language are in its entry of domain/languages.py.
_HELLO = frozenset(words("hello"))
_THANKS = frozenset(words("thanks"))


def kind(text: str) -> Kind | None:
    """"hello" or "thanks" when the whole message is one (punctuation, case and emoji aside), else None:
    "thanks, when is the quiz?" is a question, not thanks."""
    key = normalize(text)
    if key in _HELLO:
        return "hello"
    if key in _THANKS:
        return "thanks"
    return None
