"""The languages the bot speaks and what the code knows about each of them, in one place.

Adding a language is: an entry in `LANGUAGES` below (and its code in `Lang`), a gettext catalog
(`locales/<code>/LC_MESSAGES/`, `python -m tools.catalogs update`), and the event file's texts in it
(docs/architecture.md, "Languages"). Grammar that is more than word lists (the time-question grammar of
domain/when.py, the stemming by script of domain/qa.py, Korean particles in domain/text.py) is still written
per language where it is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Lang = Literal["en", "ru", "ko"]

# Scripts told apart in a message, with their Unicode ranges. Latin is any ASCII letter (Latin-script
# languages are told apart by the reader's own language, see `detect_language`).
LATIN = "latin"
SCRIPTS: dict[str, tuple[tuple[int, int], ...]] = {
    "hangul": ((0xAC00, 0xD7A3), (0x1100, 0x11FF), (0x3130, 0x318F)),
    "cyrillic": ((0x0400, 0x04FF),),
}


@dataclass(frozen=True)
class Language:
    code: str
    name: str                   # in the language itself, as the language buttons show it
    script: str                 # a key of SCRIPTS, or LATIN
    called: tuple[str, ...]     # what people type to choose it at the language step (any language)
    yes: tuple[str, ...]        # typed where Yes / No are the buttons
    no: tuple[str, ...]
    back: tuple[str, ...]       # typed at a registration step: the previous step
    hello: tuple[str, ...]      # a whole message that is a greeting
    thanks: tuple[str, ...]     # a whole message that is thanks
    # Phone-casual words written out before a question is read ("rn" -> "right now", "скока" -> "сколько",
    # "폰" -> "휴대폰"): whole words, domain/casual.py applies them (with Korean word starts and ends).
    casual: tuple[tuple[str, str], ...] = ()


LANGUAGES: dict[str, Language] = {
    "en": Language(
        code="en", name="English", script=LATIN,
        called=("english", "английский", "영어", "eng", "en"),
        yes=("yes", "y", "yeah", "yep", "yup", "sure", "ok", "okay", "agree", "i agree", "of course"),
        no=("no", "n", "nope"),
        back=("back", "go back", "previous"),
        hello=("hi", "hello", "hey", "hiya", "good morning", "good afternoon", "good evening", "hi there",
               "hello there"),
        thanks=("thanks", "thank you", "thx", "ty", "thanks a lot", "thank you very much", "many thanks",
                "great thanks"),
        casual=(
            ("rn", "right now"), ("atm", "at the moment"), ("r", "are"), ("u", "you"), ("ur", "your"),
            ("pls", "please"), ("plz", "please"), ("smth", "something"), ("sth", "something"), ("ppl", "people"),
            ("abt", "about"), ("yr", "year"), ("tmrw", "tomorrow"), ("tmr", "tomorrow"), ("tmrow", "tomorrow"),
            ("tomorow", "tomorrow"), ("2moro", "tomorrow"), ("2day", "today"), ("tdy", "today"), ("whos", "who is"),
            ("whens", "when is"), ("whats", "what is"), ("wats", "what is"), ("wat", "what"), ("wht", "what"),
            ("wheres", "where is"), ("hows", "how is"), ("till", "until"), ("til", "until"), ("untill", "until"),
            ("mins", "minutes"), ("min", "minutes"), ("hrs", "hours"), ("hr", "hours"), ("thx", "thanks"),
            ("gonna", "going to"), ("wanna", "want to"), ("gotta", "have to"), ("info", "information"),
            ("cuz", "because"), ("nxt", "next"), ("reg", "registration"), ("regist", "registration"),
            ("b4", "before"), ("bc", "because"), ("w", "with"), ("msg", "message"), ("asap", "soon"), ("hmm", ""),
            ("ok", ""), ("okay", ""),
        ),
    ),
    "ru": Language(
        code="ru", name="Русский", script="cyrillic",
        called=("russian", "русский", "러시아어", "рус", "ru"),
        yes=("да", "ага", "ок", "конечно", "согласен", "согласна", "согласны", "верно", "правильно"),
        no=("нет", "неа", "не согласен", "не согласна"),
        back=("назад", "вернуться", "вернуться назад"),
        hello=("привет", "здравствуйте", "здравствуй", "добрый день", "доброе утро", "добрый вечер",
               "приветствую"),
        thanks=("спасибо", "спасибо большое", "большое спасибо", "благодарю", "спс"),
        casual=(
            ("щас", "сейчас"), ("ща", "сейчас"), ("счас", "сейчас"), ("чё", "что"), ("че", "что"), ("чо", "что"),
            ("шо", "что"), ("скока", "сколько"), ("скоко", "сколько"), ("сколко", "сколько"), ("комп", "компьютер"),
            ("компа", "компьютера"), ("компе", "компьютере"), ("зарегаться", "зарегистрироваться"),
            ("регаться", "регистрироваться"), ("зарегиться", "зарегистрироваться"),
            ("зарегался", "зарегистрировался"), ("рега", "регистрация"), ("качать", "скачать"),
            ("инфа", "информация"), ("плиз", "пожалуйста"), ("пжл", "пожалуйста"), ("пж", "пожалуйста"),
            ("плз", "пожалуйста"), ("прога", "программа"), ("тел", "телефон"), ("мин", "минут"), ("ч", "час"),
            ("спс", "спасибо"), ("норм", ""), ("кст", "кстати"), ("оч", "очень"), ("тыща", "тысяча"),
            ("мб", "может быть"), ("нзч", ""), ("щя", "сейчас"), ("седня", "сегодня"), ("сёдня", "сегодня"),
            ("севодня", "сегодня"), ("завтро", "завтра"),
        ),
    ),
    "ko": Language(
        code="ko", name="한국어", script="hangul",
        called=("korean", "корейский", "한국어", "한국말", "ko"),
        yes=("네", "예", "응", "좋아요", "동의", "맞아요", "맞습니다"),
        no=("아니요", "아니오", "아뇨", "아니", "싫어요"),
        back=("뒤로", "이전", "돌아가기", "뒤로 가기"),
        hello=("안녕", "안녕하세요", "안녕하십니까", "반가워요", "반갑습니다"),
        thanks=("감사합니다", "고마워요", "고맙습니다", "감사해요", "땡큐"),
        casual=(
            ("폰", "휴대폰"), ("머", "뭐"), ("머야", "뭐예요"), ("뭐야", "뭐예요"),
            ("뭐임", "뭐예요"), ("뭐에요", "뭐예요"), ("몇시임", "몇 시예요"), ("언제임", "언제예요"),
            ("어케", "어떻게"), ("어캐", "어떻게"), ("얼마임", "얼마예요"), ("넘", "너무"),
            ("젤", "제일"),
        ),
    ),
}
LANGS: tuple[str, ...] = tuple(LANGUAGES)
DEFAULT = "en"
LANGUAGE_NAMES: dict[str, str] = {code: lang.name for code, lang in LANGUAGES.items()}


def words(field: Literal["yes", "no", "back", "hello", "thanks"]) -> tuple[str, ...]:
    """One word list of every language, in the registry's order."""
    return tuple(w for lang in LANGUAGES.values() for w in getattr(lang, field))


