"""Signing in with the one-time link the bot's /console sends, the language switch, and signing out."""

from __future__ import annotations

from aiohttp import web

from console.core import COOKIE, LANG_COOKIE, SESSION, UOW, Page, console_of, error_text, render
from domain.errors import ServiceError
from domain.event import LANGS
from services import console as console_uc

SESSION_SECONDS = int(console_uc.SESSION_TTL.total_seconds())


async def signin_page(request: web.Request) -> web.Response:
    """The link from the bot opens this page; the button signs in (a link preview that fetches the page
    does not use the link up)."""
    return render(request, "signin.html", token=request.query.get("t", "")[:300], message="")


async def signin(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    form = await request.post()
    try:
        session = await console_uc.sign_in(request[UOW], str(form.get("t") or ""), admin_ids=console.admin_ids,
                                           key=console.key, now=console.clock.now())
    except ServiceError as err:
        return render(request, "signin.html", status=403, token="", message=error_text(request, err))
    response = web.HTTPSeeOther("/console/")
    response.set_cookie(COOKIE, session.secret, max_age=SESSION_SECONDS, path="/console", httponly=True,
                        samesite="Strict", secure=console.secure or request.secure)
    raise response


async def signout(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    await console_uc.sign_out(request[UOW], request.cookies.get(COOKIE, ""), by=request[SESSION].user_id,
                              now=console.clock.now())
    response = web.HTTPSeeOther("/console/signin?out=1")
    response.del_cookie(COOKIE, path="/console")
    raise response


async def language(request: web.Request) -> web.StreamResponse:
    lang = request.query.get("to", "")
    back = request.query.get("next", "/console/")
    if not back.startswith("/console/") or "//" in back or "\\" in back:
        back = "/console/"  # only back into the console, never to another site
    response = web.HTTPSeeOther(back)
    if lang in LANGS:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path="/console", httponly=True,
                            samesite="Lax", secure=console_of(request).secure or request.secure)
    raise response


def routes(r: web.RouteTableDef) -> None:
    r.get("/signin")(signin_page)
    r.post("/signin")(signin)
    r.post("/signout")(signout)
    r.get("/lang")(language)


PAGE = Page("/signin", None, routes)
