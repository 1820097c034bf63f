"""Free questions: find the program item or FAQ entry a question is about, in any of the three languages.

A ranking in the spirit of BM25 over everything the event file says about each program item (titles,
descriptions, speakers, agenda, keywords in every language) and each FAQ entry (question, answer,
keywords). Each word of the question counts once, by its best match in a document: exact, the same stem
(Russian endings, Korean particles), a typo (edit similarity) or the same word in another script
(transliteration). Rare words weigh more than common ones, and a keyword phrase found whole adds a bonus.
The ranking is deterministic: ties go to the document listed first in the event file.

An answer is given only above a confidence threshold; below it the bot says it is not sure. It never
makes up a time: times come from the matched item.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from domain.casual import expand
from domain.event import Event
from domain.i18n_marks import N_
from domain.text import normalize

# Scores below this are "not sure" (see docs/performance.md for how it was chosen).
CONFIDENT = 2.0
# A runner-up about another item scoring at least this share of the best is offered as a second button.
RUNNER_UP = 0.8
# Closer than this share, the bot asks which of the two was meant (two buttons) instead of answering one.
ASK = 0.9

# The FAQ entry that sums up the program: its answer also offers /program in the reader's time zone.
PROGRAM_FAQ = "program"

# The main topics offered when the bot is not sure: FAQ ids with a short label (PROGRAM_TOPIC: /program).
PROGRAM_TOPIC = "*program"
TOPICS: tuple[tuple[str, str], ...] = (
    (PROGRAM_TOPIC, N_("📋 Program")),
    ("platform-join", N_("💻 How to join")),
    ("matchmaking-apply", N_("🤝 Matchmaking")),
    ("register-how", N_("📝 Registration")),
    ("contact", N_("✉️ Contact")),
)

# Field weights: what names a document counts more than what merely mentions it.
W_TITLE = 1.0
W_KEYWORD = 1.0
W_NAME = 1.0
W_QUESTION = 0.7
W_TEXT = 0.3
# Question words ("when", "как", "언제") say what kind of answer is wanted, not what it is about.
W_STOP = 0.25
PHRASE_BONUS = 0.6
W_PHRASE_PART = 0.6

_STOP: frozenset[str] = frozenset("""
a an the is are am be was were will would do does did i me my we our us you your it its this that of to in
on at for from by with and or about what whats when where which who whom how why can could should there
any some please pls tell know want need get there's it's i'm
time times start starts starting begin begins beginning
hi hello hey thanks thank exactly actually just really also still then so ok okay
я мы вы ты мне нам вас меня мой моя моё мое мои наш наша ваш это этот эта тот что чем где когда как какой
какая какие каком кто ли бы же и а но или в во на по о об от до для с со к ко у за из про не нет да есть
будет будут можно нужно ли можете скажите подскажите пожалуйста моему моей моем мое моём
время времени сколько начало начинается начнется начнётся старт
то нибудь либо привет здравствуйте спасибо вообще именно тогда ещё еще же вот
은 는 이 가 을 를 에 에서 의 도 로 으로 와 과 좀 제 저 나 내 우리 뭐 무엇 어떻게 어디 언제 누가 누구 왜 몇
있나요 있어요 하나요 해요 인가요 예요 이에요 뭐예요 되나요 주세요 알려주세요 알려 수 있 하는 하면 할
시 시에 시까지 몇시 몇시예요 몇시에 몇시까지 시간 시작 시작해요 시작하나요 언제예요 언제인가요
안녕하세요 감사합니다 혹시 그럼 근데 그리고
""".split())

# Korean particles and endings stripped from the end of a word before matching ("퀴즈는" -> "퀴즈").
_KO_SUFFIXES = tuple(sorted("""
은 는 이 가 을 를 에 에서 의 도 로 으로 와 과 만 부터 까지 이에요 예요 인가요 이요 요 나요 해요 하나요
에요 이랑 랑 께서 한테 에게 으로도 로도 에는 에도 이나 나 보다
""".split(), key=len, reverse=True))

_CYR_LAT = str.maketrans({
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ж": "zh", "з": "z", "и": "i", "й": "i",
    "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u",
    "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "sch", "ъ": "", "ы": "y", "ь": "", "э": "e",
    "ю": "yu", "я": "ya",
})
@functools.lru_cache(maxsize=65536)
def _script(word: str) -> Literal["ko", "ru", "lat"]:
    for ch in word:
        if "\uac00" <= ch <= "\ud7a3":
            return "ko"
        if "\u0400" <= ch <= "\u04ff":
            return "ru"
    return "lat"


@functools.lru_cache(maxsize=65536)
def _ko_stem(word: str) -> str:
    for suffix in _KO_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 2:
            return word[: -len(suffix)]
    return word


_SCRIPT_CHUNK = re.compile(
    r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]+|[\u0400-\u04ff]+|[a-z\u00c0-\u024f]+|\d+"
    r"|[^\W\d_a-z\u00c0-\u024f\u0400-\u04ff\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]+"
)


def tokens(text: str) -> list[str]:
    """Words, split where the script changes ("DVMS가" -> "dvms", "가"; "covid19" -> "covid", "19")."""
    return _SCRIPT_CHUNK.findall(normalize(text))


def _translit(word: str) -> str:
    """Cyrillic in Latin letters, spelled the simple way people type it ("концерт" -> "kontsert")."""
    return word.translate(_CYR_LAT)


def _simplify(word: str) -> str:
    """Latin spelling variants collapsed (kontsert/koncert/concert, shekhtman/shehtman)."""
    word = word.replace("ts", "c").replace("kh", "h").replace("k", "c").replace("w", "v")
    return re.sub(r"(.)\1+", r"\1", word)


@functools.cache
def _morph() -> Any:  # pymorphy3 has no type hints
    """pymorphy3's Russian analyser (about 20 MB, loaded on the first Russian word)."""
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


