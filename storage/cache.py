"""In-process caches of committed rows the update path reads on every update: profiles and conversation state.

A registered delegate's `/now` or free question needs their profile and their conversation state; both change
only when the person (or an organiser, or the sender marking a block) writes them. So the committed values are
kept here, per engine, and every write path drops or replaces them:

- Writes are noticed on the session, whatever wrote them (the repositories, the FSM storage, a test's
  `session.add`, a Core `delete(...)`): `after_flush` sees ORM rows, `do_orm_execute` sees statements. They are
  collected in `session.info` and applied when the transaction ends: on commit the keys are dropped (the FSM
  storage puts the committed value instead), on rollback they are dropped too (what the database holds is
  unknown to us then). A statement whose keys cannot be told (a bulk update of delegates) drops the whole
  cache at commit.
- A read that started before an invalidation does not store what it read (`generation` check), so a slow
  reader never puts back a value a writer has just replaced.
- Inside a transaction that wrote a key, reads of that key bypass the cache (it holds committed values only).
- Across processes (REDIS_URL), the keys dropped at commit are published on a Redis channel; every process
  drops them on receipt, and drops everything when its subscription (re)connects, since messages may have
  been missed meanwhile (`storage.cache_sync`). Entries also expire after `ttl` seconds as a backstop.

Without REDIS_URL the cache is on only for SQLite (one process by design); on PostgreSQL without Redis other
processes could write unseen, so it stays off there.
"""

from __future__ import annotations

import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

K = TypeVar("K")
V = TypeVar("V")
MISSING: Any = object()

PROFILES = "profile"  # a delegate or guest row: their profile and their reminder settings
STATES = "state"
FOLLOWS = "follows"  # the items a person follows


class LRU(Generic[K, V]):
    """A bounded map with a time to live; the least recently used entry goes first."""

    def __init__(self, size: int, ttl: float) -> None:
        self.size, self.ttl = size, ttl
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V:
        item = self._items.get(key)
        if item is None:
            return MISSING
        expires, value = item
        if expires < time.monotonic():
            del self._items[key]
            return MISSING
        self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = (time.monotonic() + self.ttl, value)
        self._items.move_to_end(key)
        if len(self._items) > self.size:
            self._items.popitem(last=False)

    def pop(self, key: K) -> None:
        self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class Caches:
    """The caches of one database (engine), and the counters that keep readers honest."""

    size: int = 50_000
    ttl: float = 600.0
    profiles: LRU[int, Any] = field(init=False)
    settings: LRU[int, Any] = field(init=False)
    states: LRU[str, Any] = field(init=False)
    follows: LRU[int, Any] = field(init=False)
    guests: LRU[int, Any] = field(init=False)
    # Bumped at every invalidation: a read that saw another generation at its start does not store.
    generation: int = 0
    hits: int = 0
    misses: int = 0
    # Called with (kind, keys) after a commit dropped keys; set by the Redis sync (other processes).
    publish: Callable[[str, list[Any]], None] | None = None

    def __post_init__(self) -> None:
        self.profiles = LRU(self.size, self.ttl)
        self.settings = LRU(self.size, self.ttl)
        self.states = LRU(self.size, self.ttl)
        self.follows = LRU(self.size, self.ttl)
        self.guests = LRU(self.size, self.ttl)

    def tables(self, kind: str) -> tuple[LRU[Any, Any], ...]:
        if kind == PROFILES:
            return (self.profiles, self.settings, self.guests)
        return (self.follows,) if kind == FOLLOWS else (self.states,)

    def drop(self, kind: str, keys: Iterable[Any]) -> None:
        """Forget these keys (called for local commits and for messages from other processes)."""
        tables = self.tables(kind)
        for key in keys:
            for table in tables:
                table.pop(key)
        self.generation += 1

    def clear(self, kind: str) -> None:
        for table in self.tables(kind):
            table.clear()
        self.generation += 1

    def drop_all(self) -> None:
        for kind in (PROFILES, STATES, FOLLOWS):
            self.clear(kind)


_BY_ENGINE: weakref.WeakKeyDictionary[Engine, Caches] = weakref.WeakKeyDictionary()


def enable(engine: AsyncEngine, caches: Caches | None = None) -> Caches:
    """Turn caching on for every session bound to `engine`."""
    caches = caches or Caches()
    _BY_ENGINE[engine.sync_engine] = caches
    return caches


def caches_of(session: AsyncSession | Session) -> Caches | None:
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    bind = sync.bind
    return _BY_ENGINE.get(bind) if isinstance(bind, Engine) else None


def _pending(session: Session) -> dict[str, set[Any]]:
    """Keys written in the session's transaction, by kind (applied at commit or rollback)."""
    return session.info.setdefault("cache_pending", {})


def touch(session: AsyncSession | Session, kind: str, key: Any) -> None:
    """Record that this transaction writes `key` (repositories call it for writes the events cannot see)."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    _pending(sync).setdefault(kind, set()).add(key)


def touched(session: AsyncSession | Session, kind: str, key: Any) -> bool:
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    return key in sync.info.get("cache_pending", {}).get(kind, ())


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _ctx: Any) -> None:
    from storage.models import Delegate, Follow, Guest

    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Delegate | Guest):
            touch(session, PROFILES, obj.user_id)
        elif isinstance(obj, Follow):
            touch(session, FOLLOWS, obj.user_id)


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    """A write statement on a cached table whose keys the caller did not declare drops that whole cache."""
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    name = getattr(table, "name", None)
    kind = {"delegates": PROFILES, "guests": PROFILES, "fsm_state": STATES, "follows": FOLLOWS}.get(name or "")
    if kind is None or state.execution_options.get("cache_keys_declared"):
        return
    touch(state.session, kind, MISSING)  # MISSING: every key


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    pending = session.info.pop("cache_pending", None)
    written = session.info.pop("fsm_written", None)
    caches = caches_of(session)
    if caches is None or not (pending or written):
        return
    for kind, keys in (pending or {}).items():
        if MISSING in keys:
            caches.clear(kind)
            if caches.publish is not None:
                caches.publish(kind, ["*"])
            continue
        caches.drop(kind, keys)
        if caches.publish is not None:
            caches.publish(kind, list(keys))
    # The FSM storage knows the committed value of what it wrote: the next read needs no query.
    for key, value in (written or {}).items():
        caches.states.put(key, value)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    pending = session.info.pop("cache_pending", None)
    session.info.pop("fsm_written", None)
    caches = caches_of(session)
    if caches is None or not pending:
        return
    for kind, keys in pending.items():
        if MISSING in keys:
            caches.clear(kind)
        else:
            caches.drop(kind, keys)


async def read_through(session: AsyncSession | Session, kind: str, table: Callable[[Caches], LRU[Any, V]],
                       key: Any, load: Callable[[], Awaitable[V]]) -> V:
    """A read served from the process cache unless this transaction changed `kind` (for `key`, or for keys
    it could not tell); what is loaded is kept only if no invalidation happened while it was read."""
    caches = caches_of(session)
    use = caches is not None and not touched(session, kind, key) and not touched(session, kind, MISSING)
    generation = 0
    if use and caches is not None:
        cached = table(caches).get(key)
        if cached is not MISSING:
            caches.hits += 1
            return cached
        caches.misses += 1
        generation = caches.generation
    value = await load()
    if use and caches is not None and caches.generation == generation:
        table(caches).put(key, value)
    return value
