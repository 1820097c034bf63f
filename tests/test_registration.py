"""The registration conversation, fed through the real Dispatcher: what the person sees, what is stored."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from storage.models import Delegate, Follow, FsmRecord, LatePass
from storage.repo import Delegates
from tests.harness import Harness, register

UID = 5001


def tr(h: Harness, msgid: str, lang: str) -> str:
    """The translation the person should see (asserting it differs from English where translated)."""
    text = h.app.i18n.gettext(msgid, locale=lang)
    if lang != "en":
        assert text != msgid, f"{msgid!r} has no {lang} translation"
    return text


async def stored(h: Harness, uid: int = UID) -> Delegate | None:
    async with h.app.sessions() as s:
        return await s.get(Delegate, uid)


async def walk_to(h: Harness, step: str, *, uid: int = UID, lang: str = "en", ptype: str = "EXCOM") -> None:
    """Answer the registration up to (not including) `step`, in English answers."""
    order = ["language", "full_name", "position", "organisation", "city", "participant_type", "email",
             "timezone", "matchmaking", "consent"]
    await h.send(uid, "/start", lang=lang)
    answers = {
        "language": None, "full_name": "Ada Lovelace", "position": "Chief Digital Officer",
        "organisation": "Seoul Metropolitan Government", "city": "Seoul, Republic of Korea",
        "participant_type": None, "email": "ada@example.org", "timezone": "Seoul", "matchmaking": None,
    }
    names = {"en": "English", "ru": "Русский", "ko": "한국어"}
    for s in order:
        if s == step:
            return
        if s == "language":
            await h.press(uid, names[lang], lang=lang)
        elif s == "participant_type":
            await h.press(uid, tr(h, {"EXCOM": "EXCOM member city", "partner": "Partner or sponsor company"}[ptype],
                                  lang), lang=lang)
        elif s == "timezone":
            await h.send(uid, answers["timezone"], lang=lang)
            await h.press(uid, tr(h, "Yes", lang), lang=lang)
        elif s == "matchmaking":
            if ptype == "EXCOM":
                await h.press(uid, tr(h, "Yes, available", lang), lang=lang)
        elif s == "consent":
            await h.press(uid, tr(h, "I agree", lang), lang=lang)
        else:
            await h.send(uid, str(answers[s]), lang=lang)


@pytest.mark.parametrize("lang", ["en", "ru", "ko"])
async def test_whole_registration_in_each_language(harness: Harness, lang: str) -> None:
    h = harness
    await h.send(UID, "/start", lang=lang)
    # The greeting comes in the person's Telegram language, then the language question with three buttons.
    assert tr(h, "Please choose your language.", lang) in h.last_text(UID)
    assert h.buttons(UID) == ["English", "Русский", "한국어"]
    h.session.clear()
    await walk_to(h, "summary", lang=lang)
    assert tr(h, "What is your full name?", lang) in "\n".join(h.texts(UID))
    summary = h.last_text(UID)
    assert tr(h, "Please check your registration:", lang) in summary
    for value in ("Ada Lovelace", "Chief Digital Officer", "Seoul Metropolitan Government", "ada@example.org"):
        assert value in summary
    assert await stored(h) is None, "nothing is stored before Confirm"
    await h.press(UID, tr(h, "✅ Confirm", lang), lang=lang)
    row = await stored(h)
    assert row is not None
    assert (row.full_name, row.language, row.timezone, row.participant_type, row.matchmaking, row.city_id) == (
        "Ada Lovelace", lang, "Asia/Seoul", "excom", True, "seoul")
    assert row.email == "ada@example.org" and row.consent_at is not None
    assert "Ada Lovelace" in h.last_text(UID)
    async with h.app.sessions() as s:  # the conversation is over: no state left behind
        assert await s.scalar(select(func.count()).select_from(FsmRecord)) == 0


async def test_greets_in_telegram_language_and_falls_back_to_english(harness: Harness) -> None:
    await harness.send(UID, "/start", lang="ko-KR")
    assert tr(harness, "Please choose your language.", "ko") in harness.last_text(UID)
    await harness.send(UID + 1, "/start", lang="de")
    assert "Please choose your language." in harness.last_text(UID + 1)


async def test_partner_is_not_asked_about_matchmaking(harness: Harness) -> None:
    h = harness
    await walk_to(h, "summary", ptype="partner")
    assert not any("matchmaking meetings" in t for t in h.texts(UID))
    await h.press(UID, "Confirm")
    row = await stored(h)
    assert row is not None and row.participant_type == "partner" and row.matchmaking is None


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("A", "too short"),
        ("x" * 101, "too long"),
        ("12345", "letters"),
    ],
)
async def test_name_is_validated_and_re_asked(harness: Harness, answer: str, reason: str) -> None:
    await walk_to(harness, "full_name")
    await harness.send(UID, answer)
    text = harness.last_text(UID)
    assert reason in text and "What is your full name?" in text
    await harness.send(UID, "Ada Lovelace")
    assert "What is your position" in harness.last_text(UID)


async def test_bad_email_is_re_asked_and_earlier_answers_kept(harness: Harness) -> None:
    h = harness
    await walk_to(h, "email")
    await h.send(UID, "ada at example dot org")
    assert "does not look like an e-mail address" in h.last_text(UID)
    await h.send(UID, "ada@@example.org")
    assert "does not look like an e-mail address" in h.last_text(UID)
    await h.send(UID, "Ada@Example.ORG")
    await h.send(UID, "Asia/Seoul")
    await h.press(UID, "Yes")
    await h.press(UID, "Yes, available")
    await h.press(UID, "I agree")
    summary = h.last_text(UID)
    assert "Ada@example.org" in summary and "Ada Lovelace" in summary and "Chief Digital Officer" in summary


async def test_unknown_city_needs_a_country(harness: Harness) -> None:
    await walk_to(harness, "city")
    await harness.send(UID, "Smallville")
    assert "add the country" in harness.last_text(UID)
    await harness.send(UID, "Smallville, Kansas, USA")
    assert "Which type of participant" in harness.last_text(UID)


@pytest.mark.parametrize(
    ("typed", "zone_name"),
    [
        ("Сеул", "Seoul"),
        ("서울", "Seoul"),
        ("seul", "Seoul"),
        ("Asia/Seoul", "Seoul"),
        ("Mexico City", "Mexico City"),
        ("Найроби", "Nairobi"),
        ("UTC+3", "GMT+3"),
        ("GMT-5", "GMT-5"),
        ("+05:30", "GMT+5:30"),
        ("Ханой", "Ha Noi (GMT+7)"),
        ("Ulyanovsk", "(GMT+4)"),
        ("고양", "Goyang (GMT+9)"),
    ],
)
async def test_time_zone_resolves_and_is_confirmed_with_local_time(harness: Harness, typed: str, zone_name: str
                                                                   ) -> None:
    await walk_to(harness, "timezone")
    await harness.send(UID, typed)
    text = harness.last_text(UID)
    assert zone_name in text and "it is now" in text, text
    assert harness.buttons(UID) == ["Yes", "No, another one"]


async def test_unknown_time_zone_is_re_asked(harness: Harness) -> None:
    await walk_to(harness, "timezone")
    await harness.send(UID, "Atlantis under the sea")
    question, suggestion = harness.texts(UID)[-2:]
    assert "could not find a time zone" in question and "Which time zone are you in?" in question
    # The zone of the city they gave earlier is still offered.
    assert "Seoul" in suggestion and harness.buttons(UID) == ["Use Seoul (GMT+9)"]


async def test_time_zone_from_a_shared_location(harness: Harness) -> None:
    h = harness
    await walk_to(h, "timezone")
    await h.feed(h.updates.location(UID, -1.2921, 36.8219))  # Nairobi
    assert "Nairobi" in h.last_text(UID)
    await h.press(UID, "Yes")
    await h.press(UID, "Yes, available")
    await h.press(UID, "I agree")
    await h.press(UID, "Confirm")
    row = await stored(h)
    assert row is not None and row.timezone == "Africa/Nairobi"


async def test_no_to_the_time_zone_check_asks_again(harness: Harness) -> None:
    await walk_to(harness, "timezone")
    await harness.send(UID, "Seoul")
    await harness.press(UID, "No, another one")
    assert "Which time zone are you in?" in harness.texts(UID)[-2]


@pytest.mark.parametrize("kind", ["sticker", "photo", "voice", "command"])
async def test_media_or_command_mid_step_re_prompts_and_keeps_answers(harness: Harness, kind: str) -> None:
    h = harness
    await walk_to(h, "organisation")
    if kind == "command":
        await h.send(UID, "/program")
    else:
        await h.feed(getattr(h.updates, kind)(UID))
    text = h.last_text(UID)
    assert "Which organisation do you represent?" in text
    assert "⚠️" in text
    data = await h.app.storage.get_data(h.state_key(UID))
    assert data["answers"]["full_name"] == "Ada Lovelace"
    assert data["answers"]["position"] == "Chief Digital Officer"



async def test_text_where_a_button_is_expected_re_prompts(harness: Harness) -> None:
    await walk_to(harness, "participant_type")
    await harness.send(UID, "I am a city")
    assert "Which type of participant are you?" in harness.last_text(UID)
    assert "EXCOM member city" in harness.buttons(UID)


async def test_cancel_keeps_answers_and_start_resumes(harness: Harness) -> None:
    h = harness
    await walk_to(h, "organisation")
    await h.send(UID, "/cancel")
    # Language, name and position were given.
    assert "/start" in h.last_text(UID) and "Your 3 answers are kept" in h.last_text(UID)
    await h.send(UID, "Hello?")  # outside the conversation: not taken as an answer
    await h.send(UID, "/start")
    assert "Which organisation do you represent?" in h.last_text(UID)
    await h.send(UID, "Seoul Metropolitan Government")
    assert "Which city and country" in h.last_text(UID)


async def test_conversation_survives_a_restart(settings, tmp_path: Path) -> None:
    first = await Harness.create(settings)
    await walk_to(first, "position")
    await first.close()
    # A new process: new dispatcher, same database.
    second = await Harness.create(settings)
    try:
        await second.send(UID, "Chief Digital Officer")
        assert "Which organisation do you represent?" in second.last_text(UID)
        data = await second.app.storage.get_data(second.state_key(UID))
        assert data["answers"]["full_name"] == "Ada Lovelace"
    finally:
        await second.close()


async def test_declining_consent_stores_nothing(harness: Harness) -> None:
    h = harness
    await walk_to(h, "consent")
    await h.press(UID, "I do not agree")
    assert "nothing has been stored" in h.last_text(UID)
    assert await stored(h) is None
    data = await h.app.storage.get_data(h.state_key(UID))
    assert "answers" not in data


async def test_edit_from_the_summary_changes_one_answer(harness: Harness) -> None:
    h = harness
    await walk_to(h, "summary")
    await h.press(UID, "Edit")
    await h.press(UID, "E-mail")
    assert "What is your e-mail address?" in h.last_text(UID)
    await h.send(UID, "ada.l@example.org")
    summary = h.last_text(UID)
    assert "Please check your registration:" in summary and "ada.l@example.org" in summary
    await h.press(UID, "Confirm")
    row = await stored(h)
    assert row is not None and row.email == "ada.l@example.org" and row.full_name == "Ada Lovelace"


async def test_profile_shows_and_edits_a_field(harness: Harness) -> None:
    h = harness
    await walk_to(h, "summary")
    await h.press(UID, "Confirm")
    await h.send(UID, "/profile")
    assert "Ada Lovelace" in h.last_text(UID) and "Asia" not in h.last_text(UID)
    await h.press(UID, "Edit a field")
    await h.press(UID, "Time zone")
    await h.send(UID, "Mexico City")
    await h.press(UID, "Yes")
    row = await stored(h)
    assert row is not None and row.timezone == "America/Mexico_City"
    assert "Mexico City" in h.last_text(UID)


async def test_profile_edit_of_the_type_confirms_the_new_type(harness: Harness) -> None:
    """A saved edit ends its draft: the confirmation still names the type pressed (it raised KeyError 'None'),
    and a change of language is confirmed in the new language."""
    h = harness
    await register(h, UID)
    await h.send(UID, "/profile")
    await h.press(UID, "Edit a field")
    await h.press(UID, "Participant type")
    sent = await h.press(UID, "Partner or sponsor company")
    texts = [r.text for r in sent if r.text]
    assert "✔️ Partner or sponsor company" in texts
    assert any(t.startswith("Saved: Participant type") for t in texts)
    row = await stored(h)
    assert row is not None and row.participant_type == "partner"
    await h.press(UID, "Edit a field")
    await h.press(UID, "Language")
    sent = await h.press(UID, "Русский")
    assert tr(h, "Language: {name}.", "ru").format(name="Русский") in [r.text for r in sent]


async def test_profile_edit_validates(harness: Harness) -> None:
    h = harness
    await register(h, UID)
    await h.send(UID, "/profile")
    await h.press(UID, "Edit a field")
    await h.press(UID, "Full name")
    await h.send(UID, "Z")
    assert "too short" in h.last_text(UID)
    await h.send(UID, "Zoe Quinn")
    row = await stored(h)
    assert row is not None and row.full_name == "Zoe Quinn"


async def test_language_switch_any_time(harness: Harness) -> None:
    h = harness
    await walk_to(h, "position")
    await h.send(UID, "/language")
    await h.press(UID, "Русский")
    # The current question is asked again, now in Russian.
    assert tr(h, "What is your position (job title)?", "ru") in h.last_text(UID)
    await h.send(UID, "Директор")
    assert tr(h, "Which organisation do you represent?", "ru") in h.last_text(UID)


async def test_language_switch_for_a_registered_person_is_stored(harness: Harness) -> None:
    h = harness
    await register(h, UID, language="en")
    await h.send(UID, "/language")
    await h.press(UID, "한국어")
    row = await stored(h)
    assert row is not None and row.language == "ko"
    await h.send(UID, "/help")
    assert tr(h, "/program — the program in your time zone", "ko") in h.last_text(UID)


async def test_forget_deletes_everything_after_confirmation(harness: Harness) -> None:
    h = harness
    await register(h, UID)
    async with h.app.sessions() as s:
        s.add(Follow(user_id=UID, item_id="opening", created_at=h.clock.now()))
        await s.commit()
    await h.send(UID, "/forget")
    await h.press(UID, "No, keep it")
    assert await stored(h) is not None
    await h.send(UID, "/forget")
    await h.press(UID, "Yes, delete everything")
    assert await stored(h) is None
    async with h.app.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Follow)) == 0
    assert "deleted" in h.last_text(UID)


async def test_registration_closes_at_the_deadline(settings) -> None:
    h = await Harness.create(settings, at=datetime.fromisoformat("2020-11-11T00:00:01+03:00"))
    try:
        await h.send(UID, "/start")
        text = h.last_text(UID)
        assert "closed on November 10, 2020" in text and "regina@we-gov.org" in text
        # An organiser lets this person in; then they can register.
        await h.send(999, "/admit 5001")
        assert "can now register" in h.last_text(999)
        async with h.app.sessions() as s:
            assert await s.get(LatePass, UID) is not None
        await walk_to(h, "summary")
        await h.press(UID, "Confirm")
        assert await stored(h) is not None
    finally:
        await h.close()


async def test_organisers_can_register_after_the_deadline(settings) -> None:
    h = await Harness.create(settings, at=datetime.fromisoformat("2020-11-12T09:00:00+03:00"))
    try:
        await walk_to(h, "summary", uid=999)
        await h.press(999, "Confirm")
        assert await stored(h, 999) is not None
    finally:
        await h.close()


async def test_admit_is_for_organisers_only(harness: Harness) -> None:
    await harness.send(UID, "/admit 42")
    assert "for the organisers" in harness.last_text(UID)


async def test_stale_and_forged_buttons_get_a_polite_answer(harness: Harness) -> None:
    h = harness
    await walk_to(h, "email")
    for data in ("reg:consent:1", "reg:confirm:", "garbage", "lang:xx", "reg:field:bogus"):
        calls = await h.press_data(UID, data)
        answers = [c for c in calls if c.method == "answerCallbackQuery"]
        assert answers, data
    assert "What is your e-mail address?" in h.last_text(UID)
    assert await stored(h) is None


async def test_start_for_a_registered_person_says_welcome_back(harness: Harness) -> None:
    await register(harness, UID, full_name="Grace Hopper")
    await harness.send(UID, "/start")
    assert "Welcome back, Grace Hopper" in harness.last_text(UID)


async def test_names_with_html_are_escaped(harness: Harness) -> None:
    h = harness
    await walk_to(h, "full_name")
    await h.send(UID, "<b>Bobby</b> & Co")
    await walk_rest(h)
    assert "&lt;b&gt;Bobby&lt;/b&gt; &amp; Co" in h.last_text(UID)


async def walk_rest(h: Harness) -> None:
    for answer in ("Chief Digital Officer", "Seoul Metropolitan Government", "Seoul"):
        await h.send(UID, answer)
    await h.press(UID, "EXCOM member city")
    await h.send(UID, "ada@example.org")
    await h.send(UID, "Seoul")
    await h.press(UID, "Yes")
    await h.press(UID, "Yes, available")
    await h.press(UID, "I agree")


async def test_commands_menu_is_registered_per_language(harness: Harness) -> None:
    from bot.app import set_commands

    await set_commands(harness.bot, harness.app.i18n)
    assert set(harness.session.commands) == {"", "en", "ru", "ko"}
    ru = {c["command"]: c["description"] for c in harness.session.commands["ru"]}
    assert ru["program"] == tr(harness, "The program in your time zone", "ru")


async def test_delegates_repository_round_trip(harness: Harness) -> None:
    await register(harness, UID, timezone="UTC+05:30")
    async with harness.app.sessions() as s:
        p = await Delegates(s).get(UID)
    assert p is not None and p.timezone == "UTC+05:30"


async def test_writing_again_after_blocking_the_bot_resumes_deliveries(harness: Harness) -> None:
    await register(harness, UID)
    async with harness.app.sessions() as s:
        await Delegates(s).mark_blocked(UID, harness.clock.now())
        await s.commit()
    await harness.send(UID, "/help")
    row = await stored(harness)
    assert row is not None and row.blocked_at is None


async def test_two_quick_messages_are_taken_one_after_the_other(harness: Harness) -> None:
    """The second message waits until the first one's state is committed (per-person isolation)."""
    import asyncio

    h = harness
    await walk_to(h, "full_name")
    first = h.updates.text(UID, "Ada Lovelace")
    second = h.updates.text(UID, "Chief Digital Officer")
    await asyncio.gather(h.app.dp.feed_raw_update(h.bot, first), h.app.dp.feed_raw_update(h.bot, second))
    data = await h.app.storage.get_data(h.state_key(UID))
    assert data["answers"]["full_name"] == "Ada Lovelace"
    assert data["answers"]["position"] == "Chief Digital Officer"
    assert "Which organisation do you represent?" in h.last_text(UID)


