"""Questions about time on the day, answered from the bot's clock (domain/when.py rendered by the program
handler): in the reader's zone or the zone the question names, with the event's time beside it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from tests.harness import Harness, register

# 17 Nov 2020, 13:00 GMT+3: "(Re)connection" and the Closed Session are on; the quiz starts at 14:15.
AT_ONE = datetime.fromisoformat("2020-11-17T13:00:00+03:00")
SEOUL_READER = 501


@pytest.fixture
async def day(settings) -> AsyncIterator[Harness]:
    h = await Harness.create(settings, at=AT_ONE)
    await register(h, SEOUL_READER, timezone="Asia/Seoul")
    yield h
    await h.close()


async def test_how_long_until_the_quiz_is_not_the_registration_deadline(day: Harness) -> None:
    await day.send(SEOUL_READER, "how long until the quiz")
    text = day.last_text(SEOUL_READER)
    assert "Smart City Quiz" in text
    assert "20:15–20:45" in text and "14:15–14:45 GMT+3" in text  # Seoul time, and the event's beside it
    assert "Starts in 1 hour 15 minutes." in text
    assert "deadline" not in text.lower()
    assert "ℹ️ Session details" in day.buttons(SEOUL_READER)


async def test_what_is_on_now_in_russian_lists_every_track_in_the_readers_zone(day: Harness) -> None:
    await day.send(SEOUL_READER, "что сейчас идёт", lang="ru")
    text = day.last_text(SEOUL_READER)
    assert "Сейчас идёт" in text and "Сеул" in text
    assert "19:00–20:15" in text  # 13:00 GMT+3 is 19:00 in Seoul
    assert text.count("(до 20:15)") == 2  # both parallel tracks


async def test_next_in_korean(day: Harness) -> None:
    await day.send(SEOUL_READER, "다음 세션 뭐예요", lang="ko")
    text = day.last_text(SEOUL_READER)
    assert "다음 순서" in text and "20:15–20:45" in text
    assert "모스크바 가상 투어" in text


async def test_a_named_zone_converts_the_answer(day: Harness) -> None:
    await day.send(SEOUL_READER, "what time is the opening in Moscow")
    text = day.last_text(SEOUL_READER)
    assert "Opening Ceremony" in text and "09:00–09:30" in text and "Moscow" in text
    assert "This session is over." in text


async def test_the_start_of_the_event_while_it_runs(day: Harness) -> None:
    await day.send(SEOUL_READER, "во сколько начало по москве", lang="ru")
    text = day.last_text(SEOUL_READER)
    assert "начало — 08:00 (Москва (GMT+3)), окончание — 17:45" in text


async def test_what_is_on_at_a_time_with_nothing_on_invents_nothing(day: Harness) -> None:
    await day.send(SEOUL_READER, "whats on at 1pm")  # 13:00 in Seoul: 07:00 GMT+3, before the first item
    text = day.last_text(SEOUL_READER)
    assert text.startswith("Nothing is on at 13:00")


async def test_what_is_on_at_a_time_during_the_event(day: Harness) -> None:
    await day.send(SEOUL_READER, "what's on at 8:30pm")  # 14:30 GMT+3: the tour and the quiz
    text = day.last_text(SEOUL_READER)
    assert "At 20:30" in text
    assert "Virtual Tour of Moscow" in text and "Smart City Quiz" in text


async def test_a_faq_question_still_goes_to_the_faq(day: Harness) -> None:
    await day.send(SEOUL_READER, "when is the registration deadline")
    assert "10 Nov" in day.last_text(SEOUL_READER) or "November 10" in day.last_text(SEOUL_READER)


@pytest.mark.parametrize(("text", "lang", "expected"), [
    ("hi", "en", "Hello! Ask me about the program"),
    ("Привет!", "ru", "Здравствуйте! Спросите меня о программе"),
    ("안녕하세요", "ko", "안녕하세요! “지금 진행 중인 세션은 뭐예요?”"),
    ("thanks!", "en", "You are welcome!"),
    ("спасибо большое", "ru", "Пожалуйста!"),
    ("감사합니다", "ko", "천만에요!"),
])
async def test_greetings_and_thanks_get_a_short_friendly_answer(day: Harness, text: str, lang: str,
                                                                expected: str) -> None:
    await day.send(SEOUL_READER, text, lang=lang)
    assert day.last_text(SEOUL_READER).startswith(expected)


async def test_thanks_with_a_question_is_a_question(day: Harness) -> None:
    await day.send(SEOUL_READER, "thanks, how long until the quiz?")
    assert "Smart City Quiz" in day.last_text(SEOUL_READER)


async def test_help_lists_next(day: Harness) -> None:
    await day.send(SEOUL_READER, "/help")
    assert "/next — what comes next, and how soon" in day.last_text(SEOUL_READER)


async def test_now_is_made_once_a_minute_and_moves_with_the_clock(day: Harness) -> None:
    await day.send(SEOUL_READER, "/now")
    first = day.last_text(SEOUL_READER)
    day.clock.advance(seconds=40)  # the same minute: the same text
    await day.send(SEOUL_READER, "/now")
    assert day.last_text(SEOUL_READER) == first and "19:00, Seoul" in first
    day.clock.advance(seconds=30)  # the next minute
    await day.send(SEOUL_READER, "/now")
    later = day.last_text(SEOUL_READER)
    assert "19:01, Seoul" in later and "1 hour 14 minutes" in later


@pytest.mark.parametrize(("text", "lang", "expected"), [
    # The issue's examples, each in the three languages, for a reader in Seoul at 13:00 GMT+3.
    ("what time is the opening in Seoul", "en", "15:00–15:30"),
    ("во сколько открытие по сеульскому времени", "ru", "15:00–15:30"),
    ("개회식 한국 시간으로 몇 시예요", "ko", "15:00–15:30"),
    ("what time does it start in Moscow time", "en", "08:00"),
    ("во сколько начало по москве", "ru", "08:00"),
    ("모스크바 시간으로 몇 시에 시작해요", "ko", "08:00"),
    ("what's on now", "en", "19:00–20:15"),
    ("что сейчас идёт", "ru", "19:00–20:15"),
    ("지금 뭐 해요?", "ko", "19:00–20:15"),
    ("whats the next session", "en", "20:15–20:45"),
    ("какая следующая сессия?", "ru", "20:15–20:45"),
    ("다음 세션 뭐예요", "ko", "20:15–20:45"),
    ("how long until the quiz", "en", "1 hour 15 minutes"),
    ("сколько осталось до викторины", "ru", "1 час 15 минут"),
    ("퀴즈까지 얼마나 남았어요?", "ko", "1시간 15분"),
])
async def test_the_issues_examples_in_three_languages(day: Harness, text: str, lang: str, expected: str) -> None:
    await day.send(SEOUL_READER, text, lang=lang)
    assert expected in day.last_text(SEOUL_READER)


# -- issue 21: computed answers, 24-hour times, bare hours, relative days, unknown details -------------

async def test_a_24_hour_time_is_never_turned_into_the_other_half_of_the_day(day: Harness) -> None:
    await day.send(SEOUL_READER, "what is on at 9:00 seoul time")
    text = day.last_text(SEOUL_READER)
    assert "Nothing is on at 09:00" in text and "21:00" not in text
    await day.send(SEOUL_READER, "что в 21:00 по москве", lang="ru")
    assert "21:00" in day.last_text(SEOUL_READER) and "09:00" not in day.last_text(SEOUL_READER)


async def test_a_bare_hour_is_read_as_the_hour_the_event_is_on_and_says_so(day: Harness) -> None:
    await day.send(SEOUL_READER, "what's on at 9")
    text = day.last_text(SEOUL_READER)
    assert "At 21:00" in text and "Smart City Driver" in text
    assert "(I took “9” as 21:00, Seoul (GMT+9).)" in text


async def test_time_left_duration_difference_and_the_day_there(day: Harness) -> None:
    # 13:00 GMT+3 (19:00 in Seoul): "(Re)connection" and the Closed Session run until 14:15.
    await day.send(SEOUL_READER, "how much time is left")
    assert "1 hour 15 minutes left" in day.last_text(SEOUL_READER)
    await day.send(SEOUL_READER, "скока длится концерт", lang="ru")
    assert "Длится 1 час 30 минут" in day.last_text(SEOUL_READER)
    await day.send(SEOUL_READER, "모스크바랑 시차 몇시간이에요", lang="ko")
    assert "6시간 빨라요" in day.last_text(SEOUL_READER)
    await day.send(SEOUL_READER, "what day is it in moscow rn")
    text = day.last_text(SEOUL_READER)
    assert "Tuesday, November 17, 2020, 13:00" in text and "Your time" in text


async def test_relative_days(settings) -> None:
    h = await Harness.create(settings, at=datetime.fromisoformat("2020-11-16T12:00:00+03:00"))
    try:
        await register(h, SEOUL_READER, timezone="Asia/Seoul")
        await h.send(SEOUL_READER, "내일 몇시에 시작해요", lang="ko")
        assert "14:00" in h.last_text(SEOUL_READER)
        await h.send(SEOUL_READER, "what's on today at 3pm")
        assert "not the event's" in h.last_text(SEOUL_READER)
    finally:
        await h.close()


async def test_an_unknown_detail_of_a_known_topic_says_so_with_the_contact_and_the_card(day: Harness) -> None:
    await day.send(SEOUL_READER, "what are the quiz prizes")
    text = day.last_text(SEOUL_READER)
    assert text.startswith("I don't know that") and "regina@we-gov.org" in text
    assert "Smart City Quiz" in text


async def test_time_left_asked_casually_or_without_a_name(day: Harness) -> None:
    # 13:00 GMT+3: "how much longer" was the registration fee ("how much"), "долго ещё" the item's card.
    await day.send(SEOUL_READER, "how much longer is this session")
    text = day.last_text(SEOUL_READER)
    assert "1 hour 15 minutes left" in text and "fee" not in text.lower()
    await day.send(SEOUL_READER, "закрытая сессия долго ещё", lang="ru")
    assert "осталось 1 час 15 минут" in day.last_text(SEOUL_READER)


async def test_a_time_difference_asked_as_how_many_hours_apart(day: Harness) -> None:
    await day.send(SEOUL_READER, "서울이랑 모스크바 몇시간 차이", lang="ko")
    assert "6시간" in day.last_text(SEOUL_READER)
    await day.send(SEOUL_READER, "how many hours difference with moscow")
    assert "6 hours ahead" in day.last_text(SEOUL_READER)


async def test_a_time_in_a_named_zone_is_also_given_in_the_readers_own(day: Harness) -> None:
    await day.send(SEOUL_READER, "что будет в 16:00 по москве", lang="ru")
    text = day.last_text(SEOUL_READER)
    assert "15:45–16:15" in text and "Москва" in text  # the zone the question named
    assert "Ваше время" in text and "21:45–22:15" in text and "22:00" in text  # and the reader's (Seoul)
