"""An in-process Bot API: an aiogram session that answers requests itself, without a network.

The offline terminal chat prints what it receives; tests read what it recorded. It answers the way
Telegram does (full JSON envelopes parsed by aiogram's own response models) with the same server semantics
as the HTTP fake (`bot/offline/telegram.py`: messages, edits, polls, files), so handlers run exactly as
they would against the real API. A method it does not know fails loudly instead of passing silently.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncGenerator, Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InputFile

if TYPE_CHECKING:
    from aiogram import Bot

from bot.offline.telegram import ApiError, TelegramServer, UnknownMethod, Upload, decode_param

BOT_USER = {"id": 42, "is_bot": True, "first_name": "Delegate Bot", "username": "delegate_test_bot"}


def chat_of(chat_id: int) -> dict[str, Any]:
    """The chat a message to `chat_id` lands in: people have positive ids, groups negative ones."""
    return {"id": chat_id, "type": "private"} if chat_id > 0 else {"id": chat_id, "type": "supergroup",
                                                                  "title": "Group"}


UnexpectedRequest = UnknownMethod
"""The bot called a Bot API method this fake does not implement."""


@dataclass
class Request:
    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    # What the local API answered (the message sent or edited), set before `on_request` sees the call.
    result: Any = None

    @property
    def chat_id(self) -> int | None:
        cid = self.params.get("chat_id")
        return int(cid) if cid is not None else None

    @property
    def text(self) -> str:
        return str(self.params.get("text") or self.params.get("caption") or "")

    @property
    def buttons(self) -> list[tuple[str, str | None]]:
        """Inline buttons as (text, callback_data or url), row by row."""
        markup = self.params.get("reply_markup") or {}
        rows = markup.get("inline_keyboard") or []
        return [(b["text"], b.get("callback_data") or b.get("url")) for row in rows for b in row]

    @property
    def keyboard(self) -> list[str]:
        """Reply-keyboard buttons' texts."""
        markup = self.params.get("reply_markup") or {}
        return [b["text"] if isinstance(b, dict) else str(b) for row in markup.get("keyboard") or [] for b in row]


@dataclass
class Fault:
    method: str
    chat_id: int | None
    status: int
    description: str
    retry_after: int | None
    times: int


# Calls the in-process API answers itself (the HTTP fake has its own: webhooks, long polling).
_TRANSPORT_METHODS = {"deleteWebhook", "answerCallbackQuery"}


