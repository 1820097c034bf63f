"""What Telegram's Bot API server does with a call: the one set of semantics shared by the in-process API
(`bot/offline/local_api.py`: the offline chat and the test harness) and the HTTP fake
(`testkit/fake_botapi.py`: process tests and benchmarks).

`TelegramServer` keeps the chats' messages, files, polls and command menus, and answers the methods that act
on them the way Telegram does: text and caption limits, HTML checked and stored as plain text, inline
keyboards validated, edit rules ("message is not modified", only the bot's own text messages), polls, files
by upload or by file_id, blocked users. Transport (HTTP or in process), faults, rate limits and the update
queue stay with each caller. A method it does not know raises `UnknownMethod`: both callers fail the test.
No aiogram, no aiohttp: plain JSON-like values in, plain values out.
"""

from __future__ import annotations

import copy
import html
import json
import mimetypes
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

JSONDict = dict[str, Any]

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
BLOCKED = "Forbidden: bot was blocked by the user"
NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply markup are exactly "
                "the same as a current content and reply markup of the message")
#: Methods answered with 403 once the user has blocked the bot.
BLOCKABLE_METHODS = frozenset({"sendMessage", "sendDocument", "sendPhoto", "sendPoll", "sendChatAction",
                               "editMessageText", "editMessageReplyMarkup"})
HTML_TAGS = frozenset("b strong i em u ins s strike del span tg-spoiler a code pre blockquote tg-emoji".split())
INLINE_BUTTON_ACTIONS = frozenset(
    "callback_data url web_app login_url switch_inline_query switch_inline_query_current_chat "
    "switch_inline_query_chosen_chat copy_text callback_game pay".split())
CHAT_ACTIONS = frozenset(
    "typing upload_photo record_video upload_video record_voice upload_voice upload_document "
    "choose_sticker find_location record_video_note upload_video_note".split())
#: Parameters that are plain strings and must never be JSON-decoded (``text="123"`` stays a str).
STRING_PARAMS = frozenset(
    "text caption parse_mode callback_query_id action url language_code inline_message_id "
    "secret_token ip_address business_connection_id message_effect_id description "
    "short_description title name emoji document thumbnail certificate photo question explanation".split())
COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)(\s[^<>]*)?>")


class ApiError(Exception):
    """An error answer (`{"ok": false, ...}`)."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(f"{status} {description}")
        self.status = status
        self.description = description
        self.retry_after = retry_after


class UnknownMethod(AssertionError):
    """The bot called a Bot API method the fake server does not implement: the test fails on it."""


@dataclass(frozen=True)
class Upload:
    """A file as the bot uploaded it, or as a person sent it."""

    filename: str
    data: bytes
    content_type: str = "application/octet-stream"


def decode_param(key: str, value: Any) -> Any:
    """A form value as Telegram reads it: JSON ("0", "false", "[...]") for everything but plain strings."""
    if not isinstance(value, str) or key in STRING_PARAMS:
        return value
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return value if isinstance(decoded, str) else decoded


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram counts in."""
    return len(text.encode("utf-16-le")) // 2


def parse_html(text: str) -> str:
    """Check Telegram HTML markup like the server does and return the plain text.

    Raises ApiError with Telegram's "can't parse entities" descriptions."""

    def fail(reason: str, index: int) -> ApiError:
        offset = len(text[:index].encode("utf-8"))
        return ApiError(400, f"Bad Request: can't parse entities: {reason} at byte offset {offset}")

    stack: list[str] = []
    plain: list[str] = []
    pos = 0
    while (start := text.find("<", pos)) != -1:
        plain.append(text[pos:start])
        match = TAG_RE.match(text, start)
        if match is None:
            raise fail("Unexpected end of name token" if text[start + 1: start + 2] else "Unclosed start tag", start)
        closing, name = match.group(1) == "/", match.group(2).lower()
        if name not in HTML_TAGS:
            raise fail(f'Unsupported {"end" if closing else "start"} tag "{name}"', start)
        if closing:
            if not stack:
                raise fail(f'Unexpected end tag "{name}"', start)
            expected = stack.pop()
            if expected != name:
                raise fail(f'Unmatched end tag "{name}", expected "</{expected}>"', start)
        else:
            stack.append(name)
        pos = match.end()
    plain.append(text[pos:])
    if stack:
        raise ApiError(400, "Bad Request: can't parse entities: Can't find end tag corresponding to start tag "
                            f"\"{stack[-1]}\"")
    return html.unescape("".join(plain))


