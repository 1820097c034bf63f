"""The offline chat: talk to the bot in the terminal, on the same dispatcher, handlers and database.

The bot's messages print with their buttons numbered; `#2` presses button 2 of the latest message
that has buttons. Messages that are not replies (reminders, broadcasts) print when they are sent.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Callable

from bot.app import App, make_bot
from bot.local_api import LocalSession, Request, UpdateFactory

BANNER = """\
delegate-bot — offline chat (no BOT_TOKEN set)
  You are a delegate (user id {user_id}). Type as you would in Telegram, e.g. /start.
  #N presses button N · /location LAT LON shares a location · !sticker, !photo, !voice send media
  /quit or Ctrl-D leaves. The bot's clock: {clock}.
  To connect to Telegram instead, put BOT_TOKEN=<token from @BotFather> in .env
  (and TELEGRAM_API_URL=http://host:port for another Bot API server), then run `make run` again.
"""
_TAG = re.compile(r"<[^>]+>")


def render(request: Request) -> str:
    """A bot call as terminal text: the message, then its buttons numbered."""
    if request.method in ("answerCallbackQuery",):
        text = request.params.get("text")
        return f"  (notice: {text})" if text else ""
    if request.method not in ("sendMessage", "editMessageText", "sendDocument", "editMessageReplyMarkup"):
        return ""
    lines: list[str] = []
    if request.method == "sendDocument":
        name = next(iter(request.files), "file")
        lines.append(f"[file: {name}, {sum(len(b) for b in request.files.values())} bytes]")
    if request.method == "editMessageText":
        lines.append("(edited)")
    text = html.unescape(_TAG.sub("", request.text))
    if text:
        lines.append(text)
    for i, (label, _data) in enumerate(request.buttons, 1):
        lines.append(f"  [#{i}] {label}")
    for label in request.keyboard:
        lines.append(f"  [keyboard] {label}")
    if not lines:
        return ""
    return "\n".join(["bot> " + lines[0], *("     " + line for line in lines[1:])])


class OfflineChat:
    def __init__(self, app: App, *, user_id: int = 1001, language_code: str = "en",
                 write: Callable[[str], None] | None = None) -> None:
        self.app = app
        self.user_id = user_id
        self.language_code = language_code
        self.write = write or (lambda s: print(s, flush=True))
        self.session = LocalSession(on_request=self._show)
        self.bot = make_bot(app.settings, self.session)
        self.updates = UpdateFactory()
        self._last_with_buttons: Request | None = None
        self._last_message: dict | None = None

    def _show(self, request: Request) -> None:
        if request.buttons and request.chat_id == self.user_id:
            self._last_with_buttons = request
        text = render(request)
        if text:
            self.write(text)

    async def handle(self, line: str) -> bool:
        """Process one typed line; False means leave."""
        line = line.strip()
        if not line:
            return True
        if line in ("/quit", "/exit"):
            return False
        uid, lang = self.user_id, self.language_code
        if re.fullmatch(r"#\d+", line):
            update = self._press(int(line[1:]))
            if update is None:
                self.write("  (no such button: the latest message with buttons has "
                           f"{len(self._last_with_buttons.buttons) if self._last_with_buttons else 0})")
                return True
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

    def _press(self, n: int) -> dict | None:
        req = self._last_with_buttons
        if req is None or not 1 <= n <= len(req.buttons):
            return None
        data = req.buttons[n - 1][1] or ""
        message = next((m for m in reversed(self.session.messages.values())
                        if m.get("reply_markup") and m["chat"]["id"] == self.user_id), None)
        return self.updates.callback(self.user_id, data, message, language_code=self.language_code)

    async def run(self, read: Callable[[], str] | None = None) -> None:
        clock = self.app.clock.now().astimezone(self.app.event.tz).strftime("%Y-%m-%d %H:%M GMT%z")
        self.write(BANNER.format(user_id=self.user_id, clock=clock))
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
