"""Exports: every CSV file the chat's /export gives (services/organiser.py `exports`, one formula-safe CSV
writer), downloaded from the browser; each download is audited like the chat's."""

from __future__ import annotations

from aiohttp import web

from console.core import SESSION, UOW, Page, console_of, error_text, render
from domain.errors import ServiceError
from domain.i18n_marks import N_
from services import organiser


async def exports(request: web.Request) -> web.Response:
    found = organiser.exports(console_of(request).sources)
    return render(request, "exports.html", exports=[(name, source.label) for name, source in found.items()])


async def download(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    form = await request.post()
    try:
        filename, data = await organiser.export(request[UOW], console.event, console.sources,
                                                str(form.get("name") or "")[:40], by=request[SESSION].user_id,
                                                now=console.clock.now())
    except ServiceError as err:
        return render(request, "error.html", status=404, message=error_text(request, err))
    safe = "".join(c for c in filename if c.isascii() and (c.isalnum() or c in "-_.")) or "export.csv"
    return web.Response(body=data, content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{safe}"'})


def routes(r: web.RouteTableDef) -> None:
    r.get("/exports")(exports)
    r.post("/exports")(download)


PAGE = Page("/exports", N_("Exports"), routes)
