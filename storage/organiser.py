"""Repositories of the organiser tools: broadcasts, the audit log, and the read-only queries organisers run
over the people (audiences, the registrations list, stats, exports). They flush only; the use case commits."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.messages import SENT
from domain.organiser import Audience, AuditItem, BroadcastInfo, Reader, Unreached, UploadInfo, UrlButton
from domain.registration import Profile, is_member
from storage.db import rowcount
from storage.models import AuditEntry, Broadcast, Delegate, Follow, FsmRecord, OutboxMessage, Upload
from storage.repo import profile_of

# Conversation states of an unfinished registration (handlers.registration.Reg), and the data it keeps.
_REGISTRATION_STATE = "Reg:"
_NOT_REGISTERING = ("Reg:choose_field", "Reg:forget")


def _info(row: Broadcast) -> BroadcastInfo:
    return BroadcastInfo(row.id, row.author, row.author_language, row.created_at, dict(row.texts or {}), row.media,
                         Audience.from_dict(row.audience), row.recipients, row.status, row.progress_chat,
                         row.progress_message, row.finished_at, row.sent, row.failed, row.blocked, row.cancelled,
                         tuple(UrlButton(str(b[0]), str(b[1])) for b in row.buttons or ()), row.send_at)


class Uploads:
    """Files attached to broadcasts in the console (their bytes, then Telegram's file_id)."""

    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def add(self, *, kind: str, filename: str, content_type: str, data: bytes, by: int, now: datetime
                  ) -> UploadInfo:
        """Store a file; the same bytes again (same kind) are the stored row, with the file_id it may have."""
        digest = hashlib.sha256(data).hexdigest()
        found = await self.s.scalar(select(Upload).where(Upload.sha256 == digest, Upload.kind == kind))
        if found is None:
            found = Upload(kind=kind, filename=filename, content_type=content_type, size=len(data), sha256=digest,
                           data=data, created_by=by, created_at=now)
            self.s.add(found)
            await self.s.flush()
        return UploadInfo(found.id, found.kind, found.filename, found.content_type, found.size, found.file_id)

    async def get(self, upload_id: int, *, with_data: bool = False) -> UploadInfo | None:
        if not 0 < upload_id < 2**31:
            return None
        if with_data:
            found = await self.s.get(Upload, upload_id)
            return None if found is None else UploadInfo(found.id, found.kind, found.filename, found.content_type,
                                                          found.size, found.file_id, found.data)
        row = (await self.s.execute(select(Upload.id, Upload.kind, Upload.filename, Upload.content_type,
                                           Upload.size, Upload.file_id).where(Upload.id == upload_id))).first()
        return None if row is None else UploadInfo(row.id, row.kind, row.filename, row.content_type, row.size,
                                                   row.file_id)

    async def set_file_id(self, upload_id: int, file_id: str) -> None:
        """Telegram's id of the file, learned from the first copy sent (kept if one is known already)."""
        await self.s.execute(update(Upload).where(Upload.id == upload_id, Upload.file_id.is_(None))
                             .values(file_id=file_id))

    async def delete_all(self) -> int:
        """Every stored file (the retention deletion: a photo may show people). Returns how many."""
        return rowcount(await self.s.execute(delete(Upload)))


class Broadcasts:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def create(self, *, author: int, author_language: str, now: datetime, texts: dict[str, str],
                     media: dict[str, Any] | None, audience: Audience, recipients: int,
                     buttons: tuple[UrlButton, ...] = (), send_at: datetime | None = None) -> int:
        row = Broadcast(author=author, author_language=author_language, created_at=now, texts=texts, media=media,
                        audience=audience.as_dict(), recipients=recipients, status="sending", sent=0, failed=0,
                        blocked=0, cancelled=0, buttons=[[b.label, b.url] for b in buttons] or None,
                        send_at=send_at)
        self.s.add(row)
        await self.s.flush()
        return row.id

    async def get(self, broadcast_id: int) -> BroadcastInfo | None:
        row = await self.s.get(Broadcast, broadcast_id)
        return _info(row) if row else None

    async def latest(self, *, offset: int = 0, limit: int = 10) -> list[BroadcastInfo]:
        q = select(Broadcast).order_by(Broadcast.id.desc()).offset(offset).limit(limit)
        return [_info(r) for r in await self.s.scalars(q)]

    async def count(self) -> int:
        return int(await self.s.scalar(select(func.count()).select_from(Broadcast)) or 0)

    async def open_ids(self) -> list[int]:
        return list(await self.s.scalars(select(Broadcast.id).where(Broadcast.status == "sending")))

    async def set_progress_message(self, broadcast_id: int, chat_id: int, message_id: int) -> None:
        await self.s.execute(update(Broadcast).where(Broadcast.id == broadcast_id)
                             .values(progress_chat=chat_id, progress_message=message_id))

    async def finish(self, broadcast_id: int, status: str, now: datetime, *, sent: int, failed: int, blocked: int,
                     cancelled: int) -> bool:
        """Record the final figures once; False when it was finished already."""
        result = await self.s.execute(
            update(Broadcast).where(Broadcast.id == broadcast_id, Broadcast.status == "sending")
            .values(status=status, finished_at=now, sent=sent, failed=failed, blocked=blocked, cancelled=cancelled)
            .execution_options(synchronize_session=False))
        return bool(rowcount(result))

    async def set_status(self, broadcast_id: int, status: str) -> None:
        await self.s.execute(update(Broadcast).where(Broadcast.id == broadcast_id).values(status=status)
                             .execution_options(synchronize_session=False))

    async def unreached(self, topic: str, *, limit: int = 50) -> list[Unreached]:
        """Rows of a topic that were not sent (oldest first), with the recipient's name when registered."""
        q = (select(OutboxMessage.user_id, Delegate.full_name, OutboxMessage.status, OutboxMessage.error)
             .outerjoin(Delegate, Delegate.user_id == OutboxMessage.user_id)
             .where(OutboxMessage.topic == topic, OutboxMessage.status != SENT)
             .order_by(OutboxMessage.id).limit(limit))
        return [Unreached(int(uid or 0), name, status, error) for uid, name, status, error in await self.s.execute(q)]

    async def deliveries(self) -> list[tuple[Any, ...]]:
        """Every broadcast row: (broadcast topic, user id, status, error, sent_at, attempts)."""
        q = (select(OutboxMessage.topic, OutboxMessage.user_id, OutboxMessage.status, OutboxMessage.error,
                    OutboxMessage.sent_at, OutboxMessage.attempts)
             .where(OutboxMessage.kind == "broadcast").order_by(OutboxMessage.id))
        return [tuple(r) for r in await self.s.execute(q)]


class AuditLog:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def add(self, at: datetime, actor: int, action: str, detail: str = "") -> None:
        self.s.add(AuditEntry(at=at, actor=actor, action=action[:32], detail=detail[:500]))
        await self.s.flush()

    async def latest(self, limit: int = 20) -> list[AuditItem]:
        q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        return [AuditItem(r.at, r.actor, r.action, r.detail) for r in await self.s.scalars(q)]

    async def search(self, *, actor: int | None = None, action: str | None = None, offset: int = 0,
                     limit: int = 100) -> tuple[list[AuditItem], int]:
        """Newest first, of one organiser and/or one action, with the total."""
        q = select(AuditEntry)
        if actor is not None:
            q = q.where(AuditEntry.actor == actor)
        if action:
            q = q.where(AuditEntry.action == action)
        total = int(await self.s.scalar(select(func.count()).select_from(q.subquery())) or 0)
        rows = await self.s.scalars(q.order_by(AuditEntry.id.desc()).offset(offset).limit(limit))
        return [AuditItem(r.at, r.actor, r.action, r.detail) for r in rows], total

    async def facets(self) -> tuple[list[int], list[str]]:
        """Who has acted, and which actions there are (the audit page's filters)."""
        actors = list(await self.s.scalars(select(AuditEntry.actor).distinct().order_by(AuditEntry.actor)))
        actions = list(await self.s.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))
        return actors, actions


