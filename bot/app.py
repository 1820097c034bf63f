"""Wiring: settings, event, clock, database, storage, dispatcher and routers in one place."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import DisabledEventIsolation, SimpleEventIsolation
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.durability import DurableBeforeSend
from bot.flood import FloodControl, FloodNotice
from bot.i18n import KoreanParticles, LocaleMiddleware, make_i18n
from bot.middlewares import (
    ArrivalStamp,
    DbSessionMiddleware,
    PersonLockMiddleware,
    PreloadMiddleware,
    ProfileMiddleware,
    StaleCallbackAnswer,
)
from bot.person_lock import RedisPersonLocks
from bot.routing import gate_routers, switchboard_router
from delivery.engine import Delivery, Feature
from delivery.limiter import Limiter, LimiterMiddleware
from domain.clock import Clock
from domain.event import LANGS, Event, load_event
from domain.i18n_marks import N_
from domain.program import NEXT_COMMAND
from services.guests import TIMEZONE_COMMAND
from services.matchmaking import MEET_COMMAND
from storage.cache import Caches
from storage.cache import enable as enable_caches
from storage.db import make_engine, make_sessionmaker, migrate
from storage.fsm import SQLStorage
from storage.inbox import Inbox

if TYPE_CHECKING:
    from services.organiser import Sources
    from storage.cache_sync import CacheSync

log = logging.getLogger(__name__)

# Updates handled at once while polling: enough to keep the database and the event loop busy, few enough
# that a flood waits at Telegram rather than in memory (one task and its objects per update).
UPDATE_CONCURRENCY = 64

# The command menu, per language (setMyCommands with language_code at start-up).
COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", N_("Register, or continue registering")),
    ("program", N_("The program in your time zone")),
    ("now", N_("What is on now and next")),
    ("next", NEXT_COMMAND),
    ("profile", N_("Your data: view and edit")),
    ("reminders", N_("Your reminders")),
    ("meet", MEET_COMMAND),
    ("timezone", TIMEZONE_COMMAND),
    ("language", N_("Change language")),
    ("quiz", N_("The Smart City Quiz")),
    ("leaderboard", N_("The quiz's leaderboard")),
    ("help", N_("What this bot can do")),
    ("cancel", N_("Stop the current step")),
    ("forget", N_("Delete your data")),
)
# Added to the menu of each organiser's own chat (ADMIN_IDS), after the commands above.
ORGANISER_COMMANDS: tuple[tuple[str, str], ...] = (
    ("broadcast", N_("Organisers: send a message to many people")),
    ("broadcasts", N_("Organisers: past broadcasts and who was not reached")),
    ("people", N_("Organisers: registrations, search, a person's card")),
    ("stats", N_("Organisers: figures and a chart")),
    ("export", N_("Organisers: CSV files")),
    ("excom", N_("Organisers: confirm EXCOM member cities")),
    ("admit", N_("Organisers: let a person register late")),
    ("audit", N_("Organisers: the latest organiser actions")),
    ("console", N_("Organisers: a sign-in link to the web console")),
)


@dataclass
class App:
    """Everything a running bot shares; handlers receive the parts as keyword arguments."""

    settings: Settings
    event: Event
    clock: Clock
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    i18n: I18n
    storage: BaseStorage
    dp: Dispatcher
    inbox: Inbox  # used by the transports (bot.polling, bot.webhook); tests feed updates directly
    # The delivery engine (outbox sender and scheduler) and what features give the organiser tools.
    delivery: Delivery
    sources: Sources
    flood: FloodControl
    console_key: bytes  # signs the console's sign-in links (services.console.secret_key)
    caches: Caches | None = None
    console_url: str | None = None  # where organisers open the console, once it is served (serve_console)
    cache_sync: CacheSync | None = None
    isolation: BaseEventIsolation | None = None

    async def close(self) -> None:
        sync, self.cache_sync = self.cache_sync, None
        if sync is not None:
            await sync.close()
        if self.isolation is not None:
            await self.isolation.close()
        await self.storage.close()
        await self.engine.dispose()


def build_routers() -> list[Router]:
    """Fresh routers in dispatch order: groups first, then the private chat's (commands first, free text last).

    Every feature router sees private chats only (a filter set here, not in each handler), so personal data
    never reaches a group; the group router answers there with a link to the private chat.
    """
    from handlers import admin, broadcasts, common, excom, groups, guests, menu, organiser, registration
    from handlers import console as console_handlers
    from handlers import matchmaking as matchmaking_handlers
    from handlers import program as program_handlers
    from handlers import quiz as quiz_handlers
    from handlers import reminders as reminder_handlers

    return [groups.make_router(), *map(groups.private_only, [
        common.make_router(),
        # The persistent menu's labels, typed or tapped, also in the middle of a step.
        menu.make_router(),
        admin.make_router(),
        console_handlers.make_router(),
        # Before excom: its handler takes any document an organiser sends (an EXCOM list).
        broadcasts.make_router(),
        organiser.make_router(),
        excom.make_router(),
        registration.make_router(),
        guests.make_router(),
        program_handlers.make_router(),
        reminder_handlers.make_router(),
        matchmaking_handlers.make_router(),
        quiz_handlers.make_router(),
        # Free questions (text outside a conversation step), then the fallback.
        program_handlers.make_questions_router(),
        # Free text that no conversation step claimed: keep last.
        common.make_fallback_router(),
    ])]


def inline_sync_filters(dp: Dispatcher) -> int:
    """Run synchronous filters (magic filters such as `F.text`) on the event loop.

    aiogram 3.31 runs every filter that is not a coroutine function in a worker thread (asyncio.to_thread),
    so a free question paid two thread round trips just to check `F.text`; filters are cheap predicates.
    Returns how many filters were changed."""
    from aiogram.dispatcher.event.handler import FilterObject

    changed = 0

    def inline(f: FilterObject) -> None:
        nonlocal changed
        if f.awaitable:
            return
        sync = f.callback

        async def run(*args: Any, **kwargs: Any) -> Any:
            return sync(*args, **kwargs)

        f.callback, f.awaitable = run, True
        changed += 1

    for router in dp.chain_tail:
        for observer in router.observers.values():
            for handler in observer.handlers:  # router-level filters are coroutines (groups.PrivateChat)
                for f in handler.filters or ():
                    inline(f)
    return changed


def remember_answers(event: Event, size: int = 4096) -> None:
    """Answer a repeated free question from memory: the ranking (domain/qa.py) is the largest piece of our own
    work per update (a few ms), and a burst repeats the same texts ("when is the quiz?"). Answers are frozen
    values that depend only on the text and the event file. (A candidate for domain/qa.py itself.)"""
    import functools

    from domain.qa import index_for

    index = index_for(event)
    if not hasattr(index.answer, "cache_info"):
        index.answer = functools.lru_cache(maxsize=size)(index.answer)  # type: ignore[method-assign]  # memoised in place


def make_storage(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> BaseStorage:
    if settings.redis_url:
        from aiogram.fsm.storage.redis import DefaultKeyBuilder, RedisStorage

        return RedisStorage.from_url(settings.redis_url, key_builder=DefaultKeyBuilder(with_destiny=True))
    return SQLStorage(sessions)


def cache_is_coherent(settings: Settings) -> bool:
    """The profile/state cache is safe with one process (SQLite) or with Redis telling every process of writes."""
    return settings.database_url.startswith("sqlite") or bool(settings.redis_url)


def make_isolation(storage: BaseStorage, instance: str | None = None) -> BaseEventIsolation:
    """Per-person locks: in Redis (shared by every process, naming their holder: bot/person_lock.py) when the
    state lives there, else in process."""
    from aiogram.fsm.storage.redis import RedisStorage

    if isinstance(storage, RedisStorage):
        return RedisPersonLocks(storage.redis, instance=instance, key_builder=storage.key_builder)
    return SimpleEventIsolation()


async def build_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    event: Event | None = None,
    storage: BaseStorage | None = None,
    i18n: I18n | None = None,
) -> App:
    event = event or load_event(settings.event_file)
    clock = clock or Clock(settings.clock_start, settings.clock_speed)
    engine = make_engine(settings.database_url)
    await migrate(engine)
    caches = enable_caches(engine) if cache_is_coherent(settings) else None
    sessions = make_sessionmaker(engine)
    from storage.quiz import ensure_secret

    # The quiz's plans depend on a server-side secret: kept before any update is handled.
    await ensure_secret(sessions, settings.quiz_secret.get_secret_value() if settings.quiz_secret else None)
    storage = storage or make_storage(settings, sessions)
    i18n = i18n or make_i18n()

    # One update at a time per person: the next one waits until the previous one has committed its state.
    # aiogram's FSM middleware is registered by hand, after the session is open, so it reads the state in the
    # update's own transaction; the per-person lock it would take is taken first, by PersonLockMiddleware.
    isolation = make_isolation(storage, settings.instance_name)
    if isinstance(isolation, RedisPersonLocks):
        await isolation.clear_own()  # a restart frees the people its previous life held (issue 17 item 7)
    dp = Dispatcher(storage=storage, events_isolation=DisabledEventIsolation(), disable_fsm=True)
    # aiogram closes the storage first thing at shutdown, while the cache sync's listener, the person locks
    # and the delivery engine still use its Redis client: a traceback at every stop (issue 17 item 11).
    # App.close closes it last instead.
    dp.shutdown.handlers[:] = [h for h in dp.shutdown.handlers if h.callback != dp.fsm.close]
    dp.update.outer_middleware(ArrivalStamp(clock))  # first: the quiz scores by arrival, not by handling
    # Before any work (the lock, the session): a flooding person's updates stop here (bot/flood.py).
    flood = FloodControl(burst=settings.flood_burst, rate=settings.flood_rate)
    dp.update.outer_middleware(flood)
    dp.update.outer_middleware(PersonLockMiddleware(dp.fsm, isolation))
    dp.update.outer_middleware(DbSessionMiddleware(sessions))
    if caches is not None and isinstance(storage, SQLStorage):
        dp.update.outer_middleware(PreloadMiddleware(dp.fsm, storage))
    dp.update.outer_middleware(dp.fsm)
    dp.update.outer_middleware(ProfileMiddleware(settings.admin_ids))
    dp.update.outer_middleware(LocaleMiddleware(i18n))
    dp.update.outer_middleware(FloodNotice())  # after the locale: the flood's one notice is translated
    # The one rights check, after each handler's filters: flags=ORGANISER_ONLY handlers are the organisers'.
    from handlers.ui import OrganiserOnly

    dp.message.middleware(OrganiserOnly())
    dp.callback_query.middleware(OrganiserOnly())
    # First, a private chat's messages go straight to the routers that can take them (bot/routing.py).
    switchboard, board = switchboard_router()
    group_router, *private_routers = build_routers()  # the group router takes no private chat's message
    dp.include_routers(switchboard, group_router, *private_routers)
    inline_sync_filters(dp)
    board.route(private_routers, gate_routers(dp))
    remember_answers(event)
    # What other features give the organiser tools (audiences, stats, exports): services/organiser.py.
    sources = organiser_sources()
    from aiogram.fsm.storage.redis import RedisStorage

    if isinstance(storage, RedisStorage):  # unfinished registrations and retention read the state there
        from storage.organiser import RedisConversations

        sources.conversations = RedisConversations(storage.redis)
    # The delivery engine (outbox sender and scheduler) runs while the dispatcher runs, with the message
    # kinds and planners of the features that send later.
    delivery = Delivery(settings=settings, event=event, clock=clock, engine=engine, sessions=sessions, i18n=i18n,
                        features=delivery_features(sources))
    # The web console's signing key (services.console): links the bot sends are checked with it.
    from services.console import secret_key

    secret = settings.console_secret.get_secret_value() if settings.console_secret else None
    app = App(settings, event, clock, engine, sessions, i18n, storage, dp, Inbox(sessions), delivery, sources, flood,
              secret_key(secret, settings.token), caches, isolation=isolation)
    if caches is not None and settings.redis_url:
        await start_cache_sync(app, caches)
    # Plain dependencies for handlers, by keyword (aiogram passes what a handler's signature asks for).
    dp.workflow_data.update(app=app, conf=event, clock=clock, settings=settings, sessions=sessions,
                            sources=sources)
    # The quiz: players at once in private chats, when a reply went out (its question's time starts then), and
    # a reply's turn at the limiter taken before it is made (the question says until when it may be answered).
    from delivery.limiter import ReplyTurn, SentClock
    from domain.quiz import capacity

    dp.workflow_data.update(sent_at=SentClock(clock), reply_turn=ReplyTurn(clock), quiz_capacity=(
        settings.quiz_capacity or capacity(settings.send_rate, event.quiz.seconds) if event.quiz else None))
    dp.startup.register(delivery.on_startup)
    dp.shutdown.register(delivery.on_shutdown)
    return app


def new_delivery(app: App) -> Delivery:
    """Another engine wired like the app's, with the same features (a restart, in tests and benchmarks)."""
    return Delivery(settings=app.settings, event=app.event, clock=app.clock, engine=app.engine,
                    sessions=app.sessions, i18n=app.i18n, features=delivery_features(app.sources))


