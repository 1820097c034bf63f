"""The console's Broadcasts page (issue 19): composer with Telegram formatting, variants and link buttons, the
audience builder with a live count (the chat's typed Audience), preview, a test to me, "send at", the live
progress with Cancel, and the history with who was not reached."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from multidict import MultiDict

from tests.console.support import ORGANISER, audit_actions, sign_in
from tests.harness import Harness, register
from tests.test_broadcasts import _from, drain, rows


def form(csrf: str, action: str, text: str = "Hello <b>all</b>", **extra: Any) -> MultiDict[str]:
    data: MultiDict[str] = MultiDict({"csrf": csrf, "action": action, "text": text})
    for key, value in extra.items():
        for v in value if isinstance(value, list) else [value]:
            data.add(key, v)
    return data


async def people(h: Harness) -> None:
    for uid, (country, ptype, lang) in {1: ("Korea", "excom", "ko"), 2: ("Korea", "excom", "ru"),
                                        3: ("Russia", "excom", "ru"), 4: ("Russia", "partner", "ru"),
                                        5: ("Vietnam", "excom", "ru")}.items():
        await register(h, uid, participant_type=ptype, language=lang)
        await _from(h, uid, country)


async def test_compose_count_preview_test_and_send_to_a_combined_audience(h: Harness,
                                                                         web_client: TestClient) -> None:
    await people(h)
    csrf = await sign_in(h, web_client)
    page = await (await web_client.get("/console/broadcasts")).text()
    assert "Broadcasts" in page and 'name="country" value="Korea"' in page and "Send a test to me" in page
    # The live count the page's script asks for, with the same rule as the chat's /broadcast.
    count = await (await web_client.get("/console/broadcasts/count?country=Korea&country=Russia&type=excom"
                                        "&language=ru")).json()
    assert count["n"] == 2 and count["text"] == "Recipients now: 2"
    assert (await (await web_client.get("/console/broadcasts/count")).json())["n"] == 5
    # Formatting Telegram would refuse is caught before anything is sent.
    bad = await web_client.post("/console/broadcasts", data=form(csrf, "preview", "Hello <div>all</div>"))
    assert bad.status == 422 and "Telegram would refuse this formatting: &lt;div&gt;" in await bad.text()
    audience = {"country": ["Korea", "Russia"], "type": "excom", "language": "ru"}
    preview = await web_client.post("/console/broadcasts", data=form(
        csrf, "preview", text_ru="Привет, <b>все</b>", buttons="Program - https://wego.example/program", **audience))
    text = await preview.text()
    assert preview.status == 200 and "Recipients now: 2" in text
    assert "Hello &lt;b&gt;all&lt;/b&gt;" in text and "Привет, &lt;b&gt;все&lt;/b&gt;" in text  # shown, escaped
    assert 'href="https://wego.example/program"' in text
    test = await web_client.post("/console/broadcasts", data=form(csrf, "test", **audience))
    assert "A test is on its way" in await test.text()
    await drain(h)
    assert h.last_text(ORGANISER) == "Hello <b>all</b>" and h.session.sent(2) == []
    sent = await web_client.post("/console/broadcasts", data=form(
        csrf, "send", text_ru="Привет, <b>все</b>", buttons="Program - https://wego.example/program", **audience),
        allow_redirects=False)
    assert sent.status == 303 and sent.headers["Location"] == "/console/broadcasts/1"
    assert sorted(r.user_id for r in await rows(h, topic="broadcast:1")) == [2, 3]
    await drain(h)
    [got] = h.session.sent(2)
    assert got.text == "Привет, <b>все</b>" and got.buttons == [("Program", "https://wego.example/program")]
    live = await (await web_client.get("/console/broadcasts/1/progress")).json()
    assert (live["sent"], live["total"], live["left"], live["done"]) == (2, 2, 0, True)
    one = await (await web_client.get("/console/broadcasts/1")).text()
    assert '<progress id="bar" max="2" value="2">' in one and "Nobody so far." in one
    history = await (await web_client.get("/console/broadcasts")).text()
    assert '<a href="/console/broadcasts/1">#1</a>' in history and "Korea / Russia" in history
    assert "broadcast" in await audit_actions(h)


async def test_send_at_later_cancel_and_who_was_not_reached(h: Harness, web_client: TestClient) -> None:
    await people(h)
    h.session.blocked.add(3)
    csrf = await sign_in(h, web_client)
    past = await web_client.post("/console/broadcasts", data=form(csrf, "send", send_at="2020-11-01T09:00"))
    assert past.status == 422 and "has passed already" in await past.text()
    later = await web_client.post("/console/broadcasts", data=form(csrf, "send", send_at="2020-11-02T09:30",
                                                                    country="Russia"), allow_redirects=False)
    assert later.status == 303
    page = await (await web_client.get("/console/broadcasts/1")).text()
    assert "scheduled for 2 Nov, 09:30" in page and 'id="cancel"' in page
    await drain(h)
    assert h.session.sent(3) == [] and h.session.sent(4) == []
    cancelled = await web_client.post("/console/broadcasts/1/cancel", data={"csrf": csrf})
    assert "Cancelled: 2 messages will not be sent." in await cancelled.text()
    # Now at once, to everyone: the one who blocked the bot is listed with the reason.
    now = await web_client.post("/console/broadcasts", data=form(csrf, "send"), allow_redirects=False)
    assert now.headers["Location"] == "/console/broadcasts/2"
    await drain(h)
    page = await (await web_client.get("/console/broadcasts/2")).text()
    assert "blocked the bot" in page and "<code>3</code>" in page
    forged = await web_client.get("/console/broadcasts/99999999999")
    assert forged.status == 404
    no_csrf = await web_client.post("/console/broadcasts", data={"action": "send", "text": "x"})
    assert no_csrf.status == 403