class People:
    """Read-only questions organisers ask about the people."""

    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def ids(self, *, participant_type: str | None = None, language: str | None = None,
                  country: str | None = None, members: bool = False) -> set[int]:
        q = select(Delegate.user_id)
        if participant_type is not None:
            q = q.where(Delegate.participant_type == participant_type)
        if language is not None:
            q = q.where(Delegate.language == language)
        if country is not None:
            q = q.where(func.lower(Delegate.country) == country.lower())
        if members:  # EXCOM member cities an organiser confirmed (domain.registration.is_member)
            q = q.where(Delegate.participant_type == "excom", Delegate.excom_status == "confirmed")
        return set(await self.s.scalars(q))

    async def readers(self) -> list[Reader]:
        """Every registered person as an audience rule sees them (domain.organiser.Audience)."""
        q = select(Delegate.user_id, Delegate.participant_type, Delegate.language, Delegate.country,
                   Delegate.excom_status).order_by(Delegate.user_id)
        return [Reader(uid, ptype or "", lang or "", country or "", is_member(ptype, status))
                for uid, ptype, lang, country, status in await self.s.execute(q)]

    async def countries(self) -> list[tuple[str, int]]:
        q = (select(Delegate.country, func.count()).group_by(Delegate.country)
             .order_by(func.count().desc(), Delegate.country))
        return [(c, int(n)) for c, n in await self.s.execute(q) if c]

    async def unfinished(self) -> dict[int, str | None]:
        """People who started registering and did not finish (their conversation state holds the answers),
        with the language they chose. Read from the SQL conversation storage."""
        found: dict[int, str | None] = {}
        rows = await self.s.execute(select(FsmRecord.key, FsmRecord.state, FsmRecord.data))
        for key, state, data in rows:
            data = data or {}
            registering = (state or "").startswith(_REGISTRATION_STATE) and state not in _NOT_REGISTERING
            if not registering and not data.get("answers"):
                continue
            parts = key.split(":")  # fsm:<chat>:<user>:<destiny>
            if len(parts) < 4 or parts[1] != parts[2] or not parts[2].isdigit():
                continue  # not a private chat
            found[int(parts[2])] = data.get("lang") or (data.get("answers") or {}).get("language")
        if found:
            registered = set(await self.s.scalars(select(Delegate.user_id).where(Delegate.user_id.in_(list(found)))))
            for uid in registered:
                found.pop(uid, None)
        return found

    async def search(self, query: str = "", *, offset: int = 0, limit: int = 5) -> tuple[list[Profile], int]:
        """Registrations whose name, e-mail, city or organisation contains `query` (any case), newest first."""
        q = select(Delegate)
        if query.strip():
            like = f"%{query.strip().lower()}%"
            q = q.where(or_(*(func.lower(c).like(like) for c in (
                Delegate.full_name, Delegate.email, Delegate.city, Delegate.organisation))))
        total = int(await self.s.scalar(select(func.count()).select_from(q.subquery())) or 0)
        rows = await self.s.scalars(q.order_by(Delegate.registered_at.desc(), Delegate.user_id.desc())
                                    .offset(offset).limit(limit))
        return [profile_of(r) for r in rows], total

    async def table(self, *, query: str = "", participant_type: str | None = None, country: str | None = None,
                    language: str | None = None, excom_status: str | None = None,
                    registered_from: datetime | None = None, registered_to: datetime | None = None,
                    sort: str = "registered", descending: bool = True, offset: int = 0, limit: int = 50
                    ) -> tuple[list[Profile], int]:
        """The console's list: search (name, e-mail, city, country, organisation, any case and script; a
        number is also a Telegram id), filters, one sort column (then the id), a page, and the total."""
        q = select(Delegate)
        words = query.lower().split()
        # One lower() of the fields joined, not one per field: on SQLite lower() is a Python function (bot's
        # storage.db), called once per row this way.
        haystack = func.lower(Delegate.full_name + "\n" + Delegate.email + "\n" + Delegate.city + "\n"
                              + Delegate.country + "\n" + Delegate.organisation)
        for word in words[:5]:
            match = haystack.contains(word, autoescape=True)
            if word.isascii() and word.isdigit() and len(word) < 17:
                match = or_(match, Delegate.user_id == int(word))
            q = q.where(match)
        if participant_type:
            q = q.where(Delegate.participant_type == participant_type)
        if country:
            q = q.where(func.lower(Delegate.country) == country.lower())
        if language:
            q = q.where(Delegate.language == language)
        if excom_status:
            q = q.where(Delegate.participant_type == "excom", Delegate.excom_status == excom_status)
        if registered_from is not None:
            q = q.where(Delegate.registered_at >= registered_from)
        if registered_to is not None:
            q = q.where(Delegate.registered_at < registered_to)
        column = {"name": Delegate.full_name, "city": Delegate.city, "country": Delegate.country,
                  "type": Delegate.participant_type, "language": Delegate.language}.get(sort, Delegate.registered_at)
        order = (column.desc(), Delegate.user_id.desc()) if descending else (column.asc(), Delegate.user_id.asc())
        if words:
            # A search reads every row once (lower() on SQLite is a Python call per row): the page and the
            # total from one pass (a window count) instead of a count and a page.
            paged = q.add_columns(func.count().over().label("total")).order_by(*order).offset(offset).limit(limit)
            found = (await self.s.execute(paged)).all()
            if found:
                return [profile_of(r[0]) for r in found], int(found[0].total)
        total = int(await self.s.scalar(select(func.count()).select_from(q.subquery())) or 0)
        if total <= offset:
            return [], total
        rows = await self.s.scalars(q.order_by(*order).offset(offset).limit(limit))
        return [profile_of(r) for r in rows], total

    async def all_rows(self) -> list[dict[str, Any]]:
        """Every registration with every column (for the export), oldest first."""
        rows = await self.s.scalars(select(Delegate).order_by(Delegate.registered_at, Delegate.user_id))
        return [{c.name: getattr(r, c.key) for c in Delegate.__table__.columns} for r in rows]

    async def counts(self) -> dict[str, Counter[str]]:
        """Counts by registration day (UTC), participant type, language, country and time zone."""
        out: dict[str, Counter[str]] = {k: Counter() for k in ("day", "type", "language", "country", "zone")}
        q = select(Delegate.registered_at, Delegate.participant_type, Delegate.language, Delegate.country,
                   Delegate.timezone)
        for at, ptype, lang, country, zone in await self.s.execute(q):
            out["day"][at.date().isoformat()] += 1
            out["type"][ptype] += 1
            out["language"][lang] += 1
            out["country"][country or "?"] += 1
            out["zone"][zone] += 1
        return out

    async def following(self) -> int:
        """People with reminders on who follow something (a session or the whole program)."""
        follows = select(Follow.user_id).distinct()
        q = select(func.count()).select_from(Delegate).where(
            Delegate.reminders_on.is_(True), or_(Delegate.follow_all.is_(True), Delegate.user_id.in_(follows)))
        return int(await self.s.scalar(q) or 0)

    async def blocked(self) -> int:
        q = select(func.count()).select_from(Delegate).where(Delegate.blocked_at.is_not(None))
        return int(await self.s.scalar(q) or 0)

    async def everyone(self) -> list[int]:
        return list(await self.s.scalars(select(Delegate.user_id)))

    async def known(self) -> list[int]:
        """Everyone the database keeps a row about: every table with a user_id column (delegates, guests and
        their follows, quiz players in private chats and in groups, features added later), the same rule as
        `forget_person`, which then deletes their outbox rows too. The outbox alone makes nobody known: the
        organisers' retention notices stay, the record that they were warned (and are not sent again)."""
        from storage.models import Base

        found: set[int] = set()
        for table in Base.metadata.sorted_tables:
            if "user_id" in table.c and table.name != OutboxMessage.__tablename__:
                found.update(u for u in await self.s.scalars(select(table.c.user_id).distinct()) if u is not None)
        return sorted(found)

    async def language_hint(self, user_id: int) -> str | None:
        """The language a person not registered chose when they started registering (private chat state)."""
        data = await self.s.scalar(select(FsmRecord.data).where(FsmRecord.key == f"fsm:{user_id}:{user_id}:default"))
        if not data:
            return None
        return data.get("lang") or (data.get("answers") or {}).get("language")

    async def clear_states(self) -> int:
        """Delete every conversation state (retention: unfinished registrations hold personal data too)."""
        result = await self.s.execute(delete(FsmRecord))
        return rowcount(result)