@functools.lru_cache(maxsize=65536)
def ru_lemma(word: str) -> tuple[str, str]:
    """A Russian word's most likely lemma and part of speech: "участвовать" for "участвует" (a verb)."""
    parsed = _morph().parse(word)[0]
    return str(parsed.normal_form).replace("ё", "е"), str(parsed.tag.POS)


_RU_VERB = frozenset({"VERB", "INFN"})


def similarity(q: str, d: str) -> float:
    """How well query word `q` matches document word `d`, 0..1."""
    if q == d:
        return 1.0
    sq, sd = _script(q), _script(d)
    if sq == sd == "ru":
        (lq, pq), (ld, pd) = ru_lemma(q), ru_lemma(d)
        if lq == ld:
            # The same word in another form ("участвует", "участвовать"; "дирижёр", "дирижёра").
            return 0.95
        if {pq, pd} & _RU_VERB and "NOUN" in (pq, pd) and len(_common_prefix(lq, ld)) >= 5:
            # A verb and the noun made from it: "открывает" and "открытие", "записаться" and "запись".
            return 0.8
    if sq == "ko" or sd == "ko":
        if sq != sd:
            return 0.0
        qs, ds = _ko_stem(q), _ko_stem(d)
        if qs == ds:
            return 0.95
        # Compounds written together ("가상투어" holds "투어") and longer endings ("시작해요").
        if len(ds) >= 2 and ds in q:
            return 0.85
        if min(len(qs), len(ds)) >= 3:
            ratio = fuzz.ratio(unicodedata.normalize("NFD", qs), unicodedata.normalize("NFD", ds))
            if ratio >= 80:
                return ratio / 100 * 0.8
        return 0.0
    factor = 1.0
    if sq != sd:
        # The same word in another script: "koncert" and "концерт".
        q, d = _simplify(_translit(q)), _simplify(_translit(d))
        factor = 0.85
        if q == d:
            return factor
    if len(q) < 3 or len(d) < 3:
        return 0.0
    if factor == 1.0:
        # The same stem with another ending: "викторину" and "викторина", "сессии" and "сессия".
        prefix = len(_common_prefix(q, d))
        if prefix >= max(4, len(q) - 2, len(d) - 2):
            return 0.9
    if min(len(q), len(d)) >= 4:
        ratio = fuzz.ratio(q, d)
        if ratio >= (80 if factor == 1.0 else 85):
            return ratio / 100 * 0.85 * factor
    return 0.0


def _common_prefix(a: str, b: str) -> str:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return a[:n]


