"""The organisers' web console: a second front end beside handlers/, on the same use cases (services/).

`make_app(console)` is the console as an aiohttp application; `mount(app, console)` adds it under /console/ to
an application that serves other things too (the webhook), with its middleware applying to its own routes only.
"""

from __future__ import annotations

from aiohttp import web

from console.core import CONSOLE, HERE, MAX_REQUEST, Console, console_middleware

__all__ = ["MAX_REQUEST", "Console", "make_app", "mount"]


def make_app(console: Console) -> web.Application:
    from console.pages import pages

    app = web.Application(middlewares=[console_middleware], client_max_size=MAX_REQUEST)
    app[CONSOLE] = console
    console.nav = [(page.path, page.title) for page in pages() if page.title]
    routes = web.RouteTableDef()
    for page in pages():
        page.routes(routes)
    routes.static("/static", HERE / "static", append_version=True)
    app.add_routes(routes)
    return app


async def _to_console(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/console/")


def mount(app: web.Application, console: Console) -> web.Application:
    """Serve the console under /console/ of `app` (and send / there); returns `app`. The requests `app` reads are
    limited by its own client_max_size: make it MAX_REQUEST for the console's uploads."""
    app.add_subapp("/console/", make_app(console))
    app.router.add_get("/console", _to_console)
    app.router.add_get("/", _to_console)
    return app
