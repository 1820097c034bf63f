"""No dead ends (issue 12): a question typed at a registration step is answered and the step asked again;
typed text where buttons are expected is matched to them; old buttons after /forget answer in the person's
language; after the deadline a person can still set a language and a zone and follow sessions; Back, a shared
location at the city step, the persistent menu."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from services import reminder_jobs
from storage.models import Delegate, Guest
from storage.repo import Follows
from tests.harness import Harness, VirtualTimer, make_settings, register
from tests.test_registration import stored, tr, walk_to

UID = 7001
OTHER = 7002


async def conversation(h: Harness, uid: int = UID) -> tuple[str | None, dict[str, Any]]:
    key = h.state_key(uid)
    storage = h.app.dp.fsm.storage
    return await storage.get_state(key), await storage.get_data(key)


async def free_answer(h: Harness, text: str) -> str:
    """What the free-question handler answers to `text` (asked by someone outside any conversation)."""
    calls = await h.send(OTHER, text)
    return next(c.text for c in calls if c.method == "sendMessage")


QUESTIONS = ["when is the quiz?", "how long until the quiz", "как подключиться?", "퀴즈 언제예요?"]
STEP_QUESTION = {
    "full_name": "What is your full name?", "position": "What is your position (job title)?",
    "organisation": "Which organisation do you represent?",
    "city": "Which city and country are you from? For example: <i>Seoul, Republic of Korea</i>.",
    "email": "What is your e-mail address? The organisers use it only for this event.",
}


# -- 1. a question at a text step ---------------------------------------------------------------------------

@pytest.mark.parametrize("step", list(STEP_QUESTION))
@pytest.mark.parametrize("question", QUESTIONS)
async def test_a_question_at_a_text_step_is_answered_and_the_step_asked_again(harness: Harness, step: str,
                                                                             question: str) -> None:
    h = harness
    expected = await free_answer(h, question)
    await walk_to(h, step, uid=UID)
    before_state, before = await conversation(h)
    calls = await h.send(UID, question)
    texts = [c.text for c in calls if c.method == "sendMessage"]
    assert texts[0] == expected, "the same answer as the free-question handler"
    assert STEP_QUESTION[step] in texts[-1], "then the step is asked again"
    state, data = await conversation(h)
    assert state == before_state
    assert data["answers"] == before["answers"], "nothing entered is lost, the question is not taken as an answer"


async def test_insisting_with_the_button_takes_the_text(harness: Harness) -> None:
    h = harness
    await walk_to(h, "full_name", uid=UID)
    await h.send(UID, "Who?")
    assert any("Use «Who?» as my name" in b for b in h.buttons(UID))
    await h.press(UID, "Use «Who?» as my name")
    _state, data = await conversation(h)
    assert data["answers"]["full_name"] == "Who?"
    assert STEP_QUESTION["position"] in h.last_text(UID)


async def test_insisting_by_typing_it_again_takes_the_text(harness: Harness) -> None:
    h = harness
    await walk_to(h, "organisation", uid=UID)
    await h.send(UID, "What Works Foundation?")
    await h.send(UID, "What Works Foundation?")
    _state, data = await conversation(h)
    assert data["answers"]["organisation"] == "What Works Foundation?"


async def test_an_old_insist_button_does_not_take_a_stale_text(harness: Harness) -> None:
    h = harness
    await walk_to(h, "full_name", uid=UID)
    await h.send(UID, "Who?")
    await h.send(UID, "Ada Lovelace")
    await h.press(UID, "Use «Who?» as my name")
    _state, data = await conversation(h)
    assert data["answers"]["full_name"] == "Ada Lovelace"
    assert "position" not in data["answers"]


@pytest.mark.parametrize(("step", "text"), [
    ("full_name", "Kim Min-jun"), ("full_name", "김민준"), ("full_name", "Анна Каренина"),
    ("full_name", "Will Smith"), ("position", "Chief Digital Officer"), ("position", "Начальник отдела"),
    ("organisation", "Seoul Metropolitan Government"), ("organisation", "Правительство Москвы"),
    ("organisation", "서울특별시"), ("city", "Moscow"), ("city", "Москва"), ("city", "Seoul, Republic of Korea"),
    ("full_name", "Назар"), ("full_name", "Ли Кён Ёль"), ("position", "Back Office Manager"),
    ("city", "Can Tho City, Vietnam"),
])
async def test_real_answers_are_not_taken_for_questions(harness: Harness, step: str, text: str) -> None:
    h = harness
    await walk_to(h, step, uid=UID)
    await h.send(UID, text)
    _state, data = await conversation(h)
    assert data["answers"][step] == text.split(",")[0]


def test_no_city_speaker_or_role_of_the_event_file_reads_as_a_question() -> None:
    """Every city (with its country), speaker and role of the event file in three languages is an answer; the
    FAQ's questions without their question mark still read as questions (all but a few imperatives)."""
    from domain.choices import reads_as_question
    from domain.event import load_event
    from domain.when import parse_when

    e = load_event("events/excom2020.toml")
    answers = {t for c in e.cities for lang in ("en", "ru", "ko")
               for t in (c.name.get(lang), f"{c.name.get(lang)}, {c.country.get(lang)}")}
    answers |= {t for i in e.program for sp in i.speakers for lang in ("en", "ru", "ko")
                for t in (sp.name.get(lang), sp.role.get(lang))}
    assert [a for a in sorted(answers) if reads_as_question(a) or parse_when(a, "en", e) is not None] == []
    questions = [f.question.get(lang).rstrip("?？ ") for f in e.faq for lang in ("en", "ru", "ko")]
    found = [q for q in questions if reads_as_question(q) or parse_when(q, "en", e) is not None]
    assert len(found) >= 0.95 * len(questions)