# "In my time", "по моему времени", "한국 시간으로": the reader wants the time converted, which every
# answer about an item does anyway. Dropped before ranking so they do not point at the time-zone FAQ.
_MY_TIME = re.compile(
    r"\b(?:in|at|by|for)?\s*(?:my|our|local|my local|korean|seoul|moscow|mexico|mexican|kenyan|nairobi"
    r"|new york|eastern|russian)\s+time\b(?!\s*zone)"
    r"|по\s+(?:моему|нашему|местному|моему местному|корейскому|сеульскому|московскому|мексиканскому)\s+времени"
    r"|в\s+моем\s+(?:часовом\s+поясе|времени)"
    r"|(?:한국|서울|우리|제|내|현지|모스크바)\s*시간\s*(?:으로|으론|기준으로|기준)?",
)


def strip_my_time(text: str) -> str:
    """The question without "in my time"-like phrases, unless nothing else would be left."""
    rest = _MY_TIME.sub(" ", normalize(text))
    return rest if any(not is_stop(w) for w in tokens(rest)) else text


_STOP_TRANSLIT = frozenset(_simplify(_translit(w)) for w in _STOP if _script(w) == "ru")


@functools.lru_cache(maxsize=65536)
def is_stop(word: str) -> bool:
    """A question word ("when", "во сколько", "언제"): it shapes the answer but does not pick the topic."""
    if word in _STOP or _ko_stem(word) in _STOP:
        return True
    return _script(word) == "lat" and _simplify(word) in _STOP_TRANSLIT


@dataclass
class Doc:
    kind: Literal["item", "faq"]
    id: str
    # The program item the document is about (an FAQ entry may point at one).
    item: str | None
    order: int
    # word -> best field weight of that word in this document
    words: dict[str, float] = field(default_factory=dict)
    # keyword phrases of several words
    phrases: list[tuple[str, ...]] = field(default_factory=list)

    def add(self, text: str, weight: float, *, keyword: bool = False) -> None:
        words = tokens(text)
        if keyword and len(words) > 1:
            if sum(not is_stop(w) for w in words) >= 2:
                self.phrases.append(tuple(words))
            if all(_script(w) == "ko" for w in words):
                # "커피 브레이크" is often typed "커피브레이크".
                joined = "".join(words)
                self.words[joined] = max(self.words.get(joined, 0.0), weight)
            # A word that is only part of a phrase says less on its own than a keyword by itself.
            weight *= W_PHRASE_PART
        for w in words:
            if not keyword and is_stop(w):
                continue
            self.words[w] = max(self.words.get(w, 0.0), weight)

    def add_texts(self, weight: float, *texts: object) -> None:
        """Every language of each translated text, at `weight`."""
        for text in _texts(*texts):
            self.add(text, weight)

    def add_keywords(self, keywords: Iterable[str]) -> None:
        for kw in keywords:
            self.add(kw, W_KEYWORD, keyword=True)


@dataclass(frozen=True)
class Match:
    kind: Literal["item", "faq"]
    id: str
    item: str | None
    score: float


@dataclass(frozen=True)
class Answer:
    best: Match | None
    # A close runner-up about something else, offered as a second button.
    also: Match | None
    # Details the question asks about that the event file does not know ("prizes" in "what are the quiz
    # prizes"): the answer says "I don't know that" with the organisers' contact, and `best` only as help.
    missing: tuple[str, ...] = ()
    # `best` and `also` score so close that the bot asks which one was meant instead of guessing.
    ask: bool = False
    # Not sure (`best` is None): the closest answers (at most two, about different topics), offered as buttons
    # before the main topics ("can i talk to someone in korean": interpretation, the contact's languages).
    near: tuple[Match, ...] = ()

    @property
    def confident(self) -> bool:
        return self.best is not None


