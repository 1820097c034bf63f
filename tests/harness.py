"""A bot wired as in production, fed updates through the real Dispatcher, answering through LocalSession."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.fsm.storage.base import BaseStorage, StorageKey
from aiogram.types import ErrorEvent

from bot.app import App, build_app, make_bot
from bot.config import DEFAULT_EVENT_FILE, Settings
from bot.offline.local_api import LocalSession, Request, UnexpectedRequest, UpdateFactory
from delivery.limiter import Timer
from delivery.sender import Sender
from domain.clock import FrozenClock
from domain.event import Event, load_event
from storage.db import make_engine, migrate
from testkit.people import delegate, offline_settings

# 1 Nov 2020 10:00 GMT+3: registration open, the event ahead (what a fresh clone rehearses).
REHEARSAL_START = datetime.fromisoformat("2020-11-01T10:00:00+03:00")
# The event file the tests read (the conftest's `event` fixture loads it) and its zone.
EVENT_FILE = DEFAULT_EVENT_FILE
MSK = ZoneInfo("Europe/Moscow")


def msk(hour: int, minute: int = 0, day: int = 17, month: int = 11, second: int = 0) -> datetime:
    """An instant in the event's zone in 2020; the day defaults to the event's first (17 Nov)."""
    return datetime(2020, month, day, hour, minute, second, tzinfo=MSK)


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Offline settings on a SQLite file in `tmp_path` (unless `database_url` is given), one organiser (999)."""
    values: dict[str, Any] = {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", "admin_ids": "999",
                              **overrides}
    return offline_settings(**values)


_SQLITE = "sqlite+aiosqlite:///"
_template: Path | None = None


async def _from_template(database_url: str) -> None:
    """A new SQLite file starts as a copy of one migrated in this process: Alembic's table rebuilds on SQLite
    were over half of the cost of each `Harness.create` (the start-up migration then finds the schema at head).
    The migrations themselves are still run (here, once per process; tests/test_db_files.py and the
    migrations-match-the-models test run them from nothing)."""
    global _template
    if not database_url.startswith(_SQLITE):
        return
    path = Path(database_url.removeprefix(_SQLITE))
    if _is_file(path):
        return
    if _template is None:
        folder = Path(tempfile.mkdtemp(prefix="harness-template-"))
        engine = make_engine(f"{_SQLITE}{folder / 'template.db'}")
        try:
            await migrate(engine)
        finally:
            await engine.dispose()
        _template = folder / "template.db"
    _copy(_template, path)


_events: dict[tuple[Path, int, int], Event] = {}


def _event(path: Path) -> Event:
    """The event file, loaded once per version of it (the model is frozen; its question index, domain.qa's
    `index_for`, is built once per loaded event, a quarter of a `Harness.create`)."""
    stat = path.stat()
    key = (path.resolve(), stat.st_mtime_ns, stat.st_size)
    if key not in _events:
        _events[key] = load_event(path)
    return _events[key]


def _is_file(path: Path) -> bool:
    return path.exists()


def _copy(source: Path, target: Path) -> None:
    shutil.copyfile(source, target)
    target.chmod(0o600)  # as the bot makes its database file (storage.db warns otherwise)