def console_address(settings: Settings, port: int | None = None) -> str | None:
    """Where organisers open the console: PUBLIC_URL, else this machine's WEB_PORT; None when not served."""
    if settings.public_url:
        return settings.public_url
    port = port if port is not None else settings.web_port
    return f"http://127.0.0.1:{port}" if port else None


def make_console(app: App, bot: Bot | None = None) -> Any:
    """The web console's dependencies (console.Console) from the running bot's parts."""
    from console import Console
    from storage.uow import UnitOfWorkFactory

    bot_id = bot.id if bot is not None else int((app.settings.token or "0:").split(":")[0] or 0)

    def conversation(uow: Any, user_id: int) -> PersonConversation:
        return PersonConversation(app.storage, bot_id, user_id, getattr(uow, "session", None))

    return Console(admin_ids=app.settings.admin_ids, event=app.event, clock=app.clock,
                   uows=UnitOfWorkFactory(app.sessions), i18n=app.i18n, sources=app.sources,
                   key=app.console_key, public_url=app.settings.public_url, bot=bot, conversation=conversation,
                   wake=app.delivery.wake)


class PersonConversation:
    """A person's conversation state (services.ports.Conversation) changed from outside their chat (the
    console deleting a person): with the SQL storage its writes join the console request's transaction, as
    a handler's join the update's (storage.fsm.CURRENT_SESSION)."""

    def __init__(self, storage: BaseStorage, bot_id: int, user_id: int, session: AsyncSession | None) -> None:
        from aiogram.fsm.context import FSMContext
        from aiogram.fsm.storage.base import StorageKey

        self._ctx = FSMContext(storage=storage, key=StorageKey(bot_id=bot_id, chat_id=user_id, user_id=user_id))
        self._session = session

    async def _in_session(self, call: Any, *args: Any) -> Any:
        from storage.fsm import CURRENT_SESSION

        token = CURRENT_SESSION.set(self._session) if self._session is not None else None
        try:
            return await call(*args)
        finally:
            if token is not None:
                CURRENT_SESSION.reset(token)

    async def get_state(self) -> str | None:
        return await self._in_session(self._ctx.get_state)

    async def set_state(self, state: Any = None) -> None:
        await self._in_session(self._ctx.set_state, state)

    async def get_data(self) -> dict[str, Any]:
        return await self._in_session(self._ctx.get_data)

    async def set_data(self, data: Any) -> None:
        await self._in_session(self._ctx.set_data, data)

    async def update_data(self, data: Any = None, **kwargs: Any) -> dict[str, Any]:
        return await self._in_session(lambda: self._ctx.update_data(data, **kwargs))

    async def clear(self) -> None:
        await self._in_session(self._ctx.clear)