async def test_a_back_button_of_an_earlier_step_is_stale(h: Harness) -> None:
    """Issue 20 bug 7: an old "Back" acted on whatever step the person was on now."""
    await walk_to(h, "organisation")  # the position step's message had a Back button
    position_message = next(m for m in reversed(h.session.messages.values())
                            if m["chat"]["id"] == UID and "position" in m.get("text", ""))
    [(_label, old_back)] = [(b["text"], b["callback_data"]) for row in position_message["reply_markup"]
                            ["inline_keyboard"] for b in row if "Back" in b["text"]]
    await h.send(UID, "Seoul Metropolitan Government")  # now at the city step
    sent = await h.feed(h.updates.callback(UID, old_back, position_message))
    assert [r.params.get("text") for r in sent if r.method == "answerCallbackQuery"] == [
        "This button is no longer active."]
    assert "Which city and country are you from?" in h.last_text(UID)  # asked again, not the step before it
    assert await h.app.dp.storage.get_state(h.state_key(UID)) == "Reg:city"
    # The Back of the step the person is on (a keyboard button at the city step) still works.
    await h.send(UID, "↩️ Back")
    assert "Which organisation do you represent?" in h.last_text(UID)


async def test_a_city_the_zone_list_does_not_know_gets_its_countrys_capital_offered(harness: Harness) -> None:
    """Issue 20 bug 11: Kazan is no zone name; with its country (asked at the city step) the capital's zone is
    offered, and typing "Kazan" alone at the time zone step asks for a nearby big city, not a dead end."""
    h = harness
    await walk_to(h, "city")
    await h.send(UID, "Kazan, Russia")
    await h.press(UID, "EXCOM member city")
    await h.send(UID, "ada@example.org")
    assert h.buttons(UID) == ["Use Moscow (GMT+3)"]
    await h.send(UID, "Kazan")
    question = h.texts(UID)[-2]
    assert "Type a nearby big city" in question and "Kazan, Russia" in question
    await h.press(UID, "Use Moscow (GMT+3)")
    assert "it is now" in h.last_text(UID) and "GMT+3" in h.last_text(UID)


