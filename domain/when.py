"""Questions about time on the day: what is on now, what comes next, how long until, what is on at 1pm.

`parse_when` reads a free question and says whether it is one of these, naming the program item it is
about (found with the free-question matcher of domain/qa.py), the time asked about and a zone the
question names ("in Seoul", "по Москве", "한국 시간으로"). It is conservative: a question whose topic is
an FAQ entry ("when is the registration deadline?") is left to the matcher, and so is anything without
a clear cue. `answer_when` then computes the answer from the event file and the bot's clock; times come
only from program items, never made up.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Literal

from domain import qa
from domain import timezones as tzs
from domain.casual import expand
from domain.event import Event, ProgramItem

# A named item needs at least this score from the matcher (on the question without its time words).
ITEM_SCORE = 1.5


class Intent(StrEnum):
    NOW = "now"  # what is on now (every parallel track)
    NEXT = "next"  # what comes next
    UNTIL = "until"  # how long until an item (or the event) starts, or ends when `WhenQuery.end`
    AT = "at"  # what is on at a given time
    START_TIME = "start_time"  # when an item (or the event) starts, or ends when `WhenQuery.end`
    LEFT = "left"  # how much time is left of what is on now ("how much time is left", "сколько осталось")
    DURATION = "duration"  # how long an item (or the event) lasts
    DIFF = "diff"  # the time difference between the reader's zone (or a named one) and the event's
    DAY = "day"  # what day and time it is now at the event (or in a named zone)


@dataclass(frozen=True)
class WhenQuery:
    """A question about time, as `parse_when` understood it."""

    intent: Intent
    # The language the question is written in ("en", "ru", "ko"): answer in it.
    lang: str
    # Program items the question names, best match first (several when a name fits more than one, such
    # as "coffee break"); empty when none is named.
    items: tuple[str, ...] = ()
    # True when the question is about the event itself: "what time does it start?", "сколько до начала".
    event: bool = False
    # START_TIME, UNTIL: the end of the item (or of the event) rather than its start: "when does the quiz
    # end?", "сколько до конца", "언제 끝나요".
    end: bool = False
    # AT: the local time asked about, in `zone` when one is named, else in the reader's zone.
    at: time | None = None
    # AT: True when the time said am/pm (or утра/вечера, 오전/오후); otherwise "at 9" may be 21:00.
    meridiem: bool = False
    # A zone named in the question: times are shown in it (beside the event's).
    zone: tzs.ZoneMatch | None = None
    # NEXT: what comes after the named item ("what's after the quiz", "что после концерта", "퀴즈 다음에
    # 뭐예요"), not the next occurrence of it ("the next coffee break").
    after: bool = False
    # A day named relative to the reader's today: 0 "today", 1 "tomorrow", 2 "the day after", -1 "yesterday".
    day: int | None = None
    # AT: the hour as typed when it had no am/pm and no minutes ("at 9"): the answer says which hour it took.
    said: str | None = None
    # DIFF: a second place named ("New York and Moscow"): the difference is between `zone` and it.
    other: tzs.ZoneMatch | None = None


class State(StrEnum):
    ON = "on"  # NOW/AT: `items` are on; UNTIL/START_TIME: the item (or the event) has started, not ended
    UPCOMING = "upcoming"  # NEXT/UNTIL/START_TIME: `items` start at `instant`, `until` from now
    # The item (or the whole event) has ended; NEXT: nothing follows (or, after a named item, what follows
    # it is over too when `items` is not empty).
    OVER = "over"
    NOTHING = "nothing"  # NOW/AT: nothing is on at that instant (`next` says what follows, if anything)
    # The day the question names (tomorrow, завтра, 내일) is not the event's day in the reader's zone.
    OTHER_DAY = "other_day"
    FACT = "fact"  # DURATION, DIFF, DAY: a computed value (`length`, `offset`, `instant`)


@dataclass(frozen=True)
class WhenAnswer:
    """What to tell the reader; every instant is UTC, to be shown in `zone` with the event's time beside."""

    query: WhenQuery
    state: State
    # The zone to show times in: the one named in the question, else the reader's.
    zone: str
    # The instant the answer is about: NOW: now; AT: the instant asked about; NEXT/UNTIL/START_TIME: the
    # start of `items[0]` (or of the event), or its end when the query asks for the end.
    instant: datetime
    # NOW/AT: the items on at `instant` (all tracks); NEXT: the next items (parallel ones together), after
    # now or after `following`;
    # UNTIL/START_TIME: the item asked about with its parallel tracks, or the event's first items (its last
    # ones when the query asks for the end).
    items: tuple[ProgramItem, ...] = ()
    # NOW/AT: what starts next after `instant` (when nothing is on, or to say what follows).
    next: tuple[ProgramItem, ...] = ()
    # From now until `instant` (NEXT, UNTIL, START_TIME; negative when the item is ON and `instant` is its
    # start: it started that long ago); None when OVER, and for NOW/AT (NOW: until the `next` items start
    # when nothing is on).
    until: timedelta | None = None
    # AT: False when the time asked about falls outside the event's day (then nothing is on).
    in_event: bool = True
    # NEXT after a named item: that item ("after the quiz"); `items` empty then means nothing follows it.
    following: ProgramItem | None = None
    # DURATION: how long the item (or the event) lasts.
    length: timedelta | None = None
    # DIFF: the named or reader's zone minus `against` (the event's zone unless two places were named).
    offset: timedelta | None = None
    against: str | None = None