# -- 2. typed text where buttons are expected -------------------------------------------------------------

@pytest.mark.parametrize(("typed", "lang", "ptype"), [
    ("EXCOM member", "en", "excom"), ("excom member city", "en", "excom"), ("член EXCOM", "ru", "excom"),
    ("EXCOM 회원", "ko", "excom"), ("WeGO membr", "en", "wego_member"), ("партнёр", "ru", "partner"),
    ("Institution", "en", "institution"),
])
async def test_a_participant_type_typed(harness: Harness, typed: str, lang: str, ptype: str) -> None:
    h = harness
    await walk_to(h, "participant_type", uid=UID, lang=lang)
    await h.send(UID, typed, lang=lang)
    _state, data = await conversation(h)
    assert data["answers"]["participant_type"] == ptype
    assert tr(h, "What is your e-mail address? The organisers use it only for this event.", lang) in h.last_text(UID)


@pytest.mark.parametrize(("typed", "lang"), [("yes", "en"), ("да", "ru"), ("네", "ko"), ("I agree", "en"),
                                             ("Согласен", "ru"), ("동의", "ko")])
async def test_consent_typed(harness: Harness, typed: str, lang: str) -> None:
    h = harness
    await walk_to(h, "consent", uid=UID, lang=lang)
    await h.send(UID, typed, lang=lang)
    assert tr(h, "Please check your registration:", lang) in h.last_text(UID)


async def test_no_typed_at_consent_declines(harness: Harness) -> None:
    h = harness
    await walk_to(h, "consent", uid=UID)
    await h.send(UID, "no")
    assert "nothing has been stored" in h.last_text(UID)
    assert await conversation(h) == (None, {"lang": "en"})


async def test_matchmaking_and_time_zone_typed(harness: Harness) -> None:
    h = harness
    await walk_to(h, "timezone", uid=UID, lang="ru")
    await h.send(UID, "Seoul", lang="ru")
    await h.send(UID, "да", lang="ru")
    _state, data = await conversation(h)
    assert data["answers"]["timezone"] == "Asia/Seoul"
    await h.send(UID, "нет", lang="ru")
    _state, data = await conversation(h)
    assert data["answers"]["matchmaking"] is False
    await h.send(UID, "да", lang="ru")  # consent
    await h.send(UID, "подтвердить", lang="ru")
    row = await stored(h, UID)
    assert row is not None and row.timezone == "Asia/Seoul" and row.language == "ru"