async def test_a_rehearsal_time_zone_check_shows_the_rehearsal_date_and_the_real_time_of_day(harness: Harness
                                                                                             ) -> None:
    """Issue 20 bug 6: replaying 1 Nov 2020, the check said "it is now 20:35 (6 Dec)" (the machine's date)."""
    await walk_to(harness, "timezone")
    await harness.send(UID, "Seoul")
    text = harness.last_text(UID)
    assert "(1 Nov)" in text, text
    real = datetime.now(ZoneInfo("Asia/Seoul"))
    shown = {f"{t:%H:%M}" for t in (real, real - timedelta(minutes=1))}  # a minute may turn meanwhile
    assert any(f"<b>{hm}</b>" in text for hm in shown), text


@pytest.mark.parametrize("how", ["other text", "sticker", "/start"])
async def test_a_rehearsal_time_zone_check_asked_again_keeps_the_rehearsal_date(harness: Harness, how: str) -> None:
    """Issue 20 bug 6, the re-prompt: an answer other than yes/no to "it is now HH:MM (date), right?" (or a
    sticker, or /start in the middle) asks again, on the rehearsal's date too, not the machine's."""
    h = harness
    await walk_to(h, "timezone")
    await h.send(UID, "Seoul")
    assert "(1 Nov)" in h.last_text(UID)
    if how == "sticker":
        await h.feed(h.updates.sticker(UID))
    else:
        await h.send(UID, "bananas" if how == "other text" else how)
    text = h.last_text(UID)
    assert "it is now" in text and "(1 Nov)" in text, text


async def test_korean_buttons_and_button_names_are_quoted_the_korean_way(harness: Harness) -> None:
    """Issue 20 bug 11: «» guillemets are no Korean punctuation ("Keep «Ada»" on a Korean button; the list of
    buttons named when something else was typed)."""
    h = harness
    await walk_to(h, "position", lang="ko")
    await h.press(UID, tr(h, "↩️ Back", "ko"), lang="ko")  # the name again, with "Keep" on a button
    keep = [b for b in h.buttons(UID) if "Ada Lovelace" in b]
    assert keep and not any(q in keep[0] for q in "«»"), keep
    await walk_to(h, "participant_type", lang="ko")
    await h.send(UID, "바나나", lang="ko")  # typed where a button is expected: the buttons are named
    note = h.texts(UID)[-1]
    assert tr(h, "EXCOM member city", "ko") in note and "«" not in note and "»" not in note, note
