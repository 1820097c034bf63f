"""Phone-casual wording written out: abbreviations, slang and glued words in English, Russian and Korean.

A question is read after `expand` ("whats on rn" -> "what is on right now", "скока стоит" -> "сколько
стоит", "폰으로 볼수있나요" -> "휴대폰으로 볼 수 있나요"), by the time-question parser and the matcher alike,
so neither has to know every way people shorten a word. Only whole words are replaced (Korean: a word's
start or end, since particles and endings are glued to it). The word lists live in the language registry
(domain/languages.py, `Language.casual`); the Korean starts, ends and glued words below are grammar.
"""

from __future__ import annotations

import functools
import re

from domain.languages import LANGUAGES

# Whole words (after lower-casing; apostrophes already dropped: "what's" is "whats").
# Whole words, from every language of the registry (after lower-casing; apostrophes already dropped: "what's"
# is "whats").
_WORDS: dict[str, str] = {short: full for lang in LANGUAGES.values() for short, full in lang.casual}

# Korean word starts and ends: slang stems and casual endings ("무료임" -> "무료예요", "깔아야" -> "설치해야").
_KO_START = (("폰으로", "휴대폰으로"), ("폰에서", "휴대폰에서"), ("폰도", "휴대폰도"), ("깔아", "설치해"),
             ("깔야", "설치해야"), ("깔면", "설치하면"),
             # English loanwords typed for the Korean words the event file uses ("오픈세션": the open session).
             ("오픈", "공개 "), ("클로즈드", "비공개 "), ("클로즈", "비공개 "))
_KO_END = (("는거에요", "나요"), ("는거예요", "나요"), ("는거임", "나요"), ("는건가요", "나요"),
           ("남음", "남았어요"), ("됨", "돼요"), ("함", "해요"), ("임", "예요"), ("에요", "예요"))
# Words typed together: "볼수있나요" -> "볼 수 있나요", "어디있어요" -> "어디 있어요".
_KO_GLUED = re.compile(r"(?<=[\uac00-\ud7a3])(수)(있|없)|(어디|뭐|언제|몇)(있|하|해|시)")

# Korean negation glued to the word before or after it: "등록안하면" -> "등록 안 하면", "못들어가요" -> "못 들어가요"
# (only before a verb stem, so "안내" and "방안" stay whole).
_KO_NEG = re.compile(r"(?:(?<=[\uac00-\ud7a3]{2})|(?<![\uac00-\ud7a3]))(안|못)"
                     r"(?=(?:하|되|돼|들어|가|와|봐|보|받|해|써|열|나와)[\uac00-\ud7a3])")
# Slashed English shorthands: "w/o" is "without", "w/" is "with".
_SLASHED = ((re.compile(r"\bw/o\b", re.IGNORECASE), "without"), (re.compile(r"\bw/(?=\s|$)", re.IGNORECASE), "with"))

_TOKEN = re.compile(r"[^\W_]+|[\W_]+")


def _word(word: str) -> str:
    low = word.casefold()
    low = low if low in _WORDS else low.replace("ё", "е")
    if low in _WORDS:
        return _WORDS[low]
    if any("\uac00" <= ch <= "\ud7a3" for ch in word):
        for start, full in _KO_START:
            if word.startswith(start):
                word = full + word[len(start):]
                break
        for end, full in _KO_END:
            # "임" and "함" end many plain words too ("시간임"? rare; "기념함"): only after two syllables.
            if word.endswith(end) and len(word) - len(end) >= (2 if len(end) == 1 else 1):
                word = word[: -len(end)] + full
                break
    return word


def _unglue(m: re.Match[str]) -> str:
    if m.group(1):
        return f" {m.group(1)} {m.group(2)}"
    return f"{m.group(3)} {m.group(4)}"


@functools.lru_cache(maxsize=8192)
def expand(text: str) -> str:
    """The question with casual words written out; everything else as it was."""
    text = re.sub(r"(?<=\w)['’`](?=\w)", "", text)
    for pattern, full in _SLASHED:
        text = pattern.sub(full, text)
    text = _KO_NEG.sub(r" \1 ", text)
    out = "".join(_word(t) if t[0].isalnum() else t for t in _TOKEN.findall(text))
    return _KO_GLUED.sub(_unglue, out)
