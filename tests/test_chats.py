"""Chats: personal commands and registration work in private chats only; the person is `from_user`.

Issue 8 item 10 found a group chat treated as a person: /profile in a group posted the e-mail there, a
registration finished in a group was stored under the group's id, /forget in a group said "deleted" and
deleted nothing, /myid returned the group's id. Each test below failed on that code.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from aiogram.fsm.storage.base import StorageKey
from sqlalchemy import select

from handlers.ui import LangCb, RegCb
from storage.models import Delegate
from tests.harness import Harness, make_settings, register

UID = 6001
LINK = "https://t.me/delegate_test_bot?start="
GROUP_ID = -1001234567890


def group(h: Harness, kind: str = "supergroup") -> dict[str, Any]:
    return h.updates.group(GROUP_ID, kind=kind)


async def delegates(h: Harness) -> dict[int, Delegate]:
    async with h.app.sessions() as s:
        return {d.user_id: d for d in (await s.scalars(select(Delegate))).all()}


async def nothing_stored_under(h: Harness, chat_id: int, user_id: int) -> bool:
    key = StorageKey(bot_id=h.bot.id, chat_id=chat_id, user_id=user_id)
    return await h.app.storage.get_state(key) is None and await h.app.storage.get_data(key) == {}


async def tap(h: Harness, uid: int, label: str, data: str, chat: dict[str, Any]) -> None:
    """Press the bot's button in `chat` if it offered one, else send the same callback data (forged)."""
    try:
        await h.press(uid, label, chat=chat)
    except AssertionError:
        await h.press_data(uid, data, chat=chat)


@pytest.mark.parametrize("kind", ["group", "supergroup"])
async def test_profile_in_a_group_posts_no_personal_data(harness: Harness, kind: str) -> None:
    h = harness
    await register(h, UID, full_name="Ada Lovelace")
    sent = await h.send(UID, "/profile", chat=group(h, kind))
    in_group = [r.text for r in h.session.sent(GROUP_ID)]
    assert len(in_group) == 1, in_group
    assert f"u{UID}@example.org" not in in_group[0] and "Ada Lovelace" not in in_group[0]
    assert LINK + "profile" in in_group[0], "one line with a deep link to the private chat"
    assert "\n" not in in_group[0].strip()
    assert all(r.chat_id == GROUP_ID for r in sent if r.method == "sendMessage"), "nothing sent elsewhere"


async def test_registration_in_a_group_stores_nothing_under_the_group(harness: Harness) -> None:
    h = harness
    g = group(h)
    await h.send(UID, "/start", chat=g)
    await tap(h, UID, "English", LangCb(code="en").pack(), g)
    for answer in ("Ada Lovelace", "Chief Digital Officer", "Seoul Metropolitan Government",
                   "Seoul, Republic of Korea"):
        await h.send(UID, answer, chat=g)
    await tap(h, UID, "EXCOM member city", RegCb(action="type", value="excom").pack(), g)
    await h.send(UID, "ada@example.org", chat=g)
    await h.send(UID, "Seoul", chat=g)
    await tap(h, UID, "Yes", RegCb(action="tz_ok").pack(), g)
    await tap(h, UID, "Yes, available", RegCb(action="mm", value="1").pack(), g)
    await tap(h, UID, "I agree", RegCb(action="consent", value="1").pack(), g)
    await tap(h, UID, "Confirm", RegCb(action="confirm").pack(), g)

    assert await delegates(h) == {}, "no registration from a group, under the group's id or anyone's"
    assert await nothing_stored_under(h, GROUP_ID, UID), "no conversation state under the group's key"
    assert await nothing_stored_under(h, UID, UID), "the group's messages did not feed the private chat"
    group_texts = "\n".join(h.texts(GROUP_ID))
    assert "ada@example.org" not in group_texts
    assert LINK in group_texts
    # The person then registers in the private chat: stored under their own id.
    h.session.clear()
    await h.send(UID, "/start")
    assert "Please choose your language." in h.last_text(UID)


async def test_forget_in_a_group_does_not_claim_a_deletion(harness: Harness) -> None:
    h = harness
    await register(h, UID)
    g = group(h)
    await h.send(UID, "/forget", chat=g)
    await tap(h, UID, "Yes, delete everything", RegCb(action="forget_yes").pack(), g)
    texts = "\n".join(h.texts(GROUP_ID))
    assert "has been deleted" not in texts
    assert LINK + "forget" in texts
    assert UID in await delegates(h), "nothing deleted from a group"
    # In the private chat /forget deletes the person (from_user), as before.
    await h.send(UID, "/forget")
    await h.press(UID, "Yes, delete everything")
    assert "All your data has been deleted" in h.last_text(UID)
    assert await delegates(h) == {}


