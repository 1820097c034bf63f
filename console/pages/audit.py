"""The audit log: every organiser action, from the chat and from the console, filtered by who and what."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from console.core import LANG, UOW, Page, console_of, render
from domain.i18n_marks import N_
from domain.timezones import fmt_datetime
from services import console as console_uc


async def audit(request: web.Request) -> web.Response:
    console = console_of(request)
    who = request.query.get("who", "")[:20]
    what = request.query.get("what", "")[:32]
    page = request.query.get("page", "1")[:6]
    result = await console_uc.audit_log(
        request[UOW], actor=int(who) if who.isascii() and who.isdigit() else None, action=what,
        page=int(page) - 1 if page.isascii() and page.isdigit() and int(page) > 0 else 0)
    zone, lang = console.event.timezone, request[LANG]

    def link(n: int) -> str:
        return "/console/audit?" + urlencode({k: v for k, v in (("who", who), ("what", what), ("page", n)) if v})

    return render(request, "audit.html", result=result, who=who, what=what, link=link,
                  when=lambda at: f"{fmt_datetime(at, zone, lang)}")


def routes(r: web.RouteTableDef) -> None:
    r.get("/audit")(audit)


PAGE = Page("/audit", N_("Audit log"), routes)
