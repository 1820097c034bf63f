"""Helpers of the console's browser tests: Debian's headless Chromium driven by Selenium (`Browser`), the
organiser's sign-in link through the fake Bot API, people seeded before the bot starts. The fixtures (`api`, and
`browser`: one Chromium per test module) are in tests/console/conftest.py."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from domain.registration import Profile
from testkit.fake_botapi import FakeBotAPI
from tests.test_e2e import stop_bot

ROOT = Path(__file__).resolve().parents[2]
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

    async def text_of(self, css: str) -> str:
        """The visible text of one element."""
        return str(await self.run(lambda: self.driver.find_element("css selector", css).text))

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

    async def attach(self, css: str, path: Path) -> None:
        """Choose a file in a file input (what a person does through the file dialog)."""
        await self.run(lambda: self.driver.find_element("css selector", css).send_keys(str(path)))

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


async def seed(db: Path, people: Iterable[Profile]) -> None:
    """People registered before the bot starts (the schema from the bot's own migrations)."""
    from storage.db import make_engine, make_sessionmaker, migrate
    from storage.repo import Delegates

    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    try:
        await migrate(engine)
        async with make_sessionmaker(engine)() as s:
            repo = Delegates(s)
            for p in people:
                await repo.save(p, datetime(2020, 11, 1, 9, tzinfo=UTC))
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


@asynccontextmanager
async def bot_process(tmp_path: Path, api: FakeBotAPI, people: Iterable[Profile], clock_start: str,
                      **variables: str) -> AsyncIterator[str]:
    """`python -m bot` long-polling `api` with the console on a free port, `people` registered; yields the
    console's address (http://127.0.0.1:<port>/console) once the bot polls, and stops it cleanly after."""
    from testkit.processes import bot_env, spawn_bot

    db = tmp_path / "console.db"
    await seed(db, people)
    port = free_port()
    env = bot_env(f"sqlite+aiosqlite:///{db}", api_url=api.url, CLOCK_START=clock_start, WEB_PORT=str(port),
                  ADMIN_IDS=str(ORGANISER), **variables)
    proc = await spawn_bot(tmp_path, env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await api.wait_until(lambda: api.waiting_polls > 0, timeout=60)
        yield f"http://127.0.0.1:{port}/console"
    finally:
        code, err = await stop_bot(proc)
    assert code == 0, err


async def signed_in(browser: Browser, api: FakeBotAPI) -> None:
    """The organiser signs in with a fresh link from /console."""
    await browser.get(await console_link(api))
    await browser.click("#sign-in")
    await browser.wait_text("Today")


needs_chromium = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                    reason="chromium and chromium-driver are not installed (make browsers)")