async def serve_console(app: App, bot: Bot | None = None) -> Any:
    """Serve the console on WEB_HOST:WEB_PORT in this process (an aiohttp AppRunner; the caller cleans it up).
    The address organisers open is kept in `app.console_url` (with WEB_PORT=0, the port chosen)."""
    from aiohttp import web

    from console import MAX_REQUEST, mount

    runner = web.AppRunner(mount(web.Application(client_max_size=MAX_REQUEST), make_console(app, bot)),
                           access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, app.settings.web_host, app.settings.web_port or 0)
    await site.start()
    port = runner.addresses[0][1] if runner.addresses else app.settings.web_port
    app.console_url = console_address(app.settings, port)
    log.warning("organisers' console: %s/console/ (send /console to the bot for a sign-in link)",
                app.console_url)
    return runner


def delivery_features(sources: Sources | None = None) -> list[Feature]:
    """The features that register message kinds (renderers) and planners with the delivery engine."""
    import functools

    from services import admin, broadcasts, excom, matchmaking, organiser, quiz, reminder_jobs

    return [reminder_jobs.register, excom.register, matchmaking.register, quiz.register,
            functools.partial(broadcasts.register, sources=sources),
            functools.partial(admin.register, sources=sources), functools.partial(organiser.register, sources=sources)]


