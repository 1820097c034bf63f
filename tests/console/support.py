"""Helpers of the in-process console tests (aiohttp's test client over the harness's bot): the organiser's
one-time link from /console, signing in, the audit log's actions. The fixtures are in tests/console/conftest.py."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

from storage.models import AuditEntry
from tests.harness import Harness

ORGANISER = 999
LINK = re.compile(r"(http://console\.test/console/signin\?t=(\S+))")


async def link_for(h: Harness, user_id: int = ORGANISER) -> str:
    await h.send(user_id, "/console")
    found = LINK.search(h.last_text(user_id))
    assert found, h.last_text(user_id)
    return found.group(2)


async def sign_in(h: Harness, client: TestClient) -> str:
    """Sign in as the organiser; returns the page's CSRF token."""
    token = await link_for(h)
    page = await client.get(f"/console/signin?t={token}")
    assert page.status == 200 and "Sign in" in await page.text()
    done = await client.post("/console/signin", data={"t": token}, allow_redirects=False)
    assert done.status == 303 and done.headers["Location"] == "/console/"
    cookie = done.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert "Max-Age=43200" in cookie
    today = await client.get("/console/")
    text = await today.text()
    assert today.status == 200 and "Today" in text
    found = re.search(r'name="csrf" value="([^"]+)"', text)
    assert found
    return found.group(1)


async def audit_actions(h: Harness) -> list[str]:
    from sqlalchemy import select

    async with h.app.sessions() as s:
        return list(await s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
