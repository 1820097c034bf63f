"""Per-person locks in Redis that name their holder, live briefly and are renewed while the holder lives.

aiogram's RedisEventIsolation holds a lock for 60 s whoever took it: a process killed mid-update kept that
person waiting up to a minute after its restart (issue 17 item 7: their next message waited 28 s). Here:

- a lock's value is its holder: `<instance>#<token>`, the instance a name that stays the same across
  restarts of one process (INSTANCE_NAME, by default the host name; give each worker of a webhook
  deployment its own), the token new at every start;
- each instance keeps the set of lock keys it holds; at start (`clear_own`) a process deletes the locks its
  previous life left behind, so a restart frees its people at once;
- the lease is short (`LEASE` seconds) and renewed every third of it while the holder runs: a lock of a
  process that died without restarting frees itself within the lease;
- one person's updates are handled in update_id order across processes: a waiter that knows its update's
  id (`lock(key, order=update_id)`) joins the person's line (a sorted set) and takes the lock only when no
  earlier update of that person is still waiting in any process. A waiter marks itself alive at every poll;
  the mark of a process that died while waiting expires within `ALIVE` and its place is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

from aiogram.fsm.storage.base import BaseEventIsolation, StorageKey
from aiogram.fsm.storage.redis import DefaultKeyBuilder, KeyBuilder

log = logging.getLogger(__name__)

LEASE = 10.0
# Between two tries while another process holds the person (rare: this process queues its own updates).
POLL = 0.02
# A waiter's place in a person's line outlives its last poll this long (a process that died while waiting).
ALIVE = 2.0

_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('SADD', KEYS[2], KEYS[1])
  return 1
end
return 0
"""
# KEYS: the lock, this instance's held set, the person's line. ARGV: holder, lease ms, waiter id, order,
# alive ms. The waiter joins (or stays in) the line; places ahead of it whose alive mark expired are
# dropped; it takes the lock only when it is first in the line.
_ACQUIRE_IN_ORDER = """
local line = KEYS[3]
redis.call('ZADD', line, ARGV[4], ARGV[3])
redis.call('SET', line .. ':' .. ARGV[3], '1', 'PX', ARGV[5])
redis.call('PEXPIRE', line, tonumber(ARGV[2]) + tonumber(ARGV[5]))
while true do
  local first = redis.call('ZRANGE', line, 0, 0)[1]
  if first == nil or first == ARGV[3] then break end
  if redis.call('EXISTS', line .. ':' .. first) == 1 then return 0 end
  redis.call('ZREM', line, first)
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('SADD', KEYS[2], KEYS[1])
  redis.call('ZREM', line, ARGV[3])
  redis.call('DEL', line .. ':' .. ARGV[3])
  return 1
end
return 0
"""
_LEAVE_LINE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[1] .. ':' .. ARGV[1])
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
redis.call('SREM', KEYS[2], KEYS[1])
return 0
"""
_RENEW = """
local n = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    n = n + 1
  end
end
return n
"""
# The locks an earlier life of this instance left: held by `<instance>#<another token>`.
_CLEAR_OWN = """
local n = 0
local prefix = ARGV[1]
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local holder = redis.call('GET', key)
  if holder and string.sub(holder, 1, string.len(prefix)) == prefix and holder ~= ARGV[2] then
    redis.call('DEL', key)
    n = n + 1
  end
  if not holder or holder ~= ARGV[2] then
    redis.call('SREM', KEYS[1], key)
  end
end
return n
"""


def instance_name(configured: str | None = None) -> str:
    return (configured or socket.gethostname() or "bot").replace("#", "_")


class RedisPersonLocks(BaseEventIsolation):
    """An aiogram event isolation: `async with locks.lock(key): ...`, shared by every process through Redis."""

    def __init__(self, redis: Any, *, instance: str | None = None, lease: float = LEASE,
                 key_builder: KeyBuilder | None = None, prefix: str = "fsm") -> None:
        self.redis = redis
        self.instance = instance_name(instance)
        self.holder = f"{self.instance}#{secrets.token_hex(8)}"
        self.lease = lease
        self.key_builder = key_builder or DefaultKeyBuilder(prefix=prefix)
        self.held_set = f"{prefix}:lock-holders:{self.instance}"
        self._acquire = redis.register_script(_ACQUIRE)
        self._acquire_in_order = redis.register_script(_ACQUIRE_IN_ORDER)
        self._leave_line = redis.register_script(_LEAVE_LINE)
        self._waiters = 0
        self._release = redis.register_script(_RELEASE)
        self._renew = redis.register_script(_RENEW)
        self._clear = redis.register_script(_CLEAR_OWN)
        self._held: dict[str, int] = {}
        self._renewer: asyncio.Task[None] | None = None
        self._closed = False

    async def clear_own(self) -> int:
        """At start: delete the locks an earlier life of this instance left behind; returns how many."""
        cleared = int(await self._clear(keys=[self.held_set], args=[f"{self.instance}#", self.holder]))
        if cleared:
            log.info("cleared %d person locks left by this instance's previous run", cleared)
        return cleared

    @asynccontextmanager
    async def lock(self, key: StorageKey, order: int | None = None) -> AsyncGenerator[None, None]:
        """The person's lock; with `order` (the update's id) taken after every earlier update of theirs that
        is waiting for it in any process."""
        name = self.key_builder.build(key, "lock")
        ms = int(self.lease * 1000)
        if order is None:
            # Another process holds the person (rare: this process queues its own updates): Redis wakes no one.
            while not await self._acquire(keys=[name, self.held_set], args=[self.holder, ms]):
                _stop_if_cancelled()
                await asyncio.sleep(POLL)
        else:
            await self._wait_in_line(name, ms, order)
        self._held[name] = self._held.get(name, 0) + 1
        self._start_renewing()
        try:
            yield None
        finally:
            if self._held[name] == 1:
                del self._held[name]
            else:
                self._held[name] -= 1
            await self._release(keys=[name, self.held_set], args=[self.holder])

    async def _wait_in_line(self, name: str, ms: int, order: int) -> None:
        self._waiters += 1
        waiter, line = f"{self.holder}:{self._waiters}", f"{name}:line"
        try:
            while not await self._acquire_in_order(keys=[name, self.held_set, line],
                                                   args=[self.holder, ms, waiter, order, int(ALIVE * 1000)]):
                _stop_if_cancelled()
                await asyncio.sleep(POLL)
        except BaseException:
            # Cancelled or Redis away: leave the line now rather than hold the people behind for ALIVE.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._leave_line(keys=[line], args=[waiter]))
            raise

    def _start_renewing(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew_while_held(), name="person-lock-renewal")

    async def _renew_while_held(self) -> None:
        while self._held and not self._closed:
            await asyncio.sleep(self.lease / 3)
            if not self._held or self._closed:
                return
            try:
                await self._renew(keys=list(self._held), args=[self.holder, int(self.lease * 1000)])
            except Exception:  # Redis away for a moment: the next round tries again
                log.warning("could not renew %d person locks", len(self._held), exc_info=True)

    async def close(self) -> None:
        self._closed = True  # no renewal after this, even if a cancellation is lost inside the Redis client
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
            self._renewer = None


def _stop_if_cancelled() -> None:
    """A cancellation the Redis client turned into an error or swallowed (a wait_for's timeout) must still end
    the wait: otherwise `lock` polls for a person forever, and the wait_for around it never returns."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