# -- recognising the question ---------------------------------------------------------------------

_EN_UNTIL = (r"how\s+(?:long|soon|much\s+(?:more\s+)?time|many\s+(?:more\s+)?(?:minutes|mins|hours))"
             r"(?:\s+(?:is\s+it|is|are|do\s+(?:i|we)\s+have|left|remains?|more))*\s*(?:until|till|til|untill|before|to|left)"
             r"|time\s+left\s+(?:until|till|before|to)|countdown\s+to|how\s+long\s+(?:to\s+wait|left)"
             r"|how\s+much\s+longer|how\s+long\s+(?:more|still)")
_RU_UNTIL = (r"сколько\s+(?:(?:еще|ещё|осталось|остается|времени|ждать|минут|часов)\s+)*до"
             r"|(?:скока|скоко|сколько)\s+(?:еще\s+|ещё\s+)?(?:осталось|ждать)|через\s+сколько"
             r"|долго\s+(?:еще\s+|ещё\s+)?(?:до|ждать)|сколько\s+(?:еще|ещё)\s+(?:идет|будет\s+идти|длится)"
             r"|долго\s+(?:еще|ещё)|(?:еще|ещё)\s+долго")
_KO_UNTIL = r"(?:얼마나\s*남|몇\s*분\s*남|몇\s*시간\s*남|남았|까지\s*얼마|얼마\s*후|얼마나\s*기다|얼마나\s*더)\S*"
_UNTIL = re.compile(rf"\b(?:{_EN_UNTIL})\b|\b(?:{_RU_UNTIL})\b|{_KO_UNTIL}")

_NOW = re.compile(
    r"\b(?:right\s+now|now|currently|at\s+the\s+moment|happening|going\s+on|live)\b"
    r"|\b(?:сейчас|щас|в\s+данный\s+момент|в\s+этот\s+момент|на\s+данный\s+момент)\b"
    r"|지금|현재|진행\s*중|하는\s*중")
_CLOCK = re.compile(r"\bwhat\s+time\s+is\s+it\b|\bкоторый\s+(?:сейчас\s+)?час\b|\bсколько\s+(?:сейчас\s+)?времени\b"
                    r"|몇\s*시\s*(?:예요|에요|야|인가요|입니까)")
_NEXT = re.compile(r"\b(?:next|coming\s+up|up\s+next|after\s+(?:this|that))\b"
                   r"|\b(?:следующ\w*|дальше|далее|потом|после\s+этого|затем)\b"
                   r"|다음|이후|그\s*다음")
# "After the quiz" (not "after this"), "после концерта", "퀴즈 다음에", "퀴즈 끝나고".
_AFTER = re.compile(r"\bafter\s+(?!this\b|that\b)|\bпосле\s+(?!этого\b|того\b|обеда\b)"
                    r"|(?<=[\uac00-\ud7a3])\s*(?:다음|끝나고|끝난\s*(?:후|다음)|후에|이후)")
