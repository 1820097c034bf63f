"""Outer middlewares: one database session (and one commit) per update, the reader's profile."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.fsm.storage.base import BaseEventIsolation
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.methods import AnswerCallbackQuery, Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import TelegramObject, Update, User
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.person_lock import RedisPersonLocks
from domain.clock import Clock
from storage.db import untouched
from storage.fsm import CURRENT_SESSION, SQLStorage
from storage.inbox import attach
from storage.repo import Delegates, Guests
from storage.uow import SqlUnitOfWork

log = logging.getLogger(__name__)


class ArrivalStamp(BaseMiddleware):
    """`arrived_at`: when the update reached the bot, on the bot's clock: the quiz scores answers by it, so a
    press that waited behind others (the concurrency cap, the person's lock, a busy database) loses nothing.

    Registered first. Under polling the poller passes `received_mono` (time.monotonic() when getUpdates
    returned the batch) and the stamp is moved back by the time since; fed directly (tests, the offline
    chat) it is the clock's now. Telegram's own `date` has whole seconds only and callback queries carry
    none, so it is not used."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        now = self.clock.now()
        received = data.get("received_mono")
        if isinstance(received, float):
            now -= timedelta(seconds=max(0.0, time.monotonic() - received) * self.clock.speed)
        data["arrived_at"] = now
        return await handler(event, data)


class PersonLockMiddleware(BaseMiddleware):
    """One update at a time per person, in arrival order, held until that update's session has committed.

    It runs before the database session and aiogram's FSM middleware (which runs without a lock of its own),
    so the conversation state is read inside the update's session and the next update of the same person
    sees everything the previous one committed.

    Order: updates are started in arrival order and queue on an in-process asyncio.Lock per person, which
    wakes waiters first come, first served. The shared lock (`isolation`, in Redis with REDIS_URL) is taken
    inside it, by one update of the person at a time: a Redis lock is polled by its waiters, so a burst
    queued on it directly would go in whatever order the waiters happened to poll (issue 8 item 7).
    """

    def __init__(self, fsm: FSMContextMiddleware, isolation: BaseEventIsolation) -> None:
        self.fsm = fsm
        self.isolation = isolation
        self.local = isinstance(isolation, SimpleEventIsolation)
        # key -> (lock, updates holding or waiting for it); dropped when the last one leaves.
        self._queues: dict[str, tuple[asyncio.Lock, int]] = {}

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        context = self.fsm.resolve_event_context(data["bot"], data)
        if context is None:
            return await handler(event, data)
        if self.local:  # already first come, first served, and in this process only
            async with self.isolation.lock(key=context.key):
                return await handler(event, data)
        name = str(context.key)
        lock, users = self._queues.get(name) or (asyncio.Lock(), 0)
        self._queues[name] = (lock, users + 1)
        shared = (self.isolation.lock(key=context.key, order=event.update_id)
                  if isinstance(self.isolation, RedisPersonLocks) and isinstance(event, Update)
                  else self.isolation.lock(key=context.key))
        try:
            async with lock, shared:
                return await handler(event, data)
        finally:
            lock, users = self._queues[name]
            if users == 1:
                del self._queues[name]
            else:
                self._queues[name] = (lock, users - 1)


class DbSessionMiddleware(BaseMiddleware):
    """Open a session and its unit of work (`uow`) for the update.

    Use cases commit the unit of work when they have decided; what is left at the end (conversation state
    written by a handler that called no use case) is committed when the handler returns, rolled back when
    it raises."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        # No connection is taken until a statement needs one: an update answered from the caches uses none,
        # and its session is neither committed nor closed (nothing to do: storage.db.untouched).
        session = self.sessions()
        data["db"] = session
        data["uow"] = SqlUnitOfWork(session)
        ticket = data.get("inbox_ticket")
        if ticket is not None:  # received through the inbox: its first commit marks it handled
            attach(session, ticket)
        token = CURRENT_SESSION.set(session)
        try:
            try:
                result = await handler(event, data)
            except BaseException:
                await session.rollback()
                raise
            finally:
                CURRENT_SESSION.reset(token)
            if not untouched(session):
                await session.commit()
            return result
        finally:
            if not untouched(session):
                await session.close()


class PreloadMiddleware(BaseMiddleware):
    """The first update of a person since the start reads their profile and state in one statement
    (SQLStorage.preload); later ones find both in the cache. Runs after DbSessionMiddleware."""

    def __init__(self, fsm: FSMContextMiddleware, storage: SQLStorage) -> None:
        self.fsm = fsm
        self.storage = storage

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        context = self.fsm.resolve_event_context(data["bot"], data)
        if user is not None and context is not None:
            await self.storage.preload(data["db"], context.key, user.id)
        return await handler(event, data)


class StaleCallbackAnswer(BaseRequestMiddleware):
    """An answerCallbackQuery that Telegram refuses because the query is too old does not abort the handler.

    Answering only stops the button's spinner; Telegram refuses it some seconds after the press. A press that
    waited that long (handled again after a restart from the inbox, or behind a slow database) should still do
    what it asked for."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        try:
            return await make_request(bot, method)
        except TelegramBadRequest as exc:
            if isinstance(method, AnswerCallbackQuery) and "query is too old" in exc.message:
                log.info("callback query %s answered too late: %s", method.callback_query_id, exc.message)
                return Response[bool](ok=True, result=True)  # type: ignore[return-value]  # this method returns bool
            raise


class ProfileMiddleware(BaseMiddleware):
    """Load the reader's profile (None when not registered), their guest record when they could not register,
    and whether they are an organiser."""

    def __init__(self, admin_ids: frozenset[int]) -> None:
        self.admin_ids = admin_ids

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        repo = Delegates(data["db"])
        profile = await repo.get(user.id) if user else None
        if profile is not None and profile.blocked:
            # A blocked bot receives nothing from the person: an update means they unblocked it.
            await repo.mark_unblocked(profile.user_id)
            await data["db"].commit()  # its own decision, before the handler says anything
            profile.blocked = False
        data["profile"] = profile
        # Someone who could not register but keeps a language and a zone (services/guests.py), else None.
        guest = await Guests(data["db"]).get(user.id) if profile is None and user else None
        if guest is not None and guest.blocked:
            await Guests(data["db"]).mark_unblocked(guest.user_id)
            await data["db"].commit()
            guest.blocked = False
        data["guest"] = guest
        data["is_admin"] = bool(user and user.id in self.admin_ids)
        return await handler(event, data)
