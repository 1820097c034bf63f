"""Start-up calls to the Bot API, retried until it answers (the server may not be up yet)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiogram.exceptions import (
    ClientDecodeError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)

from infra.backoff import START, Backoff

log = logging.getLogger("bot")
T = TypeVar("T")

# Start-up waits for an unreachable Bot API (`infra.backoff.START`: the delay doubles up to a minute) and
# logs at most this often.
START_LOG_EVERY = 60.0
# Failures that go away by themselves (network, a proxy's error page, 5xx, 429): wait and try again.
TRANSIENT = (TelegramNetworkError, TelegramServerError, TelegramRetryAfter, ClientDecodeError, OSError,
             asyncio.TimeoutError)


class BadToken(Exception):
    """The Bot API refused the token: nothing will work until BOT_TOKEN is fixed."""


class Stopping(Exception):
    """SIGTERM or SIGINT arrived while the bot was still starting."""


async def until_reachable(call: Callable[[], Awaitable[T]], what: str, api_url: str, stop: asyncio.Event,
                          *, backoff: Backoff = START) -> T:
    """Run `call` until the Bot API answers it; wait with backoff (capped) and log at most once a minute."""
    last_log, failures = -START_LOG_EVERY, 0
    while True:
        try:
            result = await call()
        except TelegramUnauthorizedError as exc:
            raise BadToken(str(exc)) from None
        except TRANSIENT as exc:
            failures += 1
            if time.monotonic() - last_log >= START_LOG_EVERY:
                last_log = time.monotonic()
                log.warning("the Bot API at %s is unreachable (%s: %s: %s); %d tries so far, still trying",
                            api_url, what, type(exc).__name__, exc, failures)
            # A 429 says how long to wait: never less than that.
            delay = backoff.delay(failures)
            wait = max(delay, float(exc.retry_after)) if isinstance(exc, TelegramRetryAfter) else delay
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            if stop.is_set():
                raise Stopping from None
            continue
        if failures:
            log.info("the Bot API at %s answers again after %d failed tries", api_url, failures)
        return result
