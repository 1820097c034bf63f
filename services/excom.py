"""EXCOM membership: the organisers' queue of claims, their decisions, bulk confirmation from a list, and
the notice that tells the person (an outbox row: it is sent by the delivery engine, after the commit).

Rules live in `domain/excom.py` and `domain.registration` (`is_member`, `claim_after_edit`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from domain import excom as rules
from domain.event import Event
from domain.i18n_marks import N_
from domain.messages import Drop, NewMessage, Priority, Rendered
from domain.registration import EXCOM_CONFIRMED, EXCOM_PENDING, EXCOM_REJECTED, Profile
from domain.text import esc, translate
from services.audit import EXCOM_DECISION, audit
from services.errors import ServiceError

if TYPE_CHECKING:
    from delivery.rendering import RenderContext, Renderers
    from domain.messages import OutboxRow, Recipient
    from services.ports import UnitOfWork

PAGE_SIZE = 5
KIND_DECISION = "excom_decision"

GONE = N_("This person is no longer registered as an EXCOM member city.")
DECIDED = N_("This claim was already decided (or the person changed their answers). The list is updated.")
BAD_LIST = N_("I could not find any e-mail address or Telegram user id in that file. Please send a CSV or TXT "
              "file with one e-mail or numeric id a line (or in any column).")
TOO_BIG = N_("That file is too large. Please send a list of at most {n} entries (1 MB).")

CONFIRMED_NOTICE = N_("✅ An organiser confirmed you as the representative of an EXCOM member city. The Closed "
                      "Session's join details are now on its card: send /program and open it (you can also "
                      "ask for a reminder there).")
REJECTED_NOTICE = N_("An organiser could not confirm you as the representative of an EXCOM member city, so the "
                     "Closed Session's join details are not shown to you. Every other session is open to you. "
                     "If this is a mistake, please contact the organisers: {contact}.")


@dataclass(frozen=True)
class Claim:
    profile: Profile
    on_list: bool


@dataclass(frozen=True)
class Queue:
    """One page of pending claims (`page` is 0-based, clamped to the pages there are)."""

    claims: tuple[Claim, ...]
    page: int
    pages: int
    total: int


async def queue(uow: UnitOfWork, event: Event, page: int = 0) -> Queue:
    total = await uow.delegates.count_excom_claims(EXCOM_PENDING)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    found = await uow.delegates.excom_claims(EXCOM_PENDING, offset=page * PAGE_SIZE, limit=PAGE_SIZE)
    return Queue(tuple(Claim(p, rules.on_excom_list(event, p)) for p in found), page, pages, total)


def _notice(user_id: int, status: str, now: datetime) -> NewMessage:
    # One notice per decision: a later, different decision is a new message with its own key.
    return NewMessage(f"excom:{user_id}:{status}:{now:%Y%m%dT%H%M%S%f}", user_id, KIND_DECISION,
                      f"excom:{user_id}", now, {"status": status}, priority=Priority.TIMELY)


async def decide(uow: UnitOfWork, user_id: int, *, confirm: bool, by: int, now: datetime) -> Profile:
    """Confirm or reject one pending claim (from the queue) and queue the person's notice; commits.

    A claim no longer pending (decided by another organiser, or the person changed their type or city since
    the queue was shown) is refused: pressing twice changes nothing."""
    profile = await uow.delegates.get(user_id) if 0 < user_id < rules.MAX_USER_ID else None
    if profile is None or not profile.is_excom:
        raise ServiceError("gone", GONE)
    if profile.excom_status != EXCOM_PENDING:
        raise ServiceError("decided", DECIDED)
    status = EXCOM_CONFIRMED if confirm else EXCOM_REJECTED
    decided = await uow.delegates.set_excom_status(user_id, status, by=by, at=now)
    await uow.outbox.add([_notice(user_id, status, now)], now)
    await audit(uow, by, EXCOM_DECISION, f"user {user_id}: {status}", now)
    await uow.commit()
    assert decided is not None
    return decided


@dataclass(frozen=True)
class BulkResult:
    """What a list did: newly confirmed, confirmed before, matched people who did not register as an EXCOM
    member city (left as they are), entries that matched nobody, and lines with neither id nor e-mail."""

    confirmed: int
    already: int
    not_excom: int
    unmatched: int
    unreadable: int

    @property
    def matched(self) -> int:
        return self.confirmed + self.already + self.not_excom


async def confirm_list(uow: UnitOfWork, data: bytes, *, by: int, now: datetime) -> BulkResult:
    """Confirm every EXCOM claim whose e-mail or Telegram id is in an organiser's list; commits."""
    if len(data) > rules.MAX_LIST_BYTES:
        raise ServiceError("too_big", TOO_BIG, n=rules.MAX_LIST_ENTRIES)
    parsed = rules.parse_list(rules.decode(data))
    if parsed.entries > rules.MAX_LIST_ENTRIES:
        raise ServiceError("too_big", TOO_BIG, n=rules.MAX_LIST_ENTRIES)
    if not parsed.entries:
        raise ServiceError("empty", BAD_LIST)
    people = await uow.delegates.find(user_ids=parsed.user_ids, emails=parsed.emails)
    confirmed = already = not_excom = 0
    notices = []
    for p in people:
        if not p.is_excom:
            not_excom += 1
        elif p.excom_status == EXCOM_CONFIRMED:
            already += 1
        else:
            await uow.delegates.set_excom_status(p.user_id, EXCOM_CONFIRMED, by=by, at=now)
            notices.append(_notice(p.user_id, EXCOM_CONFIRMED, now))
            confirmed += 1
    if notices:
        await uow.outbox.add(notices, now)
        await audit(uow, by, EXCOM_DECISION, f"list: {len(notices)} confirmed", now)
    await uow.commit()
    hits = {p.user_id for p in people} & parsed.user_ids
    mails = {p.email.lower() for p in people} & parsed.emails
    unmatched = len(parsed.user_ids - hits) + len(parsed.emails - mails)
    return BulkResult(confirmed, already, not_excom, unmatched, parsed.unreadable)


# -- the notice (rendered when sent, in the reader's language of that moment) ------------------------------

async def render_decision(ctx: RenderContext, row: OutboxRow, who: Recipient | None) -> Rendered | Drop:
    if who is None:
        return Drop("not registered")
    status = row.payload.get("status")
    async with ctx.uows() as uow:
        profile = await uow.delegates.get(who.user_id)
    if profile is None or not profile.is_excom or profile.excom_status != status:
        return Drop("the decision changed before it was sent")
    if status == EXCOM_CONFIRMED:
        return Rendered(translate(ctx.i18n, who.language, CONFIRMED_NOTICE))
    contact = ctx.event.contact.email
    return Rendered(translate(ctx.i18n, who.language, REJECTED_NOTICE, contact=esc(contact)))


def register_renderers(renderers: Renderers) -> None:
    renderers.register(KIND_DECISION, render_decision)


def register(delivery: Any) -> None:
    """Wiring (bot/app.py `delivery_features`): the decision notice's message kind."""
    register_renderers(delivery.renderers)