async def test_a_language_typed(harness: Harness) -> None:
    h = harness
    await h.send(UID, "/start")
    await h.send(UID, "русский")
    _state, data = await conversation(h)
    assert data["lang"] == "ru"
    assert tr(h, "What is your full name?", "ru") in h.last_text(UID)


async def test_typed_text_that_matches_no_button_says_which_to_press(harness: Harness) -> None:
    h = harness
    await walk_to(h, "consent", uid=UID)
    calls = await h.send(UID, "banana")
    text = calls[-1].text
    assert "«I agree»" in text and "«I do not agree»" in text
    assert "I can only take" not in text
    assert h.buttons(UID) == ["I agree", "I do not agree", "↩️ Back"]


async def test_typed_summary_edit_opens_the_field_choice(harness: Harness) -> None:
    h = harness
    await walk_to(h, "consent", uid=UID)
    await h.press(UID, "I agree")
    await h.send(UID, "edit")
    assert "Which field do you want to change?" in h.last_text(UID)
    await h.send(UID, "e-mail")
    assert STEP_QUESTION["email"] in h.last_text(UID)


# -- 5. old buttons after /forget ----------------------------------------------------------------------------

async def test_an_old_button_after_forget_answers_in_the_last_language(harness: Harness) -> None:
    h = harness
    await register(h, UID, language="ko")
    await h.send(UID, "/forget", lang="en")
    msg, data = h._message_with(UID, tr(h, "Yes, delete everything", "ko"))
    await h.press(UID, tr(h, "Yes, delete everything", "ko"), lang="en")
    assert await stored(h, UID) is None
    calls = await h.feed(h.updates.callback(UID, data, msg, language_code="en"))
    answers = [c.params.get("text") for c in calls if c.method == "answerCallbackQuery"]
    assert answers == [tr(h, "This button is no longer active.", "ko")]
    async with h.app.sessions() as s:
        assert await s.get(Delegate, UID) is None


# -- 4. Back, Keep, a location at the city step ------------------------------------------------------------

async def test_back_goes_to_the_previous_step_with_its_answer_shown_and_kept(harness: Harness) -> None:
    h = harness
    await walk_to(h, "organisation", uid=UID)
    assert "↩️ Back" in h.buttons(UID)
    await h.press(UID, "↩️ Back")
    text = h.last_text(UID)
    assert STEP_QUESTION["position"] in text and "Chief Digital Officer" in text
    await h.press(UID, "Keep «Chief Digital Officer»")
    assert STEP_QUESTION["organisation"] in h.last_text(UID)
    await h.press(UID, "↩️ Back")
    await h.send(UID, "Mayor")
    _state, data = await conversation(h)
    assert data["answers"]["position"] == "Mayor" and data["answers"]["full_name"] == "Ada Lovelace"
    assert STEP_QUESTION["organisation"] in h.last_text(UID)


async def test_back_from_a_button_step_and_typed_back(harness: Harness) -> None:
    h = harness
    await walk_to(h, "participant_type", uid=UID, lang="ru")
    await h.send(UID, "назад", lang="ru")  # typed, at a button step
    assert tr(h, "Which city and country are you from? For example: <i>Seoul, Republic of Korea</i>.", "ru") \
        in "\n".join(h.texts(UID)[-2:])
    await h.send(UID, tr(h, "↩️ Back", "ru"), lang="ru")  # the keyboard's Back at the city step
    assert tr(h, "Which organisation do you represent?", "ru") in h.last_text(UID)


