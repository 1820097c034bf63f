"""Keep the caches of several processes coherent through Redis pub/sub (REDIS_URL).

Why pub/sub and not a version key read on every update: the point of the cache is an update that reads
nothing, and a version key would put a Redis round trip back on every read. Writes are rare (registration
steps, settings, a block noticed by the sender) and every process drops the keys as soon as the message
arrives (well under a millisecond on one host). Updates of one person are handled by one process at a time
(the per-person lock), and that process dropped its own entry synchronously at commit, so a person always
reads their own writes; what another process can see late, for the length of one pub/sub hop, is a write made
elsewhere (an organiser's command, the sender marking a block). A lost message cannot leave an entry stale for
long: the subscriber drops everything whenever it (re)connects, and entries expire after the cache's TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from typing import Any

from redis.asyncio import Redis

from storage.cache import PROFILES, Caches

log = logging.getLogger(__name__)
CHANNEL = "delegate-bot:cache"


class CacheSync:
    """Publishes the keys a local commit dropped; drops the keys other processes publish."""

    def __init__(self, caches: Caches, redis: Redis, channel: str = CHANNEL, *, owns_client: bool = False) -> None:
        self.caches = caches
        self.redis = redis
        self.owns_client = owns_client
        self.channel = channel
        self.origin = f"{os.getpid()}:{id(self)}"
        self._tasks: set[asyncio.Task[Any]] = set()
        self._listener: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    async def start(self) -> None:
        self.caches.publish = self._publish
        self._listener = asyncio.create_task(self._listen(), name="cache-sync")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ready.wait(), 5)

    async def close(self) -> None:
        self.caches.publish = None
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.owns_client:
            await self.redis.aclose()

    def _publish(self, kind: str, keys: list[Any]) -> None:
        message = json.dumps({"origin": self.origin, "kind": kind, "keys": keys})
        task = asyncio.get_running_loop().create_task(self._send(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, message: str) -> None:
        try:
            await self.redis.publish(self.channel, message)
        except Exception:  # the other processes' entries expire; say so once per failure
            log.warning("cache invalidation not published (other processes may read a stale profile "
                        "until it expires)", exc_info=True)

    def apply(self, raw: bytes | str) -> None:
        msg = json.loads(raw)
        if msg.get("origin") == self.origin:
            return  # dropped locally at commit already
        kind, keys = msg.get("kind", PROFILES), msg.get("keys", [])
        if "*" in keys:
            self.caches.clear(kind)
        else:
            self.caches.drop(kind, keys)

    async def _listen(self) -> None:
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    # Messages may have been missed while not subscribed: start from an empty cache.
                    self.caches.drop_all()
                    self.ready.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self.apply(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("cache invalidation channel lost; reconnecting in 1 s", exc_info=True)
                self.caches.drop_all()
                await asyncio.sleep(1)
