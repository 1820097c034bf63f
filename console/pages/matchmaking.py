"""Matchmaking: the host x slot grid, outside-event requests, the meetings CSV, and Publish (with a
confirmation; refused with the use case's message, e.g. while the meeting link is the event file's
placeholder). Use cases: services/matchmaking.py."""

from __future__ import annotations

from aiohttp import web

from console.core import LANG, SESSION, UOW, Page, console_of, error_text, render, tr
from domain import matchmaking as rules
from domain.errors import ServiceError
from domain.i18n_marks import N_
from domain.timezones import fmt_datetime, fmt_time
from services import matchmaking as mm

NO_MATCHMAKING = N_("There is no matchmaking at this event.")
PUBLISHED = N_("The schedule is published: {n} participants are being told.")
PHASES = {"availability": N_("Cities are marking when they are free"), "booking": N_("Booking is open"),
          "closed": N_("Booking is closed; the schedule is not published yet"),
          "frozen": N_("The schedule is published")}


async def _page(request: web.Request, *, message: str = "", confirm: int | None = None,
                status: int = 200) -> web.Response:
    console = console_of(request)
    now, zone, lang = console.clock.now(), console.event.timezone, request[LANG]
    if console.event.matchmaking is None:
        return render(request, "error.html", status=404, message=tr(request, NO_MATCHMAKING))
    view = await mm.overview(request[UOW], console.event, now)
    slots = rules.slots(console.event)
    return render(request, "matchmaking.html", status=status, view=view, slots=slots, message=message,
                  confirm=confirm, phase=tr(request, PHASES.get(str(view.phase), str(view.phase))),
                  slot_time=lambda s: fmt_time(s.starts, zone, lang),
                  day=fmt_datetime(slots[0].starts, zone, lang).rsplit(",", 1)[0] if slots else "",
                  city=lambda p: mm.city_name(console.event, p, lang) if p is not None else "—",
                  when=lambda at: fmt_datetime(at, zone, lang) if at else "")


async def matchmaking(request: web.Request) -> web.Response:
    return await _page(request)


async def publish(request: web.Request) -> web.Response:
    """First press: how many would be told (or why not); the confirming press publishes."""
    console = console_of(request)
    form = await request.post()
    now = console.clock.now()
    try:
        if form.get("confirm") != "1":
            return await _page(request, confirm=await mm.publish_preview(request[UOW], console.event, now))
        told = await mm.publish(request[UOW], console.event, request[SESSION].user_id, now)
    except ServiceError as err:
        return await _page(request, message=error_text(request, err), status=409)
    if console.wake is not None:
        console.wake()
    return await _page(request, message=tr(request, PUBLISHED, n=told))


def routes(r: web.RouteTableDef) -> None:
    r.get("/matchmaking")(matchmaking)
    r.post("/matchmaking/publish")(publish)


PAGE = Page("/matchmaking", N_("Matchmaking"), routes)
