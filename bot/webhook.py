"""Webhook mode: one worker (`python -m bot webhook`, or each of gunicorn's workers under `make serve`).

Telegram posts each update to WEBHOOK_URL's path with the secret token in X-Telegram-Bot-Api-Secret-Token.
A request without it, or with another one, gets 401 (logged without the token). The update is stored in the
inbox before 200 is answered and handled after (bot.intake): Telegram's request waits only for the store and
for a free handling slot, never for the handler. An update_id already stored is answered 200 and not handled
again. While the worker stops (SIGTERM) it answers 503, so Telegram delivers the update again, to another
worker; what is in hand is finished, handled marks are written, the scheduler's leader lock is released.

Several workers share nothing but PostgreSQL and Redis: any worker takes any update; a person's updates are
handled one at a time (the Redis lock); the scheduler runs in the one process holding the advisory lock, and
that process (the leader) alone calls setWebhook; every worker sends, under the one rate limit in Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from datetime import timedelta
from typing import Any

from aiogram import Bot
from aiogram.types import Update
from aiohttp import web
from pydantic import ValidationError

from bot.app import UPDATE_CONCURRENCY, App, build_app, make_bot, set_commands
from bot.config import Settings
from bot.intake import LEASE, Intake
from bot.web import READY_CHECKS, STOPPING, database_check, redis_check
from delivery.limiter import limiter_of

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WORKER: web.AppKey[WebhookWorker] = web.AppKey("webhook_worker")


def configure_logging(settings: Settings) -> None:
    from infra import logsafe

    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(process)d %(levelname)s %(name)s: "
                        "%(message)s")
    # Neither the token nor the webhook's secret ever reaches the log, nor do names and e-mails.
    logsafe.install([settings.token, settings.secret])


class WebhookWorker:
    """The bot's machinery in one web process: started with the aiohttp application, stopped with it."""

    def __init__(self, settings: Settings, *, app: App | None = None, bot: Bot | None = None,
                 lease: timedelta = LEASE, limit: int = UPDATE_CONCURRENCY) -> None:
        self.settings = settings
        self.app = app
        self.bot = bot
        self.lease = lease
        self.limit = limit
        self.intake: Intake | None = None
        self.stopping: asyncio.Event | None = None
        self.received = 0
        self.duplicates = 0

    def mount(self, web_app: web.Application) -> None:
        web_app[WORKER] = self
        web_app.router.add_post(self.settings.webhook_path, self.handle)
        web_app.on_startup.append(self.start)
        web_app.on_cleanup.append(self.stop)
        self.stopping = web_app[STOPPING]

    async def start(self, web_app: web.Application) -> None:
        if self.app is None:
            self.app = await build_app(self.settings)
        app = self.app
        if self.bot is None:
            self.bot = make_bot(self.settings)
        bot = self.bot
        from bot.reach import Stopping, until_reachable

        never = asyncio.Event()
        with contextlib.suppress(Stopping):
            me = await until_reachable(bot.get_me, "getMe", self.settings.telegram_api_url, never)
            log.info("webhook worker for @%s on %s", me.username, self.settings.webhook_path)
        shared = app.engine.dialect.name != "sqlite"
        self.intake = Intake(app.dp, bot, app.inbox, limit=self.limit, shared=shared, lease=self.lease)
        await app.dp.emit_startup(bot=bot, dispatcher=app.dp, bots=[bot], **app.dp.workflow_data)
        await self.intake.start()
        if app.delivery.is_leader:  # one process only tells Telegram
            await self.tell_telegram()
        checks = web_app[READY_CHECKS]
        checks["database"] = database_check(app.engine)
        if self.settings.redis_url:
            checks["redis"] = redis_check(self.settings.redis_url)

    async def tell_telegram(self) -> None:
        """setWebhook (address, secret, update types, connections) and the command menu."""
        assert self.app is not None and self.bot is not None
        from bot.reach import until_reachable

        # Locals, so the lambdas see the narrowed types.
        app, bot, never, url = self.app, self.bot, asyncio.Event(), self.settings.telegram_api_url
        await until_reachable(lambda: bot.set_webhook(
            url=self.settings.webhook_url or "", secret_token=self.settings.secret,
            allowed_updates=app.dp.resolve_used_update_types(),
            max_connections=self.settings.webhook_max_connections, drop_pending_updates=False),
            "setWebhook", url, never)
        await until_reachable(lambda: set_commands(bot, app.i18n, self.settings.admin_ids),
                              "setMyCommands", url, never)
        log.info("webhook set: Telegram posts updates to WEBHOOK_URL (path %s)", self.settings.webhook_path)

    async def stop(self, web_app: web.Application) -> None:
        """After the server stopped taking requests and answered those in flight: finish what is in hand,
        write the marks, stop the delivery engine (its claimed rows, the leader lock), close."""
        if self.app is None:
            return
        try:
            if self.intake is not None:
                await self.intake.stop(timeout=20)
            if self.bot is not None:
                await self.app.dp.emit_shutdown(bot=self.bot, dispatcher=self.app.dp, bots=[self.bot],
                                                **self.app.dp.workflow_data)
        finally:
            if self.bot is not None:
                if (limiter := limiter_of(self.bot)) is not None:
                    await limiter.close()
                await self.bot.session.close()
            await self.app.close()

    async def handle(self, request: web.Request) -> web.Response:
        """One update from Telegram: check the secret, store, answer; handling starts once stored."""
        received = time.monotonic()  # the quiz scores by arrival (bot.middlewares.ArrivalStamp)
        if (self.stopping is not None and self.stopping.is_set()) or self.intake is None:
            return web.Response(status=503, text="stopping")
        token = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(token.encode(), (self.settings.secret or "").encode()):
            log.warning("webhook request from %s refused: %s secret token", request.remote,
                        "wrong" if token else "no")
            return web.Response(status=401, text="unauthorized")
        try:
            payload: dict[str, Any] = await request.json()
            update = Update.model_validate(payload, context={"bot": self.bot})
        except (ValueError, ValidationError, TypeError) as exc:
            log.warning("webhook request refused: not an update (%s)", type(exc).__name__)
            return web.Response(status=400, text="not an update")
        try:
            new = await self.intake.store([(update.update_id, payload)])
        except Exception as exc:  # the database is away: Telegram keeps the update and tries again
            log.error("could not store update %s - %s: %s", update.update_id, type(exc).__name__, exc)
            return web.Response(status=503, text="try again")
        self.received += 1
        if update.update_id in new:
            await self.intake.submit(update, new[update.update_id], received)
        else:
            self.duplicates += 1
        return web.Response(status=200)


def webhook_part(settings: Settings, **options: Any) -> Any:
    """The webhook worker as a part of the web application (bot.web.build_web_app)."""
    worker = WebhookWorker(settings, **options)
    return worker.mount