class Index:
    """The searchable form of an event's program and FAQ."""

    def __init__(self, conf: Event) -> None:
        self.docs: list[Doc] = []
        for item in conf.program:
            doc = Doc("item", item.id, item.id, len(self.docs))
            doc.add_texts(W_TITLE, item.title)
            doc.add_texts(W_TEXT, item.description, *item.agenda)
            for s in item.speakers:
                doc.add_texts(W_NAME, s.name)
                doc.add_texts(W_TEXT, s.role)
            doc.add_keywords(item.keywords.all())
            self.docs.append(doc)
        # FAQ entries that answer "how do I ...".
        self._how_to = {e.id for e in conf.faq if any(_HOW_TO.search(normalize(q)) for q in _texts(e.question))}
        for entry in conf.faq:
            doc = Doc("faq", entry.id, entry.item, len(self.docs))
            doc.add_texts(W_QUESTION, entry.question)
            doc.add_texts(W_TEXT, entry.answer)
            doc.add_keywords(entry.keywords.all())
            self.docs.append(doc)
        n = len(self.docs)
        df: dict[str, int] = {}
        for doc in self.docs:
            for w in doc.words:
                df[w] = df.get(w, 0) + 1
        self.idf = {w: math.log(1 + (n - c + 0.5) / (c + 0.5)) for w, c in df.items()}
        self._vocab = sorted(df)
        self._by_script: dict[str, list[str]] = {"ko": [], "ru": [], "lat": []}
        for w in self._vocab:
            self._by_script[_script(w)].append(w)
        self._simple = {w: _simplify(_translit(w)) for w in self._vocab if _script(w) != "ko"}
        self._others = [w for w in self._vocab if w in self._simple]
        self._forms = [self._simple[w] for w in self._others]
        # Korean words by syllable: every Korean match shares one (same stem, a compound part, a typo of a
        # longer word), so only those are compared.
        self._by_syllable: dict[str, list[str]] = {}
        for w in self._by_script["ko"]:
            for ch in set(w):
                self._by_syllable.setdefault(ch, []).append(w)
        self._cache: dict[str, dict[str, float]] = {}
        # Each document's keyword phrases with the bonus a phrase found whole adds (the mean idf of its content).
        self._phrases: list[list[tuple[frozenset[str], float]]] = []
        for doc in self.docs:
            made = []
            for phrase in doc.phrases:
                content = [p for p in phrase if not is_stop(p)]
                made.append((frozenset(phrase), PHRASE_BONUS * sum(self.idf[p] for p in content) / len(content)))
            self._phrases.append(made)

    def related(self, q: str) -> dict[str, float]:
        """The vocabulary's words that match query word `q`, with their similarity."""
        hit = self._cache.get(q)
        if hit is not None:
            return hit
        script = _script(q)
        found: dict[str, float] = {}
        if script == "ko":
            candidates: list[str] = list(dict.fromkeys(w for ch in set(q) for w in self._by_syllable.get(ch, ())))
        else:
            # A cheap filter first (edit similarity on the simplified Latin form), then the exact rules.
            simple = _simplify(_translit(q))
            picked = process.extract(simple, self._forms, scorer=fuzz.ratio, score_cutoff=50, limit=None)
            candidates = [self._others[i] for _, _, i in picked]
        for w in candidates:
            s = similarity(q, w)
            if s > 0:
                found[w] = s
        if len(self._cache) > 20_000:
            self._cache.clear()
        self._cache[q] = found
        return found

    def score(self, query: str, doc: Doc) -> float:
        words = list(dict.fromkeys(tokens(strip_my_time(expand(query)))))
        related = [self.related(q) for q in words]
        return self._score(words, related, doc, _strong(related))

    def coverage(self, words: list[str], related: list[dict[str, float]]) -> float:
        """The share of the question's content words that the event file knows at all."""
        # One-syllable Korean words are mostly verb stems and particles ("볼", "수"): not counted.
        content = [bool(rel) for q, rel in zip(words, related, strict=True)
                   if not is_stop(q) and not (_script(q) == "ko" and len(_ko_stem(q)) < 2)]
        return sum(content) / len(content) if content else 0.0

    def _score(self, words: list[str], related: list[dict[str, float]], doc: Doc, strong: set[str]) -> float:
        total = 0.0
        dw = doc.words
        for q, rel in zip(words, related, strict=True):
            best = max((s * dw[w] * self.idf[w] for w, s in rel.items() if w in dw), default=0.0)
            total += best * (W_STOP if is_stop(q) else 1.0)
        for phrase, bonus in self._phrases[doc.order]:
            if phrase <= strong:
                total += bonus
        return total

    def search(self, query: str) -> list[Match]:
        """Every document with a positive score, best first (ties: the event file's order)."""
        words = list(dict.fromkeys(tokens(strip_my_time(expand(query)))))[:40]
        related = [self.related(q) for q in words]
        # Unknown words lower the confidence: "bitcoin price" is not a question about the fee.
        trust = 0.5 + 0.5 * self.coverage(words, related)
        strong = _strong(related)
        scored = [(round(self._score(words, related, d, strong) * trust, 4), d) for d in self.docs]
        scored = [(s, d) for s, d in scored if s > 0]
        scored.sort(key=lambda sd: (-sd[0], sd[1].order))
        return [Match(d.kind, d.id, d.item, s) for s, d in scored]

    def answer(self, query: str) -> Answer:
        matches = self.search(query)
        if not matches:
            return Answer(None, None)
        best = matches[0]
        if best.score < CONFIDENT:
            # Not sure what is asked, unless one topic clearly leads and the question asks a detail the
            # event file does not have ("где штаб-квартира wego"): then "I don't know that" with the topic.
            runner = matches[1].score if len(matches) > 1 else 0.0
            missing = self.missing(query) if best.score >= HINT and runner <= best.score * 0.5 else ()
            if missing:
                return Answer(best, None, missing)
            near: list[Match] = []
            for m in matches:
                if m.score < NEAR or len(near) == 2:
                    break
                if all(_topic(m) != _topic(n) for n in near):
                    near.append(m)
            return Answer(None, None, near=tuple(near))
        if best.kind == "item" and _HOW_TO.search(normalize(expand(query))):
            # "How do I get a matchmaking meeting": the entry that says how, over the item's card.
            how = next((m for m in matches[1:] if m.kind == "faq" and m.item == best.item and m.id in self._how_to
                        and m.score >= best.score * RUNNER_UP), None)
            if how is not None:
                best = how
        also = next((m for m in matches if _topic(m) != _topic(best)), None)
        if also is not None and also.score < best.score * RUNNER_UP:
            also = None
        missing = self.missing(query)
        ask = also is not None and not missing and also.score >= best.score * ASK
        return Answer(best, also, missing, ask)

    def missing(self, query: str) -> tuple[str, ...]:
        """The question's detail words that nothing in the event file matches (a typo of a known word does),
        and what the event file cannot know at all: a live count ("how many registered so far"), another
        edition of the event ("where is the next excom")."""
        text = normalize(expand(query))
        out = [m.group(0) for m in (_LIVE_COUNT.search(text), _OTHER_EDITION.search(text)) if m is not None]
        done: set[str] = set()
        for m in _COMPOUND.finditer(unicodedata.normalize("NFKC", expand(query)).casefold().replace("ё", "е")):
            # "дресс-код": one word; a part that is only a typo of a known word ("дресс", "адрес") is no match.
            parts = [m.group(1), m.group(2)]
            if any(is_stop(p) for p in parts):
                continue
            done.update(parts)
            if not all(any(v >= 0.8 for v in self.related(p).values()) for p in parts):
                out.append(f"{parts[0]}-{parts[1]}")
        for q in dict.fromkeys(tokens(strip_my_time(expand(query)))):
            if q in done or not _detail_word(q):
                continue
            rel = self.related(q)
            if any(s >= 0.8 for s in rel.values()):
                continue
            typos = 1 if len(q) <= 5 else 2
            if _script(q) != "ko" and any(
                    Levenshtein.distance(_simplify(_translit(q)), self._simple.get(w, w)) <= typos for w in rel):
                continue  # a typo ("plenery"), not another word ("membership" is not "members")
            out.append(q)
        return tuple(out)


