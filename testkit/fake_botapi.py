"""A small, faithful fake of the Telegram Bot API HTTP server.

The bot under test talks to it exactly as it talks to Telegram::

    async with FakeBotAPI() as api:
        bot = Bot("42:TEST", session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))
        api.push_text(1001, "/start")
        record = await api.wait_for(lambda r: r.method == "sendMessage" and r.chat_id == 1001)

Simulated users push updates into a long-polling ``getUpdates`` queue, every bot call is
recorded, and faults (429/4xx/5xx, blocked users, slow answers, Telegram-like rate limits)
can be injected for the delivery-engine tests and load benchmarks.

What Telegram does with a call (messages, edits, "message is not modified", polls, files, command menus) is
`bot.offline.telegram.TelegramServer`, shared with the in-process API; this module adds HTTP, long polling,
webhooks, callback queries, rate limits and faults. A method neither knows is answered 404 and recorded in
``unexpected``: leaving ``async with FakeBotAPI()`` then fails the test, as the in-process API does.

It only ever listens on 127.0.0.1. ``python -m testkit.fake_botapi --port 8081`` runs it by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import hashlib
import itertools
import json
import math
import random
import re
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

import aiohttp
from aiohttp import BodyPartReader, web

from bot.offline.telegram import BLOCKABLE_METHODS as SHARED_BLOCKABLE
from bot.offline.telegram import (
    BLOCKED,
    NOT_MODIFIED,
    ApiError,
    TelegramServer,
    UnknownMethod,
    Upload,
    commands_key,
    decode_param,
    parse_html,
    utf16_len,
)

__all__ = ["NOT_MODIFIED", "ApiError", "FakeBotAPI", "Record", "Stats", "UnknownMethod", "UploadedFile", "parse_html"]

JSONDict = dict[str, Any]
ChatId = int | str
MethodHandler = Callable[[JSONDict], Any]
T = TypeVar("T")

HOST = "127.0.0.1"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


MAX_UPLOAD_BYTES = 50 * 1024 * 1024
# Webhook delivery: a POST that gets no 200 within this long, or another status, is tried again after a pause.
WEBHOOK_TIMEOUT = 30.0
WEBHOOK_RETRY = 0.5

#: Methods that deliver a message, counted as "delivered" (a photo or a document uploaded in a multipart
#: request, or sent by file_id, counts like a text).
DELIVERY_METHODS = frozenset({"sendMessage", "sendDocument", "sendPhoto"})
#: Methods answered with 403 once the user has blocked the bot (counted in ``stats.blocked``): the shared
#: semantics' list (bot/offline/telegram.py), so the in-process API and this server agree.
BLOCKABLE_METHODS = SHARED_BLOCKABLE
DEFAULT_ALLOWED_UPDATES = _words(
    "message edited_message channel_post edited_channel_post business_connection business_message "
    "edited_business_message deleted_business_messages inline_query chosen_inline_result "
    "callback_query shipping_query pre_checkout_query purchased_paid_media poll poll_answer "
    "my_chat_member chat_join_request chat_boost removed_chat_boost"
)
DEFAULT_DESCRIPTIONS: dict[int, str] = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
@dataclass(frozen=True)
class UploadedFile:
    """A file the bot uploaded in a multipart request."""

    field: str
    filename: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.data)

    @property
    def sha256(self) -> str:
        """Hex digest of the content."""
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class Record:
    """One Bot API call as the fake received and answered it."""

    seq: int
    method: str
    params: JSONDict
    time: float
    monotonic: float
    chat_id: ChatId | None
    files: dict[str, UploadedFile] = field(default_factory=dict)
    status: int = 200
    result: Any = None
    description: str | None = None
    retry_after: int | None = None

    @property
    def ok(self) -> bool:
        """True if the call was accepted (answered ``ok: true``)."""
        return self.status == 200

    @property
    def delivered(self) -> bool:
        """True for an accepted message delivery (sendMessage/sendDocument)."""
        return self.ok and self.method in DELIVERY_METHODS

    @property
    def text(self) -> str | None:
        """The ``text`` (or ``caption``) parameter as sent."""
        value = self.params.get("text", self.params.get("caption"))
        return value if isinstance(value, str) else None

    @property
    def document(self) -> UploadedFile | None:
        """The uploaded document of a sendDocument call."""
        return self.files.get("document")

    @property
    def photo(self) -> UploadedFile | None:
        """The uploaded photo of a sendPhoto call (None when it was sent by file_id)."""
        return self.files.get("photo")

    def describe(self, t0: float = 0.0) -> str:
        """One human-readable line."""
        parts = [f"#{self.seq}", f"+{self.monotonic - t0:.3f}s", self.method]
        if self.chat_id is not None:
            parts.append(f"chat={self.chat_id}")
        if "message_id" in self.params:
            parts.append(f"message_id={self.params['message_id']}")
        parts.append(str(self.status) if self.ok else f"{self.status} {self.description!r}")
        if self.text is not None:
            parts.append(f"text={_shorten(self.text)!r}")
        if (upload := self.document or self.photo) is not None:
            parts.append(f"file={upload.filename!r} ({upload.size} B)")
        buttons = button_list(self.params.get("reply_markup"))
        if buttons:
            parts.append(f"buttons={buttons!r}")
        if self.method == "getUpdates" and isinstance(self.result, list):
            parts.append(f"updates={len(self.result)}")
        return " ".join(parts)


@dataclass
class Stats:
    """Counters over every call the fake answered."""

    calls: int = 0
    accepted: int = 0
    delivered: int = 0
    too_many_requests: int = 0
    client_errors: int = 0
    server_errors: int = 0
    blocked: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    by_method: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> JSONDict:
        """Plain dict, for benchmark reports."""
        return {
            "calls": self.calls,
            "accepted": self.accepted,
            "delivered": self.delivered,
            "too_many_requests": self.too_many_requests,
            "client_errors": self.client_errors,
            "server_errors": self.server_errors,
            "blocked": self.blocked,
            "by_status": dict(self.by_status),
        }


@dataclass
class _Fault:
    """A pending fail_next/delay_next rule."""

    method: str | None
    chat_id: ChatId | None
    times: int
    status: int = 200
    description: str = ""
    retry_after: int | None = None
    body: str | None = None
    delay: float = 0.0

    def matches(self, method: str, chat_id: ChatId | None) -> bool:
        return (self.method is None or self.method == method.lower()) and (
            self.chat_id is None or self.chat_id == chat_id
        )


class _RateLimiter:
    """Telegram-like limits: ``global_rate`` sends per rolling second, one per chat per interval."""

    def __init__(self, global_rate: float | None, per_chat_rate: float | None) -> None:
        self.global_rate = global_rate
        self.interval = 1.0 / per_chat_rate if per_chat_rate else None
        self._window: deque[float] = deque()
        self._last: dict[ChatId, float] = {}

    def retry_after(self, chat_id: ChatId | None, now: float) -> int | None:
        """Seconds (>= 1) until this send could be accepted, or None if it can be now."""
        waits: list[float] = []
        if self.interval is not None and chat_id is not None:
            last = self._last.get(chat_id)
            if last is not None and now - last < self.interval:
                waits.append(last + self.interval - now)
        if self.global_rate:
            while self._window and self._window[0] <= now - 1.0:
                self._window.popleft()
            if len(self._window) >= self.global_rate:
                waits.append(self._window[0] + 1.0 - now)
        return max(1, math.ceil(max(waits))) if waits else None

    def commit(self, chat_id: ChatId | None, now: float) -> None:
        """Count an accepted send."""
        if self.global_rate:
            self._window.append(now)
        if chat_id is not None:
            self._last[chat_id] = now


def button_list(markup: Any) -> list[tuple[str, str | None]]:
    """Flatten a reply_markup into ``[(text, callback_data), ...]``.

    Inline keyboards give callback_data (None for url and other buttons); reply keyboards give
    ``(text, None)``.
    """
    if isinstance(markup, str):
        with contextlib.suppress(ValueError):
            markup = json.loads(markup)
    if not isinstance(markup, dict):
        return []
    rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
    out: list[tuple[str, str | None]] = []
    for row in rows if isinstance(rows, list) else []:
        for button in row if isinstance(row, list) else []:
            if isinstance(button, str):
                out.append((button, None))
            elif isinstance(button, dict):
                out.append((str(button.get("text", "")), button.get("callback_data")))
    return out


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _normalize_chat_id(value: Any) -> ChatId | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(value)
        return value
    return None


class FakeBotAPI:
    """Fake Telegram Bot API server (aiohttp.web) with simulated users, recording and faults."""

    def __init__(
        self,
        *,
        port: int = 0,
        token: str | None = None,
        bot_id: int = 42,
        bot_username: str = "delegate_test_bot",
        bot_first_name: str = "Delegate Test Bot",
        global_rate: float | None = None,
        per_chat_rate: float | None = None,
        random_429_ratio: float = 0.0,
        seed: int | None = None,
        latency: float = 0.0,
        known_chats_only: bool = False,
    ) -> None:
        """Configure the fake; nothing listens until :meth:`start`.

        :param port: TCP port on 127.0.0.1, 0 picks a free one.
        :param token: if set, any other token is answered 401 Unauthorized.
        :param global_rate: max sendMessage/sendDocument per rolling second (None = unlimited).
        :param per_chat_rate: max sends per second to one chat (None = unlimited).
        :param random_429_ratio: fraction of otherwise-accepted sends answered 429 retry_after=1.
        :param seed: seed for ``random_429_ratio``.
        :param latency: seconds every call (except getUpdates) waits before it is processed.
        :param known_chats_only: answer "chat not found" for chats no simulated user wrote from.
        """
        self.port = port
        self.token = token
        self.url = ""
        self.bot_user: JSONDict = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.latency = latency
        self.known_chats_only = known_chats_only
        self.random_429_ratio = random_429_ratio
        self.stats = Stats()
        self.calls: list[Record] = []
        self.webhook: JSONDict = {}
        self.users: dict[int, JSONDict] = {}
        # Messages, files, polls, command menus and blocked users, with Telegram's rules for them.
        self.server = TelegramServer(self.bot_user, chat=self._chat, admit=self._admit_delivery)
        #: Calls of methods nobody implements: leaving ``async with`` fails the test on them.
        self.unexpected: list[UnknownMethod] = []

        self._limiter = _RateLimiter(global_rate, per_chat_rate)
        self._rng = random.Random(seed)
        self._t0 = time.monotonic()
        self._seq = itertools.count(1)
        self._update_ids = itertools.count(1)
        self._callback_ids = itertools.count(4_200_000_000_000_000_001)
        self._file_ids = itertools.count(1)
        self._callbacks: dict[str, JSONDict] = {}
        self._updates: list[JSONDict] = []
        self._allowed_updates: frozenset[str] = DEFAULT_ALLOWED_UPDATES
        self._poll_generation = 0
        #: getUpdates requests being answered right now (> 0 means the bot is polling).
        self.waiting_polls = 0
        #: Other requests received and not answered yet (a bot killed now may have sent them: they still land).
        self.in_progress = 0
        self._failures: list[_Fault] = []
        self._delays: list[_Fault] = []
        self._listeners: list[Callable[[Record], None]] = []
        self._custom: dict[str, tuple[str, MethodHandler]] = {}
        self._changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        #: Webhook delivery (after setWebhook): where updates are posted in turns (default: the webhook's url),
        #: and every attempt as (update_id, target, HTTP status or 0 for no answer).
        self.webhook_targets: list[str] = []
        self.webhook_attempts: list[tuple[int, str, int]] = []
        self._webhook_task: asyncio.Task[None] | None = None
        self._retry_at: dict[int, float] = {}
        self._methods: dict[str, tuple[str, Callable[[Record], Awaitable[Any]]]] = {
            name.lower(): (name, handler)
            for name, handler in {
                "getMe": self._get_me,
                "getUpdates": self._get_updates,
                "setWebhook": self._set_webhook,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "answerCallbackQuery": self._answer_callback_query,
            }.items()
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> str:
        """Start listening; returns (and sets) ``self.url``, e.g. ``http://127.0.0.1:40123``.

        After :meth:`stop` it starts again on the same port with its state kept (an outage that ends).
        """
        self._closing.clear()
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES)
        app.router.add_route("GET", "/bot{token}/{method}", self._handle)
        app.router.add_route("POST", "/bot{token}/{method}", self._handle)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._download)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.url = f"http://{HOST}:{self.port}"
        self._webhook_task = asyncio.create_task(self._webhook_loop())
        return self.url

    async def stop(self) -> None:
        """Release waiting long polls and delayed calls, then stop listening."""
        self._closing.set()
        self._notify()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def refuse_connections(self) -> None:
        """An outage: stop listening, so the bot's requests meet "connection refused" until
        :meth:`accept_connections` listens on the same port again."""
        await self.stop()

    async def accept_connections(self) -> None:
        """End an outage begun by :meth:`refuse_connections`."""
        self._closing.clear()
        await self.start()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        await self.stop()
        if exc_type is None:
            self.raise_unexpected()

    def raise_unexpected(self) -> None:
        """Fail on a call of a method this fake does not implement (the bot only saw a 404)."""
        if self.unexpected:
            first, *rest = self.unexpected
            self.unexpected.clear()
            raise UnknownMethod(f"{first}" + (f" (and {len(rest)} more)" if rest else "")) from first

    # ------------------------------------------------------------------ state shared with the in-process API

    @property
    def blocked(self) -> set[int]:
        """Users who blocked the bot."""
        return self.server.blocked

    @property
    def my_commands(self) -> dict[tuple[str, str], list[JSONDict]]:
        """Command menus by (scope as JSON, language)."""
        return self.server.commands

    # ------------------------------------------------------------------ simulated users

    def add_user(
        self,
        user_id: int,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
    ) -> JSONDict:
        """Create or update a simulated user; returns its Telegram User object.

        ``language_code=None`` keeps the previous value (initially "en"); "" omits the field.
        """
        user = self.users.setdefault(
            user_id, {"id": user_id, "is_bot": False, "first_name": f"User{user_id}", "language_code": "en"}
        )
        for key, value in (("first_name", first_name), ("last_name", last_name), ("username", username)):
            if value is not None:
                user[key] = value
        if language_code == "":
            user.pop("language_code", None)
        elif language_code is not None:
            user["language_code"] = language_code
        return user

    def push_update(self, update: JSONDict) -> JSONDict:
        """Queue a raw Update (``update_id`` is assigned if missing) for getUpdates."""
        if "update_id" not in update:
            update = {"update_id": next(self._update_ids), **update}
        self._updates.append(update)
        self._notify()
        return update

    def push_text(
        self,
        user_id: int,
        text: str,
        *,
        language_code: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        chat_id: int | None = None,
        reply_to_message_id: int | None = None,
    ) -> JSONDict:
        """A user writes ``text`` (a private chat unless ``chat_id`` names a group)."""
        extra: JSONDict = {"text": text}
        if command := re.match(r"/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?", text):
            extra["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command.group())}]
        user = self.add_user(
            user_id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        chat = chat_id if chat_id is not None else user_id
        if reply_to_message_id is not None:
            replied = self.server.messages.get((chat, reply_to_message_id))
            if replied is None:
                raise LookupError(f"no message {reply_to_message_id} in chat {chat}")
            extra["reply_to_message"] = copy.deepcopy(replied)
        return self._push_user_message(user, chat, extra)

    def push_command(self, user_id: int, command: str, args: str = "", **user: Any) -> JSONDict:
        """A user sends ``/command args`` (``command`` with or without the slash)."""
        text = "/" + command.lstrip("/") + (f" {args}" if args else "")
        return self.push_text(user_id, text, **user)

    def push_location(
        self, user_id: int, latitude: float, longitude: float, *, language_code: str | None = None
    ) -> JSONDict:
        """A user shares a location."""
        user = self.add_user(user_id, language_code=language_code)
        return self._push_user_message(user, user_id, {"location": {"latitude": latitude, "longitude": longitude}})

    def push_sticker(self, user_id: int, emoji: str = "👍", *, language_code: str | None = None) -> JSONDict:
        """A user sends a sticker."""
        user = self.add_user(user_id, language_code=language_code)
        n = next(self._file_ids)
        sticker = {
            "file_id": f"CAACAgIAAxkBAAI{n:08d}",
            "file_unique_id": f"AgAD{n:06d}",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "set_name": "FakeStickers",
            "file_size": 24_000,
        }
        return self._push_user_message(user, user_id, {"sticker": sticker})

    def push_callback(
        self,
        user_id: int,
        data: str,
        message_id: int | None = None,
        *,
        chat_id: int | None = None,
        strict: bool = True,
        language_code: str | None = None,
    ) -> JSONDict:
        """A user presses an inline button on a message the bot sent.

        ``message_id=None`` picks the newest bot message in the chat with that callback_data.
        With ``strict`` the button must currently be on the message (as in a real client);
        ``strict=False`` simulates stale or forged callbacks.
        """
        user = self.add_user(user_id, language_code=language_code)
        chat = chat_id if chat_id is not None else user_id
        message = self._find_callback_message(chat, data, message_id, strict)
        query_id = str(next(self._callback_ids))
        self._callbacks[query_id] = {"chat_id": chat, "answered": False, "data": data}
        query = {
            "id": query_id,
            "from": dict(user),
            "message": copy.deepcopy(message),
            "chat_instance": str(-(abs(chat) * 7919 % 10**18) - 1),
            "data": data,
        }
        return self.push_update({"callback_query": query})

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates not yet confirmed by the bot (via a later getUpdates offset)."""
        return list(self._updates)

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        method: str | None = "sendMessage",
        *,
        chat_id: ChatId | None = None,
        status: int = 429,
        retry_after: int = 3,
        description: str | None = None,
        times: int = 1,
        body: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching calls with an error instead of processing them.

        ``method=None`` matches any method. 429 answers carry ``parameters.retry_after``.
        ``body`` sends that raw text (e.g. nginx's HTML 502 page) instead of a JSON envelope.
        """
        if description is None:
            description = (
                f"Too Many Requests: retry after {retry_after}"
                if status == 429
                else DEFAULT_DESCRIPTIONS.get(status, f"Error {status}")
            )
        self._failures.append(
            _Fault(
                method=method.lower() if method else None,
                chat_id=_normalize_chat_id(chat_id),
                times=times,
                status=status,
                description=description,
                retry_after=retry_after if status == 429 else None,
                body=body,
            )
        )

    def delay_next(self, method: str | None, seconds: float, times: int = 1, *, chat_id: ChatId | None = None) -> None:
        """Make the next matching call(s) wait ``seconds`` before being processed.

        The call is still processed afterwards, even if the client gave up: like Telegram, a
        message can be delivered although the bot saw a timeout (a retry then duplicates it).
        """
        self._delays.append(
            _Fault(
                method=method.lower() if method else None,
                chat_id=_normalize_chat_id(chat_id),
                times=times,
                delay=seconds,
            )
        )

    def block(self, user_id: ChatId) -> None:
        """The user blocks the bot: later sends/edits to that chat answer 403."""
        chat = _normalize_chat_id(user_id)
        if isinstance(chat, int):
            self.blocked.add(chat)

    def unblock(self, user_id: ChatId) -> None:
        """The user unblocks the bot."""
        chat = _normalize_chat_id(user_id)
        if isinstance(chat, int):
            self.blocked.discard(chat)

    def clear_faults(self) -> None:
        """Drop pending fail_next/delay_next rules."""
        self._failures.clear()
        self._delays.clear()

    def add_method(self, name: str, handler: MethodHandler) -> None:
        """Serve an extra method: ``handler(params)`` returns the result (may be a coroutine)."""
        self._custom[name.lower()] = (name, handler)

    # ------------------------------------------------------------------ recording helpers

    @property
    def records(self) -> list[Record]:
        """Accepted calls, in the order they were answered."""
        return [rec for rec in self.calls if rec.ok]

    def sent(self, chat_id: ChatId | None = None, method: str | None = "sendMessage") -> list[Record]:
        """Accepted calls of ``method`` (None = any) to ``chat_id`` (None = any chat)."""
        chat = _normalize_chat_id(chat_id)
        return [
            rec
            for rec in self.calls
            if rec.ok
            and (method is None or rec.method.lower() == method.lower())
            and (chat is None or rec.chat_id == chat)
        ]

    def last_text(self, chat_id: ChatId) -> str | None:
        """Text of the bot's newest sendMessage or editMessageText in the chat, as sent."""
        for rec in reversed(self.sent(chat_id, method=None)):
            if rec.method in ("sendMessage", "editMessageText"):
                return rec.text
        return None

    def buttons(self, record: Record | JSONDict) -> list[tuple[str, str | None]]:
        """``[(text, callback_data), ...]`` of a record's (or a message dict's) reply_markup."""
        markup = record.params.get("reply_markup") if isinstance(record, Record) else record.get("reply_markup")
        return button_list(markup)

    def message(self, chat_id: ChatId, message_id: int) -> JSONDict | None:
        """The current state of a message (after edits), or None if unknown or deleted."""
        chat = _normalize_chat_id(chat_id)
        return None if not isinstance(chat, int) else self.server.messages.get((chat, message_id))

    def messages(self, chat_id: ChatId) -> list[JSONDict]:
        """Current messages of a chat (the user's and the bot's), oldest first."""
        chat = _normalize_chat_id(chat_id)
        return [msg for (c, _), msg in sorted(self.server.messages.items(), key=lambda kv: kv[0][1]) if c == chat]

    def commands(self, language_code: str = "", scope: JSONDict | None = None) -> list[JSONDict]:
        """Commands set with setMyCommands for that language and scope (default scope if None)."""
        return list(self.my_commands.get(commands_key(scope, language_code), []))

    def delivered_per_chat(self) -> Counter[ChatId]:
        """Number of delivered messages per chat."""
        return Counter(rec.chat_id for rec in self.calls if rec.delivered and rec.chat_id is not None)

    def duplicates(self, key: Callable[[Record], Any] | None = None) -> list[Record]:
        """Delivered records whose key was delivered more than once.

        The default key is (chat_id, method, text/caption, uploaded file digest).
        """
        keyfunc = key or _default_duplicate_key
        delivered = [rec for rec in self.calls if rec.delivered]
        counts = Counter(keyfunc(rec) for rec in delivered)
        return [rec for rec in delivered if counts[keyfunc(rec)] > 1]

    def mark(self) -> int:
        """Sequence number of the newest record; pass as ``since`` to wait only for newer ones."""
        return self.calls[-1].seq if self.calls else 0

    def clear(self) -> None:
        """Forget recorded calls and counters (chats, messages and settings are kept)."""
        self.calls.clear()
        self.stats = Stats()

    def on_record(self, callback: Callable[[Record], None]) -> None:
        """Call ``callback(record)`` for every answered call."""
        self._listeners.append(callback)

    async def wait_for(
        self,
        predicate: Callable[[Record], bool] | None = None,
        timeout: float = 10,
        *,
        method: str | None = None,
        chat_id: ChatId | None = None,
        since: int = 0,
    ) -> Record:
        """Wait for an accepted record (with ``seq > since``) matching all the given filters.

        Raises TimeoutError listing what was received.
        """
        chat = _normalize_chat_id(chat_id)
        scanned = 0

        def find() -> Record | None:
            nonlocal scanned
            if scanned > len(self.calls):  # clear() was called
                scanned = 0
            for rec in itertools.islice(self.calls, scanned, None):
                scanned += 1
                if (
                    rec.ok
                    and rec.seq > since
                    and (method is None or rec.method.lower() == method.lower())
                    and (chat is None or rec.chat_id == chat)
                    and (predicate is None or predicate(rec))
                ):
                    return rec
            return None

        try:
            return await self._wait(find, timeout)
        except TimeoutError:
            wanted = ", ".join(f"{k}={v!r}" for k, v in (("method", method), ("chat_id", chat)) if v is not None)
            raise TimeoutError(
                f"no matching Bot API call within {timeout}s ({wanted or 'predicate'}).\n{self.dump()}"
            ) from None

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 10) -> None:
        """Wait until ``condition()`` is true; it is re-checked after every call and pushed update."""
        try:
            await self._wait(lambda: True if condition() else None, timeout)
        except TimeoutError:
            raise TimeoutError(f"condition not met within {timeout}s.\n{self.dump()}") from None

    def dump(self, last: int = 40) -> str:
        """Readable listing of the last calls and the pending updates."""
        lines = [f"Bot API calls ({len(self.calls)} total, showing last {min(last, len(self.calls))}):"]
        lines += ["  " + rec.describe(self._t0) for rec in self.calls[-last:]]
        lines.append(f"pending updates: {len(self._updates)}; stats: {self.stats.as_dict()}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ internals: plumbing

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait(self, find: Callable[[], T | None], seconds: float) -> T:
        deadline = time.monotonic() + seconds
        while True:
            found = find()
            if found is not None:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up early when the server stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    async def _not_found(self, request: web.Request) -> web.Response:
        return self._envelope_error(404, "Not Found")

    @staticmethod
    def _envelope_error(status: int, description: str, retry_after: int | None = None) -> web.Response:
        body: JSONDict = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        return web.json_response(body, status=status)

    async def _read_params(self, request: web.Request) -> tuple[JSONDict, dict[str, UploadedFile]]:
        params: JSONDict = dict(request.query)
        files: dict[str, UploadedFile] = {}
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if not isinstance(body, dict):
                    raise ApiError(400, "Bad Request: can't parse JSON object")
                params.update(body)
            elif request.content_type == "multipart/form-data":
                reader = await request.multipart()
                async for part in reader:
                    if not isinstance(part, BodyPartReader) or part.name is None:
                        continue
                    if part.filename is not None:
                        content_type = part.headers.get("Content-Type", "application/octet-stream")
                        files[part.name] = UploadedFile(
                            part.name, part.filename, content_type, bytes(await part.read())
                        )
                    else:
                        params[part.name] = await part.text()
            else:
                params.update(await request.post())
        return {key: decode_param(key, value) for key, value in params.items()}, files

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        received, received_mono = time.time(), time.monotonic()
        if self.token is not None and request.match_info["token"] != self.token:
            self._count(401)
            return self._envelope_error(401, "Unauthorized")
        name = request.match_info["method"]
        entry: tuple[str, Callable[[Record], Awaitable[Any]]] | None = self._methods.get(name.lower())
        if entry is None and name.lower() in self._custom:
            canonical, custom = self._custom[name.lower()]
            entry = (canonical, lambda rec: _maybe_await(custom(rec.params)))
        if entry is None and (known := self.server.knows(name)):
            entry = (known, self._on_server)
        if entry is None:
            self._count(404)
            self.unexpected.append(UnknownMethod(f"the bot called {name}: not implemented by the fake Bot API"))
            return self._envelope_error(404, "Not Found: method not found")
        method, handler = entry
        try:
            params, files = await self._read_params(request)
        except (ValueError, ApiError) as exc:
            self._count(400)
            return self._envelope_error(
                400, exc.description if isinstance(exc, ApiError) else "Bad Request: can't parse request"
            )
        rec = Record(
            seq=0,
            method=method,
            params=params,
            time=received,
            monotonic=received_mono,
            chat_id=_normalize_chat_id(params.get("chat_id")),
            files=files,
        )
        busy = rec.method != "getUpdates"
        self.in_progress += busy
        try:
            response = await self._process(rec, handler)
        finally:
            self.in_progress -= busy
        rec.seq = next(self._seq)
        self.calls.append(rec)
        self._count(rec.status, rec)
        for listener in self._listeners:
            listener(rec)
        self._notify()
        return response

    async def _process(self, rec: Record, handler: Callable[[Record], Awaitable[Any]]) -> web.Response:
        if self.latency and rec.method != "getUpdates":
            await self._sleep(self.latency)
        if (delay := self._take(self._delays, rec)) is not None:
            await self._sleep(delay.delay)
        try:
            if (fault := self._take(self._failures, rec)) is not None:
                if fault.body is not None:
                    rec.status, rec.description = fault.status, fault.body
                    return web.Response(status=fault.status, text=fault.body, content_type="text/html")
                raise ApiError(fault.status, fault.description, fault.retry_after)
            if rec.method in BLOCKABLE_METHODS and rec.chat_id in self.blocked:
                self.stats.blocked += 1
                raise ApiError(403, BLOCKED)
            try:
                rec.result = await handler(rec)
            except (ValueError, TypeError) as exc:  # e.g. message_id="abc"
                raise ApiError(400, f"Bad Request: invalid parameter value ({exc})") from exc
        except ApiError as exc:
            rec.status, rec.description, rec.retry_after = exc.status, exc.description, exc.retry_after
            return self._envelope_error(exc.status, exc.description, exc.retry_after)
        return web.json_response({"ok": True, "result": rec.result})

    @staticmethod
    def _take(rules: list[_Fault], rec: Record) -> _Fault | None:
        for rule in rules:
            if rule.matches(rec.method, rec.chat_id):
                rule.times -= 1
                if rule.times <= 0:
                    rules.remove(rule)
                return rule
        return None

    def _count(self, status: int, rec: Record | None = None) -> None:
        stats = self.stats
        stats.calls += 1
        stats.by_status[status] += 1
        if rec is not None:
            stats.by_method[rec.method] += 1
        if status == 200:
            stats.accepted += 1
            if rec is not None and rec.delivered:
                stats.delivered += 1
        elif status == 429:
            stats.too_many_requests += 1
        elif 400 <= status < 500:
            stats.client_errors += 1
        elif status >= 500:
            stats.server_errors += 1

    def _admit_delivery(self, chat_id: ChatId | None) -> None:
        """Apply rate limits and random 429s to a valid send; raises 429 if it is refused."""
        now = time.monotonic()
        retry_after = self._limiter.retry_after(chat_id, now)
        if retry_after is not None:
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        if self.random_429_ratio and self._rng.random() < self.random_429_ratio:
            raise ApiError(429, "Too Many Requests: retry after 1", 1)
        self._limiter.commit(chat_id, now)

    # ------------------------------------------------------------------ internals: chats & messages

    def _chat(self, chat_id: ChatId) -> JSONDict:
        if isinstance(chat_id, int) and chat_id > 0:
            user = self.users.get(chat_id, {"first_name": f"User{chat_id}"})
            chat: JSONDict = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
            for key in ("last_name", "username"):
                if key in user:
                    chat[key] = user[key]
            return chat
        kind = "supergroup" if isinstance(chat_id, int) and chat_id < -1_000_000_000_000 else "group"
        return {"id": chat_id, "type": kind, "title": f"Chat {chat_id}"}

    def _require_chat(self, rec: Record) -> int:
        chat_id = rec.chat_id
        if chat_id is None or chat_id == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        if not isinstance(chat_id, int):
            raise ApiError(400, "Bad Request: chat not found")
        if self.known_chats_only and chat_id not in self.users and all(c != chat_id for c, _ in self.server.messages):
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _bot_sender(self) -> JSONDict:
        """The bot as it appears in Message.from (getMe-only fields omitted)."""
        return self.server.bot_sender()

    def _push_user_message(self, user: JSONDict, chat_id: int, extra: JSONDict) -> JSONDict:
        message = self.server.new_message(chat_id, user, extra)
        return self.push_update({"message": copy.deepcopy(message)})

    def _find_callback_message(self, chat: int, data: str, message_id: int | None, strict: bool) -> JSONDict:
        bot_id = self.bot_user["id"]
        candidates = [
            msg
            for msg in self.messages(chat)
            if msg["from"]["id"] == bot_id and (message_id in (None, msg["message_id"]))
        ]
        if not candidates:
            which = "messages" if message_id is None else f"message {message_id}"
            raise LookupError(f"the bot has no {which} in chat {chat}")
        if not strict:
            return candidates[-1]
        for msg in reversed(candidates):
            if "reply_markup" in msg and any(cb == data for _, cb in button_list(msg["reply_markup"])):
                return msg
        found = [(msg["message_id"], button_list(msg.get("reply_markup"))) for msg in candidates[-5:]]
        raise LookupError(f"no inline button with callback_data={data!r} in chat {chat}; messages: {found}")

    # ------------------------------------------------------------------ internals: methods

    async def _get_me(self, rec: Record) -> JSONDict:
        return dict(self.bot_user)

    async def _get_updates(self, rec: Record) -> list[JSONDict]:
        if self.webhook.get("url"):
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        params = rec.params
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(allowed) if allowed else DEFAULT_ALLOWED_UPDATES
        if offset < 0:
            self._updates = self._updates[offset:]
        elif offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        self._poll_generation += 1
        generation = self._poll_generation
        self.waiting_polls += 1
        self._notify()  # a newer getUpdates terminates an older waiting one (409), as on Telegram
        try:
            return await self._long_poll(generation, offset, limit, time.monotonic() + timeout)
        finally:
            self.waiting_polls -= 1

    async def _long_poll(self, generation: int, offset: int, limit: int, deadline: float) -> list[JSONDict]:
        while True:
            if generation != self._poll_generation:
                raise ApiError(409, DEFAULT_DESCRIPTIONS[409])
            batch = self._collect_updates(offset, limit)
            remaining = deadline - time.monotonic()
            if batch or remaining <= 0 or self._closing.is_set():
                return batch
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    def _collect_updates(self, offset: int, limit: int) -> list[JSONDict]:
        batch: list[JSONDict] = []
        for update in list(self._updates):
            if update["update_id"] < offset:
                continue
            kind = next((k for k in update if k != "update_id"), "")
            if kind not in self._allowed_updates:
                self._updates.remove(update)  # Telegram drops updates of types the bot did not ask for
                continue
            batch.append(update)
            if len(batch) >= limit:
                break
        return batch

    # ------------------------------------------------------------------ webhook delivery

    def deliver_to(self, *urls: str) -> None:
        """Post the webhook's updates to these addresses in turns (as a proxy in front of several workers
        would spread them) instead of the url setWebhook named."""
        self.webhook_targets = list(urls)

    async def _webhook_loop(self) -> None:
        """As Telegram does once a webhook is set: post each pending update (with the secret token header),
        up to max_connections at once; an update is done when answered 200, else posted again later."""
        in_flight: dict[int, asyncio.Task[None]] = {}
        turn = itertools.count()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT)) as session:
            try:
                while not self._closing.is_set():
                    changed = self._changed
                    url = self.webhook.get("url")
                    if url:
                        limit = int(self.webhook.get("max_connections") or 40)
                        allowed = self.webhook.get("allowed_updates")
                        allowed = frozenset(allowed) if isinstance(allowed, list) and allowed \
                            else DEFAULT_ALLOWED_UPDATES
                        now = time.monotonic()
                        for update in list(self._updates):
                            if len(in_flight) >= limit:
                                break
                            uid = update["update_id"]
                            if uid in in_flight or self._retry_at.get(uid, 0.0) > now:
                                continue
                            if next((k for k in update if k != "update_id"), "") not in allowed:
                                self._updates.remove(update)
                                continue
                            targets = self.webhook_targets or [str(url)]
                            target = targets[next(turn) % len(targets)]
                            task = asyncio.create_task(self._post_update(session, target, update))
                            in_flight[uid] = task
                            task.add_done_callback(lambda _t, uid=uid: in_flight.pop(uid, None))  # type: ignore[misc]  # default-argument lambda
                    pause = 0.05 if self._retry_at else 1.0
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), pause)
            finally:
                for task in list(in_flight.values()):
                    task.cancel()
                await asyncio.gather(*in_flight.values(), return_exceptions=True)

    async def _post_update(self, session: aiohttp.ClientSession, target: str, update: JSONDict) -> None:
        headers = {}
        if secret := self.webhook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = str(secret)
        uid = update["update_id"]
        try:
            async with session.post(target, json=update, headers=headers) as response:
                status = response.status
                await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError):
            status = 0
        self.webhook_attempts.append((uid, target, status))
        if status == 200:
            self._retry_at.pop(uid, None)
            with contextlib.suppress(ValueError):
                self._updates.remove(update)
        else:
            self._retry_at[uid] = time.monotonic() + WEBHOOK_RETRY
        self._notify()

    async def _set_webhook(self, rec: Record) -> bool:
        if not rec.params.get("url"):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook = dict(rec.params)
        if rec.params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _delete_webhook(self, rec: Record) -> bool:
        self.webhook = {}
        if rec.params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _get_webhook_info(self, rec: Record) -> JSONDict:
        return {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    async def _on_server(self, rec: Record) -> Any:
        """A method of the shared server semantics (messages, files, polls, menus)."""
        if self.known_chats_only and rec.params.get("chat_id") is not None:
            self._require_chat(rec)
        uploads = {key: Upload(f.filename, f.data, f.content_type) for key, f in rec.files.items()}
        try:
            return self.server.call(rec.method, rec.params, uploads)
        finally:
            # The uploaded file under the name of its parameter (the attach:// key is random).
            for key in ("document", "photo"):
                ref = rec.params.get(key)
                if isinstance(ref, str) and ref.startswith("attach://") and ref[9:] in rec.files:
                    rec.files[key] = rec.files.pop(ref[9:])

    async def _download(self, request: web.Request) -> web.Response:
        """A file by the ``file_path`` getFile gave."""
        data = self.server.download(request.match_info["path"])
        if data is None:
            return self._envelope_error(404, "Not Found")
        return web.Response(body=data, content_type="application/octet-stream")

    async def _answer_callback_query(self, rec: Record) -> bool:
        query_id = str(rec.params.get("callback_query_id") or "")
        query = self._callbacks.get(query_id)
        if query is not None:
            rec.chat_id = query["chat_id"]
        if query is None or query["answered"]:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        if len(str(rec.params.get("text") or "")) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        query["answered"] = True
        return True

def _default_duplicate_key(rec: Record) -> tuple[Any, ...]:
    document = rec.document
    return rec.chat_id, rec.method, rec.text, document.sha256 if document else rec.params.get("document")


async def _maybe_await(value: Any) -> Any:
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        return await value
    return value


# ---------------------------------------------------------------------- CLI

USAGE = (
    "commands: say <user_id> <text> | click <user_id> <callback_data> [message_id] | "
    "location <user_id> <lat> <lon> | block <user_id> | calls | quit"
)


def _stdin_lines(loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str | None]:
    """Feed stdin lines into a queue from a daemon thread (None at end of input)."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def reader() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=reader, name="fake-botapi-stdin", daemon=True).start()
    return queue


def _run_command(api: FakeBotAPI, line: str) -> bool:
    """Execute one CLI line; returns False to quit."""
    words = line.strip().split(maxsplit=2)
    if not words:
        return True
    cmd, args = words[0].lower(), words[1:]
    try:
        if cmd in ("quit", "exit"):
            return False
        if cmd == "say" and len(args) == 2:
            api.push_text(int(args[0]), args[1])
        elif cmd == "click" and args:
            rest = args[1].split() if len(args) > 1 else []
            api.push_callback(int(args[0]), rest[0], int(rest[1]) if len(rest) > 1 else None)
        elif cmd == "location" and len(args) == 2:
            lat, lon = args[1].split()
            api.push_location(int(args[0]), float(lat), float(lon))
        elif cmd == "block" and len(args) == 1:
            api.block(int(args[0]))
        elif cmd == "calls":
            print(api.dump(), flush=True)
        else:
            print(USAGE, flush=True)
    except (ValueError, IndexError, LookupError) as exc:
        print(f"error: {exc}", flush=True)
    return True


def _print_record(api: FakeBotAPI, rec: Record) -> None:
    if rec.method == "getUpdates" and rec.ok and not rec.result:
        return
    print("<-", rec.describe(api._t0), flush=True)


async def _main(args: argparse.Namespace) -> None:
    async with FakeBotAPI(
        port=args.port,
        global_rate=args.global_rate,
        per_chat_rate=args.per_chat_rate,
        random_429_ratio=args.random_429,
        seed=args.seed,
    ) as api:
        print(f"Fake Telegram Bot API listening on {api.url}", flush=True)
        print(f"Run the bot with TELEGRAM_API_URL={api.url} (any token). {USAGE}", flush=True)
        api.on_record(lambda rec: _print_record(api, rec))
        lines = _stdin_lines(asyncio.get_running_loop())
        while (line := await lines.get()) is not None:
            if not _run_command(api, line):
                return
        await asyncio.Event().wait()  # stdin closed (e.g. running in the background): serve until killed


def main(argv: Iterable[str] | None = None) -> None:
    """Entry point of ``python -m testkit.fake_botapi``."""
    parser = argparse.ArgumentParser(description="Fake Telegram Bot API server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--global-rate", type=float, default=None, help="max sends per second overall")
    parser.add_argument("--per-chat-rate", type=float, default=None, help="max sends per second per chat")
    parser.add_argument("--random-429", type=float, default=0.0, help="fraction of sends answered 429")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(None if argv is None else list(argv))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args))


if __name__ == "__main__":
    main()
