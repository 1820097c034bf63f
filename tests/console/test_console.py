"""The organisers' web console in process (aiohttp's test server over the harness's bot): signing in with the
one-time link from /console, sessions, CSRF, languages, and what each page shows. tests/console/test_console_browser.py
drives the same pages in Chromium against the bot as a process."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.app import make_console
from console import mount
from tests.console.support import LINK, ORGANISER, audit_actions, link_for, sign_in
from tests.harness import Harness, register
from tests.test_dead_ends import AFTER_DEADLINE


async def test_an_organiser_signs_in_once_per_link_and_out(h: Harness, web_client: TestClient) -> None:
    csrf = await sign_in(h, web_client)
    assert "It works once, for 10 minutes" in h.last_text(ORGANISER)
    # The same link again (another browser): refused.
    other = TestClient(TestServer(mount(web.Application(), make_console(h.app))))
    await other.start_server()
    try:
        token = LINK.search(h.last_text(ORGANISER)).group(2)
        again = await other.post("/console/signin", data={"t": token}, allow_redirects=False)
        assert again.status == 403 and "has been used already" in await again.text()
        assert (await other.get("/console/", allow_redirects=False)).headers["Location"] == "/console/signin"
    finally:
        await other.close()
    out = await web_client.post("/console/signout", data={"csrf": csrf}, allow_redirects=False)
    assert out.status == 303
    after = await web_client.get("/console/", allow_redirects=False)
    assert after.status == 303 and after.headers["Location"] == "/console/signin"
    assert {"console_link", "console_sign_in", "console_sign_out"} <= set(await audit_actions(h))


async def test_others_get_the_neutral_line_and_forged_links_and_cookies_are_refused(
        h: Harness, web_client: TestClient) -> None:
    await h.send(5, "/console")
    assert h.last_text(5) == "This command is for the organisers."
    token = await link_for(h)
    uid, expires, nonce, sig = token.split(".")
    for forged in (f"5.{expires}.{nonce}.{sig}", f"{uid}.{int(expires) + 3600}.{nonce}.{sig}", "999.1.2.3", "x"):
        answer = await web_client.post("/console/signin", data={"t": forged}, allow_redirects=False)
        assert answer.status == 403 and "This sign-in link is not valid" in await answer.text()
    web_client.session.cookie_jar.update_cookies({"console_session": "made-up"})
    page = await web_client.get("/console/", allow_redirects=False)
    assert page.status == 303 and page.headers["Location"] == "/console/signin"


async def test_a_link_expires_after_ten_minutes(h: Harness, web_client: TestClient) -> None:
    token = await link_for(h)
    h.clock.advance(minutes=10, seconds=1)
    answer = await web_client.post("/console/signin", data={"t": token}, allow_redirects=False)
    assert answer.status == 403 and "has expired" in await answer.text()


async def test_removal_from_admin_ids_ends_the_session_on_the_next_request(h: Harness,
                                                                          web_client: TestClient) -> None:
    await sign_in(h, web_client)
    console = web_client.server.app[next(iter(web_client.server.app))] if False else None  # noqa: F841
    for sub in web_client.server.app._subapps:  # the console's own application
        from console.core import CONSOLE

        sub[CONSOLE].admin_ids = frozenset()
    page = await web_client.get("/console/", allow_redirects=False)
    assert page.status == 303 and page.headers["Location"] == "/console/signin"
    assert "console_sign_out" in await audit_actions(h)


async def test_a_session_lasts_twelve_hours(h: Harness, web_client: TestClient) -> None:
    await sign_in(h, web_client)
    h.clock.advance(hours=11, minutes=59)
    assert (await web_client.get("/console/", allow_redirects=False)).status == 200
    h.clock.advance(minutes=2)
    assert (await web_client.get("/console/", allow_redirects=False)).status == 303


async def test_a_form_without_the_csrf_token_is_refused(h: Harness, web_client: TestClient) -> None:
    await sign_in(h, web_client)
    answer = await web_client.post("/console/signout", data={"csrf": "wrong"}, allow_redirects=False)
    assert answer.status == 403 and "This form has expired" in await answer.text()
    assert (await web_client.get("/console/", allow_redirects=False)).status == 200  # still signed in


async def test_today_counts_in_three_languages(h: Harness, web_client: TestClient) -> None:
    await register(h, 1, participant_type="excom", excom_status="pending", language="ru")
    await register(h, 2, participant_type="partner", language="ko")
    await register(h, 3)
    await sign_in(h, web_client)
    text = await (await web_client.get("/console/")).text()
    assert 'id="registered">3<' in text and 'id="excom-waiting">1<' in text
    assert "EXCOM claims waiting" in text and "By participant type" in text and "한국어" in text
    for lang, words in (("ru", "Сегодня"), ("ko", "오늘")):
        switched = await web_client.get(f"/console/lang?to={lang}&next=/console/")
        assert words in await switched.text()
    # Only back into the console after a language switch.
    away = await web_client.get("/console/lang?to=en&next=//evil.example/", allow_redirects=False)
    assert away.headers["Location"] == "/console/"


async def test_pages_carry_security_headers(h: Harness, web_client: TestClient) -> None:
    await sign_in(h, web_client)
    page = await web_client.get("/console/")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["Referrer-Policy"] == "no-referrer" and page.headers["X-Frame-Options"] == "DENY"


# -- People ---------------------------------------------------------------------------------------------------

async def test_people_search_in_any_script_filters_sorts_and_pages(h: Harness, web_client: TestClient) -> None:
    await register(h, 1, full_name="Иван Петров", city="Казань", language="ru")
    await register(h, 2, full_name="김서울", city="서울", language="ko", participant_type="partner")
    await register(h, 3, full_name="Ada Lovelace", city="London")
    for uid in range(10, 65):
        await register(h, uid, full_name=f"Person {uid:02d}")
    await sign_in(h, web_client)
    for query, who in (("Иван", "Иван Петров"), ("ПЕТРОВ", "Иван Петров"), ("서울", "김서울"), ("ada", "Ada Lovelace")):
        text = await (await web_client.get("/console/people", params={"q": query})).text()
        assert "1 registration<" in text and who in text, query
    text = await (await web_client.get("/console/people", params={"type": "partner"})).text()
    assert "김서울" in text and "Ada Lovelace" not in text
    text = await (await web_client.get("/console/people", params={"lang": "ru"})).text()
    assert "Иван Петров" in text and "1 registration<" in text
    first = await (await web_client.get("/console/people", params={"sort": "name", "dir": "asc"})).text()
    assert "58 registrations" in first and "Page 1 of 2" in first
    assert first.index("Ada Lovelace") < first.index("Person 10") and "Иван Петров" not in first
    second = await (await web_client.get("/console/people", params={"sort": "name", "dir": "asc", "page": "2"})).text()
    assert "Page 2 of 2" in second and "Иван Петров" in second and "Ada Lovelace" not in second


async def test_a_persons_page_shows_every_field_escaped(h: Harness, web_client: TestClient) -> None:
    await register(h, 7, full_name="<script>alert(1)</script>")
    await sign_in(h, web_client)
    text = await (await web_client.get("/console/people/7")).text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "<script>alert" not in text
    assert "u7@example.org" in text and "Europe/Moscow" in text
    listing = await (await web_client.get("/console/people")).text()
    assert "<script>alert" not in listing


async def test_an_edit_is_checked_by_the_registration_rules(h: Harness, web_client: TestClient) -> None:
    await register(h, 7, full_name="Ada Lovelase")
    csrf = await sign_in(h, web_client)
    bad = await web_client.post("/console/people/7/edit", data={"csrf": csrf, "field": "email", "value": "nope"})
    assert bad.status == 400 and "does not look like an e-mail address" in await bad.text()
    good = await web_client.post("/console/people/7/edit", data={"csrf": csrf, "field": "full_name",
                                                                  "value": "Ada Lovelace"})
    assert good.status == 200 and "Saved." in await good.text() and "Ada Lovelace" in await good.text()
    assert "profile_fix" in await audit_actions(h)


async def test_excom_confirmation_survives_a_typo_fix_and_a_real_change_asks(h: Harness,
                                                                              web_client: TestClient) -> None:
    await register(h, 7, participant_type="excom", excom_status="pending", city="Bucharets", full_name="Ana Pop")
    csrf = await sign_in(h, web_client)
    page = await (await web_client.get("/console/people/7")).text()
    assert "waiting for confirmation" in page
    await web_client.post("/console/people/7/excom", data={"csrf": csrf, "decision": "confirm"})
    fixed = await web_client.post("/console/people/7/edit", data={"csrf": csrf, "field": "city",
                                                                   "value": "Bucharest, Romania"})
    text = await fixed.text()
    assert "Saved." in text and "<dd>confirmed</dd>" in text
    moved = await web_client.post("/console/people/7/edit", data={"csrf": csrf, "field": "city",
                                                                   "value": "Chengdu, China"})
    assert moved.status == 409 and "This is not a typo fix" in await moved.text()
    assert "<dd>confirmed</dd>" in await (await web_client.get("/console/people/7")).text()
    anyway = await web_client.post("/console/people/7/edit", data={"csrf": csrf, "field": "city",
                                                                    "value": "Chengdu, China", "change_claim": "1"})
    assert "<dd>waiting for confirmation</dd>" in await anyway.text()


async def test_delete_asks_then_forgets_the_person(h: Harness, web_client: TestClient) -> None:
    await register(h, 7, full_name="Gone Soon")
    csrf = await sign_in(h, web_client)
    ask = await (await web_client.get("/console/people/7/delete")).text()
    assert "This cannot be undone" in ask
    done = await web_client.post("/console/people/7/delete", data={"csrf": csrf})
    assert "Gone Soon&#39;s data has been deleted." in await done.text()
    assert (await web_client.get("/console/people/7")).status == 404
    assert "forget" in await audit_actions(h)


async def test_admit_from_the_people_page(h: Harness, web_client: TestClient) -> None:
    csrf = await sign_in(h, web_client)
    done = await web_client.post("/console/people/admit", data={"csrf": csrf, "user_id": "61"})
    assert done.url.path == "/console/people/61" and "User 61 can now register" in await done.text()
    bad = await web_client.post("/console/people/admit", data={"csrf": csrf, "user_id": "x"})
    assert bad.status == 400 and "Usage: /admit" in await bad.text()


@pytest.mark.harness(at=AFTER_DEADLINE)
async def test_admit_from_a_persons_page(h: Harness, web_client: TestClient) -> None:
    await register(h, 7, full_name="Ada Lovelace")
    csrf = await sign_in(h, web_client)
    # Someone without a registration: their page says so and offers /admit.
    await h.send(62, "/start")
    assert "Registration for WeGO EXCOM 2020 closed on" in h.last_text(62)
    page = await web_client.get("/console/people/62")
    text = await page.text()
    assert page.status == 404 and "Not registered." in text and "Not admitted" in text and 'id="admit"' in text
    refused = await web_client.post("/console/people/62/admit", data={"csrf": "forged"})
    assert refused.status == 403 and "admit" not in await audit_actions(h)
    done = await web_client.post("/console/people/62/admit", data={"csrf": csrf}, allow_redirects=False)
    assert done.status == 303 and done.headers["Location"].startswith("/console/people/62?done=admitted")
    after = await web_client.get(done.headers["Location"])
    text = await after.text()
    assert after.status == 200 and "User 62 can now register with /start, even after the deadline." in text
    assert "Admitted: they can register after the deadline." in text and "Admit again" in text
    assert (await audit_actions(h)).count("admit") == 1
    await h.send(62, "/start")
    assert "closed on" not in h.last_text(62)
    # A registered person needs no pass: no button, and a forged request is refused with the chat's words.
    registered = await (await web_client.get("/console/people/7")).text()
    assert 'id="admit"' not in registered
    again = await web_client.post("/console/people/7/admit", data={"csrf": csrf})
    assert again.status == 409 and "already registered" in await again.text()


# -- Quiz -----------------------------------------------------------------------------------------------------

async def test_the_quiz_page_opens_and_closes_the_quiz(h: Harness, web_client: TestClient) -> None:
    csrf = await sign_in(h, web_client)
    page = await (await web_client.get("/console/quiz")).text()
    assert "Open the quiz now" in page
    opened = await (await web_client.post("/console/quiz", data={"csrf": csrf, "to": "open"})).text()
    assert "The quiz is open. Announcements queued:" in opened and "Close the quiz now" in opened
    closed = await (await web_client.post("/console/quiz", data={"csrf": csrf, "to": "close"})).text()
    # Those playing still answer the rest of their questions: "no new questions" was not true (issue 20).
    assert "nobody new can start, and those already playing can answer the rest of their questions" in closed
    assert "no new questions" not in closed
    for lang, words in (("ru", "те, кто уже играет, могут ответить на оставшиеся вопросы"),
                        ("ko", "이미 풀고 있는 사람은 남은 문제에 끝까지 답할 수 있어요")):
        await web_client.get(f"/console/lang?to={lang}&next=/console/quiz")
        await web_client.post("/console/quiz", data={"csrf": csrf, "to": "open"})
        page = await (await web_client.post("/console/quiz", data={"csrf": csrf, "to": "close"})).text()
        assert words in page, lang
    assert {"quiz_open", "quiz_close"} <= set(await audit_actions(h))


async def test_the_screen_shows_first_names_only_and_updates(h: Harness, web_client: TestClient) -> None:
    from tests.test_quiz import seed

    await register(h, 1, full_name="Ann Lee", city="Seoul")
    await register(h, 2, full_name="김서울", city="서울")
    await seed(h, 1, 300, 10_000, None)
    await sign_in(h, web_client)
    screen = await (await web_client.get("/console/quiz/screen")).text()
    assert "Ann" in screen and "Lee" not in screen and "Seoul" not in screen
    assert 'src="/console/static/console.js' in screen and "<script>" not in screen.replace(
        '<script src=', '')
    await seed(h, 2, 400, 10_000, None)
    data = await (await web_client.get("/console/quiz/screen.json")).json()
    assert [(r["rank"], r["name"], r["score"]) for r in data["top"]] == [(1, "서울", 400), (2, "Ann", 300)]
    assert data["players"] == 2
    # The name a player chose to show: a nickname, or anonymous (said in the screen's language).
    from domain.quiz import ShownAs
    from storage.quiz import QuizRepo

    async with h.app.sessions() as s:
        await QuizRepo(s).set_name(1, ShownAs.ANONYMOUS, None, "Ann", h.clock.now())
        await QuizRepo(s).set_name(2, ShownAs.NICKNAME, "Seoulite", "서울", h.clock.now())
        await s.commit()
    data = await (await web_client.get("/console/quiz/screen.json")).json()
    assert [r["name"] for r in data["top"]] == ["Seoulite", None]
    screen = await (await web_client.get("/console/quiz/screen")).text()
    assert "Seoulite" in screen and "Anonymous player" in screen
    static = await web_client.get("/console/static/console.js")
    assert static.status == 200 and "textContent" in await static.text()


# -- Exports and the audit log --------------------------------------------------------------------------------

async def test_exports_download_formula_safe_csv_and_are_audited(h: Harness, web_client: TestClient) -> None:
    await register(h, 7, full_name='=HYPERLINK("x")')
    csrf = await sign_in(h, web_client)
    page = await (await web_client.get("/console/exports")).text()
    assert "Registrations" in page and "Quiz results" in page
    got = await web_client.post("/console/exports", data={"csrf": csrf, "name": "registrations"})
    assert got.status == 200 and "attachment" in got.headers["Content-Disposition"]
    body = (await got.read()).decode("utf-8-sig")
    assert "'=HYPERLINK(\"\"x\"\")" in body and ',=HYPERLINK' not in body
    assert "export" in await audit_actions(h)


async def test_the_audit_log_filters_by_who_and_what(h: Harness, web_client: TestClient) -> None:
    await h.send(ORGANISER, "/admit 61")
    csrf = await sign_in(h, web_client)
    await web_client.post("/console/exports", data={"csrf": csrf, "name": "registrations"})
    everything = await (await web_client.get("/console/audit")).text()
    assert "<td>admit</td>" in everything and "<td>export</td>" in everything
    assert "<td>console_sign_in</td>" in everything
    only = await (await web_client.get("/console/audit", params={"what": "admit", "who": str(ORGANISER)})).text()
    assert "<td>admit</td>" in only and "<td>export</td>" not in only


# -- Matchmaking ----------------------------------------------------------------------------------------------

async def test_matchmaking_grid_and_publish_refused_with_a_placeholder_link(h: Harness,
                                                                            web_client: TestClient) -> None:
    await register(h, 1, participant_type="local_gov", city="Kazan", matchmaking=True, full_name="Kazan Host")
    csrf = await sign_in(h, web_client)
    page = await (await web_client.get("/console/matchmaking")).text()
    assert "Hosts and slots" in page and "Publish schedule" in page
    refused = await web_client.post("/console/matchmaking/publish", data={"csrf": csrf})
    text = await refused.text()
    assert refused.status == 409 and "meet.example.org" in text
