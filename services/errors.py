"""The use cases' error type (defined in domain so that validation rules raise the same one) and its one renderer.

Both front ends turn a refusal into text with `error_text`: the bot's handlers through `handlers.ui.refusal`
(aiogram's i18n context, HTML-escaped parameters), the console through `console.core.error_text` (the
request's language; the templates escape)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from domain.errors import Msgid, ServiceError

__all__ = ["Msgid", "ServiceError", "error_text"]


def error_text(err: ServiceError, gettext: Callable[[str], str], ngettext: Callable[[str, str, int], str], *,
               escape: Callable[[str], str] | None = None, shown: Mapping[str, Any] | None = None) -> str:
    """`err` in the reader's language: its msgid (or plural pair, counted by `n`) translated and filled.

    A `Msgid` parameter is translated; other text parameters pass through `escape` (the bot's HTML); `shown`
    replaces parameters the front end has rendered itself (a time in the reader's zone), as they are.
    """
    params: dict[str, Any] = {}
    for key, value in err.params.items():
        if isinstance(value, Msgid):
            value = gettext(value) if value else ""
        elif escape is not None and isinstance(value, str):
            value = escape(value)
        params[key] = value
    params.update(shown or {})
    plural = err.plural
    text = gettext(err.message) if plural is None else ngettext(err.message, plural, int(err.params["n"]))
    return text.format(**params)
