"""Broadcasts: the composer (Telegram formatting typed as HTML, a photo or a document, en/ru/ko variants, link
buttons), the audience builder with a live recipient count (the same typed Audience as the chat's /broadcast), a
preview, "Send a test to me", "Send at" a later instant on the bot's clock, a live progress bar with Cancel, and
the history with who was not reached and why. Use cases: services/broadcasts.py (an attached file is stored
there and sent by the outbox like the chat's photo: one rule, two front ends)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web
from multidict import MultiDictProxy

from console.core import LANG, SESSION, UOW, Page, console_of, error_text, form_value, render, tr
from domain import organiser as rules
from domain.errors import ServiceError
from domain.event import LANGS
from domain.i18n_marks import N_
from domain.languages import LANGUAGE_NAMES
from domain.organiser import Audience
from domain.registration import PARTICIPANT_LABELS, PARTICIPANT_TYPES
from domain.timezones import fmt_datetime, get_tz
from services import broadcasts as bc

TEST_SENT = N_("A test is on its way to your Telegram chat with the bot. Nobody else gets anything yet.")
BAD_TIME = N_("“Send at” needs a date and a time.")
CANCELLED = N_("Cancelled: {n} messages will not be sent.")
STATUS = {rules.SENDING: N_("sending"), rules.DONE: N_("finished"), rules.CANCELLED: N_("cancelled")}
REASONS = {"blocked": N_("blocked the bot"), "failed": N_("refused by Telegram"), "cancelled": N_("cancelled"),
           "dropped": N_("not sent"), "pending": N_("waiting"), "sending": N_("being sent")}


def _audience(form: Mapping[str, Any]) -> Audience:
    """The audience builder's fields (checkboxes; a country is one a line or picked) as the typed Audience."""
    def values(name: str) -> tuple[str, ...]:
        found = form.getall(name, []) if isinstance(form, MultiDictProxy) else form.get(name, [])
        return tuple(str(v)[:100] for v in found if str(v).strip())[:50]

    return Audience(countries=values("country"), types=tuple(t for t in values("type") if t in PARTICIPANT_TYPES),
                    languages=tuple(x for x in values("language") if x in LANGS), members=form.get("members") == "1",
                    groups=values("group"), unfinished=form.get("unfinished") == "1")


def _send_at(form: Mapping[str, Any], zone: str) -> datetime | None:
    """The datetime-local field, read in the event's zone (the page says which)."""
    raw = form_value(form, "send_at", 20).strip()
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw).replace(tzinfo=get_tz(zone))
    except ValueError:
        raise ServiceError("bad_time", BAD_TIME) from None


def _draft(form: Mapping[str, Any], zone: str, now: datetime, media: dict[str, Any] | None) -> bc.Draft:
    texts = {rules.DEFAULT: form_value(form, "text", 5000)}
    texts.update({lang: form_value(form, f"text_{lang}", 5000) for lang in LANGS})
    return bc.compose(texts, form_value(form, "buttons", 2000), _audience(form), _send_at(form, zone), now, media)


