"""Typed text matched to the buttons a step offers ("yes", "да", "네", "EXCOM member", "член EXCOM"), and
text that reads as a question rather than an answer. Pure rules: the handlers give the labels, in every
language, and act on the result."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from rapidfuzz import fuzz

from domain.languages import words
from domain.text import normalize

# Words that press "Yes" / "No" wherever those are the buttons (with the buttons' own labels); the words of
# each language are in its entry of domain/languages.py.
YES: tuple[str, ...] = words("yes")
NO: tuple[str, ...] = words("no")

# Typed at any registration step: the previous step (with the button's own label, "↩️ Back").
BACK: tuple[str, ...] = words("back")

EXACT, WORDS, CLOSE = 100, 90, 85


def _words_fit(words: list[str], label_words: list[str]) -> bool:
    """Every typed word is (nearly) a word of the label: "EXCOM member" of "EXCOM member city"."""
    return all(any(w == lw or (len(w) >= 4 and fuzz.ratio(w, lw) >= 80) for lw in label_words) for w in words)


def _score(key: str, label: str) -> int:
    lab = normalize(label)
    if not lab:
        return 0
    if key == lab:
        return EXACT
    words, label_words = key.split(), lab.split()
    if _words_fit(words, label_words) and (len(key) >= 4 or len(words) > 1):
        return WORDS
    if len(key) >= 4 and fuzz.ratio(key, lab) >= CLOSE:
        return CLOSE
    return 0


def match(text: str, options: Mapping[str, Iterable[str]]) -> str | None:
    """The option (a key of `options`) whose labels the text names, or None when none or several fit as
    well. A number picks the option in that position (1 is the first)."""
    key = normalize(text)
    if not key:
        return None
    values = list(options)
    if key.isdigit():
        n = int(key)
        return values[n - 1] if 1 <= n <= len(values) else None
    scores = {v: max((_score(key, label) for label in labels), default=0) for v, labels in options.items()}
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    best_value, best = ranked[0]
    if best == 0:
        return None
    if len(ranked) > 1 and ranked[1][1] >= best - 5 and ranked[1][1] > 0:
        return None  # "member": a WeGO member or an EXCOM member city? Not guessed.
    return best_value


# -- does it read as a question? --------------------------------------------------------------------------

_EN_WH = frozenset("what whats when whens where wheres how hows why who whos whose which whom".split())
_EN_AUX = frozenset("is are am can could do does did will would should shall may might has have must".split())
_EN_SUBJECT = frozenset("i you we they he she it there the this that my your a an our any".split())
_RU_Q = frozenset("""что чего чем когда где куда откуда как какой какая какое какие каком какую каких какого
каким почему зачем кто кого кому сколько скоро котором которое который можно нужно разве неужели""".split())
_KO_Q = ("언제", "어디", "뭐", "무엇", "어떻게", "어떡", "왜", "누구", "누가", "몇", "얼마", "어느", "무슨", "어떤")
_KO_ENDINGS = ("나요", "까요", "니까", "습니까", "인가요", "는가요", "을까", "ㄹ까")
_QUESTION_MARKS = re.compile(r"[?？¿]")


def reads_as_question(text: str) -> bool:
    """A question mark, or an interrogative word where a question has it (en, ru, ko). Kept conservative:
    "Kim Min-jun", "Will Smith", "Seoul Metropolitan Government" and "Москва" are answers."""
    if _QUESTION_MARKS.search(text):
        return True
    words = normalize(text.replace("'", "")).split()
    if not words:
        return False
    first = words[0]
    if first in _EN_WH:
        return True
    if first in _EN_AUX and len(words) > 2 and words[1] in _EN_SUBJECT:
        return True
    if any(w in _RU_Q for w in words[:3]):
        return True
    # The particle "ли" follows a word in lower case ("будет ли"); "Ли Кён Ёль" is a name.
    if "ли" in re.findall(r"\w+", text)[1:]:
        return True
    return any(any(q in w for q in _KO_Q) or (len(w) > 2 and w.endswith(_KO_ENDINGS)) for w in words)

