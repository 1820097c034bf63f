"""The quiz's repository: attempts, answers, the organisers' switch, group polls. Flushes only.

One attempt per person is the primary key of `quiz_attempts`; one answer per attempt and question is the
primary key of `quiz_answers`, inserted with ON CONFLICT DO NOTHING, so a double press (or a press racing
the question's timeout) is recorded once whoever comes second. Totals live on the attempt row, so the
leaderboard is one indexed query and a rank one COUNT.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Integer, Table, and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.quiz import (
    AnswerRecord,
    PollRef,
    QuizControl,
    ShownAs,
    Standing,
    StoredAttempt,
    Switch,
    leaderboard,
)
from storage.db import rowcount
from storage.models import Delegate, QuizAnswer, QuizAttempt, QuizName, QuizPoll, QuizState

_STATE_ID = "quiz"
# Rank order: RANK() OVER (ORDER BY score DESC, time_ms, finished_at NULLS LAST), listed by user id.
_ORDER = (QuizAttempt.score.desc(), QuizAttempt.time_ms, QuizAttempt.finished_at.is_(None),
          QuizAttempt.finished_at, QuizAttempt.user_id)
_STANDING_COLUMNS = (QuizAttempt.user_id, QuizAttempt.name, QuizAttempt.score, QuizAttempt.right,
                     QuizAttempt.time_ms, QuizAttempt.finished_at, Delegate.full_name, Delegate.city,
                     Delegate.country, QuizName.shown_as, QuizName.nickname, QuizName.first_name)


# Tables (declarative models type __table__ as a FromClause; these are Tables).
_A = cast(Table, QuizAttempt.__table__)
_B = cast(Table, QuizAnswer.__table__)
_ATTEMPT_WITH_ANSWERS = (
    select(_A, _B.c.index.label("a_index"), _B.c.question_id.label("a_question_id"), _B.c.choice.label("a_choice"),
           _B.c.right.label("a_right"), _B.c.points.label("a_points"), _B.c.time_ms.label("a_time_ms"),
           _B.c.answered_at.label("a_answered_at"))
    .select_from(_A.outerjoin(_B, _B.c.user_id == _A.c.user_id)).order_by(_B.c.index))
# A press's statements, built once (per dialect for the inserts) with bound parameters: building a statement
# and its cache key on every press cost more than running it (docs/performance.md, the quiz).
_GET_ATTEMPT = _ATTEMPT_WITH_ANSWERS.where(_A.c.user_id == bindparam("p_user"))
_MOVE_SCORED = (
    update(_A).where(_A.c.user_id == bindparam("p_user"), _A.c.index == bindparam("p_from"),
                     _A.c.finished_at.is_(None))
    .values(score=_A.c.score + bindparam("p_points", type_=Integer()),
            time_ms=_A.c.time_ms + bindparam("p_ms", type_=Integer()),
            right=_A.c.right + bindparam("p_right", type_=Integer()),
            index=bindparam("p_index", type_=_A.c.index.type),
            asked_at=bindparam("p_asked", type_=_A.c.asked_at.type),
            finished_at=bindparam("p_finished", type_=_A.c.finished_at.type),
            shown=bindparam("p_shown", type_=_A.c.shown.type)))
# The current question went out: its time starts now (only once, and only while it is still open).
_SHOW = (
    update(_A).where(_A.c.user_id == bindparam("p_user"), _A.c.index == bindparam("p_index"),
                     _A.c.shown.is_(False), _A.c.finished_at.is_(None))
    .values(asked_at=bindparam("p_asked", type_=_A.c.asked_at.type), shown=True))
_ANSWER_COLUMNS = ("user_id", "index", "question_id", "choice", "right", "points", "time_ms", "answered_at",
                   "created_at")
_answer_inserts: dict[str, Any] = {}


def _answer_insert(session: AsyncSession) -> Any:
    name = session.get_bind().dialect.name
    stmt = _answer_inserts.get(name)
    if stmt is None:
        stmt = _insert(session, _B).values({c: bindparam(f"a_{c}", type_=_B.c[c].type) for c in _ANSWER_COLUMNS}) \
            .on_conflict_do_nothing(index_elements=["user_id", "index"])
        _answer_inserts[name] = stmt
    return stmt


_ATTEMPT_COLUMNS = ("user_id", "name", "lang", "group_chat", "index", "asked_at", "score", "time_ms", "right",
                    "started_at", "shown")
_attempt_inserts: dict[str, Any] = {}
_SET_MESSAGE = update(_A).where(_A.c.user_id == bindparam("p_user")).values(
    message_id=bindparam("p_message", type_=_A.c.message_id.type))


def _attempt_insert(session: AsyncSession) -> Any:
    name = session.get_bind().dialect.name
    stmt = _attempt_inserts.get(name)
    if stmt is None:
        stmt = _insert(session, _A).values({c: bindparam(f"c_{c}", type_=_A.c[c].type) for c in _ATTEMPT_COLUMNS}) \
            .on_conflict_do_nothing(index_elements=["user_id"])
        _attempt_inserts[name] = stmt
    return stmt


def _answer_params(user_id: int, record: AnswerRecord, now: datetime) -> dict[str, Any]:
    return {"a_user_id": user_id, "a_index": record.index, "a_question_id": record.question_id,
            "a_choice": record.choice, "a_right": record.right, "a_points": record.points,
            "a_time_ms": record.time_ms, "a_answered_at": record.answered_at, "a_created_at": now}


# The organisers' switch, read by every press: kept per database for a second. A switch is seen by every
# process within that second (this process drops its copy when it writes one).
_CONTROL_TTL = 1.0
_controls: dict[str, tuple[float, QuizControl]] = {}
# The plan's secret per database, once read (it never changes while the bot runs, unless set at start-up).
_secrets: dict[str, str] = {}


def _insert(session: AsyncSession, model: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]  # the same API in SQLite's dialect
    return insert(model)


def _record(row: QuizAnswer) -> AnswerRecord:
    return AnswerRecord(index=row.index, question_id=row.question_id, choice=row.choice, right=bool(row.right),
                        points=row.points, time_ms=row.time_ms, answered_at=row.answered_at)


def _standing(rank: int, row: Any) -> Standing:
    registered = row.full_name is not None
    shown_as = ShownAs(row.shown_as) if row.shown_as in ShownAs._value2member_map_ else None
    # Without a choice (group players, attempts from before the choice existed): the Telegram name's first word.
    first = row.first_name if shown_as is not None else (row.name or "").split(" ")[0]
    return Standing(rank=rank, user_id=row.user_id, name=row.full_name if registered else row.name,
                    city=row.city, country=row.country, score=row.score, right=row.right, time_ms=row.time_ms,
                    finished_at=row.finished_at, registered=registered, shown_as=shown_as, nickname=row.nickname,
                    first_name=first or "")


class QuizRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    # -- attempts --

    async def get(self, user_id: int) -> StoredAttempt | None:
        """The attempt and its answers in one statement (every press reads it)."""
        rows = (await self.s.execute(_GET_ATTEMPT, {"p_user": user_id})).all()
        if not rows:
            return None
        row = rows[0]
        answers = tuple(AnswerRecord(index=r.a_index, question_id=r.a_question_id, choice=r.a_choice,
                                     right=bool(r.a_right), points=r.a_points, time_ms=r.a_time_ms,
                                     answered_at=r.a_answered_at) for r in rows if r.a_index is not None)
        return StoredAttempt(user_id=row.user_id, name=row.name, lang=row.lang, group_chat=row.group_chat,
                             index=row._mapping["index"], asked_at=row.asked_at, message_id=row.message_id,
                             score=row.score, time_ms=row.time_ms, right=row.right, started_at=row.started_at,
                             finished_at=row.finished_at, answers=answers, shown=bool(row.shown))

    async def create(self, user_id: int, *, name: str, lang: str, asked_at: datetime, now: datetime,
                     group_chat: int | None = None, shown: bool = True) -> bool:
        """Start a person's one attempt; False when they have one already (nothing changes)."""
        result = await self.s.execute(_attempt_insert(self.s), {
            "c_user_id": user_id, "c_name": name[:100], "c_lang": lang, "c_group_chat": group_chat, "c_index": 0,
            "c_asked_at": asked_at, "c_score": 0, "c_time_ms": 0, "c_right": 0, "c_started_at": now,
            "c_shown": shown})
        return bool(rowcount(result))

    async def show(self, user_id: int, index: int, at: datetime) -> bool:
        """Question `index` went out at `at`: its time starts then. False when it was shown already, or the
        attempt moved on."""
        result = await self.s.execute(_SHOW, {"p_user": user_id, "p_index": index, "p_asked": at})
        return bool(rowcount(result))

    async def running(self) -> list[tuple[int, datetime, bool]]:
        """Private attempts still running: (current index, asked or queued at, shown)."""
        q = select(QuizAttempt.index, QuizAttempt.asked_at, QuizAttempt.shown).where(
            QuizAttempt.finished_at.is_(None), QuizAttempt.group_chat.is_(None))
        return [(r._mapping["index"], r.asked_at, bool(r.shown)) for r in (await self.s.execute(q)).all()]

    async def running_count(self) -> int:
        q = select(func.count()).select_from(QuizAttempt).where(QuizAttempt.finished_at.is_(None),
                                                                QuizAttempt.group_chat.is_(None))
        return int(await self.s.scalar(q) or 0)

    # -- how a player appears --

    async def set_name(self, user_id: int, shown_as: ShownAs, nickname: str | None, first_name: str,
                       now: datetime) -> None:
        stmt = _insert(self.s, QuizName).values(user_id=user_id, shown_as=shown_as.value, nickname=nickname,
                                                first_name=first_name[:64], chosen_at=now)
        stmt = stmt.on_conflict_do_update(index_elements=["user_id"], set_={
            "shown_as": stmt.excluded.shown_as, "nickname": stmt.excluded.nickname,
            "first_name": stmt.excluded.first_name, "chosen_at": stmt.excluded.chosen_at})
        await self.s.execute(stmt)

    async def name_chosen(self, user_id: int) -> bool:
        return (await self.s.get(QuizName, user_id)) is not None

    async def record(self, user_id: int, record: AnswerRecord, now: datetime) -> bool:
        """Record one question's outcome and add it to the totals; False when that question already has one."""
        stmt = _insert(self.s, QuizAnswer).values(
            user_id=user_id, index=record.index, question_id=record.question_id, choice=record.choice,
            right=record.right, points=record.points, time_ms=record.time_ms, answered_at=record.answered_at,
            created_at=now).on_conflict_do_nothing(index_elements=["user_id", "index"])
        if not rowcount(await self.s.execute(stmt)):
            return False
        await self.s.execute(update(QuizAttempt).where(QuizAttempt.user_id == user_id).values(
            score=QuizAttempt.score + record.points, time_ms=QuizAttempt.time_ms + record.time_ms,
            right=QuizAttempt.right + int(record.right)))
        return True

    async def record_and_move(self, user_id: int, record: AnswerRecord, now: datetime, *, from_index: int,
                              index: int, asked_at: datetime, finished_at: datetime | None,
                              shown: bool = True) -> bool:
        """`record` and `move` in two statements (a press): False when the question already had its outcome or
        the attempt moved on meanwhile (the caller rolls back)."""
        if not rowcount(await self.s.execute(_answer_insert(self.s), _answer_params(user_id, record, now))):
            return False
        result = await self.s.execute(_MOVE_SCORED, {
            "p_user": user_id, "p_from": from_index, "p_points": record.points, "p_ms": record.time_ms,
            "p_right": int(record.right), "p_index": index, "p_asked": asked_at, "p_finished": finished_at,
            "p_shown": shown})
        return bool(rowcount(result))

    async def move(self, user_id: int, *, from_index: int, index: int, asked_at: datetime,
                   finished_at: datetime | None, shown: bool = True) -> bool:
        """Ask the next question (or finish) if the attempt is still at `from_index` and running."""
        result = await self.s.execute(
            update(QuizAttempt).where(QuizAttempt.user_id == user_id, QuizAttempt.index == from_index,
                                      QuizAttempt.finished_at.is_(None))
            .values(index=index, asked_at=asked_at, finished_at=finished_at, shown=shown))
        return bool(rowcount(result))

    async def finish(self, user_id: int, at: datetime, *, add_time_ms: int = 0) -> bool:
        result = await self.s.execute(
            update(QuizAttempt).where(QuizAttempt.user_id == user_id, QuizAttempt.finished_at.is_(None))
            .values(finished_at=at, time_ms=QuizAttempt.time_ms + add_time_ms))
        return bool(rowcount(result))

    async def set_message(self, user_id: int, message_id: int) -> None:
        await self.s.execute(_SET_MESSAGE, {"p_user": user_id, "p_message": message_id})

    async def unfinished(self) -> list[StoredAttempt]:
        ids = list(await self.s.scalars(select(QuizAttempt.user_id).where(QuizAttempt.finished_at.is_(None))))
        found = [await self.get(uid) for uid in ids]
        return [a for a in found if a is not None]

    # -- standings --

    def _standings(self) -> Any:
        return (select(*_STANDING_COLUMNS)
                .outerjoin(Delegate, Delegate.user_id == QuizAttempt.user_id)
                .outerjoin(QuizName, QuizName.user_id == QuizAttempt.user_id).order_by(*_ORDER))

    async def top(self, n: int = 10) -> list[Standing]:
        """The best `n` with competition ranks (ties share one): one indexed query."""
        rows = {r.user_id: r for r in (await self.s.execute(self._standings().limit(n))).all()}
        ranked = leaderboard((_standing(0, r).result for r in rows.values()), n)
        return [_standing(x.rank, rows[x.result.user_id]) for x in ranked]

    async def standing(self, user_id: int) -> Standing | None:
        """A person's place: 1 + how many are strictly better (one COUNT)."""
        row = (await self.s.execute(self._standings().where(QuizAttempt.user_id == user_id))).first()
        if row is None:
            return None
        a = QuizAttempt
        later = a.finished_at.is_not(None) if row.finished_at is None else \
            and_(a.finished_at.is_not(None), a.finished_at < row.finished_at)
        better = or_(a.score > row.score,
                     and_(a.score == row.score, a.time_ms < row.time_ms),
                     and_(a.score == row.score, a.time_ms == row.time_ms, later))
        ahead = int(await self.s.scalar(select(func.count()).select_from(a).where(better)) or 0)
        return _standing(ahead + 1, row)

    async def standings(self) -> list[Standing]:
        """Everyone in order with ranks (final messages, the CSV)."""
        out: list[Standing] = []
        previous: tuple[Any, ...] | None = None
        rank = 0
        for n, row in enumerate((await self.s.execute(self._standings())).all(), 1):
            key = (row.score, row.time_ms, row.finished_at)
            if key != previous:
                rank, previous = n, key
            out.append(_standing(rank, row))
        return out

    async def count(self) -> int:
        return int(await self.s.scalar(select(func.count()).select_from(QuizAttempt)) or 0)

    async def answered(self) -> int:
        """Answers pressed so far, everyone's (the console's quiz screen shows the count)."""
        q = select(func.count()).select_from(QuizAnswer).where(QuizAnswer.choice.is_not(None))
        return int(await self.s.scalar(q) or 0)

    async def registered_ids(self) -> set[int]:
        q = select(QuizAttempt.user_id).join(Delegate, Delegate.user_id == QuizAttempt.user_id)
        return set(await self.s.scalars(q))

    async def to_announce(self) -> list[int]:
        """Registered people who have not turned reminders off, have not blocked the bot and not played."""
        q = (select(Delegate.user_id).outerjoin(QuizAttempt, QuizAttempt.user_id == Delegate.user_id)
             .where(Delegate.reminders_on.is_(True), Delegate.blocked_at.is_(None), QuizAttempt.user_id.is_(None))
             .order_by(Delegate.user_id))
        return list(await self.s.scalars(q))

    # -- the plan's secret --

    async def secret(self) -> str:
        """The server-side secret in every plan's seed: generated once and kept (the first writer wins)."""
        key = self._control_key()
        found = _secrets.get(key)
        if found is not None:
            return found
        value = await self.s.scalar(select(QuizState.secret).where(QuizState.id == _STATE_ID))
        if not value:
            fresh = secrets.token_urlsafe(32)
            stmt = _insert(self.s, QuizState).values(id=_STATE_ID, secret=fresh)
            await self.s.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))
            await self.s.execute(update(QuizState).where(QuizState.id == _STATE_ID, QuizState.secret.is_(None))
                                 .values(secret=fresh))
            value = await self.s.scalar(select(QuizState.secret).where(QuizState.id == _STATE_ID))
            assert value
            # Known only once committed; the caller commits (a rollback just means generating again).
            return str(value)
        _secrets[key] = str(value)
        return str(value)

    async def set_secret(self, value: str) -> None:
        """QUIZ_SECRET from the settings, written at start-up (it replaces a generated one)."""
        stmt = _insert(self.s, QuizState).values(id=_STATE_ID, secret=value)
        await self.s.execute(stmt.on_conflict_do_update(index_elements=["id"], set_={"secret": value}))
        _secrets.pop(self._control_key(), None)

    # -- the organisers' switch --

    def _control_key(self) -> str:
        return str(self.s.get_bind().engine.url)

    async def control(self) -> QuizControl:
        key = self._control_key()
        cached = _controls.get(key)
        if cached is not None and time.monotonic() - cached[0] < _CONTROL_TTL:
            return cached[1]
        row = await self.s.get(QuizState, _STATE_ID, populate_existing=True)
        if row is None:
            control = QuizControl()
        else:
            switch = Switch(bool(row.switch_open), row.switch_at) if row.switch_at is not None else None
            control = QuizControl(switch, row.announced_at, row.finalised_for)
        _controls[key] = (time.monotonic(), control)
        return control

    async def _state(self) -> QuizState:
        _controls.pop(self._control_key(), None)
        row = await self.s.get(QuizState, _STATE_ID)
        if row is None:
            row = QuizState(id=_STATE_ID)
            self.s.add(row)
        return row

    async def set_switch(self, open_: bool, at: datetime, by: int) -> None:
        row = await self._state()
        row.switch_open, row.switch_at, row.switch_by = open_, at, by
        await self.s.flush()

    async def mark_announced(self, at: datetime) -> None:
        (await self._state()).announced_at = at
        await self.s.flush()

    async def mark_finalised(self, closing: datetime) -> None:
        (await self._state()).finalised_for = closing
        await self.s.flush()

    # -- group polls --

    async def add_poll(self, poll: PollRef) -> None:
        stmt = _insert(self.s, QuizPoll).values(
            poll_id=poll.poll_id, chat_id=poll.chat_id, question_id=poll.question_id, index=poll.index,
            asked_at=poll.asked_at, seconds=poll.seconds).on_conflict_do_nothing(index_elements=["poll_id"])
        await self.s.execute(stmt)

    async def poll(self, poll_id: str) -> PollRef | None:
        row = await self.s.get(QuizPoll, poll_id)
        if row is None:
            return None
        return PollRef(row.poll_id, row.chat_id, row.question_id, row.index, row.asked_at, row.seconds)

    async def polls(self, chat_ids: Iterable[int]) -> list[PollRef]:
        q = select(QuizPoll).where(QuizPoll.chat_id.in_(list(chat_ids)))
        return [PollRef(r.poll_id, r.chat_id, r.question_id, r.index, r.asked_at, r.seconds)
                for r in await self.s.scalars(q)]


async def ensure_secret(sessions: Any, value: str | None) -> None:
    """At start-up: QUIZ_SECRET when set, else the secret generated once (committed before any plan uses it)."""
    async with sessions() as session:
        repo = QuizRepo(session)
        if value:
            await repo.set_secret(value)
        else:
            await repo.secret()
        await session.commit()
        await repo.secret()  # now committed: kept for this process
