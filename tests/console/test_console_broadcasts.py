"""The console's Broadcasts page (issue 19): composer with Telegram formatting, variants and link buttons, the
audience builder with a live count (the chat's typed Audience), preview, a test to me, "send at", the live
progress with Cancel, and the history with who was not reached."""

from __future__ import annotations

import io
from typing import Any

from aiohttp import FormData
from aiohttp.test_utils import TestClient
from multidict import MultiDict

from domain.organiser import UPLOAD_LIMIT
from testkit.files import PNG_1X1
from tests.console.support import ORGANISER, audit_actions, sign_in
from tests.harness import Harness, register
from tests.test_broadcasts import _from, drain, rows


def form(csrf: str, action: str, text: str = "Hello <b>all</b>", **extra: Any) -> MultiDict[str]:
    data: MultiDict[str] = MultiDict({"csrf": csrf, "action": action, "text": text})
    for key, value in extra.items():
        for v in value if isinstance(value, list) else [value]:
            data.add(key, v)
    return data


def with_file(data: MultiDict[str], name: str | None = None, content: bytes = b"", content_type: str = "image/png"
              ) -> FormData:
    """The composer's form as the browser sends it (multipart), with a chosen file or none."""
    found = FormData()
    for key, value in data.items():
        found.add_field(key, value)
    if name is not None:
        found.add_field("media", io.BytesIO(content), filename=name, content_type=content_type)
    return found


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


async def test_a_photo_is_checked_previewed_tested_and_sent_by_the_outbox(h: Harness, web_client: TestClient) -> None:
    from storage.models import Upload

    await people(h)
    csrf = await sign_in(h, web_client)
    page = await (await web_client.get("/console/broadcasts")).text()
    assert 'enctype="multipart/form-data"' in page and 'type="file" name="media"' in page
    caption = "Our <b>poster</b>"
    preview = await web_client.post("/console/broadcasts", data=with_file(
        form(csrf, "preview", caption, country="Russia"), "poster.png", PNG_1X1))
    text = await preview.text()
    assert preview.status == 200 and "Recipients now: 2" in text
    assert '<img class="attachment" src="/console/broadcasts/uploads/1"' in text and "📎 poster.png" in text
    assert 'name="media_upload" value="1"' in text
    shown = await web_client.get("/console/broadcasts/uploads/1")
    assert await shown.read() == PNG_1X1 and shown.content_type == "image/png"

    # Refused files: the form comes back with the reason, what was typed and the photo attached before.
    for name, content, reason in (
            ("setup.exe", b"MZ\x90\x00", "“setup.exe” cannot be attached"),
            ("huge.png", PNG_1X1 + b"\x00" * UPLOAD_LIMIT,
             "The file “huge.png” is too large (10.0 MB): at most 10 MB")):
        refused = await web_client.post("/console/broadcasts", data=with_file(
            form(csrf, "send", caption, country="Russia", media_upload="1"), name, content))
        text = await refused.text()
        assert refused.status == 422 and reason in text, text
        assert "Our &lt;b&gt;poster&lt;/b&gt;</textarea>" in text and 'name="media_upload" value="1"' in text
    await web_client.get("/console/lang?to=ru&next=/console/broadcasts")
    russian = await web_client.post("/console/broadcasts", data=with_file(
        form(csrf, "send", caption, media_upload="1"), "setup.exe", b"MZ"))
    assert "«setup.exe» нельзя прикрепить" in await russian.text()
    await web_client.get("/console/lang?to=en&next=/console/broadcasts")
    long = await web_client.post("/console/broadcasts", data=form(csrf, "preview", "x" * 1100, media_upload="1"))
    assert long.status == 422 and "at most 1024 characters" in await long.text()
    assert h.session.sent(3) == []

    # A test to me: the photo goes up with it, and Telegram's file_id is kept for the copies.
    test = await web_client.post("/console/broadcasts", data=form(csrf, "test", caption, media_upload="1"))
    assert "A test is on its way" in await test.text()
    await drain(h)
    [mine] = [r for r in h.session.sent(ORGANISER) if r.method == "sendPhoto"]
    assert mine.text == caption and mine.params["parse_mode"] == "HTML" and list(mine.files.values()) == [PNG_1X1]
    async with h.app.sessions() as s:
        stored = await s.get(Upload, 1)
        assert stored is not None and stored.file_id == mine.result["photo"][-1]["file_id"]

    sent = await web_client.post("/console/broadcasts", data=form(
        csrf, "send", caption, country="Russia", media_upload="1", text_ru="Наш <b>постер</b>",
        buttons="Program - https://wego.example/program"), allow_redirects=False)
    assert sent.status == 303
    await drain(h)
    for uid in (3, 4):
        [got] = h.session.sent(uid)
        assert (got.method, got.text, got.files) == ("sendPhoto", "Наш <b>постер</b>", {})  # by file_id
        assert got.params["photo"] == stored.file_id
        assert got.buttons == [("Program", "https://wego.example/program")]
    page = await (await web_client.get("/console/broadcasts/1")).text()
    assert '<img class="attachment" src="/console/broadcasts/uploads/1"' in page


async def test_a_document_is_sent_as_a_document_and_can_be_removed(h: Harness, web_client: TestClient) -> None:
    await people(h)
    csrf = await sign_in(h, web_client)
    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    attached = await web_client.post("/console/broadcasts", data=with_file(
        form(csrf, "preview", "The <i>programme</i>"), "programme-2020.pdf", pdf, "application/pdf"))
    text = await attached.text()
    assert "📎 programme-2020.pdf" in text and 'href="/console/broadcasts/uploads/1"' in text
    removed = await web_client.post("/console/broadcasts", data=form(csrf, "preview", "x", media_upload="1",
                                                                      media_remove="1"))
    assert "📎" not in await removed.text()
    await web_client.post("/console/broadcasts", data=form(csrf, "send", "The <i>programme</i>", country="Korea",
                                                           media_upload="1"), allow_redirects=False)
    await drain(h)
    for uid in (1, 2):
        [got] = h.session.sent(uid)
        assert got.method == "sendDocument" and got.text == "The <i>programme</i>"
    first = h.session.sent(1)[0]
    assert list(first.files.values()) == [pdf] or list(h.session.sent(2)[0].files.values()) == [pdf]