async def test_the_first_step_after_the_language_goes_back_to_the_language(harness: Harness) -> None:
    h = harness
    await walk_to(h, "full_name", uid=UID)
    await h.press(UID, "↩️ Back")
    assert "Please choose your language." in h.last_text(UID)
    await h.press(UID, "Русский", lang="en")
    assert tr(h, "What is your full name?", "ru") in h.last_text(UID)


async def test_a_location_at_the_city_step_gives_a_city_to_confirm(harness: Harness) -> None:
    h = harness
    await walk_to(h, "city", uid=UID)
    await h.feed(h.updates.location(UID, 37.57, 126.98))
    assert "Seoul, Republic of Korea" in h.last_text(UID) or "Seoul, South Korea" in h.last_text(UID)
    await h.press(UID, "Yes")
    _state, data = await conversation(h)
    assert data["answers"]["city"] == "Seoul" and data["answers"]["city_id"] == "seoul"
    assert "Which type of participant are you?" in h.last_text(UID)


async def test_no_to_the_city_from_a_location_asks_to_type_it(harness: Harness) -> None:
    h = harness
    await walk_to(h, "city", uid=UID)
    await h.feed(h.updates.location(UID, 55.75, 37.62))
    await h.press(UID, "No, I will type it")
    _state, data = await conversation(h)
    assert "city" not in data["answers"]
    assert STEP_QUESTION["city"] in "\n".join(h.texts(UID)[-2:])


# -- 4. the persistent menu -----------------------------------------------------------------------------------

def keyboard(h: Harness, uid: int = UID) -> list[str]:
    """The newest reply keyboard sent to the person."""
    for r in reversed(h.session.sent(uid)):
        markup = r.params.get("reply_markup") or {}
        if "keyboard" in markup or markup.get("remove_keyboard"):
            return r.keyboard
    return []


@pytest.mark.parametrize("lang", ["en", "ru", "ko"])
async def test_the_menu_after_registering_in_the_persons_language(harness: Harness, lang: str) -> None:
    h = harness
    await walk_to(h, "summary", uid=UID, lang=lang)
    await h.press(UID, tr(h, "✅ Confirm", lang), lang=lang)
    labels = [tr(h, m, lang) for m in ("📋 Program", "▶️ Now and next", "👤 My profile", "🔔 Reminders", "❓ Help")]
    assert keyboard(h) == labels
    h.session.clear()
    await h.send(UID, labels[3], lang="en")
    assert tr(h, "Your reminders", lang) in h.last_text(UID)
    await h.send(UID, labels[0], lang="en")
    assert "📋" in h.last_text(UID) and tr(h, "Tap a session for its details, reminders and calendar file.", lang) \
        in h.last_text(UID)
    await h.send(UID, labels[2], lang="en")
    assert "Ada Lovelace" in h.last_text(UID)


@pytest.mark.parametrize(("typed", "expect"), [
    ("▶️ Сейчас и далее", "starts in"), ("❓ 도움말", "What I can do"), ("program", "Tap a session"),
])
async def test_menu_labels_in_any_language_reach_their_command(harness: Harness, typed: str, expect: str) -> None:
    h = harness
    await register(h, UID)
    await h.send(UID, typed)
    assert expect in "\n".join(h.texts(UID))


async def test_a_menu_label_in_the_middle_of_a_step_then_the_step_again(harness: Harness) -> None:
    h = harness
    await register(h, UID)
    await h.send(UID, "/profile")
    await h.press(UID, "Edit a field")
    await h.press(UID, "Position")
    await h.send(UID, "📋 Program")
    texts = h.texts(UID)
    assert "Tap a session" in texts[-2] and "What is your position" in texts[-1]
    await h.send(UID, "Mayor")
    assert keyboard(h)[0] == "📋 Program", "the menu is back once the edit is saved"


async def test_the_menu_is_not_shown_during_steps_with_their_own_keyboard(harness: Harness) -> None:
    h = harness
    await walk_to(h, "timezone", uid=UID)
    assert keyboard(h) == ["📍 Share my location", "↩️ Back"]