def supported(code: str | None) -> str:
    """A language code as clients send it ("ru", "ko-KR", "en-GB", "de") mapped to a supported language."""
    base = (code or "").split("-")[0].lower()
    return base if base in LANGUAGES else DEFAULT


# Letters a character of the script is worth when telling a message's language (a Hangul syllable ~ two).
_WEIGHT = {"hangul": 2}


def _script(ch: str) -> str | None:
    o = ord(ch)
    for script, ranges in SCRIPTS.items():
        if any(lo <= o <= hi for lo, hi in ranges):
            return script
    if ch.isascii() and ch.isalpha():
        return LATIN
    return None


def letters(text: str, script: str) -> int:
    """How many letters of `text` are written in `script` (a key of SCRIPTS, or LATIN)."""
    return sum(1 for ch in text if _script(ch) == script)


def detect_language(text: str, fallback: str) -> str:
    """The language a message is written in: the script with the most letters (a Hangul syllable counts as
    two: it holds about as much as two Latin letters; ties go to the fallback's script, then to SCRIPTS'
    order, Latin last); fewer than two letters (digits, emoji) keep the fallback. Within a script the
    fallback wins when it is written in it, else the first language registered with that script.

    By majority, not by the first foreign letter: an English summary quoting a name typed in Cyrillic, or
    /help naming "Русский, 한국어", is English (issue 17 item 11: an English speaker answered in Russian)."""
    counts: dict[str, int] = {}
    for ch in text:
        found = _script(ch)
        if found is not None:
            counts[found] = counts.get(found, 0) + _WEIGHT.get(found, 1)
    if max(counts.values(), default=0) < 2:
        return fallback
    own = LANGUAGES[fallback].script if fallback in LANGUAGES else None
    # max keeps the first of equals: SCRIPTS' order, then Latin.
    script = max([*SCRIPTS, LATIN], key=lambda s: (counts.get(s, 0), s == own))
    if fallback in LANGUAGES and LANGUAGES[fallback].script == script:
        return fallback
    return next((code for code, lang in LANGUAGES.items() if lang.script == script), fallback)