_WHAT = re.compile(r"\b(?:what|whats|which|anything|something|on|happening|going)\b"
                   r"|\b(?:что|чем|какая|какой|какие|идет|идёт|будет|проходит|есть)\b|뭐|무슨|무엇|어떤|뭘|있어|있나|해요|하나요")
_TIME_Q = re.compile(r"\b(?:what\s+time|when|what\s+hour|time|start|starts|starting|begin|begins|beginning"
                     r"|kick\s*off)\b|\b(?:во\s+(?:сколько|сколко|скока|скоко)|в\s+котором\s+часу|когда|начало"
                     r"|начинается|начнется|начнётся|стартует|старт|время|времени)\b|몇\s*시|언제|시작|시간")
_START = re.compile(r"\b(?:start|starts|starting|begin|begins|beginning|kick\s*off)\b"
                    r"|\b(?:начало|начала|начинается|начнется|начнётся|старт|стартует|старта)\b|시작\S*")
_END = re.compile(r"\b(?:end|ends|ending|finish|finishes|over|wrap\s+up|until\s+when|till\s+when)\b"
                  r"|\b(?:конец|конца|окончани\w*|закончи\w*|заканчива\w*|кончи\w*|кончает\w*|завершит\w*"
                  r"|завершает\w*|до\s+скольки|до\s+какого\s+времени)\b|끝\S*|마치\S*|종료\S*|몇\s*시\s*까지")
# Time left of what is on ("how much time is left", "сколько осталось", "몇 분 남았어요"), also asked as "how
# much longer", "долго ещё", "얼마나 더" (more of what is on, when nothing else is named).
_LEFT = re.compile(r"\b(?:left|remain\w*|longer|more|still)\b|\b(?:осталось|остается|остаётся|еще|ещё)\b|남|더")
# How long an item lasts ("how long does the quiz last", "скока длится концерт", "콘서트는 얼마나 해요").
_DURATION = re.compile(
    r"\bhow\s+long\b(?=.*\b(?:last|lasts|take|takes|run|runs|go\s+on|goes\s+on)\b)|\bduration\b"
    r"|\bhow\s+long\s+(?:is|are)\s+(?!it\s+until|there\b)"
    r"|\b(?:длит\w*|продолжительн\w*)\b|\bкак\s+долго\s+(?:идет|будет|продлится)"
    r"|\bсколько\s+(?:по\s+времени\s+)?(?:идет|продолжается|займет)\b"
    r"|얼마나\s*(?:해|하|걸|진행|길|계속)\S*|얼마\s*동안|몇\s*(?:분|시간)\s*(?:동안|짜리)")
# The time difference ("time difference between me and moscow", "разница во времени", "시차").
_DIFF = re.compile(r"\btime\s+diff\w*|\bdiff\w*\s+(?:in|of)\s+time\b|\bhours?\s+(?:ahead|behind)\b"
                   r"|\bразниц\w*\s+(?:во|по)\s+времени|\bразниц\w*\s+(?:с|между)\b|\bна\s+сколько\s+часов\b"
                   r"|\bhours?\s+diff\w*|\bчас\w*\s+разниц\w*|\bразниц\w*\s+в\s+час\w*"
                   r"|시차|(?:몇\s*)?시간\s*차이?|차이\s*(?:가\s*)?몇\s*시간|몇\s*시간\s*(?:느|빠|빨|늦|이르|일러)\S*")
# What day it is there ("what day is it in moscow", "какой сейчас день в москве", "지금 무슨 요일").
_DAY = re.compile(r"\bwhat\s+(?:day|date)\s+is\s+(?:it|today)\b|\bwhich\s+day\s+is\s+it\b"
                  r"|\bwhat\s+is\s+(?:the\s+)?(?:date|day)\s+(?:today|now|there)\b"
                  r"|\bкак(?:ой|ое)\s+(?:(?:сейчас|сегодня|там)\s+)+(?:день|число)\b"
                  r"|\bкак(?:ой|ое)\s+(?:день|число)\s+(?:сейчас|сегодня|там)\b"
                  r"|(?:지금|오늘|현재|거기)\s*(?:\S+\s+)?(?:무슨\s*요일|며칠|몇\s*일)")
