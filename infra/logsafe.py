"""Keep secrets and personal data out of the log.

The bot token sits in every Bot API URL (`/bot<token>/sendMessage`), and some network errors quote that URL
(aiohttp's ClientResponseError on a response cut off mid-header). A filter on every log handler rewrites each
record -- message, exception text and stack -- before any handler formats it. Names and e-mails are kept out
at the source instead (a name cannot be recognised in free text): the database driver's DEBUG lines, which
carry every SQL parameter, are switched off, and SQLAlchemy errors leave their parameters out
(`storage.db.make_engine`). E-mail addresses that still reach a record are masked as a last resort.
"""

from __future__ import annotations

import logging
import re
import time
import traceback
from collections.abc import Callable, Iterable
from urllib.parse import quote

TOKEN_MASK = "<token>"
EMAIL_MASK = "<e-mail>"

# `/bot<anything>/` in a URL path is always a token, whoever's it is; `//bot.example.org/` is a host.
_URL_TOKEN = re.compile(r"(?<!/)/bot[^/\s'\"<>]+/")
# The shape of a Telegram bot token: the bot's numeric id, a colon, 30+ url-safe characters.
_TOKEN_SHAPE = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}")
# asyncpg quotes a parameter it cannot encode ("invalid input for query argument $1: <value> (value out of
# int64 range)"), whatever SQLAlchemy's hide_parameters says: the value is masked.
_DRIVER_ARGUMENT = re.compile(r"(query argument \$\d+: ).*?( \(|$)", re.MULTILINE)
PARAMETER_MASK = "<value>"
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")

# Loggers whose records at these levels carry SQL parameters (names, e-mails): raised to the level given.
QUIET_LOGGERS: dict[str, int] = {"aiosqlite": logging.INFO, "sqlalchemy.engine": logging.WARNING,
                                 "sqlalchemy.pool": logging.WARNING}


class Redactor:
    """Masks the given secrets, any `/bot…/` URL segment, token-shaped strings and e-mail addresses."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        found: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            found.update({secret, quote(secret, safe=""), quote(secret)})
            # The part after the colon is the secret itself; the bot id before it is public.
            _, _, tail = secret.partition(":")
            if len(tail) >= 4:
                found.add(tail)
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = sorted(found, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, TOKEN_MASK)
        text = _URL_TOKEN.sub(f"/bot{TOKEN_MASK}/", text)
        text = _TOKEN_SHAPE.sub(TOKEN_MASK, text)
        text = _DRIVER_ARGUMENT.sub(rf"\g<1>{PARAMETER_MASK}\g<2>", text)
        return _EMAIL.sub(EMAIL_MASK, text)


class RedactingFilter(logging.Filter):
    """Rewrites a record in place: the formatted message, the exception text and the stack, redacted."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        # A record passes each handler's filters; one filter redacts it once. Another filter (another
        # install, with other secrets) still applies its own: masking is idempotent.
        done: set[int] = record.__dict__.setdefault("_redacted_by", set())
        if id(self) in done:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what there is rather than lose the line
            message = f"{record.msg!r} % {record.args!r}"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and record.exc_info[1] is not None:
            # Formatted once here; formatters reuse exc_text instead of formatting the traceback again.
            text = record.exc_text or "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = self.redact(text)
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        done.add(id(self))
        return True


class Throttle(logging.Filter):
    """Lets a repeated line through at most once per `every` seconds (by its format string).

    aiogram logs two lines per failed getUpdates (every 1-5 s while the Bot API is away); once a minute says
    the same. The first failure always shows; "Connection established" is not throttled.
    """

    def __init__(self, prefixes: tuple[str, ...], every: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.prefixes = prefixes
        self.every = every
        self.clock = clock
        self.last: dict[str, float] = {}
        self.suppressed: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = str(record.msg)
        if not key.startswith(self.prefixes):
            return True
        now = self.clock()
        if key in self.last and now - self.last[key] < self.every:
            self.suppressed[key] = self.suppressed.get(key, 0) + 1
            return False
        self.last[key] = now
        skipped = self.suppressed.pop(key, 0)
        if skipped:
            record.msg = f"{record.msg} ({skipped} more like this in the last minute)"
        return True


def throttle_polling_errors() -> Throttle:
    """Once a minute for the polling's failure lines: aiogram's ("Failed to fetch updates", "Sleep for ...")
    and the inbox poller's (bot/polling.py), which retry every 1-5 s while the Bot API is away."""
    flt = Throttle(("Failed to fetch updates", "Sleep for", "failed to fetch updates",
                    "could not store received updates"))
    for name in ("aiogram.dispatcher", "bot.polling"):
        logging.getLogger(name).addFilter(flt)
    return flt


def install(secrets: Iterable[str | None] = (), handlers: Iterable[logging.Handler] | None = None
            ) -> RedactingFilter:
    """Redact on every handler of the root logger (or the ones given) and silence parameter-logging loggers.

    Call it after logging is configured (handlers added later are not covered; pass them explicitly).
    """
    flt = RedactingFilter(Redactor(secrets))
    for handler in (logging.getLogger().handlers if handlers is None else handlers):
        handler.addFilter(flt)
    for name, level in QUIET_LOGGERS.items():
        # Their own level, not the effective one: the root may be lowered to DEBUG later.
        logger = logging.getLogger(name)
        if logger.level < level:
            logger.setLevel(level)
    return flt


def uninstall(flt: RedactingFilter, handlers: Iterable[logging.Handler] | None = None) -> None:
    """Undo `install` on the given handlers (tests)."""
    for handler in (logging.getLogger().handlers if handlers is None else handlers):
        handler.removeFilter(flt)
