"""Quiz: open and close it, the live leaderboard, and the screen view to share in the meeting platform during
the coffee break (large type, top 10 by the names players show, time left; updated every second by
console/static/console.js polling /quiz/screen.json)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from console.core import LANG, SESSION, UOW, Page, console_of, error_text, render, tr
from domain.errors import ServiceError
from domain.i18n_marks import N_
from domain.timezones import fmt_datetime
from services import console as console_uc
from services import quiz as quiz_uc

OPENED = N_("The quiz is open. Announcements queued: {n}.")
# Those already playing answer the rest of their questions (issue 20): "no new questions" was not true.
CLOSED = N_("The quiz is closed: nobody new can start, and those already playing can answer the rest of their "
            "questions. Final results, the winners and the CSV go out within a minute after {at}.")


async def _page(request: web.Request, message: str = "", status: int = 200) -> web.Response:
    console = console_of(request)
    now = console.clock.now()
    state = await console_uc.screen(request[UOW], console.event, now)
    window = await quiz_uc.availability(request[UOW], console.event, now) if console.event.quiz else None
    zone, lang = console.event.timezone, request[LANG]
    return render(request, "quiz.html", status=status, screen=state, window=window, message=message,
                  when=lambda at: fmt_datetime(at, zone, lang) if at else "")


async def quiz(request: web.Request) -> web.Response:
    return await _page(request)


async def switch(request: web.Request) -> web.Response:
    console = console_of(request)
    form = await request.post()
    now = console.clock.now()
    by = request[SESSION].user_id
    try:
        if form.get("to") == "open":
            done = await quiz_uc.open_quiz(request[UOW], console.event, by=by, now=now)
            text = tr(request, OPENED, n=done.announced) if done.changed else tr(request, quiz_uc.ALREADY_OPEN)
            if done.changed:
                _wake(console)
        else:
            done = await quiz_uc.close_quiz(request[UOW], console.event, by=by, now=now)
            text = tr(request, CLOSED, at=fmt_datetime(done.results_at, console.event.timezone, request[LANG])) \
                if done.changed and done.results_at else tr(request, quiz_uc.ALREADY_CLOSED)
    except ServiceError as err:
        return await _page(request, error_text(request, err), status=409)
    return await _page(request, text)


def _wake(console: Any) -> None:
    """The delivery engine sends the announcement now rather than at its next poll."""
    if console.wake is not None:
        console.wake()


async def screen(request: web.Request) -> web.Response:
    console = console_of(request)
    state = await console_uc.screen(request[UOW], console.event, console.clock.now())
    return render(request, "quiz_screen.html", screen=state)


async def screen_json(request: web.Request) -> web.Response:
    console = console_of(request)
    state = await console_uc.screen(request[UOW], console.event, console.clock.now())
    return web.json_response({
        "open": state.open, "seconds_left": state.seconds_left, "players": state.players, "answers": state.answers,
        "top": [{"rank": r.rank, "name": r.name, "score": r.score, "right": r.right} for r in state.top]})


def routes(r: web.RouteTableDef) -> None:
    r.get("/quiz")(quiz)
    r.post("/quiz")(switch)
    r.get("/quiz/screen")(screen)
    r.get("/quiz/screen.json")(screen_json)


PAGE = Page("/quiz", N_("Quiz"), routes)