# "Where": a place, not a time ("where is the next excom" is about another edition, not the next item).
_WHERE = re.compile(r"\bwhere\b|\bгде\b|\bкуда\b|어디")
# Days named relative to today, longest first.
_REL_DAYS = (
    (re.compile(r"\bday\s+after\s+tomorrow\b|\bпослезавтра\b|모레"), 2),
    (re.compile(r"\btomorrow\b|\bзавтра\b|내일"), 1),
    (re.compile(r"\byesterday\b|\bвчера\b|어제"), -1),
    (re.compile(r"\btoday\b|\btonight\b|\bсегодня\b|오늘"), 0),
)

# Words that name no item: "the next session", "что сейчас идёт", "지금 진행 중인 세션".
_GENERIC = frozenset("""
session sessions event events item program programme thing things on happening going live left wait
today day conference excom part all everything whole it last lasts take takes run runs remaining
сессия сессии сессию мероприятие мероприятия программа программе сегодня идет идёт будет проходит
там вообще дня какое каково который которая которое все всё это длится продлится идти осталось
까지 부터 세션 행사 순서 일정 프로그램 오늘 진행 진행중 중 중인 하는 뭐하는 뭐해요 중이에요
있어요 있나요 하고 있어 할 해 뭘
""".split())

# -- times ("1pm", "13:00", "в 13", "오후 1시") ------------------------------------------------------

_PM = {"pm", "p m", "дня", "вечера", "오후", "저녁", "밤", "낮"}
_AM = {"am", "a m", "утра", "오전", "아침", "새벽"}
# "в 11 ночи" is 23:00, "в 2 ночи" 02:00; "밤 10시" is 22:00, "밤 1시" 01:00.
_NIGHT = {"ночи", "밤"}
_TIMES = (
    re.compile(r"\b(?P<h>\d{1,2})(?:[:.](?P<m>\d{2}))?\s*(?P<ap>a\.?\s?m|p\.?\s?m)\b\.?"),
    re.compile(r"(?:(?P<ap>오전|오후|아침|저녁|밤|낮|새벽)\s*)?(?P<h>\d{1,2})\s*시(?:\s*(?P<m>\d{1,2})\s*분|\s*(?P<half>반))?"),
    re.compile(r"\b(?:в|во|к|на|at|around|by)\s+(?P<h>\d{1,2})(?:[:.](?P<m>\d{2}))?"
               r"(?:\s*(?:час\w*|ч|h|o\s?clock))?(?:\s+(?P<ap>утра|дня|вечера|ночи))?\b"),
    re.compile(r"(?<![\d:])(?P<h>\d{1,2}):(?P<m>\d{2})(?!\d)"),
    re.compile(r"\bв\s+(?P<h>час)(?:\s+(?P<ap>дня|ночи))?\b"),
    re.compile(r"\b(?P<noon>noon|midday|полдень|в\s+полдень)\b|정오"),
)


def _find_time(text: str) -> tuple[time, bool, tuple[int, int]] | None:
    """The first clock time in `text`: (time, whether it is exact, the span to remove).

    Exact: am/pm (утра/вечера, 오전/오후) was said, or minutes were written ("9:00", "21:00" are 24-hour
    times, never turned into the other half of the day); a bare "9" may be 09:00 or 21:00."""
    for pattern in _TIMES:
        for m in pattern.finditer(text):
            groups = m.groupdict()
            if groups.get("noon"):
                return time(12, 0), True, m.span()
            h = 1 if groups.get("h") == "час" else int(groups["h"])
            minute = 30 if groups.get("half") else int(groups.get("m") or 0)
            ap = (groups.get("ap") or "").replace(".", "").strip()
            meridiem = bool(ap) or (groups.get("m") is not None and ":" in m.group(0))
            if ap in _NIGHT:
                if 6 <= h < 12:
                    h += 12
            elif ap in _PM or ap.startswith("p"):
                if h < 12 and not (ap == "낮" and h >= 11):
                    h += 12
            elif (ap in _AM or ap.startswith("a")) and h == 12:
                h = 0
            if h > 24 or minute > 59 or (ap and h > 23):
                continue
            return time(h % 24, minute), meridiem, m.span()
    return None


# -- zones named in the question ------------------------------------------------------------------

_BEFORE_ZONE = frozenset({"in", "по", "в", "во"})
_AFTER_ZONE = frozenset({"time", "время", "времени", "시간", "시간으로", "시간에", "시간대로", "기준", "기준으로",
                         "기준에"})