async def _media(request: web.Request, form: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The draft's attachment: a file chosen now (checked and stored), else the one attached before (its id in a
    hidden field), unless removed; and the refusal of a chosen file, translated ("" when none)."""
    uow, console = request[UOW], console_of(request)
    media = None if form.get("media_remove") == "1" else await bc.attached(uow, form_value(form, "media_upload", 12))
    chosen = form.get("media")
    if isinstance(chosen, web.FileField) and chosen.filename:
        try:
            media = await bc.upload(uow, chosen.filename, chosen.file.read(rules.UPLOAD_LIMIT + 1),
                                    by=request[SESSION].user_id, now=console.clock.now(),
                                    as_document=form.get("as_document") == "1")
        except ServiceError as err:
            return media, error_text(request, err)
    return media, ""


async def upload(request: web.Request) -> web.StreamResponse:
    """An attached file as the preview shows it (a photo inline; a document downloads)."""
    number = request.match_info["id"]
    info = await bc.attachment(request[UOW], int(number)) if number.isdigit() and len(number) < 10 else None
    if info is None or info.data is None:
        raise web.HTTPNotFound()
    inline = info.kind == "photo" and info.content_type.startswith("image/")
    return web.Response(body=info.data, content_type=info.content_type if inline else "application/octet-stream",
                        headers={"Content-Disposition": ("inline" if inline else "attachment")
                                 + f"; filename*=UTF-8''{quote(info.filename)}"})


async def _page(request: web.Request, *, form: Mapping[str, Any] | None = None, message: str = "",
                preview: bc.Draft | None = None, count: int | None = None, status: int = 200,
                media: dict[str, Any] | None = None) -> web.Response:
    console = console_of(request)
    uow, lang, zone = request[UOW], request[LANG], console.event.timezone
    found, pages, page = await bc.listing(uow, int(request.query.get("page", "0")[:4] or 0)
                                          if request.query.get("page", "0")[:4].isdigit() else 0)
    form = form or {}

    def chosen(name: str) -> set[str]:
        if isinstance(form, MultiDictProxy):
            return {str(v) for v in form.getall(name, [])}
        return set()

    return render(request, "broadcasts.html", status=status, message=message, form=form, chosen=chosen,
                  media=media, upload_limit=rules.UPLOAD_LIMIT // 2**20, upload_max=rules.UPLOAD_LIMIT,
                  value=lambda name: form_value(form, name, 5000), preview=preview, count=count,
                  previews=bc.previews(preview) if preview else [],
                  countries=await bc.country_values(uow, limit=40),
                  types=[(t, tr(request, PARTICIPANT_LABELS[t])) for t in PARTICIPANT_TYPES],
                  languages=LANGUAGE_NAMES, groups=[(k, tr(request, s.label))
                                                    for k, s in console.sources.audiences.items()],
                  history=found, pages=pages, page=page, zone=zone,
                  status_of=lambda b: (tr(request, bc.SCHEDULED_STATUS,
                                          when=fmt_datetime(b.send_at, zone, lang)) if b.send_at and
                                       bc.scheduled(b, console.clock.now()) else tr(request, STATUS.get(b.status,
                                                                                                        b.status))),
                  when=lambda at: fmt_datetime(at, zone, lang) if at else "",
                  audience=lambda a: _audience_text(request, a))


def _audience_text(request: web.Request, a: Audience) -> str:
    if a.everyone:
        return tr(request, bc.EVERYONE_LABEL)
    parts = []
    if a.unfinished:
        parts.append(tr(request, bc.UNFINISHED_LABEL))
    if a.countries:
        parts.append(" / ".join(a.countries))
    if a.types:
        parts.append(" / ".join(tr(request, PARTICIPANT_LABELS.get(t, "Other")) for t in a.types))
    if a.languages:
        parts.append(" / ".join(LANGUAGE_NAMES.get(x, x) for x in a.languages))
    if a.members:
        parts.append(tr(request, bc.MEMBERS_LABEL))
    sources = console_of(request).sources.audiences
    parts += [tr(request, sources[g].label) if g in sources else g for g in a.groups]
    return " · ".join(parts)


async def broadcasts(request: web.Request) -> web.Response:
    return await _page(request)


async def count(request: web.Request) -> web.Response:
    """The live recipient count of the audience being built (the page's script asks as boxes are ticked)."""
    console = console_of(request)
    try:
        n = await bc.count(request[UOW], _audience(request.query), console.sources)
    except ServiceError:
        n = 0
    return web.json_response({"n": n, "text": tr(request, N_("Recipients now: {n}"), n=n)})


async def compose(request: web.Request) -> web.StreamResponse:
    """Preview, Send a test to me, or Send (now or at the time given)."""
    console = console_of(request)
    form = await request.post()
    uow, lang, now = request[UOW], request[LANG], console.clock.now()
    action = form_value(form, "action", 10)
    media, refused = await _media(request, form)
    if refused:
        return await _page(request, form=form, message=refused, status=422, media=media)
    try:
        draft = _draft(form, console.event.timezone, now, media)
        n = await bc.count(uow, draft.audience or Audience(), console.sources)
        if action == "test":
            await bc.test_to(uow, draft, by=request[SESSION].user_id, lang=lang, now=now)
            if console.wake is not None:
                console.wake()
            return await _page(request, form=form, message=tr(request, TEST_SENT), preview=draft, count=n,
                               media=media)
        if action != "send":
            return await _page(request, form=form, preview=draft, count=n, media=media)
        bid, n = await bc.send(uow, draft, console.sources, by=request[SESSION].user_id, lang=lang, now=now)
    except ServiceError as err:
        return await _page(request, form=form, message=error_text(request, err), status=422, media=media)
    console.sources.started(bid)
    raise web.HTTPSeeOther(f"/console/broadcasts/{bid}")


async def _report(request: web.Request) -> tuple[Any, Any, list[Any]]:
    number = request.match_info["id"]
    if not number.isdigit() or len(number) > 9:
        raise web.HTTPNotFound()
    try:
        return await bc.report(request[UOW], int(number), limit=200)
    except ServiceError:
        raise web.HTTPNotFound() from None


async def one(request: web.Request, *, message: str = "") -> web.Response:
    console = console_of(request)
    info, p, missed = await _report(request)
    zone, lang = console.event.timezone, request[LANG]
    scheduled = bc.scheduled(info, console.clock.now())
    state = (tr(request, bc.SCHEDULED_STATUS, when=fmt_datetime(info.send_at, zone, lang))
             if scheduled and info.send_at else tr(request, STATUS.get(info.status, info.status)))
    return render(request, "broadcast.html", info=info, p=p, missed=missed, state=state, message=message,
                  running=info.status == rules.SENDING and p.left > 0,
                  audience=_audience_text(request, info.audience), when=fmt_datetime(info.created_at, zone, lang),
                  reason=lambda s: tr(request, str(REASONS.get(s, s))), previews=bc.previews(
                      bc.Draft(info.texts, info.media, info.audience, None, info.buttons, info.send_at)))


async def show(request: web.Request) -> web.Response:
    return await one(request)


async def progress(request: web.Request) -> web.Response:
    """The live figures of one broadcast (the progress bar's script asks every second)."""
    info, p, _missed = await _report(request)
    return web.json_response({"total": p.total, "sent": p.sent, "failed": p.failed + p.dropped,
                              "blocked": p.blocked, "left": p.left, "cancelled": p.cancelled,
                              "done": p.left == 0 or info.status != rules.SENDING})


async def cancel(request: web.Request) -> web.Response:
    console = console_of(request)
    info, _p, _m = await _report(request)
    try:
        n = await bc.cancel(request[UOW], info.id, by=request[SESSION].user_id, now=console.clock.now())
    except ServiceError as err:
        return await one(request, message=error_text(request, err))
    console.sources.started(info.id)
    return await one(request, message=tr(request, CANCELLED, n=n))


def routes(r: web.RouteTableDef) -> None:
    r.get("/broadcasts")(broadcasts)
    r.post("/broadcasts")(compose)
    r.get("/broadcasts/count")(count)
    r.get("/broadcasts/uploads/{id}")(upload)
    r.get("/broadcasts/{id}")(show)
    r.get("/broadcasts/{id}/progress")(progress)
    r.post("/broadcasts/{id}/cancel")(cancel)


PAGE = Page("/broadcasts", N_("Broadcasts"), routes)
