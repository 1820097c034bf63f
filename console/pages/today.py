"""Today: registrations by type, language and country, EXCOM claims waiting, broadcasts being sent, the
quiz's state, meetings booked and blocked users; the charts are SVG in the page (every script renders)."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from console.core import LANG, UOW, Page, console_of, render, tr
from domain.i18n_marks import N_
from domain.languages import LANGUAGE_NAMES
from domain.registration import PARTICIPANT_LABELS
from domain.timezones import fmt_datetime
from services import console as console_uc


async def today(request: web.Request) -> web.Response:
    console = console_of(request)
    lang, now = request[LANG], console.clock.now()
    t = await console_uc.today(request[UOW], console.event, console.sources, now)
    zone = console.event.timezone

    def when(at: datetime | None) -> str:
        return fmt_datetime(at, zone, lang) if at is not None else ""

    return render(request, "today.html", t=t, now=when(now),
                  quiz_opens=when(t.quiz.opens_at) if t.quiz else "",
                  quiz_closes=when(t.quiz.closes_at) if t.quiz else "",
                  type_label=lambda k: tr(request, PARTICIPANT_LABELS.get(k, "Other")),
                  lang_label=lambda k: LANGUAGE_NAMES.get(k, k))


def routes(r: web.RouteTableDef) -> None:
    r.get("/")(today)


PAGE = Page("/", N_("Today"), routes)
