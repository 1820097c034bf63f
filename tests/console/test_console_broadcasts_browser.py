"""The console's Broadcasts page in a real browser (Debian's headless Chromium driven by Selenium) against the
bot as a process long-polling the fake Bot API: the live recipient count as boxes are ticked, a preview, a test
to the organiser, Send, and the live progress bar reaching the end. Helpers: tests/console/browser.py;
screenshots of a failing step in test-artifacts/console/."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from testkit.fake_botapi import FakeBotAPI
from testkit.files import PNG_1X1
from testkit.people import delegate
from tests.console.browser import ORGANISER, Browser, bot_process, console_link, needs_chromium

pytestmark = [pytest.mark.e2e, pytest.mark.browser, needs_chromium]

# Registered people in three countries and languages.
PEOPLE = (delegate(1, full_name="Kim Ru", country="Korea", language="ru"),
          delegate(2, full_name="Kim Ko", country="Korea", language="ko"),
          delegate(3, full_name="Ivan Ru", country="Russia", language="ru"),
          delegate(4, full_name="Van Vi", country="Vietnam", language="ru"))


async def test_broadcasts_page_in_a_browser(tmp_path: Path, api: FakeBotAPI, browser: Browser) -> None:
    step = "start"
    async with bot_process(tmp_path, api, PEOPLE, "2020-11-02T10:00:00+03:00") as base:
        try:
            step = "sign-in"
            await browser.get(await console_link(api))
            await browser.click("#sign-in")
            await browser.wait_text("Today")

            step = "live-count"
            await browser.get(f"{base}/broadcasts")
            await browser.wait_text("Recipients now: 4")  # nothing ticked: everyone registered
            await browser.click("input[name=country][value=Korea]")
            await browser.wait_text("Recipients now: 2")
            await browser.click("input[name=country][value=Russia]")
            await browser.wait_text("Recipients now: 3")  # two countries add up
            await browser.click("input[name=language][value=ru]")
            await browser.wait_text("Recipients now: 2")  # a language narrows

            step = "preview"
            await browser.fill("#text", "Hello <b>all</b>")
            await browser.fill("#text_ru", "Привет, <b>все</b>")
            await browser.click("#preview")
            text = await browser.wait_text("Readers of Русский")
            assert "Привет, <b>все</b>" in text and "Recipients now: 2" in text

            step = "test-to-me"
            since = api.mark()
            await browser.click("#test")
            await browser.wait_text("A test is on its way")
            await api.wait_for(lambda r: (r.text or "").startswith("Hello"), method="sendMessage", chat_id=ORGANISER,
                               since=since, timeout=30)

            step = "send"
            since = api.mark()
            await browser.click("#send")
            await browser.wait_text("Broadcast #1")
            text = await browser.wait_text("Left: 0", timeout=30)  # the bar follows the sender, polled every second
            assert "Sent: 2 / 2" in text
            value = await browser.run(lambda: browser.driver.execute_script(
                "return [document.getElementById('bar').value, document.getElementById('bar').max]"))
            assert value == [2, 2]
            for chat in (1, 3):
                rec = await api.wait_for(method="sendMessage", chat_id=chat, since=since, timeout=10)
                assert rec.text == "Привет, <b>все</b>"
            await browser.get(f"{base}/broadcasts")
            await browser.wait_text("Korea / Russia")

            step = "photo"
            poster = tmp_path / "poster.png"
            poster.write_bytes(PNG_1X1)
            await browser.get(f"{base}/broadcasts")
            await browser.fill("#text", "Our <b>poster</b>")
            await browser.attach("#media", poster)
            await browser.click("input[name=country][value=Korea]")
            await browser.wait_text("Recipients now: 2")
            await browser.click("#preview")
            await browser.wait_text("📎 poster.png")
            width = await browser.run(lambda: browser.driver.execute_script(
                "const i = document.querySelector('#previews img.attachment');"
                "return i && i.complete && i.naturalWidth"))
            assert width == 1  # the preview shows the photo itself
            since = api.mark()
            await browser.click("#send")
            await browser.wait_text("Broadcast #2")
            await browser.wait_text("Left: 0", timeout=30)
            for chat in (1, 2):
                [photo] = [r for r in api.sent(chat, "sendPhoto") if r.seq > since]
                assert photo.text == "Our <b>poster</b>"
                assert photo.photo is None or photo.photo.data == PNG_1X1
            assert [r.chat_id for r in api.sent(method="sendMessage") if r.seq > since and r.chat_id in (1, 2)] == []
        except BaseException:
            await asyncio.to_thread(browser.screenshot, f"broadcasts-{step}")
            raise