def organiser_sources() -> Sources:
    """Audiences, /stats figures and /export files the quiz and matchmaking provide to the organiser tools."""
    from services import matchmaking, quiz
    from services.organiser import (
        MATCHMAKING_PARTICIPANTS,
        MEETINGS,
        MEETINGS_BOOKED,
        QUIZ_PARTICIPANTS,
        QUIZ_RESULTS,
        Sources,
    )

    sources = Sources()
    sources.add_audience("quiz", QUIZ_PARTICIPANTS, quiz.participant_ids)
    sources.add_counter("quiz", QUIZ_PARTICIPANTS, quiz.participant_count)
    sources.add_export("quiz", QUIZ_RESULTS, _named_csv("quiz_results.csv", quiz.results_csv))
    sources.add_audience("matchmaking", MATCHMAKING_PARTICIPANTS, matchmaking.participant_ids)
    sources.add_counter("meetings", MEETINGS_BOOKED, matchmaking.meetings_booked)
    sources.add_export("meetings", MEETINGS, _named_csv("meetings.csv", matchmaking.meetings_csv))
    return sources


def _named_csv(filename: str, fn: Any) -> Any:
    """An export maker from a feature's `(uow, event) -> bytes`."""
    async def make(uow: Any, event: Event) -> tuple[str, bytes]:
        return filename, await fn(uow, event)

    return make