# Below CONFIDENT, answers from this score on are offered as buttons with "not sure".
NEAR = 1.2

# A how-to question ("how do i", "как записаться", "어떻게 신청해요"), not "how many/much/long".
_HOW_TO = re.compile(r"\bhow\s+(?:do|can|could|should|to|does)\b|\bкак(?!\s+(?:долго|часто|много))\b|어떻게|방법")

# Below CONFIDENT, a topic that leads clearly from this score on is offered as help with "I don't know that"
# when the question asks a detail the event file does not have.
HINT = 1.5

# A live count the event file cannot know: "how many ppl registered so far", "сколько человек уже
# зарегистрировалось", "지금까지 몇명 등록했어요" (the platform's capacity is not the answer).
_LIVE_COUNT = re.compile(
    r"\bhow\s+many\b(?=.*\b(?:so\s+far|yet|already|by\s+now|currently|to\s+date|at\s+the\s+moment)\b)"
    r"|\b(?:so\s+far|already|currently|to\s+date)\b(?=.*\bhow\s+many\b)"
    r"|\bсколько\s+(?:\w+\s+)?(?:человек|людей|участник\w*|делегат\w*|зарегистр\w*)\b"
    r"(?=.*\b(?:уже|пока|сейчас|на\s+данный\s+момент|на\s+сегодня\w*)\b)"
    r"|\b(?:уже|пока|сейчас)\b(?=.*\bсколько\s+(?:\w+\s+)?(?:человек|людей|участник\w*|зарегистр\w*))"
    r"|(?:지금까지|현재까지|여태|벌써|아직|현재|지금)(?=.*몇\s*(?:명|분이))|몇\s*명(?=.*(?:지금까지|현재까지|여태|벌써))")
