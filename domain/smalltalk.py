"""Greetings and thanks: a short friendly answer instead of "I did not understand" (in en, ru, ko)."""

from __future__ import annotations

from typing import Literal

from domain.text import normalize

Kind = Literal["hello", "thanks"]

_HELLO = frozenset({
    "hi", "hello", "hey", "hiya", "good morning", "good afternoon", "good evening", "hi there", "hello there",
    "привет", "здравствуйте", "здравствуй", "добрый день", "доброе утро", "добрый вечер", "приветствую",
    "안녕", "안녕하세요", "안녕하십니까", "반가워요", "반갑습니다",
})
_THANKS = frozenset({
    "thanks", "thank you", "thx", "ty", "thanks a lot", "thank you very much", "many thanks", "great thanks",
    "спасибо", "спасибо большое", "большое спасибо", "благодарю", "спс",
    "감사합니다", "고마워요", "고맙습니다", "감사해요", "땡큐",
})


def kind(text: str) -> Kind | None:
    """"hello" or "thanks" when the whole message is one (punctuation, case and emoji aside), else None:
    "thanks, when is the quiz?" is a question, not thanks."""
    key = normalize(text)
    if key in _HELLO:
        return "hello"
    if key in _THANKS:
        return "thanks"
    return None