# -- 3. after the registration deadline ----------------------------------------------------------------------

AFTER_DEADLINE = datetime.fromisoformat("2020-11-15T10:00:00+03:00")


@pytest.fixture
async def late(tmp_path: Path) -> AsyncIterator[Harness]:
    h = await Harness.create(make_settings(tmp_path), at=AFTER_DEADLINE)
    yield h
    await h.close()


async def guest_row(h: Harness, uid: int = UID) -> Guest | None:
    async with h.app.sessions() as s:
        return await s.get(Guest, uid)


async def test_start_after_the_deadline_says_closed_and_what_one_can_still_do(late: Harness) -> None:
    h = late
    await h.send(UID, "/start")
    text = h.last_text(UID)
    assert "Registration for WeGO EXCOM 2020 closed on" in text
    assert "You can still see the program in your own time zone" in text
    assert h.buttons(UID) == ["🕘 Set my time zone", "📋 Program"]
    assert await conversation(h) == (None, {})


@pytest.mark.parametrize("command", ["/program", "/now", "/next"])
async def test_the_program_after_the_deadline_does_not_send_people_to_register(late: Harness, command: str) -> None:
    h = late
    await h.send(UID, command)
    text = h.last_text(UID)
    assert "/start" not in text and "Register" not in text
    assert "Send /timezone to see the times in your own time zone." in text


async def test_a_guest_sets_a_zone_and_a_language_and_sees_the_program_in_their_time(late: Harness) -> None:
    h = late
    await h.send(UID, "/start")
    await h.press(UID, "Set my time zone")
    assert "Which time zone are you in?" in h.last_text(UID)
    await h.send(UID, "Seoul")
    assert "Time zone set:" in h.texts(UID)[-2]
    row = await guest_row(h)
    assert row is not None and (row.timezone, row.language, row.zone_chosen) == ("Asia/Seoul", "en", True)
    await h.send(UID, "/program")
    text = h.last_text(UID)
    assert "times for" in text and "/timezone" not in text and "15:00" in text  # the opening at 09:00 GMT+3
    await h.send(UID, "/language")
    await h.press(UID, "Русский")
    row = await guest_row(h)
    assert row is not None and row.language == "ru"
    await h.send(UID, "/program", lang="en")
    assert "Программа" in h.last_text(UID) or "программа" in h.last_text(UID)
    async with h.app.sessions() as s:
        assert await s.get(Delegate, UID) is None, "nothing else is stored"


async def test_a_guest_follows_a_session_and_is_reminded_in_their_zone_and_language(late: Harness) -> None:
    h = late
    await h.send(UID, "/timezone")
    await h.send(UID, "Seoul")
    await h.send(UID, "/language")
    await h.press(UID, "한국어")
    await h.send(UID, "/program")
    await h.press(UID, "15:00 개회식")
    await h.press(UID, "🔔")
    async with h.app.sessions() as s:
        assert await Follows(s).items(UID) == {"opening"}
    d = h.app.delivery
    h.clock.set(datetime.fromisoformat("2020-11-17T08:50:00+03:00"))
    assert await reminder_jobs.planner(d).run_reminder("opening", 10) == 1
    sender = d.make_sender(h.bot, timer=VirtualTimer())
    while await sender.drain_once():
        pass
    assert "10분 후 15:00에 시작해요" in h.last_text(UID)


async def test_someone_who_only_presses_remind_me_becomes_a_guest_in_the_events_zone(late: Harness) -> None:
    h = late
    await h.send(UID, "/program")
    await h.press(UID, "Opening")
    assert "🔔 Remind me" in h.buttons(UID)
    await h.press(UID, "🔔 Remind me")
    row = await guest_row(h)
    assert row is not None and (row.timezone, row.zone_chosen) == ("Europe/Moscow", False)
    await h.send(UID, "/program")
    assert "Send /timezone" in h.last_text(UID), "the event's zone until they choose theirs"
    await h.send(UID, "/reminders")
    assert "Opening" in h.last_text(UID)


