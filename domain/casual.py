"""Phone-casual wording written out: abbreviations, slang and glued words in English, Russian and Korean.

A question is read after `expand` ("whats on rn" -> "what is on right now", "скока стоит" -> "сколько
стоит", "폰으로 볼수있나요" -> "휴대폰으로 볼 수 있나요"), by the time-question parser and the matcher alike,
so neither has to know every way people shorten a word. Only whole words are replaced (Korean: a word's
start or end, since particles and endings are glued to it).
"""

from __future__ import annotations

import functools
import re

# Whole words (after lower-casing; apostrophes already dropped: "what's" is "whats").
_WORDS: dict[str, str] = {
    # English
    "rn": "right now", "atm": "at the moment", "r": "are", "u": "you", "ur": "your", "pls": "please",
    "plz": "please", "smth": "something", "sth": "something", "ppl": "people", "abt": "about", "yr": "year",
    "tmrw": "tomorrow", "tmr": "tomorrow", "tmrow": "tomorrow", "tomorow": "tomorrow", "2moro": "tomorrow",
    "2day": "today", "tdy": "today", "whos": "who is", "whens": "when is", "whats": "what is", "wats": "what is",
    "wat": "what", "wht": "what", "wheres": "where is", "hows": "how is", "till": "until", "til": "until",
    "untill": "until", "mins": "minutes", "min": "minutes", "hrs": "hours", "hr": "hours", "thx": "thanks",
    "gonna": "going to", "wanna": "want to", "gotta": "have to", "info": "information", "cuz": "because",
    "nxt": "next", "reg": "registration", "regist": "registration",
    "b4": "before", "bc": "because", "w": "with", "msg": "message", "asap": "soon",
    "hmm": "", "ok": "", "okay": "",
    # Russian
    "щас": "сейчас", "ща": "сейчас", "счас": "сейчас", "чё": "что", "че": "что", "чо": "что", "шо": "что",
    "скока": "сколько", "скоко": "сколько", "сколко": "сколько", "комп": "компьютер", "компа": "компьютера",
    "компе": "компьютере", "зарегаться": "зарегистрироваться", "регаться": "регистрироваться",
    "зарегиться": "зарегистрироваться", "зарегался": "зарегистрировался", "рега": "регистрация",
    "качать": "скачать", "инфа": "информация", "плиз": "пожалуйста",
    "пжл": "пожалуйста", "пж": "пожалуйста", "плз": "пожалуйста", "прога": "программа", "тел": "телефон",
    "мин": "минут", "ч": "час", "спс": "спасибо", "норм": "", "кст": "кстати", "оч": "очень",
    "тыща": "тысяча", "мб": "может быть", "нзч": "", "щя": "сейчас", "седня": "сегодня", "сёдня": "сегодня",
    "севодня": "сегодня", "завтро": "завтра",
    # Korean (whole words)
    "폰": "휴대폰", "머": "뭐", "머야": "뭐예요", "뭐야": "뭐예요", "뭐임": "뭐예요", "뭐에요": "뭐예요",
    "몇시임": "몇 시예요", "언제임": "언제예요", "어케": "어떻게", "어캐": "어떻게", "얼마임": "얼마예요",
    "넘": "너무", "젤": "제일",
}

# Korean word starts and ends: slang stems and casual endings ("무료임" -> "무료예요", "깔아야" -> "설치해야").
_KO_START = (("폰으로", "휴대폰으로"), ("폰에서", "휴대폰에서"), ("폰도", "휴대폰도"), ("깔아", "설치해"),
             ("깔야", "설치해야"), ("깔면", "설치하면"))
_KO_END = (("는거에요", "나요"), ("는거예요", "나요"), ("는거임", "나요"), ("는건가요", "나요"),
           ("남음", "남았어요"), ("됨", "돼요"), ("함", "해요"), ("임", "예요"), ("에요", "예요"))
# Words typed together: "볼수있나요" -> "볼 수 있나요", "어디있어요" -> "어디 있어요".
_KO_GLUED = re.compile(r"(?<=[\uac00-\ud7a3])(수)(있|없)|(어디|뭐|언제|몇)(있|하|해|시)")

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
    out = "".join(_word(t) if t[0].isalnum() else t for t in _TOKEN.findall(text))
    return _KO_GLUED.sub(_unglue, out)