_KO_MARK = ("시간", "기준")
# "In Korean" is a language, not Seoul time ("Korean time" is still a zone).
_LANGUAGE_NAMES = frozenset("english russian korean japanese chinese английском русском корейском".split())


def _find_zone(words: list[str], event: Event) -> tuple[tzs.ZoneMatch, int, int] | None:
    """A zone the question names, with the word span it takes (markers included), longest first.

    Only with a marker ("in Seoul", "по Москве", "Tokyo time", "한국 시간으로") or as an abbreviation
    ("9pm KST"): a city's name alone is a topic ("тур по Москве" is also the tour's name, and it is then
    still answered about the tour, in Moscow time).
    """
    n = len(words)
    for length in (4, 3, 2, 1):
        for i in range(n - length + 1):
            j = i + length
            span = words[i:j]
            before = i > 0 and words[i - 1] in _BEFORE_ZONE
            after = j < n and words[j] in _AFTER_ZONE
            glued = length == 1 and span[0][0] >= "\uac00" and any(k in span[0][1:] for k in _KO_MARK)
            abbrev = length == 1 and span[0] in tzs.ABBREVIATIONS
            if not (before or after or glued or abbrev):
                continue
            if span[0] in _BEFORE_ZONE or span[-1] in _AFTER_ZONE:
                continue
            if not after and length == 1 and span[0] in _LANGUAGE_NAMES:
                continue
            match = tzs.resolve_exact(" ".join(span), event)
            if match is not None:
                return match, i - before, j + after
    return None


def _places(words: list[str], event: Event) -> list[tzs.ZoneMatch]:
    """Every place the words name as a zone, in order ("뉴욕이랑" is New York: the particle goes)."""
    found: list[tzs.ZoneMatch] = []
    n = len(words)
    i = 0
    while i < n:
        for length in (2, 1):
            span = " ".join(words[i:i + length])
            if length > n - i or span in _LANGUAGE_NAMES or qa.is_stop(span):
                continue
            match = tzs.resolve_exact(span, event) or (tzs.resolve_exact(qa._ko_stem(span), event)
                                                       if length == 1 and span[:1] >= "\uac00" else None)
            if match is not None and match.how in ("city", "alias", "iana"):
                if all(m.zone != match.zone for m in found):
                    found.append(match)
                i += length - 1
                break
        i += 1
    return found


# -- the parser -------------------------------------------------------------------------------------

def _lang(text: str, hint: str) -> str:
    for ch in text:
        if "\uac00" <= ch <= "\ud7a3":
            return "ko"
    if any("\u0400" <= ch <= "\u04ff" for ch in text):
        return "ru"
    return "en" if re.search(r"[a-z]{2}", text) else hint