async def test_before_the_deadline_remind_me_still_asks_to_register(harness: Harness) -> None:
    h = harness
    await h.send(UID, "/program")
    await h.press(UID, "Opening")
    assert "🔔 Remind me" not in h.buttons(UID)
    calls = await h.press_data(UID, "fol:opening:1")
    assert "Register with /start" in next(c for c in calls if c.method == "answerCallbackQuery").params["text"]
    await h.send(UID, "/timezone")
    assert "Send /start to register." in h.last_text(UID)
    assert await guest_row(h) is None


async def test_reminders_and_help_after_the_deadline(late: Harness) -> None:
    h = late
    await h.send(UID, "/reminders")
    assert "You follow no sessions yet. Open /program" in h.last_text(UID)
    await h.send(UID, "/help")
    assert "/timezone" in h.last_text(UID) and "/start — register" not in h.last_text(UID)


async def test_the_faq_no_longer_sends_people_to_register_after_the_deadline(late: Harness) -> None:
    h = late
    for question in ("How do I register?", "Can I take part without registering?", "Как зарегистрироваться?"):
        calls = await h.send(UID, question)
        text = calls[-1].text
        assert "wegoexcom2020.com" not in text, question
        assert "November 10, 2020" in text or "10 ноября 2020" in text


async def test_forget_deletes_a_guest(late: Harness) -> None:
    h = late
    await h.send(UID, "/timezone")
    await h.send(UID, "Seoul")
    await h.send(UID, "/forget")
    assert await guest_row(h) is None


async def test_a_guest_let_in_late_registers_and_stops_being_a_guest(late: Harness) -> None:
    h = late
    await h.send(UID, "/timezone")
    await h.send(UID, "Seoul")
    await h.send(999, f"/admit {UID}")
    await walk_to(h, "summary", uid=UID)
    await h.press(UID, "✅ Confirm")
    assert await stored(h, UID) is not None
    assert await guest_row(h) is None


async def test_timezone_for_a_delegate_edits_the_profile(harness: Harness) -> None:
    h = harness
    await register(h, UID, timezone="Europe/Moscow")
    await h.send(UID, "/timezone")
    assert "Which time zone are you in?" in "\n".join(h.texts(UID)[-2:])
    await h.send(UID, "Seoul")
    await h.send(UID, "yes")
    row = await stored(h, UID)
    assert row is not None and row.timezone == "Asia/Seoul"
    assert await guest_row(h) is None


async def test_cancel_while_a_guest_is_asked_the_zone(late: Harness) -> None:
    h = late
    await h.send(UID, "/timezone")
    await h.send(UID, "/cancel")
    assert "Cancelled. Your data is unchanged." in h.last_text(UID)
    await h.send(UID, "when is the quiz?")
    assert "Quiz" in h.last_text(UID) or "quiz" in h.last_text(UID)
    assert await guest_row(h) is None


async def test_a_guest_who_blocked_the_bot_is_not_reminded_until_they_write_again(late: Harness) -> None:
    h = late
    await h.send(UID, "/timezone")
    await h.send(UID, "Seoul")
    await h.press_data(UID, "fol:opening:1")
    await h.press_data(UID, "fol:plenary:1")
    d = h.app.delivery
    h.clock.set(datetime.fromisoformat("2020-11-17T08:50:00+03:00"))
    h.session.blocked.add(UID)
    assert await reminder_jobs.planner(d).run_reminder("opening", 10) == 1
    sender = d.make_sender(h.bot, timer=VirtualTimer())
    while await sender.drain_once():
        pass
    row = await guest_row(h)
    assert row is not None and row.blocked_at is not None
    assert await reminder_jobs.planner(d).run_reminder("plenary", 10) == 0
    h.session.blocked.discard(UID)
    await h.send(UID, "/now")
    row = await guest_row(h)
    assert row is not None and row.blocked_at is None
