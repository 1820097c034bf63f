"""The offline chat: talk to the bot in the terminal, on the same dispatcher, handlers and database.

The bot's messages print with their buttons numbered by message and button: `#3.2` presses button 2 of
message 3, `#2` button 2 of the latest message that has buttons. The numbered messages are kept in
`buttons.json` in the files folder, so their buttons still work after a restart. Files the bot sends (a
calendar file, a CSV, an image) are saved to that folder (OFFLINE_FILES, default `offline-files/`) and their
path is printed. Messages that are not replies (reminders, broadcasts) print when they are sent.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.app import App, make_bot
from bot.offline.local_api import LocalSession, Request, UpdateFactory

log = logging.getLogger(__name__)

BANNER = """\
delegate-bot — offline chat (no BOT_TOKEN set)
  You are a delegate (user id {user_id}, language {language}; OFFLINE_USER_ID and OFFLINE_LANGUAGE change
  them). Type as you would in Telegram, e.g. /start.
  #3.2 presses button 2 of message 3 · #2 button 2 of the latest message with buttons
  /location LAT LON shares a location · !sticker, !photo, !voice send media · /quit or Ctrl-D leaves.
  Files the bot sends are saved in {files}. The bot's clock: {clock}.
  To connect to Telegram instead, put BOT_TOKEN=<token from @BotFather> in .env
  (and TELEGRAM_API_URL=http://host:port for another Bot API server), then run `make run` again.
"""
_TAG = re.compile(r"<[^>]+>")
_PRESS = re.compile(r"#(?:(\d+)\.)?(\d+)")
# The numbered messages kept for a restart (older ones are forgotten).
KEEP = 200
STATE_FILE = "buttons.json"
_SAVED_METHODS = ("sendDocument", "sendPhoto")


def render(request: Request, number: int | None = None, saved: list[Path] | None = None) -> str:
    """A bot call as terminal text: the message, then its buttons numbered `#<number>.<button>`."""
    if request.method in ("answerCallbackQuery",):
        text = request.params.get("text")
        return f"  (notice: {text})" if text else ""
    if request.method not in ("sendMessage", "editMessageText", "sendDocument", "sendPhoto",
                              "editMessageReplyMarkup"):
        return ""
    lines: list[str] = []
    if request.method in _SAVED_METHODS:
        kind = "file" if request.method == "sendDocument" else "image"
        for name, data in request.files.items():
            where = next((str(p) for p in saved or () if p.name == Path(name).name), None)
            lines.append(f"[{kind}: {name}, {len(data)} bytes" + (f", saved to {where}]" if where else "]"))
        if not request.files:  # sent by file_id or URL
            lines.append(f"[{kind}: {request.params.get('document') or request.params.get('photo')}]")
    if request.method.startswith("edit"):
        lines.append(f"(message {number} edited)" if number else "(edited)")
    text = html.unescape(_TAG.sub("", request.text))
    lines += text.splitlines()
    for i, (label, _data) in enumerate(request.buttons, 1):
        lines.append(f"  [#{number}.{i}] {label}" if number else f"  [#{i}] {label}")
    for label in request.keyboard:
        lines.append(f"  [keyboard] {label}")
    if not lines:
        return ""
    return "\n".join(["bot> " + lines[0], *("     " + line for line in lines[1:])])


class OfflineChat:
    def __init__(self, app: App, *, user_id: int = 1001, language_code: str = "en",
                 write: Callable[[str], None] | None = None, files_dir: Path | str | None = None) -> None:
        self.app = app
        self.user_id = user_id
        self.language_code = language_code
        self.write = write or (lambda s: print(s, flush=True))
        self.files_dir = Path(files_dir if files_dir is not None else "offline-files")
        self.session = LocalSession(on_request=self._show)
        self.bot = make_bot(app.settings, self.session)
        self.updates = UpdateFactory(self.session.server)
        # Message number (as printed) -> the bot's message id; the latest numbered message has buttons.
        self.numbers: dict[int, int] = {}
        self._by_message: dict[int, int] = {}
        self._latest: int | None = None
        self._load()

    # -- the numbered messages, kept across restarts ---------------------------------------------------

    @property
    def state_path(self) -> Path:
        return self.files_dir / STATE_FILE

    def _load(self) -> None:
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
            numbers = {int(n): int(mid) for n, mid in state["numbers"].items()}
            messages = [m for m in state["messages"] if isinstance(m, dict) and "message_id" in m]
            latest = state.get("latest")
        except FileNotFoundError:
            return
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            self.write(f"  (could not read {self.state_path}: {exc}; earlier buttons are forgotten)")
            return
        self.session.restore(messages)
        self.numbers = {n: mid for n, mid in numbers.items() if mid in self.session.messages}
        self._by_message = {mid: n for n, mid in self.numbers.items()}
        self._latest = int(latest) if latest in self.numbers else max(self.numbers, default=None)

    def _save(self) -> None:
        keep = sorted(self.numbers)[-KEEP:]
        self.numbers = {n: self.numbers[n] for n in keep}
        self._by_message = {mid: n for n, mid in self.numbers.items()}
        state = {"user_id": self.user_id, "latest": self._latest, "numbers": self.numbers,
                 "messages": [self.session.messages[mid] for mid in self.numbers.values()
                              if mid in self.session.messages]}
        try:
            self.files_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.state_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
            tmp.replace(self.state_path)
        except OSError as exc:  # a read-only folder: the chat still works, without memory across restarts
            log.warning("offline chat: cannot keep the buttons in %s: %s", self.state_path, exc)

    def _number(self, request: Request) -> int | None:
        """The message's number: a new one for a new message with buttons, the old one for an edit."""
        result = request.result if isinstance(request.result, dict) else {}
        mid = result.get("message_id") or request.params.get("message_id")
        if mid is None:
            return None
        mid = int(mid)
        number = self._by_message.get(mid)
        if number is None and request.buttons:
            number = max(self.numbers, default=0) + 1
            self.numbers[number] = mid
            self._by_message[mid] = number
        if number is not None:
            if request.buttons:
                self._latest = number
            self._save()
        return number

    def _save_files(self, request: Request) -> list[Path]:
        saved = []
        for name, data in request.files.items():
            path = self.files_dir / Path(name).name  # the bot's own name, never a path it could choose
            try:
                self.files_dir.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            except OSError as exc:
                self.write(f"  (could not save {path}: {exc})")
                continue
            saved.append(path)
        return saved

    def _show(self, request: Request) -> None:
        mine = request.chat_id in (None, self.user_id)
        saved = self._save_files(request) if mine and request.method in _SAVED_METHODS else []
        number = self._number(request) if request.chat_id == self.user_id else None
        text = render(request, number, saved)
        if text and not mine:  # to someone else (an organiser's decision reaching a delegate, a group)
            text = f"  (to chat {request.chat_id})\n" + text
        if text:
            self.write(text)

    # -- typing --------------------------------------------------------------------------------------

    async def handle(self, line: str) -> bool:
        """Process one typed line; False means leave."""
        line = line.strip()
        if not line:
            return True
        if line in ("/quit", "/exit"):
            return False
        uid, lang = self.user_id, self.language_code
        if m := _PRESS.fullmatch(line):
            number = int(m.group(1)) if m.group(1) else self._latest
            pressed = self._press(number, int(m.group(2)))
            if isinstance(pressed, str):
                self.write(f"  ({pressed})")
                return True
            update = pressed
        elif line.startswith("/location"):
            parts = line.split()
            try:
                lat, lon = float(parts[1]), float(parts[2])
            except (IndexError, ValueError):
                self.write("  (usage: /location 37.57 126.98)")
                return True
            update = self.updates.location(uid, lat, lon, language_code=lang)
        elif line in ("!sticker", "!photo", "!voice"):
            update = getattr(self.updates, line[1:])(uid, language_code=lang)
        else:
            update = self.updates.text(uid, line, language_code=lang)
        await self.app.dp.feed_raw_update(self.bot, update)
        return True

    def _buttons(self, number: int | None) -> list[dict[str, Any]]:
        message = self.session.messages.get(self.numbers.get(number, -1)) if number is not None else None
        markup = (message or {}).get("reply_markup") or {}
        return [b for row in markup.get("inline_keyboard") or [] for b in row]

    def _no_such_button(self, number: int | None, n: int) -> str:
        if number is None or not self.numbers:
            return "no such button: no message has buttons yet"
        if number not in self.numbers:
            return f"no such button: there is no message {number} (messages 1 to {max(self.numbers)})"
        return f"no such button: message {number} has {len(self._buttons(number))}"

    def _press(self, number: int | None, n: int) -> dict[str, Any] | str:
        """The update of pressing button `n` of message `number`, or what to tell the person instead."""
        buttons = self._buttons(number)
        if number is None or not 1 <= n <= len(buttons):
            return self._no_such_button(number, n)
        button = buttons[n - 1]
        if "callback_data" not in button:  # a link: nothing to press in a terminal
            return f"a link: {button.get('url')}"
        message = self.session.messages[self.numbers[number]]
        return self.updates.callback(self.user_id, button["callback_data"], message, language_code=self.language_code)

    async def run(self, read: Callable[[], str] | None = None) -> None:
        clock = self.app.clock.now().astimezone(self.app.event.tz).strftime("%Y-%m-%d %H:%M GMT%z")
        self.write(BANNER.format(user_id=self.user_id, language=self.language_code, clock=clock,
                                 files=self.files_dir.resolve()))
        if self.numbers:
            self.write(f"  (messages 1 to {max(self.numbers)} of the last session still have their buttons)")
        reader = read or (lambda: input("you> "))
        await self.app.dp.emit_startup(bot=self.bot, **self.app.dp.workflow_data)
        try:
            while True:
                try:
                    line = await asyncio.to_thread(reader)
                except EOFError:
                    break
                if not await self.handle(line):
                    break
        finally:
            await self.app.dp.emit_shutdown(bot=self.bot, **self.app.dp.workflow_data)
            await self.bot.session.close()
            self.write("bye")