class Harness:
    def __init__(self, app: App, clock: FrozenClock) -> None:
        self.app = app
        self.clock = clock
        self.session = LocalSession()
        self.bot = make_bot(app.settings, self.session, strict=True)
        self.updates = UpdateFactory(self.session.server)
        self.lang: dict[int, str | None] = {}
        # With record_errors: every exception that escaped a handler, with the update that caused it.
        self.errors: list[tuple[dict[str, Any], BaseException]] = []
        self._current: dict[str, Any] = {}

    @classmethod
    async def create(cls, settings: Settings, *, at: datetime = REHEARSAL_START,
                     storage: BaseStorage | None = None, record_errors: bool = False,
                     flood_control: bool = False) -> Harness:
        """`record_errors`: exceptions are recorded in `errors` (and not reported to the person) instead of
        being swallowed by the bot's error handler, so a test can fail on them.

        `flood_control`: on, it runs on the frozen clock; off (the default), scripted people may send any
        number of updates in one instant."""
        clock = FrozenClock(at)
        await _from_template(settings.database_url)
        app = await build_app(settings, clock=clock, storage=storage, event=_event(Path(settings.event_file)))
        h = cls(app, clock)
        flood = app.flood
        flood.enabled = flood_control
        flood.now = lambda: clock.now().timestamp()
        if record_errors:
            # The dispatcher's own error observers run before the routers' (the bot's on_error).
            app.dp.errors.register(h._record_error)
        return h

    async def _record_error(self, event: ErrorEvent) -> bool:
        self.errors.append((self._current, event.exception))
        return True

    async def close(self) -> None:
        """Release everything, then fail on any Bot API call the local API did not know (sent by the
        delivery engine, a startup hook, ...: anything outside `feed`)."""
        await self.bot.session.close()
        await self.app.close()
        self.raise_unexpected()

    def raise_unexpected(self) -> None:
        """Fail on a call the local API does not implement, even when the bot's error handler swallowed it
        (the person would have seen "something went wrong")."""
        if self.session.unexpected:
            first, *rest = self.session.unexpected
            self.session.unexpected.clear()
            raise UnexpectedRequest(f"{first}" + (f" (and {len(rest)} more)" if rest else "")) from first

    async def feed(self, update: dict[str, Any]) -> list[Request]:
        before = len(self.session.requests)
        self._current = update
        await self.app.dp.feed_raw_update(self.bot, update)
        self.raise_unexpected()
        return self.session.requests[before:]

    async def send(self, user_id: int, text: str, *, lang: str | None = "en", chat: dict[str, Any] | None = None
                   ) -> list[Request]:
        """The person types `text` (in their private chat, or in `chat`, e.g. `self.updates.group()`);
        returns the bot's calls in answer."""
        return await self.feed(self.updates.text(user_id, text, language_code=lang, chat=chat))

    def _message_with(self, chat_id: int, label: str) -> tuple[dict[str, Any], str]:
        for msg in reversed(list(self.session.messages.values())):
            if msg["chat"]["id"] != chat_id:
                continue
            for row in (msg.get("reply_markup") or {}).get("inline_keyboard", []):
                for b in row:
                    if label == b["text"] or label in b["text"]:
                        return msg, b["callback_data"]
        raise AssertionError(f"no button {label!r} in the messages to {chat_id}: {self.buttons(chat_id)}")

    async def press(self, user_id: int, label: str, *, lang: str | None = "en", chat: dict[str, Any] | None = None
                    ) -> list[Request]:
        """Press the newest button whose text contains `label` (in the private chat, or in `chat`)."""
        msg, data = self._message_with(chat["id"] if chat else user_id, label)
        return await self.feed(self.updates.callback(user_id, data, msg, language_code=lang))

    async def press_data(self, user_id: int, data: str, *, lang: str | None = "en",
                         chat: dict[str, Any] | None = None) -> list[Request]:
        """Send a callback with arbitrary data (a stale or forged button), on a bot message in `chat`."""
        return await self.feed(self.updates.callback(user_id, data, language_code=lang, chat=chat))

    def state_key(self, user_id: int) -> StorageKey:
        """The key of a person's conversation state (private chat: chat id == user id)."""
        return StorageKey(bot_id=self.bot.id, chat_id=user_id, user_id=user_id)

    def texts(self, user_id: int) -> list[str]:
        return [r.text for r in self.session.sent(user_id) if r.text]

    def last_text(self, user_id: int) -> str:
        texts = self.texts(user_id)
        return texts[-1] if texts else ""

    def buttons(self, user_id: int) -> list[str]:
        """Texts of the inline buttons of the newest message that has some."""
        for r in reversed(self.session.sent(user_id)):
            if r.buttons:
                return [t for t, _ in r.buttons]
        return []


async def register(h: Harness, user_id: int, *, language: str = "en", timezone: str = "Europe/Moscow",
                   participant_type: str = "wego_member", city: str = "Seoul", city_id: str | None = None,
                   full_name: str = "Test Delegate", matchmaking: bool | None = None,
                   excom_status: str | None = None) -> None:
    """Store a registered delegate directly (for tests of features that need one). An EXCOM member city is
    stored as an organiser confirmed it unless `excom_status` says otherwise ("pending", "rejected")."""
    from storage.repo import Delegates

    if participant_type == "excom" and excom_status is None:
        excom_status = "confirmed"
    async with h.app.sessions() as s:
        await Delegates(s).save(delegate(
            user_id, language=language, full_name=full_name, city=city, participant_type=participant_type,
            timezone=timezone, matchmaking=matchmaking, city_id=city_id, excom_status=excom_status,
        ), h.clock.now())
        await s.commit()


# -- sending what is due, on a virtual timer -------------------------------------------------------------------

class VirtualTimer(Timer):
    """Time that moves only when someone sleeps: waits are asserted, never spent."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        # Whether no database write is under way (set by `sender`): the sender commits "request started"
        # right before each request, and time must not jump while such a commit runs in a thread.
        self.quiet: Callable[[], bool] = lambda: True

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        await asyncio.sleep(0)  # what was started before the sleep runs at the time it was started
        while not self.quiet():  # noqa: ASYNC110 - the commit runs in aiosqlite's thread: nothing to await
            await asyncio.sleep(0.001)
        self.now += seconds
        await asyncio.sleep(0)


def sender(h: Harness, timer: VirtualTimer | None = None, bot: Bot | None = None, **kw: Any) -> Sender:
    """The app's sender on a virtual timer (time stands still while the sender writes)."""
    timer = timer or VirtualTimer()
    made = h.app.delivery.make_sender(bot or h.bot, timer=timer, **kw)
    timer.quiet = lambda: not made.writing
    return made


async def drain_sender(s: Sender) -> None:
    """Send everything due through `s`."""
    while await s.drain_once():
        pass


async def drain(h: Harness) -> list[tuple[int, str]]:
    """Send everything due; returns (chat, text) of what went out."""
    before = len(h.session.sent())
    await drain_sender(sender(h))
    return [(r.chat_id or 0, r.text) for r in h.session.sent()[before:]]
