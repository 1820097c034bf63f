"""The one error type of the rules and use cases: a stable code for code and tests, a msgid for people."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Refused. `code` is stable (tests and logs match on it); `message` is an English msgid (marked with N_)
    that the handler translates and fills with `params` where it is shown."""

    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.message = message
        self.params = params