# Another edition of the event: the event file knows only this one.
_OTHER_EDITION = re.compile(
    r"\b(?:next|last)\s+years?\b|\b(?:next|previous|past|following)\s+(?:wego\s+)?excom\b"
    r"|\b(?:следующ\w*|прошл\w*|предыдущ\w*)\s+(?:год\w*|экском\w*|excom|исполком\w*)\b"
    r"|\bв\s+(?:следующем|прошлом)\s+году\b|(?:다음|지난)\s*(?:번\s*)?(?:엑스콤|excom)|내년|작년")
# Two words joined by a hyphen ("дресс-код", "dress-code"; not "что-то", "по-русски": stop words).
_COMPOUND = re.compile(r"(?<![\w-])([^\W\d_]{3,})-([^\W\d_]{3,})(?![\w-])")
# One-syllable Korean nouns a question may ask about ("곡": a piece of music, "상": a prize, "옷": clothes).
_KO_NOUN1 = frozenset("곡 상 옷 밥 돈 표 책 술 약 꽃 선물".split())

# Casual words that are neither a topic nor a detail the bot could be missing.
_FILLER: frozenset[str] = frozenset("""
like gonna going exactly anyone someone anything something really actually even ever yet guys dear sir
madam maybe probably still already again kind sort lot lots much many more most very please thanks
there here way thing things stuff able possible allowed need needs
approximately roughly approx around about
примерно около приблизительно где-то
정도 대략 약 쯤
ли вообще типа короче просто вот кстати можно нужно надо будет будут есть это этот эта эти такой такая
где куда откуда какие какой какая какое каких кто что чем кого кому очень пожалуйста ребят всем
""".split())
# A Korean word ending like a verb or an adjective ("받을", "들어갈", "있어요"): not a detail noun.
_KO_VERBAL_END = frozenset("요 다 까 죠 고 서 면 지 게 는 을 니 네 래 줘 야 나 가 해 돼 된 할 한 함 됨 임".split())


def _detail_word(word: str) -> bool:
    """Whether a word could name a detail the question asks about (a noun-like content word)."""
    if is_stop(word) or word in _FILLER or word.isdigit():
        return False
    if _script(word) == "ru":
        # A noun, or a word the dictionary does not know; not a verb ("говорит") or an adjective.
        return len(word) >= 4 and ru_lemma(word)[1] in ("NOUN", "None")
    if _script(word) == "ko":
        if word in _KO_NOUN1 or (len(word) == 2 and word[0] in _KO_NOUN1 and word[1] in "은는이가을를도의"):
            return True
        stem = _ko_stem(word)
        last = stem[-1]
        # A final ㄹ on the last syllable is the future adnominal ("볼", "들어갈").
        return len(stem) >= 2 and last not in _KO_VERBAL_END and (ord(last) - 0xAC00) % 28 != 8
    return len(word) >= 4


def _strong(related: list[dict[str, float]]) -> set[str]:
    """The vocabulary words that some query word matches closely (a keyword phrase counts only with these)."""
    return {w for rel in related for w, s in rel.items() if s >= 0.8}


def _topic(m: Match) -> str:
    return f"item:{m.item}" if m.item else f"faq:{m.id}"


def _texts(*texts: object) -> Iterable[str]:
    for t in texts:
        if t is None:
            continue
        for lang in ("en", "ru", "ko"):
            yield getattr(t, lang)


_INDEXES: dict[int, tuple[Event, Index]] = {}


def index_for(conf: Event) -> Index:
    """The index of an event, built once per loaded event file (a restart reloads the file)."""
    cached = _INDEXES.get(id(conf))
    if cached is not None and cached[0] is conf:
        return cached[1]
    if len(_INDEXES) > 8:
        _INDEXES.clear()
    index = Index(conf)
    _INDEXES[id(conf)] = (conf, index)
    return index
