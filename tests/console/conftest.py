"""The console tests' fixtures, defined once: `h` (the harness with the console's public address set),
`web_client` (aiohttp's test client on the console mounted as in the webhook app) and `browser` (one headless
Chromium per test module, cookies cleared for each test); `api`, the fake Bot API, is tests/conftest.py's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.app import make_console
from console import MAX_REQUEST, mount
from tests.console.browser import CHROMIUM, DRIVER, Browser
from tests.harness import Harness


@pytest.fixture
async def h(h: Harness) -> Harness:
    """tests/conftest.py's `h` (`@pytest.mark.harness(...)` applies) with the console's address set."""
    h.app.console_url = "http://console.test"
    return h


@pytest.fixture
async def web_client(h: Harness) -> AsyncIterator[TestClient]:
    client = TestClient(TestServer(mount(web.Application(client_max_size=MAX_REQUEST), make_console(h.app))))
    await client.start_server()
    yield client
    await client.close()


@pytest.fixture(scope="module")
def _chromium() -> Iterator[Browser]:
    """One browser start per module: starting Chromium costs more than most of a test's steps."""
    if not (CHROMIUM and DRIVER):
        pytest.skip("chromium and chromium-driver are not installed (make browsers)")
    found = Browser()
    yield found
    found.quit()


@pytest.fixture
async def browser(_chromium: Browser) -> Browser:
    await asyncio.to_thread(_chromium.driver.delete_all_cookies)
    return _chromium
