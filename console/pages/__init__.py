"""The console's pages, one module each, in the order of the navigation.

To add a page: write `console/pages/<name>.py` with `PAGE = Page("/<name>", N_("Title"), routes)`
(console.core.Page) where `routes(r)` adds its handlers to the aiohttp RouteTableDef `r` (paths relative to
/console), put its templates in console/templates/, and list it below. Handlers call use cases in services/
with `request[UOW]` and render with `console.core.render`; every POST form carries
`<input type="hidden" name="csrf" value="{{ csrf }}">` (checked for every POST by the middleware).
"""

from __future__ import annotations

from console.core import Page


def _pages() -> list[Page]:
    from console.pages import audit, broadcasts, exports, matchmaking, people, quiz, signin, today

    return [today.PAGE, people.PAGE, broadcasts.PAGE, matchmaking.PAGE, quiz.PAGE, exports.PAGE, audit.PAGE,
            signin.PAGE]


PAGES: list[Page] = []


def pages() -> list[Page]:
    if not PAGES:
        PAGES.extend(_pages())
    return PAGES
