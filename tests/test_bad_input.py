"""Inputs found by fuzzing that made a handler raise (issue 8): each now gets a polite answer.

The harness records every exception that escapes a handler (instead of the bot's "something went wrong").
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from storage.models import Delegate, LatePass
from tests.harness import Harness, register
from tests.test_registration import walk_to

UID = 6001
ADMIN = 999


# Exceptions that escape a handler fail the test (the conftest's `h`, with record_errors).
pytestmark = pytest.mark.harness(record_errors=True)


def inaccessible(uid: int) -> dict[str, Any]:
    """A message Telegram no longer shows the bot (date 0): aiogram gives an InaccessibleMessage."""
    return {"message_id": 7, "date": 0, "chat": {"id": uid, "type": "private"}}


def answers_of(calls: list[Any]) -> list[str]:
    return [str(c.params.get("text", "")) for c in calls if c.method == "answerCallbackQuery"]


@pytest.mark.parametrize("step", ["language", "participant_type", "timezone_confirm", "summary"])
async def test_a_button_on_an_inaccessible_message_gets_an_answer(h: Harness, step: str) -> None:
    if step == "timezone_confirm":
        await walk_to(h, "timezone", uid=UID)
        await h.send(UID, "Seoul")
        data = "reg:tz_ok:"
    elif step == "summary":
        await walk_to(h, "consent", uid=UID)
        await h.press(UID, "I agree")
        data = "reg:confirm:"
    elif step == "participant_type":
        await walk_to(h, step, uid=UID)
        data = "reg:type:excom"
    else:
        await h.send(UID, "/start")
        data = "lang:en"
    calls = await h.feed(h.updates.callback(UID, data, inaccessible(UID)))
    assert h.errors == []
    assert answers_of(calls) == ["This button is no longer active."]


async def test_a_language_button_outside_registration_on_an_inaccessible_message(h: Harness) -> None:
    await register(h, UID)
    calls = await h.feed(h.updates.callback(UID, "lang:ru", inaccessible(UID)))
    assert h.errors == []
    assert answers_of(calls) == ["This button is no longer active."]


async def test_a_button_without_a_message_gets_an_answer(h: Harness) -> None:
    """A button on an inline-mode message: the query carries no message at all."""
    await h.send(UID, "/start")
    update = h.updates.callback(UID, "lang:en")
    update["callback_query"].pop("message")
    update["callback_query"]["inline_message_id"] = "AAA"
    await h.feed(update)
    assert h.errors == []


async def test_a_double_tap_on_forget_deletes_once_and_raises_nothing(h: Harness) -> None:
    await register(h, UID)
    await h.send(UID, "/forget")
    msg, data = h._message_with(UID, "Yes, delete everything")
    first = copy.deepcopy(msg)
    await h.feed(h.updates.callback(UID, data, first))
    calls = await h.feed(h.updates.callback(UID, data, first))  # the second tap, on the same message
    assert h.errors == []
    assert "All your data has been deleted" in h.last_text(UID)
    assert [c.method for c in calls if c.method == "sendMessage"] == []  # not "Nothing was deleted."
    assert answers_of(calls) == ["This button is no longer active."]
    async with h.app.sessions() as s:
        assert await s.get(Delegate, UID) is None


async def test_a_double_tap_on_a_language_button(h: Harness) -> None:
    await register(h, UID)
    await h.send(UID, "/language")
    msg, data = h._message_with(UID, "English")
    first = copy.deepcopy(msg)
    await h.feed(h.updates.callback(UID, data, first))
    await h.feed(h.updates.callback(UID, data, first))
    assert h.errors == []


@pytest.mark.parametrize("value", ["Asia", "America/Argentina", "Etc", "../../etc/passwd", "Asia/"])
async def test_a_forged_time_zone_button_naming_a_folder_asks_again(h: Harness, value: str) -> None:
    await walk_to(h, "timezone", uid=UID)
    calls = await h.press_data(UID, f"reg:tz_use:{value}")
    assert h.errors == []
    assert any("Which time zone are you in?" in c.text for c in calls)


@pytest.mark.parametrize("arg", ["²", "١٢٣", "12345678901234567890123", "-5", "0"])
async def test_admit_with_a_non_ascii_digit_or_a_huge_number_explains_the_usage(h: Harness, arg: str) -> None:
    await h.send(ADMIN, f"/admit {arg}")
    assert h.errors == []
    assert "Usage: /admit" in h.last_text(ADMIN)
    async with h.app.sessions() as s:
        assert (await s.get(LatePass, 5)) is None


async def test_admit_with_a_real_id_still_works(h: Harness) -> None:
    await h.send(ADMIN, "/admit 7000000001")
    assert "can now register" in h.last_text(ADMIN)
    assert h.errors == []


async def test_a_crash_right_after_time_zone_set_keeps_the_confirmed_zone(h: Harness) -> None:
    """The process dies while sending "Time zone set" (the zone is already committed, the next step not yet).

    Before: on the way back the bot asked "In GMT+0 ... is that your time zone?" and "Yes" stored UTC.
    """
    await walk_to(h, "timezone", uid=UID)
    await h.send(UID, "Seoul")
    h.session.fail_next("sendMessage", chat_id=UID, status=500)  # stands for the crash
    await h.press(UID, "Yes")
    h.errors.clear()  # that failure was the simulated crash
    await h.send(UID, "/start")
    assert "GMT+0" not in h.last_text(UID) and "UTC" not in h.last_text(UID)
    assert "matchmaking" in h.last_text(UID)
    await h.press(UID, "Yes, available")
    await h.press(UID, "I agree")
    assert "Seoul" in h.last_text(UID)
    await h.press(UID, "Confirm")
    async with h.app.sessions() as s:
        row = await s.get(Delegate, UID)
    assert row is not None and row.timezone == "Asia/Seoul"
    assert h.errors == []


async def test_a_number_typed_at_the_forget_question_asks_it_again(h: Harness) -> None:
    """Found by the extended fuzz (issue 17): "0" typed at /forget's confirmation raised KeyError('forget')
    while the question was being asked again."""
    await register(h, UID)
    await h.send(UID, "/forget")
    await h.send(UID, "0")
    assert h.errors == []
    assert "Delete all your data" in h.last_text(UID)
    assert h.buttons(UID)[-2:] == ["Yes, delete everything", "No, keep it"]
    async with h.app.sessions() as s:
        assert await s.get(Delegate, UID) is not None


async def test_a_double_tap_on_start_the_quiz_before_choosing_a_name(h: Harness) -> None:
    """Found by the fuzz on PostgreSQL + Redis (7 Dec): "Start the quiz" (qzgo) pressed twice on one message
    edited it twice to the same name choice, and Telegram's "message is not modified" escaped the handler."""
    await h.send(ADMIN, "/quiz_open")
    await h.send(UID, "/start")
    msg, _data = h._message_with(UID, "English")
    first = copy.deepcopy(msg)
    await h.feed(h.updates.callback(UID, "qzgo:1", first))
    await h.feed(h.updates.callback(UID, "qzgo:1", first))
    assert h.errors == []