class LocalSession(BaseSession):
    """Answers Bot API calls in process; `on_request` sees every call (the terminal chat prints them)."""

    def __init__(self, on_request: Callable[[Request], None] | None = None) -> None:
        super().__init__()
        self.requests: list[Request] = []
        # Message ids unique across chats: tests and the offline chat address a message by its id alone.
        self.server = TelegramServer(dict(BOT_USER), per_chat_ids=False, first_message_id=1000, chat=chat_of)
        self.on_request = on_request
        self._faults: list[Fault] = []
        # Calls it could not answer, kept because the bot's error handler swallows the exception: a test
        # harness fails the test on them (tests/harness.py).
        self.unexpected: list[UnexpectedRequest] = []

    # -- test helpers ------------------------------------------------------------------------------

    @property
    def messages(self) -> dict[int, dict[str, Any]]:
        """Every stored message by id (the bot's and, for the offline chat, restored ones)."""
        return {mid: msg for (_chat, mid), msg in self.server.messages.items()}

    @property
    def blocked(self) -> set[int]:
        return self.server.blocked

    @property
    def commands(self) -> dict[str, list[dict[str, Any]]]:
        """Command menus keyed by language; a per-chat menu (organisers') as "chat:<id>:<language>"."""
        menus = {}
        for (scope_json, lang), commands in self.server.commands.items():
            scope = json.loads(scope_json)
            prefix = f"chat:{scope.get('chat_id')}:" if scope.get("type") == "chat" else ""
            menus[prefix + lang] = commands
        return menus

    def put_file(self, file_id: str, data: bytes, file_name: str = "file") -> None:
        """A file a person sent (see `UpdateFactory.document`): getFile and the download answer with it."""
        self.server.files[file_id] = Upload(file_name, data)

    def fail_next(self, method: str = "sendMessage", *, chat_id: int | None = None, status: int = 429,
                  description: str | None = None, retry_after: int | None = None, times: int = 1) -> None:
        default = {429: "Too Many Requests: retry after {n}", 403: "Forbidden: bot was blocked by the user",
                   400: "Bad Request: chat not found", 500: "Internal Server Error", 502: "Bad Gateway"}
        desc = description or default.get(status, "Error").format(n=retry_after or 1)
        if status == 429 and retry_after is None:
            retry_after = 1
        self._faults.append(Fault(method, chat_id, status, desc, retry_after, times))

    def sent(self, chat_id: int | None = None, method: str | None = None) -> list[Request]:
        return [r for r in self.requests
                if (method is None or r.method == method) and (chat_id is None or r.chat_id == chat_id)
                and r.method not in ("answerCallbackQuery", "setMyCommands", "deleteWebhook", "getMe")]

    def clear(self) -> None:
        self.requests.clear()

    def restore(self, messages: Iterable[dict[str, Any]]) -> None:
        """Messages sent by an earlier run (the offline chat keeps them): they can be pressed and edited, and
        new messages get ids after theirs."""
        for msg in messages:
            self.server.restore(msg)

    # -- BaseSession ---------------------------------------------------------------------------------

    async def close(self) -> None:
        return None

    async def stream_content(self, url: str, headers: dict[str, Any] | None = None, timeout: int = 30,
                             chunk_size: int = 65536, raise_for_status: bool = True
                             ) -> AsyncGenerator[bytes, None]:
        data = self.server.download(url.rsplit("/", 1)[-1])
        if data is None:
            self.unexpected.append(UnexpectedRequest(f"download of an unknown file: {url}"))
            raise self.unexpected[-1]
        yield data

    async def make_request(self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
                           ) -> TelegramType:
        name = method.__api_method__
        files: dict[str, InputFile] = {}
        params: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files)
            if prepared is None or prepared == "":
                continue
            if isinstance(prepared, Enum):  # as on the wire: ParseMode.HTML is "HTML"
                prepared = prepared.value
            params[key] = decode_param(key, prepared)
        uploads: dict[str, Upload] = {}
        raw_files = {}
        for key, f in files.items():
            data = b"".join([chunk async for chunk in f.read(bot)])
            uploads[key] = Upload(f.filename or key, data)
            # Keyed by the file name the bot gave (the attach:// key is random).
            raw_files[f.filename or key] = data
        request = Request(name, params, raw_files)
        try:
            status, payload = self._answer(request, uploads)
        except UnexpectedRequest as e:
            self.unexpected.append(e)
            raise
        if status == 200:
            request.result = payload.get("result")
            self.requests.append(request)
            if self.on_request:
                self.on_request(request)
        response = self.check_response(bot, method, status, json.dumps(payload))
        return response.result  # type: ignore[return-value]  # Response.result is Optional; a 200 carries one

    # -- faults, then the shared server semantics -----------------------------------------------------

    def _fault_for(self, request: Request) -> Fault | None:
        for fault in self._faults:
            if fault.method == request.method and fault.chat_id in (None, request.chat_id):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _answer(self, r: Request, uploads: dict[str, Upload]) -> tuple[int, dict[str, Any]]:
        fault = self._fault_for(r)
        if fault is not None:
            return _error(ApiError(fault.status, fault.description, fault.retry_after))
        if r.method in _TRANSPORT_METHODS:
            return 200, {"ok": True, "result": True}
        try:
            result = self.server.call(r.method, r.params, uploads)
        except ApiError as e:
            return _error(e)
        return 200, {"ok": True, "result": result}


def _error(e: ApiError) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"ok": False, "error_code": e.status, "description": e.description}
    if e.retry_after:
        body["parameters"] = {"retry_after": e.retry_after}
    return e.status, body


