"""The organisers' console in a real browser: Debian's headless Chromium driven by Selenium, against the bot
as a process (`python -m bot`) long-polling the fake Bot API, checking what a person sees.

`make browsers` (and .ci/run) installs chromium and chromium-driver; without them these tests skip. A failing
step leaves screenshots of the browser in test-artifacts/console/ (and the page's HTML beside them). The
helpers are in tests/console/browser.py, the fixtures (one Chromium per module) in tests/console/conftest.py."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from testkit.fake_botapi import FakeBotAPI
from testkit.people import delegate
from tests.console.browser import PLAYER, QUIZ_OPEN, STRANGER, Browser, bot_process, console_link, needs_chromium

pytestmark = [pytest.mark.e2e, pytest.mark.browser, needs_chromium]

PEOPLE = (
    delegate(1, full_name="Иван Петров", city="Казань", country="Россия", language="ru"),
    delegate(2, full_name="김서울", city="서울", country="대한민국", language="ko", participant_type="partner"),
    delegate(3, full_name="<script>alert(1)</script>", city="London"),
    delegate(4, full_name='=HYPERLINK("x")', city="Paris"),
    delegate(5, full_name="Ana Pop", city="Bucharets", country="Romania", participant_type="excom",
             excom_status="pending"),
)


async def test_the_console_in_a_browser(tmp_path: Path, api: FakeBotAPI, browser: Browser) -> None:
    step = "start"
    async with bot_process(tmp_path, api, PEOPLE, QUIZ_OPEN) as base:
        try:

            step = "neutral-line"
            since = api.mark()
            api.push_text(STRANGER, "/console")
            await api.wait_for(lambda r: r.text == "This command is for the organisers.", chat_id=STRANGER,
                               since=since, timeout=30)

            step = "sign-in"
            link = await console_link(api)
            await browser.get(link)
            await browser.click("#sign-in")
            text = await browser.wait_text("Today")
            assert "EXCOM claims waiting" in text and "Sign out" in text

            step = "search-cyrillic"
            await browser.get(f"{base}/people")
            await browser.fill("#q", "ИВАН", submit=True)
            text = await browser.wait_text("1 registration")
            assert "Иван Петров" in text and "김서울" not in text
            step = "search-hangul"
            await browser.fill("#q", "서울", submit=True)
            text = await browser.wait_text("김서울")
            assert "Иван Петров" not in text
            step = "filter"
            await browser.fill("#q", "")
            await browser.select("#type", "partner")
            await browser.click("#apply")
            text = await browser.wait_text("1 registration")
            assert "김서울" in text

            step = "script-shown-as-text"
            await browser.get(f"{base}/people?q=script")
            text = await browser.wait_text("<script>alert(1)</script>")
            alerts = await browser.run(lambda: browser.driver.execute_script("return window.__alerted || null"))
            assert alerts is None
            await browser.get(f"{base}/people?q=HYPERLINK")
            await browser.wait_text('=HYPERLINK("x")')

            step = "bad-email"
            await browser.get(f"{base}/people/5")
            await browser.fill("#edit-email input[name=value]", "not an e-mail", submit=True)
            text = await browser.wait_text("does not look like an e-mail address")

            step = "excom-confirm-then-typo"
            await browser.get(f"{base}/people/5")
            await browser.click("#excom-confirm")
            await browser.wait_text("confirmed")
            await browser.fill("#edit-city input[name=value]", "Bucharest, Romania", submit=True)
            text = await browser.wait_text("Saved.")
            assert "Bucharest, Romania" in text and "confirmed" in text and "waiting for confirmation" not in text

            step = "export-as-text"
            csv = await browser.run(lambda: browser.driver.execute_async_script(
                "const done = arguments[0]; const f = new FormData();"
                "f.append('csrf', document.querySelector('input[name=csrf]').value); f.append('name', 'registrations');"
                "fetch('/console/exports', {method: 'POST', body: f}).then(r => r.text()).then(done);"))
            assert "'=HYPERLINK" in csv and "<script>alert(1)</script>" in csv

            step = "exports-page"
            await browser.click("nav a[href='/console/exports']")
            text = await browser.wait_text("A cell that would start a formula is written as text")
            assert "Registrations" in text and "Quiz results" in text

            step = "matchmaking"
            await browser.click("nav a[href='/console/matchmaking']")
            await browser.wait_text("Hosts and slots")
            await browser.click("#publish")
            await browser.wait_text("meet.example.org")  # refused while the link is the event file's placeholder

            step = "admit-from-a-persons-page"
            await browser.get(f"{base}/people/{STRANGER}")
            await browser.wait_text("Not registered.")
            await browser.click("#admit")
            text = await browser.wait_text(f"User {STRANGER} can now register")
            assert "Admitted: they can register after the deadline." in text

            step = "delete"
            await browser.get(f"{base}/people/4")
            await browser.click("#delete")
            await browser.wait_text("This cannot be undone")
            await browser.click("#confirm-delete")
            await browser.wait_text("""=HYPERLINK("x")'s data has been deleted.""")

            step = "audit-log"
            await browser.click("nav a[href='/console/audit']")
            await browser.wait_text("console_sign_in")
            table = await browser.text_of("#audit tbody")
            assert all(what in table for what in ("console_sign_in", "profile_fix", "export", "admit", "forget")), table
            await browser.select("#what", "admit")
            await browser.click("form.filters button[type=submit]")
            await browser.wait_text(f"user {STRANGER}")
            table = await browser.text_of("#audit tbody")
            assert "admit" in table and "profile_fix" not in table and "console_sign_in" not in table

            step = "languages"
            await browser.click("a[hreflang=ko]")
            await browser.wait_text("작업 기록")
            await browser.click("a[hreflang=ru]")
            await browser.wait_text("Журнал действий")
            await browser.click("a[hreflang=en]")
            await browser.wait_text("Audit log")

            step = "quiz-page"
            await browser.click("nav a[href='/console/quiz']")
            if "Open the quiz now" in await browser.wait_text("Leaderboard"):
                await browser.click("#quiz-open")
            await browser.wait_text("Close the quiz now")

            step = "quiz-screen"
            await browser.get(f"{base}/quiz/screen")
            await browser.wait_text("Players: 0")
            since = api.mark()
            api.push_text(PLAYER, "/quiz", first_name="Zoe", last_name="Quizzer")
            choice = await api.wait_for(lambda r: any((d or "").startswith(("qz:", "qzname:")) for _, d in
                                                      api.buttons(r)), chat_id=PLAYER, since=since, timeout=30)
            question = choice
            if not any((d or "").startswith("qz:") for _, d in api.buttons(choice)):
                # How the leaderboard shows the player, asked before the first question: "As Zoe".
                since = api.mark()
                shown = next(d for label, d in api.buttons(choice) if "Zoe" in label)
                api.push_callback(PLAYER, shown or "", choice.result["message_id"])
                question = await api.wait_for(lambda r: any((d or "").startswith("qz:") for _, d in api.buttons(r)),
                                              chat_id=PLAYER, since=since, timeout=30)
            answer = next(d for _, d in api.buttons(question) if (d or "").startswith("qz:"))
            api.push_callback(PLAYER, answer or "", question.result["message_id"])
            text = await browser.wait_text("Zoe", timeout=10)  # polled every second: well within 2 s once stored
            assert "Players: 1" in text and "Quizzer" not in text

            step = "second-use-refused"
            await browser.get(link)
            await browser.click("#sign-in")
            await browser.wait_text("has been used already")

            step = "forged-cookie"
            await browser.run(lambda: browser.driver.delete_all_cookies())
            await browser.get(f"{base}/signin")
            await browser.run(lambda: browser.driver.add_cookie({"name": "console_session", "value": "forged",
                                                                 "path": "/console"}))
            await browser.get(f"{base}/people")
            await browser.wait_text("send /console to the bot")
            forged = re.sub(r"t=\d+\.", f"t={STRANGER}.", link)
            await browser.get(forged)
            await browser.click("#sign-in")
            await browser.wait_text("This sign-in link is not valid")

            step = "sign-out"
            await browser.get(await console_link(api))
            await browser.click("#sign-in")
            await browser.wait_text("Today")
            await browser.click("form[action='/console/signout'] button")
            await browser.wait_text("send /console to the bot")
            await browser.get(f"{base}/people")
            await browser.wait_text("send /console to the bot")
        except BaseException:
            await asyncio.to_thread(browser.screenshot, step)
            raise