class RedisConversations:
    """The same two questions about conversation state when it lives in Redis (aiogram's RedisStorage, keys
    `fsm:<chat>:<user>:default:state|data`): who started registering and did not finish, and forgetting
    people's state. Private chats only (chat == user)."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    async def unfinished(self, registered: set[int]) -> dict[int, str | None]:
        found: dict[int, str | None] = {}
        seen: set[int] = set()
        async for raw in self.redis.scan_iter(match="fsm:*:*:default:*", count=500):
            key = raw.decode() if isinstance(raw, bytes) else str(raw)
            parts = key.split(":")
            if len(parts) != 5 or parts[1] != parts[2] or not parts[2].isdigit():
                continue
            uid = int(parts[2])
            if uid in seen or uid in registered:
                continue
            seen.add(uid)
            state, data = await self.redis.mget(f"fsm:{uid}:{uid}:default:state", f"fsm:{uid}:{uid}:default:data")
            state = state.decode() if isinstance(state, bytes) else (state or "")
            values = json.loads(data) if data else {}
            registering = state.startswith(_REGISTRATION_STATE) and state not in _NOT_REGISTERING
            if registering or values.get("answers"):
                found[uid] = values.get("lang") or (values.get("answers") or {}).get("language")
        return found

    async def forget(self, user_ids: set[int]) -> int:
        keys = [f"fsm:{uid}:{uid}:default:{part}" for uid in sorted(user_ids) for part in ("state", "data")]
        deleted = 0
        for start in range(0, len(keys), 500):
            deleted += int(await self.redis.delete(*keys[start:start + 500]))
        return deleted