async def test_myid_in_a_group_never_gives_the_groups_id(harness: Harness) -> None:
    h = harness
    await h.send(UID, "/myid", chat=group(h))
    texts = "\n".join(h.texts(GROUP_ID))
    assert str(GROUP_ID) not in texts and LINK + "myid" in texts
    await h.send(UID, "/myid")
    assert f"<code>{UID}</code>" in h.last_text(UID)


async def test_group_buttons_do_not_touch_personal_data(harness: Harness) -> None:
    """A profile button pressed on a message in a group: a deep link, no state change, nothing posted."""
    h = harness
    await register(h, UID)
    sent = [r for r in await h.press_data(UID, RegCb(action="forget").pack(), chat=group(h))
            if r.method != "getMe"]
    assert [r.method for r in sent] == ["answerCallbackQuery"]
    assert str(sent[0].params.get("url", "")).startswith(LINK)
    assert await nothing_stored_under(h, GROUP_ID, UID)
    assert UID in await delegates(h)


async def test_group_help_mentions_and_chatter(harness: Harness) -> None:
    h = harness
    g = group(h)
    await register(h, UID)
    await h.send(UID, "/help@delegate_test_bot", chat=g)
    assert LINK + "help" in h.last_text(GROUP_ID)
    assert "/forget" not in h.last_text(GROUP_ID), "the group help lists no personal commands"
    h.session.clear()
    await h.send(UID, "@delegate_test_bot when is the quiz?", chat=g)
    assert LINK in h.last_text(GROUP_ID)
    h.session.clear()
    # Talk among people, and commands for another bot: the bot stays out of it.
    assert await h.send(UID, "when is the quiz?", chat=g) == []
    assert await h.send(UID, "/profile@some_other_bot", chat=g) == []
    # A reply to the bot's own message counts as talking to it.
    bot_message = next(m for m in reversed(h.session.messages.values())
                       if m["chat"]["id"] == GROUP_ID and m["from"]["is_bot"])
    await h.feed(h.updates.text(UID, "and the program?", chat=g, reply_to=bot_message))
    assert LINK in h.last_text(GROUP_ID)


async def test_group_answer_in_the_persons_language(harness: Harness) -> None:
    h = harness
    await h.send(UID, "/program", chat=group(h), lang="ru")
    line = "I keep your data out of groups. Please write to me in a private chat: {link}"
    translated = h.app.i18n.gettext(line, locale="ru")
    assert translated != line
    assert h.last_text(GROUP_ID) == translated.format(link=LINK + "program")


async def test_channels_get_silence(harness: Harness) -> None:
    h = harness
    channel = h.updates.group(-1009876543210, kind="channel", title="News")
    assert await h.feed(h.updates.channel_post(channel, "/profile")) == []
    assert await h.feed(h.updates.channel_post(channel, "@delegate_test_bot hello")) == []
    assert await h.send(UID, "/help", chat=channel) == []


async def test_deep_link_starts_registration_in_private(harness: Harness) -> None:
    await harness.send(UID, "/start profile")
    assert "Please choose your language." in harness.last_text(UID)


@pytest.mark.parametrize(("payload", "expect"), [
    ("program", "EXCOM 2020: program</b>"), ("next", "starts in"), ("profile", "Your registration"),
    ("help", "/program"), ("group", "Welcome back")])
async def test_a_deep_link_from_a_group_opens_what_it_named(harness: Harness, payload: str, expect: str) -> None:
    # The group answered "/program" with a link to /start program: the private chat shows the program, not a
    # greeting the person has to get past.
    await register(harness, UID)
    await harness.send(UID, f"/start {payload}")
    assert any(expect in text for text in harness.texts(UID)[-2:]), harness.texts(UID)[-2:]


async def test_a_button_without_a_message_gets_the_link_not_an_error(harness: Harness) -> None:
    """A callback query that carries no message (an inline message) is not a private chat either."""
    h = harness
    update = h.updates.callback(UID, RegCb(action="forget").pack())
    del update["callback_query"]["message"]
    update["callback_query"]["inline_message_id"] = "im1"
    sent = [r for r in await h.feed(update) if r.method != "getMe"]
    assert [r.method for r in sent] == ["answerCallbackQuery"]
    assert str(sent[0].params.get("url", "")).startswith(LINK)


async def test_nothing_personal_under_a_group_key_in_redis(tmp_path: Path, redis_url: str) -> None:
    """The same with the conversation state in Redis (aiogram's key: bot, chat and user)."""
    uid = 20_000_000 + uuid.uuid4().int % 1_000_000  # its own keys in a shared Redis
    h = await Harness.create(make_settings(tmp_path, redis_url=redis_url))
    try:
        await h.send(uid, "/start", chat=group(h))
        await h.press_data(uid, LangCb(code="en").pack(), chat=group(h))
        await h.send(uid, "Ada Lovelace", chat=group(h))
        assert await nothing_stored_under(h, GROUP_ID, uid)
        assert await nothing_stored_under(h, uid, uid)
    finally:
        await h.close()