def inline_markup(markup: Any) -> JSONDict | None:
    """Validate a reply_markup; return it if it is an inline keyboard (the part kept on the message)."""
    if markup is None:
        return None
    if isinstance(markup, str):
        try:
            markup = json.loads(markup)
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object") from None
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        if not any(k in markup for k in ("keyboard", "remove_keyboard", "force_reply")):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        return None
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ApiError(400, "Bad Request: can't parse inline keyboard markup JSON object")
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not button.get("text"):
                raise ApiError(400, "Bad Request: can't parse inline keyboard button: Text must be non-empty")
            if not any(a in button for a in INLINE_BUTTON_ACTIONS):
                raise ApiError(400, "Bad Request: can't parse inline keyboard button: "
                                    "Text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup if rows else None


def private_or_group(chat_id: int) -> JSONDict:
    """The chat a message to `chat_id` lands in: people have positive ids, groups negative ones."""
    if chat_id > 0:
        return {"id": chat_id, "type": "private"}
    kind = "supergroup" if chat_id < -1_000_000_000_000 else "group"
    return {"id": chat_id, "type": kind, "title": f"Chat {chat_id}"}


def commands_key(scope: Any, language_code: Any) -> tuple[str, str]:
    scope = scope if isinstance(scope, dict) and scope else {"type": "default"}
    return json.dumps(scope, sort_keys=True), str(language_code or "")


def _int(params: JSONDict, key: str) -> int:
    try:
        return int(params[key])
    except KeyError:
        raise ApiError(400, f"Bad Request: {key} is empty") from None
    except (TypeError, ValueError):
        raise ApiError(400, f"Bad Request: invalid parameter value ({key})") from None


def _flag(value: Any) -> bool:
    """A boolean as it arrives on the wire ("true"/"false" in a form) or in JSON."""
    return value in (True, "true", "True", 1, "1")


class TelegramServer:
    """The chats, messages, files, polls and command menus of one bot, and the methods that act on them.

    `per_chat_ids`: message ids count per chat from 1, as in Telegram's private chats (the HTTP fake); off,
    they are unique across chats (the in-process API, whose tests and offline chat address messages by id
    alone). `chat` gives the Chat object of a chat id; `admit` is called before a message is delivered (rate
    limits) and may raise ApiError."""

    def __init__(self, bot_user: JSONDict, *, per_chat_ids: bool = True, first_message_id: int = 0,
                 chat: Callable[[int], JSONDict] = private_or_group,
                 admit: Callable[[int], None] | None = None) -> None:
        self.bot_user = bot_user
        self.per_chat_ids = per_chat_ids
        self.chat = chat
        self.admit = admit
        self.messages: dict[tuple[int, int], JSONDict] = {}
        self.files: dict[str, Upload] = {}
        # Files people sent whose content this server does not hold: the bot can send them on by file_id,
        # not download them (as a file Telegram no longer serves).
        self.file_names: dict[str, str] = {}
        self.commands: dict[tuple[str, str], list[JSONDict]] = {}
        self.blocked: set[int] = set()
        self._ids: Counter[int] = Counter()
        self._last_id = first_message_id
        self._file_seq = 0

    # -- the message store ---------------------------------------------------------------------------

    def bot_sender(self) -> JSONDict:
        """The bot as it appears in Message.from (getMe-only fields omitted)."""
        return {k: self.bot_user[k] for k in ("id", "is_bot", "first_name", "username") if k in self.bot_user}

    def next_message_id(self, chat_id: int) -> int:
        if self.per_chat_ids:
            self._ids[chat_id] += 1
            return self._ids[chat_id]
        self._last_id += 1
        return self._last_id

    def new_message(self, chat_id: int, sender: JSONDict, extra: JSONDict) -> JSONDict:
        """Store a message (the bot's or a person's) and return a copy, as Telegram answers it."""
        message = {"message_id": self.next_message_id(chat_id), "from": dict(sender), "chat": self.chat(chat_id),
                   "date": int(time.time()), **extra}
        self.messages[(chat_id, message["message_id"])] = message
        return copy.deepcopy(message)

    def restore(self, message: JSONDict) -> None:
        """A message sent by an earlier run (the offline chat keeps them): it can be pressed and edited."""
        chat_id, message_id = int(message["chat"]["id"]), int(message["message_id"])
        self.messages[(chat_id, message_id)] = message
        self._ids[chat_id] = max(self._ids[chat_id], message_id)
        self._last_id = max(self._last_id, message_id)

    def new_file_id(self, prefix: str) -> str:
        self._file_seq += 1
        return f"{prefix}{self._file_seq:08d}"

    # -- calls ---------------------------------------------------------------------------------------

    METHODS: ClassVar[frozenset[str]] = frozenset({
        "getMe", "sendMessage", "sendDocument", "sendPhoto", "sendPoll", "editMessageText", "editMessageReplyMarkup",
        "deleteMessage", "sendChatAction", "getFile", "getChat", "setMyCommands", "getMyCommands", "deleteMyCommands"})

    _CANONICAL: ClassVar[dict[str, str]] = {name.lower(): name for name in METHODS}

    def knows(self, method: str) -> str | None:
        """The method's canonical name if this server answers it (method names are case-insensitive)."""
        return self._CANONICAL.get(method.lower())

    def call(self, method: str, params: JSONDict, files: dict[str, Upload] | None = None) -> Any:
        """Answer one call: the result, or ApiError as Telegram would refuse it; UnknownMethod otherwise."""
        canonical = self.knows(method)
        if canonical is None:
            raise UnknownMethod(f"the bot called {method} with {params}: not implemented by the fake Bot API")
        method = canonical
        if method in BLOCKABLE_METHODS and self.chat_id(params) in self.blocked:
            raise ApiError(403, BLOCKED)
        handler: Callable[[JSONDict, dict[str, Upload]], Any] = getattr(self, "_" + method)
        return handler(params, dict(files or {}))

    @staticmethod
    def chat_id(params: JSONDict) -> int | None:
        value = params.get("chat_id")
        if value is None or isinstance(value, bool):
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            return None

    def _require_chat(self, params: JSONDict) -> int:
        if params.get("chat_id") in (None, ""):
            raise ApiError(400, "Bad Request: chat_id is empty")
        chat_id = self.chat_id(params)
        if chat_id is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _text(self, params: JSONDict, key: str = "text") -> str:
        """The plain text of `text` or `caption` after Telegram's checks."""
        raw = params.get(key)
        text = "" if raw is None else str(raw)
        parse_mode = params.get("parse_mode")
        if parse_mode is not None and str(parse_mode).lower() not in ("html", "markdown", "markdownv2"):
            raise ApiError(400, f"Bad Request: unsupported parse_mode {parse_mode}")
        plain = parse_html(text) if str(parse_mode).lower() == "html" else text
        if key == "text":
            if not plain.strip():
                raise ApiError(400, "Bad Request: message text is empty")
            if utf16_len(plain) > MAX_TEXT_LENGTH:
                raise ApiError(400, "Bad Request: message is too long")
        elif utf16_len(plain) > MAX_CAPTION_LENGTH:
            raise ApiError(400, "Bad Request: message caption is too long")
        return plain

    def _reply_to(self, params: JSONDict, chat_id: int) -> JSONDict | None:
        reply_parameters = params.get("reply_parameters")
        reply_id = params.get("reply_to_message_id")
        allow_missing = _flag(params.get("allow_sending_without_reply"))
        if isinstance(reply_parameters, dict):
            reply_id = reply_parameters.get("message_id")
            allow_missing = allow_missing or _flag(reply_parameters.get("allow_sending_without_reply"))
        if reply_id is None:
            return None
        replied = self.messages.get((chat_id, int(reply_id)))
        if replied is None and not allow_missing:
            raise ApiError(400, "Bad Request: message to be replied not found")
        if replied is None:
            return None
        return copy.deepcopy({k: v for k, v in replied.items() if k != "reply_to_message"})

    def _deliver(self, params: JSONDict, chat_id: int, extra: JSONDict, *, caption: bool = False) -> JSONDict:
        """The common tail of every send: caption, reply, keyboard, rate limit, then the stored message."""
        if caption and (text := self._text(params, "caption")):
            extra["caption"] = text
        markup = inline_markup(params.get("reply_markup"))
        reply_to = self._reply_to(params, chat_id)
        if self.admit is not None:
            self.admit(chat_id)
        if reply_to is not None:
            extra["reply_to_message"] = reply_to
        if markup is not None:
            extra["reply_markup"] = markup
        return self.new_message(chat_id, self.bot_sender(), extra)

    def _upload(self, params: JSONDict, files: dict[str, Upload], key: str) -> tuple[str, Upload]:
        """The file of a send: uploaded in the request, or a file_id sent before (or a URL)."""
        ref = params.get(key)
        upload = files.get(key)
        if isinstance(ref, str) and ref.startswith("attach://"):
            upload = files.get(ref.removeprefix("attach://"))
            if upload is None:
                raise ApiError(400, f"Bad Request: there is no {key} in the request")
        if upload is not None:
            if not upload.data:
                raise ApiError(400, "Bad Request: file must be non-empty")
            file_id = self.new_file_id("BQACAgIAAxkDAAI" if key == "document" else "AgACAgIAAxkDAAI")
            self.files[file_id] = upload
            return file_id, upload
        if not isinstance(ref, str) or not ref:
            raise ApiError(400, f"Bad Request: there is no {key} in the request")
        if ref in self.files:
            return ref, self.files[ref]
        if ref in self.file_names:
            return ref, Upload(self.file_names[ref], b"")
        if ref.startswith(("http://", "https://")):
            return ref, Upload(ref.rsplit("/", 1)[-1], b"")
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    # -- methods -------------------------------------------------------------------------------------

    def _getMe(self, params: JSONDict, files: dict[str, Upload]) -> JSONDict:
        return dict(self.bot_user)

    def _sendMessage(self, params: JSONDict, files: dict[str, Upload]) -> JSONDict:
        chat_id = self._require_chat(params)
        return self._deliver(params, chat_id, {"text": self._text(params)})

    def _sendDocument(self, params: JSONDict, files: dict[str, Upload]) -> JSONDict:
        chat_id = self._require_chat(params)
        file_id, upload = self._upload(params, files, "document")
        document: JSONDict = {"file_id": file_id, "file_unique_id": "u" + file_id[-8:], "file_name": upload.filename}
        mime = mimetypes.guess_type(upload.filename)[0] or (
            upload.content_type if upload.content_type not in ("", "application/octet-stream") else None)
        if mime:
            document["mime_type"] = mime
        if upload.data:
            document["file_size"] = len(upload.data)
        return self._deliver(params, chat_id, {"document": document}, caption=True)

    def _sendPhoto(self, params: JSONDict, files: dict[str, Upload]) -> JSONDict:
        chat_id = self._require_chat(params)
        file_id, upload = self._upload(params, files, "photo")
        sizes = [{"file_id": file_id, "file_unique_id": "p" + file_id[-8:], "width": 640, "height": 480,
                  **({"file_size": len(upload.data)} if upload.data else {})}]
        return self._deliver(params, chat_id, {"photo": sizes}, caption=True)

    def _sendPoll(self, params: JSONDict, files: dict[str, Upload]) -> JSONDict:
        chat_id = self._require_chat(params)
        options = [o if isinstance(o, str) else str(o.get("text", "")) for o in params.get("options") or []]
        question = str(params.get("question", ""))
        if not question.strip() or not 2 <= len(options) <= 10:
            raise ApiError(400, "Bad Request: poll must have 2-10 options and a question")
        quiz = params.get("type") == "quiz"
        poll: JSONDict = {
            "id": self.new_file_id("poll"), "question": question,
            "options": [{"persistent_id": str(i), "text": o, "voter_count": 0} for i, o in enumerate(options)],
            "total_voter_count": 0, "is_closed": False,
            "is_anonymous": _flag(params.get("is_anonymous", True)), "type": "quiz" if quiz else "regular",
            "allows_multiple_answers": _flag(params.get("allows_multiple_answers", False)),
            "allows_revoting": False, "members_only": False}
        if quiz:
            try:
                correct = int(params["correct_option_id"])
            except (KeyError, TypeError, ValueError):
                raise ApiError(400, "Bad Request: wrong correct option ID specified") from None
            if not 0 <= correct < len(options):
                raise ApiError(400, "Bad Request: wrong correct option ID specified")
            poll["correct_option_id"] = correct
        if "explanation" in params:
            poll["explanation"] = str(params["explanation"])
        if "open_period" in params:
            poll["open_period"] = int(params["open_period"])
        return self._deliver(params, chat_id, {"poll": poll})

    def _editable(self, params: JSONDict) -> JSONDict:
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
        chat_id = self._require_chat(params)
        if params.get("message_id") is None:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        message = self.messages.get((chat_id, _int(params, "message_id")))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if message["from"]["id"] != self.bot_user["id"]:
            raise ApiError(400, "Bad Request: message can't be edited")
        return message

    def _editMessageText(self, params: JSONDict, files: dict[str, Upload]) -> JSONDict:
        message = self._editable(params)
        if "text" not in message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text, markup = self._text(params), inline_markup(params.get("reply_markup"))
        if text == message["text"] and markup == message.get("reply_markup"):
            raise ApiError(400, NOT_MODIFIED)
        message["text"] = text
        message["edit_date"] = int(time.time())
        _set_markup(message, markup)  # omitting reply_markup removes the inline keyboard, as on Telegram
        return copy.deepcopy(message)

    def _editMessageReplyMarkup(self, params: JSONDict, files: dict[str, Upload]) -> JSONDict:
        message = self._editable(params)
        markup = inline_markup(params.get("reply_markup"))
        if markup == message.get("reply_markup"):
            raise ApiError(400, NOT_MODIFIED)
        message["edit_date"] = int(time.time())
        _set_markup(message, markup)
        return copy.deepcopy(message)

    def _deleteMessage(self, params: JSONDict, files: dict[str, Upload]) -> bool:
        chat_id = self._require_chat(params)
        if params.get("message_id") is None:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        if self.messages.pop((chat_id, _int(params, "message_id")), None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        return True

    def _sendChatAction(self, params: JSONDict, files: dict[str, Upload]) -> bool:
        self._require_chat(params)
        if params.get("action") not in CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    def _getFile(self, params: JSONDict, files: dict[str, Upload]) -> JSONDict:
        file_id = str(params.get("file_id") or "")
        if file_id not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {"file_id": file_id, "file_unique_id": "u" + file_id[-8:], "file_size": len(self.files[file_id].data),
                "file_path": f"documents/{file_id}"}

    def download(self, file_path: str) -> bytes | None:
        """The bytes behind a getFile `file_path` (None if unknown)."""
        upload = self.files.get(file_path.rsplit("/", 1)[-1])
        return None if upload is None else upload.data

    def _getChat(self, params: JSONDict, files: dict[str, Upload]) -> JSONDict:
        chat_id = self._require_chat(params)
        info = self.chat(chat_id)
        info.update(accent_color_id=chat_id % 7 if chat_id > 0 else 0, max_reaction_count=11,
                    accepted_gift_types={"unlimited_gifts": True, "limited_gifts": True, "unique_gifts": True,
                                         "premium_subscription": True, "gifts_from_channels": True})
        return info

    def _setMyCommands(self, params: JSONDict, files: dict[str, Upload]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        if len(commands) > 100:
            raise ApiError(400, "Bad Request: too many commands specified")
        for command in commands:
            if not isinstance(command, dict) or not COMMAND_RE.match(str(command.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise ApiError(400, "Bad Request: command description is empty")
        key = commands_key(params.get("scope"), params.get("language_code"))
        if commands:
            self.commands[key] = [{"command": c["command"], "description": c["description"]} for c in commands]
        else:
            self.commands.pop(key, None)
        return True

    def _getMyCommands(self, params: JSONDict, files: dict[str, Upload]) -> list[JSONDict]:
        return list(self.commands.get(commands_key(params.get("scope"), params.get("language_code")), []))

    def _deleteMyCommands(self, params: JSONDict, files: dict[str, Upload]) -> bool:
        self.commands.pop(commands_key(params.get("scope"), params.get("language_code")), None)
        return True


def _set_markup(message: JSONDict, markup: JSONDict | None) -> None:
    if markup is None:
        message.pop("reply_markup", None)
    else:
        message["reply_markup"] = markup