class UpdateFactory:
    """Builds the raw updates a person's actions produce (for the terminal chat and for tests)."""

    def __init__(self, server: TelegramServer | None = None) -> None:
        self._update_id = 0
        self._message_id = 0
        # With the session's server, a person's messages are stored as Telegram stores them (the bot can
        # reply to them) and take ids from the same sequence as the bot's.
        self.server = server

    def _stored(self, msg: dict[str, Any]) -> dict[str, Any]:
        if self.server is not None:
            chat_id = int(msg["chat"]["id"])
            msg["message_id"] = self.server.next_message_id(chat_id)
            self.server.messages[(chat_id, msg["message_id"])] = msg
        return msg

    @staticmethod
    def group(chat_id: int = -1001234567890, *, title: str = "EXCOM delegates", kind: str = "supergroup"
              ) -> dict[str, Any]:
        """A group, supergroup or channel chat to send from (`chat=` of the methods below)."""
        return {"id": chat_id, "type": kind, "title": title}

    def _base(self, user_id: int, language_code: str | None, first_name: str,
              chat: dict[str, Any] | None = None) -> dict[str, Any]:
        self._message_id += 1
        user = {"id": user_id, "is_bot": False, "first_name": first_name}
        if language_code:
            user["language_code"] = language_code
        return self._stored({"message_id": self._message_id, "date": int(time.time()),
                             "chat": chat or {"id": user_id, "type": "private", "first_name": first_name},
                             "from": user})

    def _file(self, file_id: str, name: str) -> None:
        """A file the person sent: the bot can send it on by its file_id."""
        if self.server is not None:
            self.server.file_names.setdefault(file_id, name)

    def _wrap(self, **payload: Any) -> dict[str, Any]:
        self._update_id += 1
        return {"update_id": self._update_id, **payload}

    def text(self, user_id: int, text: str, *, language_code: str | None = "en", first_name: str = "Alex",
             chat: dict[str, Any] | None = None, reply_to: dict[str, Any] | None = None) -> dict[str, Any]:
        """A text from `user_id`, in their private chat unless `chat` names another (see `group`)."""
        msg = self._base(user_id, language_code, first_name, chat)
        msg["text"] = text
        entities = []
        if text.startswith("/"):
            entities.append({"type": "bot_command", "offset": 0, "length": len(text.split()[0])})
        # @mentions, as Telegram marks them (offsets in UTF-16 units; ASCII-only here is enough for tests).
        entities += [{"type": "mention", "offset": m.start(), "length": len(m.group())}
                     for m in re.finditer(r"@\w+", text) if m.start() == 0 or text[m.start() - 1].isspace()]
        if entities:
            msg["entities"] = entities
        if reply_to is not None:
            msg["reply_to_message"] = reply_to
        return self._wrap(message=msg)

    def channel_post(self, chat: dict[str, Any], text: str) -> dict[str, Any]:
        """A post in a channel (no sender user: Telegram gives the channel as `sender_chat`)."""
        self._message_id += 1
        post = self._stored({"message_id": self._message_id, "date": int(time.time()), "chat": chat,
                             "sender_chat": chat, "text": text})
        if text.startswith("/"):
            post["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return self._wrap(channel_post=post)

    def location(self, user_id: int, latitude: float, longitude: float, *, language_code: str | None = "en",
                 chat: dict[str, Any] | None = None) -> dict[str, Any]:
        msg = self._base(user_id, language_code, "Alex", chat)
        msg["location"] = {"latitude": latitude, "longitude": longitude}
        return self._wrap(message=msg)

    def document(self, user_id: int, file_id: str, file_name: str, *, size: int = 0, mime_type: str | None = None,
                 language_code: str | None = "en", chat: dict[str, Any] | None = None) -> dict[str, Any]:
        """A file sent by `user_id` (`LocalSession.put_file(file_id, bytes)` makes it downloadable)."""
        msg = self._base(user_id, language_code, "Alex", chat)
        self._file(file_id, file_name)
        msg["document"] = {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_name": file_name,
                           "file_size": size}
        if mime_type:
            msg["document"]["mime_type"] = mime_type
        return self._wrap(message=msg)

    def sticker(self, user_id: int, *, language_code: str | None = "en", chat: dict[str, Any] | None = None
                ) -> dict[str, Any]:
        msg = self._base(user_id, language_code, "Alex", chat)
        self._file("stk", "sticker.webp")
        msg["sticker"] = {"file_id": "stk", "file_unique_id": "stk1", "type": "regular", "width": 512,
                          "height": 512, "is_animated": False, "is_video": False}
        return self._wrap(message=msg)

    def photo(self, user_id: int, *, language_code: str | None = "en", chat: dict[str, Any] | None = None
              ) -> dict[str, Any]:
        msg = self._base(user_id, language_code, "Alex", chat)
        self._file("ph", "photo.jpg")
        msg["photo"] = [{"file_id": "ph", "file_unique_id": "ph1", "width": 90, "height": 90}]
        return self._wrap(message=msg)

    def voice(self, user_id: int, *, language_code: str | None = "en", chat: dict[str, Any] | None = None
              ) -> dict[str, Any]:
        msg = self._base(user_id, language_code, "Alex", chat)
        self._file("vc", "voice.ogg")
        msg["voice"] = {"file_id": "vc", "file_unique_id": "vc1", "duration": 3}
        return self._wrap(message=msg)

    def callback(self, user_id: int, data: str, message: dict[str, Any] | None = None, *,
                 language_code: str | None = "en", chat: dict[str, Any] | None = None) -> dict[str, Any]:
        """A press on a button of `message` (a message the bot sent, as the local API stored it); without
        one, on a bot message in `chat` (the person's private chat by default)."""
        user = {"id": user_id, "is_bot": False, "first_name": "Alex"}
        if language_code:
            user["language_code"] = language_code
        msg = message or {"message_id": 1, "date": int(time.time()),
                          "chat": chat or {"id": user_id, "type": "private"}, "from": BOT_USER, "text": "…"}
        self._update_id += 1
        return {"update_id": self._update_id,
                "callback_query": {"id": f"cb{self._update_id}", "from": user, "chat_instance": "ci",
                                   "message": msg, "data": data}}
