"""Text helpers: folding shared by the question matcher and the place-name lookup, and escaping for
Telegram's HTML parse mode."""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Any, Protocol

_WORD = re.compile(r"\w+")


def esc(value: object) -> str:
    """Escape text for HTML parse mode (names and event texts may contain <, > or &)."""
    return html.escape(str(value), quote=False)


def _plain(ch: str) -> str:
    """A Latin letter without its accent ("ğ" -> "g", "ộ" -> "o"); other scripts keep theirs ("й" stays "й",
    a Hangul syllable stays whole)."""
    if ord(ch) < 0x250 or 0x1E00 <= ord(ch) <= 0x1EFF:
        return "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    return ch


def normalize(text: str) -> str:
    """Lower case, no Latin accents, "ё" as "е", letters and digits only, single spaces: "Beyoğlu" and
    "beyoglu", "Xi'an" and "xi an", "Ёлки" and "елки" compare equal."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")
    text = "".join(_plain(c) for c in text)
    return " ".join(_WORD.findall(text.replace("_", " ")))


class Translator(Protocol):
    """What translates outside a handler (aiogram's I18n has this shape)."""

    def gettext(self, singular: str, plural: str | None = None, n: int = 1, locale: str | None = None) -> str: ...


def translate(tr: Translator, lang: str, message: str, **params: Any) -> str:
    """Translate a msgid into `lang` outside a handler (reminders, broadcasts), filling placeholders."""
    text = tr.gettext(message, locale=lang)
    return text.format(**params) if params else text


def translate_plural(tr: Translator, lang: str, message: tuple[str, str], n: int, **params: Any) -> str:
    """The plural form of (singular, plural) for `n` in `lang`, with `{n}` and `params` filled."""
    return tr.gettext(message[0], message[1], n, locale=lang).format(n=n, **params)


# -- Korean particles after a name ------------------------------------------------------------------
# A particle depends on whether the word before it ends in a consonant (받침): "서울로" but "모스크바로",
# "퀴즈를" but "세션을". A catalog string writes the pair as a marker ("{title}을(를)", "{time}(으)로") and
# `attach_particles` chooses once the name is in, so no reader sees "(으)로".

# Pairs: after a final consonant, after a vowel. "으로/로": after ㄹ, 로 (서울로).
_PAIRS = {"을": ("을", "를"), "를": ("을", "를"), "이": ("이", "가"), "가": ("이", "가"), "은": ("은", "는"),
          "는": ("은", "는"), "과": ("과", "와"), "와": ("과", "와"), "으로": ("으로", "로"), "로": ("으로", "로")}
_MARKER = re.compile(r"(?:\((으)\)로"
                     r"|(을|를|이|가|은|는|과|와)\((을|를|이|가|은|는|과|와)\)"
                     r"|\((을|이|은|과)\)(를|가|는|와)"
                     r"|\((이)\)에요)")  # the copula: "{answer}(이)에요" is 이에요 after a consonant, else 예요
# Sino-Korean digit readings' final consonants ("3" is 삼: ㅁ; "2" is 이: none); 1, 7, 8 end in ㄹ.
_DIGIT_FINAL = {"0": "ㅇ", "1": "ㄹ", "2": "", "3": "ㅁ", "4": "", "5": "",
                "6": "ㄱ", "7": "ㄹ", "8": "ㄹ", "9": ""}
# Latin letters read alone (acronyms: "DVMS" is 디브이엠에스): L, M, N and R (엘, 엠, 엔, 알) end in a consonant.
_LETTER_FINAL = {"l": "ㄹ", "m": "ㅁ", "n": "ㄴ", "r": "ㄹ"}
# The 28 finals in Unicode's order (index = (syllable - 0xAC00) % 28).
_FINALS = ("", "ㄱ", "ㄲ", "ㄳ", "ㄴ", "ㄵ", "ㄶ", "ㄷ", "ㄹ", "ㄺ", "ㄻ", "ㄼ", "ㄽ", "ㄾ",
           "ㄿ", "ㅀ", "ㅁ", "ㅂ", "ㅄ", "ㅅ", "ㅆ", "ㅇ", "ㅈ", "ㅊ", "ㅋ", "ㅌ", "ㅍ", "ㅎ")


def final_consonant(word: str) -> str:
    """The final consonant (받침) the word ends in as a Korean reader says it, "" for none.

    Hangul: the last syllable's. A clock time is read in 시 and 분 ("15:00" 열다섯 시: none; "09:30" 아홉 시
    삼십 분: ㄴ), a number by its last digit (Sino-Korean; a last 0 is 십, 백, 천 or 영: all end in a
    consonant). Latin: an acronym letter by letter ("DVMS" ends in 에스: none; "...M" in 엠); a word the way
    Korean writes loanwords: -l, -m, -n, -ng, and -k, -p after a vowel end in a consonant ("Zoom" 줌, "Book"
    북), other endings in a vowel ("Moscow" 모스크바, "Quiz" 퀴즈).
    """
    text = re.sub(r"[\s'\"’”»)\]>.,!?:;…*_~-]+$", "", _TAG.sub("", word))
    if not text:
        return ""
    last = text[-1]
    if "\uac00" <= last <= "\ud7a3":
        return _FINALS[(ord(last) - 0xAC00) % 28]
    time_match = re.search(r"(\d{1,2}):(\d{2})$", text)
    if time_match:
        return "" if time_match.group(2) == "00" else "ㄴ"
    if last.isdigit():
        return _DIGIT_FINAL.get(last, "")
    m = re.search(r"[A-Za-z]+$", text)
    if not m:
        return ""
    latin = m.group(0)
    if latin.isupper() and len(latin) <= 6:
        return _LETTER_FINAL.get(latin[-1].lower(), "")
    low = latin.lower()
    if low.endswith("ng"):
        return "ㅇ"
    if low[-1] in "lmn":
        return {"l": "ㄹ", "m": "ㅁ", "n": "ㄴ"}[low[-1]]
    if low[-1] in "kp" and len(low) > 1 and low[-2] in "aeiou":
        return "ㄱ" if low[-1] == "k" else "ㅂ"
    return ""


def josa(word: str, particle: str) -> str:
    """The form of `particle` ("을", "이", "은", "과", "으로", or their other forms) that follows `word`."""
    after_consonant, after_vowel = _PAIRS[particle]
    final = final_consonant(word)
    if after_consonant == "으로":
        return "으로" if final and final != "ㄹ" else "로"
    return after_consonant if final else after_vowel


_TAG = re.compile(r"<[^>]+>")


def attach_particles(text: str) -> str:
    """Resolve every particle marker ("을(를)", "(으)로", "이(가)", "은(는)", "과(와)", and the copula "(이)에요")
    by the word before it."""
    if "(" not in text:
        return text

    def choose(m: re.Match[str]) -> str:
        before = text[: m.start()]
        if not before or before[-1].isspace():
            return m.group(0)  # no word right before it: leave it as written
        if m.group(6):  # the copula
            return "이에요" if final_consonant(before[-40:]) else "예요"
        particle = "으로" if m.group(1) else (m.group(2) or m.group(4))
        return josa(before[-40:], particle)

    return _MARKER.sub(choose, text)
