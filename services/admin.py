"""Organisers' use cases: letting a person register after the deadline, and telling them so.

The notice is an outbox row (TIMELY, kind `admitted`) with a button that opens the bot's chat on /start, in
their language when the bot knows it (they started registering), else English. Telegram refuses a bot's first
message to someone who never started it (403): the row records it, and a check a little later tells the
organiser (kind `admit_refused`), with the link to give the person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from domain.i18n_marks import N_
from domain.messages import BLOCKED, FAILED, Button, Drop, NewMessage, Priority, Rendered
from domain.text import translate
from services import organiser
from services.errors import ServiceError
from services.ports import UnitOfWork

if TYPE_CHECKING:
    from delivery.rendering import RenderContext
    from domain.messages import OutboxRow, Recipient

KIND_ADMITTED, KIND_REFUSED = "admitted", "admit_refused"
# Seconds after /admit when the bot looks whether the notice got through.
CHECK_AFTER = 30.0

ADMITTED_NOTICE = N_("Good news: an organiser has let you register for {event}, even after the deadline. "
                     "Press the button to start.")
REGISTER_BUTTON = N_("📝 Register")
REFUSED_NOTICE = N_("I could not tell user {id} that they may register: Telegram does not let a bot write "
                    "first to someone who never started it. Please send them this link: {link}")

# Telegram user ids are positive and fit in 52 bits (the Bot API's own promise).
MAX_USER_ID = 2**52

ADMIT_USAGE = N_("Usage: /admit &lt;numeric Telegram user id&gt;. The person can find their id with /myid.")
ALREADY_REGISTERED = N_("User {id} is already registered.")


@dataclass(frozen=True)
class Admitted:
    user_id: int
    new: bool
    # Whether a notice was queued for them (a link to the bot was known).
    notified: bool = False


def parse_user_id(text: str) -> int | None:
    """A Telegram user id typed by an organiser (ASCII digits only: "²" is a digit to str.isdigit)."""
    text = text.strip()
    if not text or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if 0 < value < MAX_USER_ID else None


def start_link(username: str) -> str:
    return f"https://t.me/{username}?start=register"


async def admit(uow: UnitOfWork, arg: str, *, by: int, now: datetime, bot_username: str | None = None) -> Admitted:
    """Grant a late pass and queue the person's notice; granting twice is harmless (and tells them again)."""
    user_id = parse_user_id(arg)
    if user_id is None:
        raise ServiceError("usage", ADMIT_USAGE)
    if await uow.delegates.get(user_id) is not None:
        raise ServiceError("registered", ALREADY_REGISTERED, id=user_id)
    new = await uow.late_passes.grant(user_id, by, now)
    notified = bool(bot_username)
    if bot_username:
        lang = await uow.people.language_hint(user_id)
        await uow.outbox.add([NewMessage(
            _notice_key(user_id, now), user_id, KIND_ADMITTED, f"admit:{user_id}", now,
            {"lang": lang or "en", "link": start_link(bot_username), "by": by},
            expires_at=now + timedelta(days=2), priority=Priority.TIMELY)], now)
    await organiser.audit(uow, by, organiser.ADMIT, f"user {user_id}", now)
    await uow.commit()
    return Admitted(user_id, new, notified)


def _notice_key(user_id: int, now: datetime) -> str:
    return f"admit:{user_id}:{now:%Y%m%dT%H%M%S%f}"


async def check_notice(uow: UnitOfWork, user_id: int, now: datetime) -> bool:
    """After /admit: if Telegram refused the person's notice, queue a note to the organiser; commits.
    Returns whether a note was queued."""
    rows = await uow.outbox.rows(topic=f"admit:{user_id}")
    latest = max((r for r in rows if r.kind == KIND_ADMITTED), key=lambda r: r.id, default=None)
    if latest is None or latest.status not in (BLOCKED, FAILED):
        return False
    organiser_id = int(latest.payload.get("by", 0))
    if not organiser_id:
        return False
    created = await uow.outbox.add([NewMessage(
        f"admit-refused:{latest.key}", organiser_id, KIND_REFUSED, f"admit:{user_id}", now,
        {"id": user_id, "link": latest.payload.get("link", "")}, priority=Priority.TIMELY)], now)
    await uow.commit()
    return bool(created)


# -- renderers ------------------------------------------------------------------------------------------------

async def render_admitted(ctx: RenderContext, row: OutboxRow, who: Recipient | None) -> Rendered | Drop:
    if who is not None:
        return Drop("registered meanwhile")
    lang = str(row.payload.get("lang") or "en")
    text = translate(ctx.i18n, lang, ADMITTED_NOTICE, event=ctx.event.name.get(lang))
    return Rendered(text, ((Button(translate(ctx.i18n, lang, REGISTER_BUTTON), url=str(row.payload["link"])),),))


async def render_refused(ctx: RenderContext, row: OutboxRow, who: Recipient | None) -> Rendered:
    lang = who.language if who is not None else "en"
    return Rendered(translate(ctx.i18n, lang, REFUSED_NOTICE, id=row.payload.get("id"),
                              link=row.payload.get("link", "")))


class AdmitChecks:
    """Looks, a little after each /admit, whether the notice got through (a job on the engine's scheduler)."""

    def __init__(self, jobs: Any) -> None:
        self.jobs = jobs

    def watch(self, user_id: int) -> None:
        self.jobs.wake()
        self.jobs.at(f"admit-check:{user_id}", self.jobs.now() + timedelta(seconds=CHECK_AFTER), self.check, user_id)

    async def check(self, user_id: int) -> bool:
        async with self.jobs.uows() as uow:
            queued = await check_notice(uow, user_id, self.jobs.now())
        if queued:
            self.jobs.wake()
        return queued


def register(delivery: Any, sources: Any = None) -> AdmitChecks:
    """Wiring (bot/app.py): the notices' kinds, and the check after each /admit."""
    delivery.renderers.register(KIND_ADMITTED, render_admitted)
    delivery.renderers.register(KIND_REFUSED, render_refused)
    checks = AdmitChecks(delivery)
    if sources is not None:
        sources.admitted = checks.watch
    return checks