async def start_cache_sync(app: App, caches: Caches) -> None:
    """With Redis, every process hears of the profile/state keys another one changed (storage.cache_sync)."""
    from aiogram.fsm.storage.redis import RedisStorage
    from redis.asyncio import Redis

    from storage.cache_sync import CacheSync

    if isinstance(app.storage, RedisStorage):
        sync = CacheSync(caches, app.storage.redis)  # the storage's client, closed with the storage
    else:
        sync = CacheSync(caches, Redis.from_url(app.settings.redis_url or ""), owns_client=True)
    await sync.start()
    app.cache_sync = sync


def settle_heap() -> None:
    """Once a bot process has started (event file, catalogs, routers, aiogram's and pydantic's models, the
    engine), move what it allocated out of the garbage collector's sight: those objects live as long as the
    process, yet every full collection walked them all again (about 300,000; in the HTTP bench one such pass
    cost 0.1-0.2 s, a fifth of a millisecond per update of known people; docs/performance.md, issue 18).
    Garbage first, so none of it is kept. Entry points only (python -m bot, the webhook worker's process):
    in a test process it would keep each test's cyclic garbage."""
    import gc

    gc.collect()
    gc.freeze()


_RESPONSE_MODELS: list[type] = []


def keep_response_models() -> None:
    """Hold aiogram's `Response[...]` model of every Bot API method for the life of the process.

    aiogram parses every answer with `Response[method.__returning__]`; pydantic caches such generic classes
    only weakly, so after a garbage collection the next call builds the class again (schema generation, tens
    of milliseconds each under load): that was most of the CPU of a burst (docs/performance.md)."""
    if _RESPONSE_MODELS:
        return
    import inspect

    import aiogram.methods
    from aiogram.methods import Response, TelegramMethod

    for cls in vars(aiogram.methods).values():
        if inspect.isclass(cls) and issubclass(cls, TelegramMethod) and cls is not TelegramMethod:
            _RESPONSE_MODELS.append(Response[cls.__returning__])  # type: ignore[name-defined]  # a run-time type argument


def make_bot(settings: Settings, session: BaseSession | None = None, *, limiter: Limiter | None = None,
             strict: bool = False) -> Bot:
    """A Bot whose every sending call passes the one rate limiter (`limiter`, or one made from SEND_RATE and
    REDIS_URL). A `session` given by the caller (the in-process API of tests and the offline chat) has no rate
    limit: it is not paced unless a limiter is given. `strict` (tests) fails a reply sent before its update's
    work was committed."""
    keep_response_models()
    if session is None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
        if limiter is None:
            limiter = Limiter.from_settings(settings)
    session.middleware(DurableBeforeSend(strict=strict))
    session.middleware(StaleCallbackAnswer())
    session.middleware(KoreanParticles())
    if limiter is not None:
        session.middleware(LimiterMiddleware(limiter))
    return Bot(token=settings.token or "0:offline", session=session,
               default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True))


async def set_commands(bot: Bot, i18n: I18n, admin_ids: frozenset[int] = frozenset()) -> None:
    """Register the command menu in every language (the default one in English); organisers' own chats get
    the organiser commands too (a per-chat scope, so nobody else sees them)."""
    for lang in (None, *LANGS):
        locale = lang or "en"
        commands = [BotCommand(command=c, description=i18n.gettext(d, locale=locale)) for c, d in COMMANDS]
        await bot.set_my_commands(commands, scope=BotCommandScopeDefault(), language_code=lang)
        extra = [BotCommand(command=c, description=i18n.gettext(d, locale=locale)) for c, d in ORGANISER_COMMANDS]
        for admin in sorted(admin_ids):
            await bot.set_my_commands(commands + extra, scope=BotCommandScopeChat(chat_id=admin), language_code=lang)
