"""The organisers' console in a real browser: Debian's headless Chromium driven by Selenium, against the bot
as a process (`python -m bot`) long-polling the fake Bot API, checking what a person sees.

`make browsers` (and .ci/run) installs chromium and chromium-driver; without them these tests skip. A failing
step leaves screenshots of the browser in test-artifacts/console/ (and the page's HTML beside them)."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from testkit.fake_botapi import FakeBotAPI
from tests.test_e2e import stop_bot

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "console"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
ORGANISER, PLAYER, STRANGER = 777900, 777901, 777902
# The quiz window of the event day (events/excom2020.toml): 14:15 Moscow time.
QUIZ_OPEN = "2020-11-17T14:16:00+03:00"
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/console/signin\?t=\S+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Browser:
    """A headless Chromium; every call runs in a thread so the test's event loop (the fake Bot API) goes on."""

    def __init__(self, width: int = 1280, height: int = 900) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM or ""
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    f"--window-size={width},{height}", "--lang=en-GB"):
            options.add_argument(arg)
        self.driver = webdriver.Chrome(service=Service(DRIVER or ""), options=options)
        self.shots = 0

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    async def get(self, url: str) -> None:
        await self.run(self.driver.get, url)

    async def text(self) -> str:
        """The page's visible text; "" while a navigation replaces the page."""
        from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

        def read() -> str:
            try:
                return str(self.driver.find_element("tag name", "body").text)
            except (StaleElementReferenceException, NoSuchElementException):
                return ""
        return str(await self.run(read))

    async def click(self, css: str) -> None:
        await self.run(lambda: self.driver.find_element("css selector", css).click())

    async def fill(self, css: str, value: str, *, submit: bool = False) -> None:
        def do() -> None:
            field = self.driver.find_element("css selector", css)
            field.clear()
            field.send_keys(value)
            if submit:
                field.submit()
        await self.run(do)

    async def select(self, css: str, value: str) -> None:
        from selenium.webdriver.support.ui import Select

        await self.run(lambda: Select(self.driver.find_element("css selector", css)).select_by_value(value))

    async def wait_text(self, needle: str, timeout: float = 10) -> str:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            text = await self.text()
            if needle in text:
                return text
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{needle!r} not on the page {self.driver.current_url}:\n{text}")
            await asyncio.sleep(0.1)

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.shots += 1
        self.driver.save_screenshot(str(ARTIFACTS / f"{self.shots:02d}-{name}.png"))
        (ARTIFACTS / f"{self.shots:02d}-{name}.html").write_text(self.driver.page_source, encoding="utf-8")

    def quit(self) -> None:
        self.driver.quit()


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as server:
        yield server


async def seed(db: Path) -> None:
    """People registered before the bot starts (the schema from the bot's own migrations)."""
    from storage.db import make_engine, make_sessionmaker, migrate
    from storage.repo import Delegates
    from testkit.people import delegate

    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    try:
        await migrate(engine)
        async with make_sessionmaker(engine)() as s:
            now = datetime(2020, 11, 1, 9, tzinfo=UTC)
            repo = Delegates(s)
            for p in (
                delegate(1, full_name="Иван Петров", city="Казань", country="Россия", language="ru"),
                delegate(2, full_name="김서울", city="서울", country="대한민국", language="ko",
                         participant_type="partner"),
                delegate(3, full_name="<script>alert(1)</script>", city="London"),
                delegate(4, full_name='=HYPERLINK("x")', city="Paris"),
                delegate(5, full_name="Ana Pop", city="Bucharets", country="Romania", participant_type="excom",
                         excom_status="pending"),
            ):
                await repo.save(p, now)
            await s.commit()
    finally:
        await engine.dispose()


async def console_link(api: FakeBotAPI, user_id: int = ORGANISER) -> str:
    since = api.mark()
    api.push_text(user_id, "/console")
    rec = await api.wait_for(lambda r: "/console/signin" in (r.text or ""), method="sendMessage", chat_id=user_id,
                             since=since, timeout=30)
    found = LINK.search(rec.text or "")
    assert found, rec.text
    return found.group(1)


@pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="chromium and chromium-driver are not installed "
                                                      "(make browsers)")
async def test_the_console_in_a_browser(tmp_path: Path, api: FakeBotAPI) -> None:
    from testkit.processes import bot_env, spawn_bot

    db = tmp_path / "console.db"
    await seed(db)
    port = free_port()
    env = bot_env(f"sqlite+aiosqlite:///{db}", api_url=api.url, CLOCK_START=QUIZ_OPEN, WEB_PORT=str(port),
                  ADMIN_IDS=str(ORGANISER))
    proc = await spawn_bot(tmp_path, env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    browser = await asyncio.to_thread(Browser)
    base = f"http://127.0.0.1:{port}/console"
    step = "start"
    try:
        await api.wait_until(lambda: api.waiting_polls > 0, timeout=60)

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

        step = "quiz-screen"
        await browser.get(f"{base}/quiz")
        await browser.click("#quiz-open") if "Open the quiz now" in await browser.text() else None
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
    finally:
        await asyncio.to_thread(browser.quit)
        code, err = await stop_bot(proc)
    assert code == 0, err