def _prepare(text: str) -> str:
    """Lower case, "ё" as "е", apostrophes dropped ("what's" -> "whats"), other punctuation as spaces."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")
    text = re.sub(r"['’`]", "", text)
    return re.sub(r"[^\w:.+\-]+|(?<!\d)[:.]|[:.](?!\d)", " ", text).strip()


@dataclass(frozen=True)
class _Subject:
    kind: Literal["none", "items", "faq", "unknown"]
    items: tuple[str, ...] = ()
    # The event's own name was said ("WeGO EXCOM 2020").
    own_name: bool = False


def _subject(rest: str, event: Event) -> _Subject:
    """What the rest of the question (cue words removed) names: program items, an FAQ entry, nothing."""
    # The event's own name ("WeGO EXCOM 2020") names the event, not an item: "when is WeGO EXCOM 2020?"
    # is the matcher's (the date), "when does EXCOM 2020 start" is the event's start.
    own_name = {w for lang in ("en", "ru", "ko") for w in qa.tokens(event.name.get(lang))}
    words = qa.tokens(rest)
    # "экском" is "excom" in Cyrillic.
    named = any(w in own_name or (not w.isdigit() and any(qa.similarity(w, o) >= 0.85 for o in own_name))
                for w in words)
    content = [w for w in words if not qa.is_stop(w) and w not in _GENERIC and w not in own_name
               and qa._ko_stem(w) not in _GENERIC and not (len(w) == 1 and not w.isdigit())]
    if not content:
        return _Subject("none", own_name=named)
    index = qa.index_for(event)
    matches = index.search(rest)
    if not matches or matches[0].score < ITEM_SCORE:
        return _Subject("unknown")
    best = matches[0]
    items = [m for m in matches if m.kind == "item"]
    if best.kind == "faq" and best.score < qa.CONFIDENT:
        # Not an FAQ topic the matcher would answer: a word such as "comes" near "first come, first served".
        matches = [m for m in matches if m.kind == "item"]
        if not matches or matches[0].score < ITEM_SCORE:
            return _Subject("unknown")
        best = matches[0]
    if best.kind == "faq":
        # An FAQ entry about something other than a program item ("the registration deadline") is the
        # matcher's, and so is one about an item that says more than the item does ("the matchmaking
        # schedule": the item knows "matchmaking", not "schedule"). Otherwise the question names the item.
        own = next((m for m in items if m.id == best.item), None)
        if own is None or own.score < best.score * qa.RUNNER_UP or _says_more(index, rest, best.id, own.id):
            return _Subject("faq")
        top = own.score
    else:
        top = best.score
    picked = tuple(m.id for m in items if m.score >= top * qa.RUNNER_UP)
    return _Subject("items", picked)


def _says_more(index: qa.Index, text: str, faq_id: str, item_id: str) -> bool:
    """True when a content word of `text` weighs much more in the FAQ entry's document than in the item's."""
    docs = {(d.kind, d.id): d for d in index.docs}
    faq, item = docs[("faq", faq_id)], docs[("item", item_id)]
    for q in dict.fromkeys(qa.tokens(qa.strip_my_time(text))):
        if qa.is_stop(q) or q in _GENERIC:
            continue
        related = index.related(q).items()
        in_faq = max((sim * faq.words[w] for w, sim in related if w in faq.words), default=0.0)
        in_item = max((sim * item.words[w] for w, sim in related if w in item.words), default=0.0)
        # A word the item only mentions in passing (its description) while the entry is about it.
        if in_faq > 0 and in_faq >= 2 * in_item:
            return True
    return False


def parse_when(text: str, lang_hint: str, event: Event) -> WhenQuery | None:
    """The question as a question about time, or None when it is not one (the FAQ matcher answers then)."""
    if len(text) > 300:
        return None
    lang = _lang(text, lang_hint)
    s = _prepare(expand(text))
    asks_day = bool(_DAY.search(s))
    day: int | None = None
    for pattern, offset in _REL_DAYS:
        found_day = pattern.search(s)
        if found_day is not None:
            day = offset
            s = s[: found_day.start()] + " " + s[found_day.end():]
            break
    found_time = _find_time(s)
    at: time | None = None
    meridiem = False
    said: str | None = None
    if found_time is not None:
        at, meridiem, (a, b) = found_time
        if not meridiem:
            said = re.sub(r"\D", "", s[a:b])
        s = s[:a] + " " + s[b:]
    words = s.split()
    zone_found = _find_zone(words, event)
    zone = None
    if zone_found is not None:
        zone, i, j = zone_found
        words = words[:i] + words[j:]
    s = " ".join(words)

    def rest(*patterns: re.Pattern[str]) -> str:
        out = s
        for p in patterns:
            out = p.sub(" ", out)
        return out

    end = bool(_END.search(s))
    edge = end or bool(_START.search(s))

    def make(intent: Intent, subject: _Subject | None = None, *, on_event: bool = False) -> WhenQuery:
        items = subject.items if subject is not None else ()
        timed = intent in (Intent.UNTIL, Intent.START_TIME)
        is_at = intent is Intent.AT
        return WhenQuery(intent, lang, items, on_event, end and timed, at if is_at else None,
                         meridiem if is_at else False, zone, day=day, said=said if is_at else None)

    if asks_day and at is None:
        return make(Intent.DAY)
    if _DIFF.search(s) and at is None:
        # "뉴욕이랑 모스크바 시차", "difference between seoul and new york": places named without "in"/"по".
        places = _places(words, event)
        if zone is None and places:
            zone = places[0]
        other = next((p for p in places if p.zone != (zone.zone if zone else "")), None)
        return replace(make(Intent.DIFF), zone=zone, other=other)
    if _UNTIL.search(s):
        subject = _subject(rest(_UNTIL, _TIME_Q, _NOW, _NEXT, _START, _END, _LEFT), event)
        if subject.kind == "items":
            return make(Intent.UNTIL, subject)
        # "How long until it starts / ends"; "how much time is left" (of what is on now).
        if subject.kind == "none" and edge:
            return make(Intent.UNTIL, on_event=True)
        if subject.kind == "none" and _LEFT.search(s):
            return make(Intent.LEFT)
        return None
    if _DURATION.search(s) and at is None:
        subject = _subject(rest(_DURATION, _TIME_Q, _WHAT), event)
        if subject.kind == "items":
            return make(Intent.DURATION, subject)
        if subject.kind == "none":
            return make(Intent.DURATION, on_event=True)
        return None
    if _CLOCK.search(s) and not found_time and _subject(rest(_CLOCK, _NOW), event).kind == "none":
        return make(Intent.NOW)
    if at is not None and (_WHAT.search(s) or _NOW.search(s)):
        subject = _subject(rest(_WHAT, _NOW, _TIME_Q), event)
        return make(Intent.AT) if subject.kind in ("none", "unknown") else None
    if _NOW.search(s):
        subject = _subject(rest(_NOW, _WHAT), event)
        if subject.kind != "faq":
            return make(Intent.NOW, subject)
        return None
    if _AFTER.search(s):
        subject = _subject(rest(_AFTER, _NEXT, _WHAT, _TIME_Q, _END), event)
        if subject.kind == "items":
            return replace(make(Intent.NEXT, subject), after=True)
    if _NEXT.search(s) and not _WHERE.search(s):
        subject = _subject(rest(_NEXT, _WHAT, _TIME_Q), event)
        # "When is the next WeGO EXCOM?" asks about another edition of the event, not the next item.
        if subject.kind != "faq" and not subject.own_name:
            return make(Intent.NEXT, subject)
        return None
    if _TIME_Q.search(s) or end:
        subject = _subject(rest(_TIME_Q, _START, _END), event)
        if subject.kind == "items":
            return make(Intent.START_TIME, subject)
        if subject.kind == "none" and edge:
            return make(Intent.START_TIME, on_event=True)
    return None


# -- the answer -------------------------------------------------------------------------------------

def _named(event: Event, ids: tuple[str, ...], now: datetime, *, later: bool = False) -> ProgramItem | None:
    """Of the items a name fits, the one the reader most likely means: on now or next, else the best.

    `later`: only one that has not started ("the next coffee break" while one is on).
    """
    items = [i for i in (event.item(x) for x in ids) if i is not None]
    if not items:
        return None
    live = sorted((i for i in items if (i.starts if later else i.ends) > now), key=lambda i: i.starts)
    return live[0] if live else items[0]


def _at_instant(event: Event, at: time, zone: str, meridiem: bool, on: date | None = None
                ) -> tuple[datetime, bool]:
    """The instant of a local time on the event's day as seen in `zone`, and whether it is within the event.

    The event's day may be the day before or after in the reader's zone: of the three candidate dates
    the one that falls within the event wins (only `on` when the question named the day). Without am/pm or
    minutes, "at 9" is 21:00 when only that is in it.
    """
    tz = tzs.get_tz(zone)
    hours = [at.hour] + ([at.hour + 12] if not meridiem and 1 <= at.hour < 12 else [])
    candidates = []
    dates = [on] if on is not None else [event.date + timedelta(days=d) for d in (0, -1, 1)]
    for hour in hours:
        for day in dates:
            local = datetime(day.year, day.month, day.day, hour, at.minute, tzinfo=tz)
            candidates.append(local.astimezone(event.starts.tzinfo))
    for c in candidates:
        if event.starts <= c < event.ends:
            return c, True
    return candidates[0], False


def event_dates(event: Event, zone: str) -> list[date]:
    """The dates the event runs on as seen in `zone` (two when it crosses midnight there)."""
    first = tzs.to_local(event.starts, zone).date()
    last = tzs.to_local(event.ends - timedelta(microseconds=1), zone).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def answer_when(event: Event, query: WhenQuery, now: datetime, reader_zone: str) -> WhenAnswer:
    """The answer to a question about time at `now`, for a reader in `reader_zone` (both pure inputs)."""
    zone = query.zone.zone if query.zone is not None else reader_zone
    intent = query.intent
    on_day: date | None = None
    if query.day is not None and intent is not Intent.DAY:
        on_day = tzs.to_local(now, reader_zone).date() + timedelta(days=query.day)
        if on_day not in event_dates(event, reader_zone):
            # "What's on tomorrow" when tomorrow is not the event's day: say when it is instead.
            return WhenAnswer(query, State.OTHER_DAY, reader_zone, event.starts,
                              tuple(i for i in event.program if i.starts == event.starts))
        if zone != reader_zone:
            on_day = None
    if intent is Intent.DAY:
        there = query.zone.zone if query.zone is not None else event.timezone
        return WhenAnswer(query, State.FACT, there, now)
    if intent is Intent.DIFF:
        # One place named: it against the event's zone (the reader's, when it is the event's own); two: the
        # first against the second; none: the reader's zone against the event's.
        there = zone if query.zone is not None and zone != event.timezone else reader_zone
        against = event.timezone
        if query.other is not None:
            there, against = zone, query.other.zone
            if there == event.timezone:
                there, against = against, there
        offset = tzs.to_local(event.starts, there).utcoffset()
        base = tzs.to_local(event.starts, against).utcoffset()
        assert offset is not None and base is not None
        return WhenAnswer(query, State.FACT, there, event.starts, offset=offset - base, against=against)
    if intent is Intent.LEFT:
        on = tuple(event.now_on(now))
        if on:
            left = replace(query, intent=Intent.UNTIL, items=tuple(i.id for i in on), end=True)
            return answer_when(event, left, now, reader_zone)
        return answer_when(event, replace(query, intent=Intent.NOW), now, reader_zone)
    if intent is Intent.AT:
        assert query.at is not None
        instant, inside = _at_instant(event, query.at, zone, query.meridiem, on_day)
        on = tuple(event.now_on(instant))
        after = tuple(event.up_next(instant)) if inside else ()
        return WhenAnswer(query, State.ON if on else State.NOTHING, zone, instant, on, after, None, inside)
    if intent is Intent.NOW:
        on = tuple(event.now_on(now))
        after = tuple(event.up_next(now))
        if on:
            return WhenAnswer(query, State.ON, zone, now, on, after)
        state = State.OVER if now >= event.ends else State.NOTHING
        until = after[0].starts - now if after else None
        return WhenAnswer(query, state, zone, now, (), after, until)
    if intent is Intent.NEXT and query.after and query.items:
        item = _named(event, query.items, now)
        assert item is not None
        later = [i for i in event.program if i.starts > item.starts]
        if not later:
            return WhenAnswer(query, State.OVER, zone, item.ends, following=item)
        start = min(i.starts for i in later)
        found = tuple(i for i in later if i.starts == start)
        ends = max(i.ends for i in found)
        state = State.UPCOMING if now < start else State.ON if now < ends else State.OVER
        until = start - now if state is not State.OVER else None
        return WhenAnswer(query, state, zone, start, found, (), until, following=item)
    if intent is Intent.NEXT and not query.items:
        after = tuple(event.up_next(now))
        if not after:
            return WhenAnswer(query, State.OVER, zone, now)
        return WhenAnswer(query, State.UPCOMING, zone, after[0].starts, after, (), after[0].starts - now)
    # UNTIL, START_TIME, DURATION, and NEXT with a name ("the next coffee break"): one item, or the event.
    if query.event or not query.items:
        # The event's first items, or for its end the items that end it ("until the end": the concert).
        edge = event.ends if query.end else event.starts
        first = tuple(i for i in event.program if (i.ends if query.end else i.starts) == edge)
        start, end = event.starts, event.ends
    else:
        item = _named(event, query.items, now, later=intent is Intent.NEXT)
        if item is None:
            return WhenAnswer(query, State.NOTHING, zone, now)
        first = (item, *(i for i in event.program if i.id != item.id and i.starts == item.starts))
        start, end = item.starts, item.ends
    if now < start:
        state = State.UPCOMING
    elif now < end:
        state = State.ON
    else:
        state = State.OVER
    instant = end if query.end else start
    return WhenAnswer(query, state, zone, instant, first, (), instant - now if state is not State.OVER else None,
                      length=end - start if intent is Intent.DURATION else None)
