"""The one error type of the rules and use cases: a stable code for code and tests, a msgid for people."""

from __future__ import annotations

from typing import Any


class Msgid(str):
    """A parameter of a refusal that is itself a msgid (a status label, say): translated where it is shown."""

    __slots__ = ()


class ServiceError(Exception):
    """Refused. `code` is stable (tests and logs match on it); `message` is an English msgid (marked with N_)
    that the front end translates and fills with `params` where it is shown (`services.errors.error_text`, the
    one renderer). With `plural`, the two are a plural pair counted by `params["n"]`; a `Msgid` parameter is
    translated too."""

    def __init__(self, code: str, message: str, plural: str | None = None, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.message = message
        self.plural = plural
        self.params = params
