"""A flood from one person is slowed with one notice; other people are not affected (issue 8)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.flood import BURST
from tests.harness import Harness, make_settings

FLOODER, OTHER = 7101, 7102
NOTICE = "You are sending messages very fast"


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    """Flood control on, on the harness's frozen clock: updates sent one after the other arrive together."""
    h = await Harness.create(make_settings(tmp_path), flood_control=True)
    yield h
    await h.close()


def answered(h: Harness, uid: int) -> list[str]:
    return [t for t in h.texts(uid) if NOTICE not in t]


async def test_twenty_messages_a_second_are_slowed_with_one_notice_and_others_are_served(harness: Harness) -> None:
    h = harness
    for i in range(60):  # three seconds of 20 messages a second, on the frozen clock
        await h.send(FLOODER, f"/help {i}")
        if i % 10 == 0:
            await h.send(OTHER, "/help")
        h.clock.advance(seconds=0.05)
    notices = [t for t in h.texts(FLOODER) if NOTICE in t]
    assert len(notices) == 1
    # The burst, then about one a second: of 60 sent in 3 s, 22 handled.
    assert BURST + 2 <= len(answered(h, FLOODER)) <= BURST + 3
    assert len(h.texts(OTHER)) == 6 and all(NOTICE not in t for t in h.texts(OTHER))

    # A little later the person is answered again; a flood after a quiet while gets its own single notice.
    h.clock.advance(seconds=15)
    before = len(answered(h, FLOODER))
    await h.send(FLOODER, "/help")
    assert len(answered(h, FLOODER)) == before + 1
    for _ in range(BURST + 5):
        await h.send(FLOODER, "/help")
        h.clock.advance(seconds=0.05)
    assert len([t for t in h.texts(FLOODER) if NOTICE in t]) == 2


async def test_a_registration_at_a_brisk_pace_is_not_slowed(harness: Harness) -> None:
    """A person tapping through the whole form within a few seconds is not a flood."""
    from tests.test_registration import walk_to

    h = harness
    await walk_to(h, "consent", uid=FLOODER)  # 14 updates in the same instant
    await h.press(FLOODER, "I agree", lang="en")
    assert not [t for t in h.texts(FLOODER) if NOTICE in t]
    assert "Please check your registration" in h.last_text(FLOODER)


async def test_buttons_pressed_in_a_flood_are_answered_without_handling(harness: Harness) -> None:
    h = harness
    for _ in range(BURST):
        await h.send(FLOODER, "/language")
    calls = []
    for _ in range(5):
        calls += await h.press(FLOODER, "English")
    answers = [c for c in calls if c.method == "answerCallbackQuery"]
    # One answer for the whole flood: the notice (a spinner stops by itself on the client).
    assert [NOTICE in str(c.params.get("text", "")) for c in answers] == [True]
    assert not [c for c in calls if c.method in ("sendMessage", "editMessageText")]


async def test_a_flood_of_presses_costs_no_work_and_does_not_hold_up_others(harness: Harness) -> None:
    """1,000 presses in the same instant and another person's /now among them (issue 17 item 8): the flood
    is refused before the person's lock and the database; it gets one answer, the other person theirs."""
    h = harness
    await h.send(FLOODER, "/language")
    msg, data = h._message_with(FLOODER, "English")
    h.session.clear()
    entered: list[int] = []
    lock = next(m for m in h.app.dp.update.outer_middleware if type(m).__name__ == "PersonLockMiddleware")
    original = lock.isolation.lock

    def counting(key: Any) -> Any:
        entered.append(key.user_id)
        return original(key=key)
    lock.isolation.lock = counting
    presses = [h.app.dp.feed_raw_update(h.bot, h.updates.callback(FLOODER, data, msg)) for _ in range(1000)]
    presses.insert(500, h.app.dp.feed_raw_update(h.bot, h.updates.text(OTHER, "/now")))
    await asyncio.gather(*presses)
    answers = [r for r in h.session.requests if r.method == "answerCallbackQuery"]
    # The rest of the burst (/language took one) is handled, then one notice; 980 presses cost nothing.
    assert len(answers) == BURST
    assert sum(NOTICE in str(r.params.get("text", "")) for r in answers) == 1
    assert entered.count(FLOODER) == BURST
    assert h.texts(OTHER) and NOTICE not in h.texts(OTHER)[-1]


@pytest.mark.parametrize(("lang", "word"), [("ru", "быстро"), ("ko", "빠르게")])
async def test_the_notice_is_in_the_persons_language(harness: Harness, lang: str, word: str) -> None:
    for _ in range(BURST + 1):
        await harness.send(FLOODER, "/help", lang=lang)
    assert word in harness.last_text(FLOODER)
