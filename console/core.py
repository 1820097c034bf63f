"""The console's web plumbing: its dependencies, the per-request unit of work, the organiser's session, CSRF,
the reader's language, security headers, and rendering templates (Jinja2, every value escaped).

A page is a module of `console/pages/` with a `PAGE` (its path, its title and its routes); `console.pages.PAGES`
lists them in the order of the navigation. Handlers get `request[UOW]`, `request[SESSION]` (the organiser:
`.user_id`, `.csrf`), `request[LANG]` and `console_of(request)` for the event, the clock and the settings.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from aiogram.utils.i18n import I18n
from aiohttp import web

from domain.clock import Clock
from domain.errors import ServiceError
from domain.event import LANGS, Event
from domain.i18n_marks import N_
from domain.languages import LANGUAGE_NAMES
from domain.organiser import UPLOAD_LIMIT
from services import console as console_uc
from services.errors import error_text as render_error
from services.organiser import Sources

HERE = Path(__file__).resolve().parent
COOKIE, LANG_COOKIE = "console_session", "console_lang"
# Paths under /console/ that need no session: signing in, the language switch, static files.
PUBLIC = ("signin", "lang", "static/")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

FORBIDDEN = N_("This form has expired. Go back, reload the page and try again.")
TOO_LARGE = N_("This form is too large to send (a file may have at most {limit} MB). Go back and choose a smaller "
               "file.")
# The largest request the console reads: an attachment at its limit and the form's texts (the application that
# serves the console must allow this much: bot/app.py, bot/web.py).
MAX_REQUEST = UPLOAD_LIMIT + 2 * 1024 * 1024


@dataclass(frozen=True)
class Page:
    """One page of the console (console/pages/<name>.py): where the navigation links, its title, its routes."""

    path: str  # under /console
    title: str | None  # a msgid; None: not in the navigation (signing in)
    routes: Callable[[web.RouteTableDef], None]


@dataclass
class Console:
    """What the console's pages share (built by bot/app.py `console_of_app`)."""

    admin_ids: frozenset[int]
    event: Event
    clock: Clock
    uows: Callable[[], Any]  # `async with uows() as uow` (storage.uow.UnitOfWorkFactory)
    i18n: I18n
    sources: Sources
    key: bytes
    public_url: str | None = None
    bot: Any = None  # aiogram Bot, for what the console sends (a broadcast's test message)
    # Tells the delivery engine new outbox rows may be due now (the bot's Delivery.wake), when it runs here.
    wake: Callable[[], None] | None = None
    # A person's conversation state (services.ports.Conversation) in the request's unit of work: (uow, id).
    conversation: Callable[[Any, int], Any] | None = None
    # (path, title msgid) of the pages in the navigation, set by console.make_app from console.pages.
    nav: list[tuple[str, str]] = field(default_factory=list)
    templates: jinja2.Environment = field(init=False)

    def __post_init__(self) -> None:
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,  # every template, whatever its name
            undefined=jinja2.StrictUndefined,
            trim_blocks=True, lstrip_blocks=True, enable_async=False)

    @property
    def secure(self) -> bool:
        return bool(self.public_url and self.public_url.startswith("https://"))


CONSOLE = web.AppKey("console", Console)


def _key(name: str, kind: type) -> Any:
    """A typed request key (aiohttp 3.13+ warns on plain strings; older versions have no RequestKey)."""
    maker = getattr(web, "RequestKey", None)
    return maker(name, kind) if maker is not None else name


# Per request: the reader's language, the unit of work, the organiser's session (None on public pages).
LANG: Any = _key("console_lang", str)
UOW: Any = _key("console_uow", object)
SESSION: Any = _key("console_session", object)


def console_of(request: web.Request) -> Console:
    return request.config_dict[CONSOLE]


def _choose_lang(request: web.Request) -> str:
    chosen = request.cookies.get(LANG_COOKIE, "")
    if chosen in LANGS:
        return chosen
    for part in request.headers.get("Accept-Language", "").split(","):
        code = part.split(";")[0].strip().split("-")[0].lower()
        if code in LANGS:
            return code
    return "en"


def _is_public(request: web.Request) -> bool:
    rel = request.match_info.route.resource.canonical if request.match_info.route.resource else ""
    rel = rel.removeprefix("/console").lstrip("/")
    return any(rel == p or (p.endswith("/") and rel.startswith(p)) for p in PUBLIC)


@web.middleware
async def console_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Language, unit of work, session and CSRF for every request, then the security headers."""
    console = console_of(request)
    request[LANG] = _choose_lang(request)
    async with console.uows() as uow:
        request[UOW] = uow
        request[SESSION] = None
        if not _is_public(request):
            session = await console_uc.current(uow, request.cookies.get(COOKIE, ""), admin_ids=console.admin_ids,
                                               now=console.clock.now())
            if session is None:
                if request.method in ("GET", "HEAD"):
                    to_signin = web.HTTPSeeOther("/console/signin")
                    to_signin.del_cookie(COOKIE, path="/console")
                    raise to_signin
                raise web.HTTPForbidden(text="signed out")
            request[SESSION] = session
            if request.method == "POST":
                try:
                    form = await request.post()
                except web.HTTPRequestEntityTooLarge:
                    return render(request, "error.html", status=413,
                                  message=tr(request, TOO_LARGE, limit=UPLOAD_LIMIT // 2**20))
                sent = str(form.get("csrf") or request.headers.get("X-CSRF-Token") or "")
                if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
                    return render(request, "error.html", status=403, message=tr(request, FORBIDDEN))
        response = await handler(request)
    _headers(response)
    return response


def _headers(response: web.StreamResponse) -> None:
    response.headers.setdefault("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; "
                                "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")  # a sign-in link never leaves in a Referer
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Cache-Control", "no-store")


def tr(request: web.Request, msgid: str, **params: Any) -> str:
    text = console_of(request).i18n.gettext(msgid, locale=request[LANG])
    return text.format(**params) if params else text


def error_text(request: web.Request, err: ServiceError) -> str:
    """A use case's refusal in the reader's language (services.errors.error_text, the one renderer; the
    templates escape it)."""
    i18n, lang = console_of(request).i18n, request[LANG]
    return render_error(err, lambda msgid: i18n.gettext(msgid, locale=lang),
                        lambda singular, plural, n: i18n.gettext(singular, plural, n, locale=lang))


def render(request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
    console = console_of(request)
    lang = request[LANG]
    session = request.get(SESSION)

    def _(msgid: str) -> str:
        return console.i18n.gettext(msgid, locale=lang)

    def ngettext(singular: str, plural: str, n: int) -> str:
        return console.i18n.gettext(singular, plural, n, locale=lang)

    html = console.templates.get_template(template).render(
        _=_, gettext=_, ngettext=ngettext, lang=lang, langs=LANGUAGE_NAMES, session=session,
        csrf=session.csrf if session else "", nav=console.nav,
        path=request.path, static=_static, here=quote(request.path_qs, safe="/?=&%"), event=console.event, **context)
    return web.Response(text=html, content_type="text/html", status=status)


def _static(name: str) -> str:
    """A static file's address, with its modification time so a browser never keeps an old copy."""
    path = HERE / "static" / name
    return f"/console/static/{name}?v={int(path.stat().st_mtime) if path.exists() else 0}"


def query(request: web.Request, name: str, default: str = "", limit: int = 100) -> str:
    return request.query.get(name, default)[:limit]


def form_value(form: Mapping[str, Any], name: str, limit: int = 500) -> str:
    value = form.get(name)
    return str(value)[:limit] if value is not None else ""
