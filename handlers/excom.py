"""The organisers' EXCOM queue: /excom lists the pending "EXCOM member city" claims with Confirm / Reject
buttons; a CSV or TXT file of e-mails or Telegram user ids sent by an organiser confirms in bulk.

Rights come from ADMIN_IDS (`is_admin`). The use cases are in services/excom.py.
"""

from __future__ import annotations

import contextlib
import io

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from domain import excom as rules
from domain.clock import Clock
from domain.event import Event
from handlers.ui import ORGANISER_ONLY, ButtonData, Id, Page, button, esc, grid, on_a_message, pager, refusal
from services import excom as excom_uc
from services.errors import ServiceError
from services.ports import UnitOfWork


class ExcomCb(ButtonData, prefix="xc"):
    """A button of the queue: confirm ("ok") or reject ("no") the claim of `uid`, or show `page` ("pg")."""

    action: str
    uid: Id = 0
    page: Page = 0


def _queue_text(q: excom_uc.Queue) -> str:
    if not q.total:
        lines = [_("<b>EXCOM claims</b>: none is waiting for confirmation.")]
    else:
        lines = [_("<b>EXCOM claims waiting for confirmation</b>: {n}").format(n=q.total)]
        for n, claim in enumerate(q.claims, q.page * excom_uc.PAGE_SIZE + 1):
            p = claim.profile
            place = f"{p.city}, {p.country}" if p.country else p.city
            listed = _("✅ on the event's EXCOM list") if claim.on_list else \
                _("⚠️ not on the event's EXCOM list")
            lines.append(f"{n}. <b>{esc(p.full_name)}</b>, {esc(p.position)}, {esc(p.organisation)}\n"
                         f"   {esc(place)} · {listed}")
        if q.pages > 1:
            lines.append(_("Page {n} of {total}.").format(n=q.page + 1, total=q.pages))
    lines.append(_("To confirm many at once, send me a CSV or TXT file of their e-mails or Telegram user ids "
                   "(one a line or in any column)."))
    return "\n\n".join(lines)


def _queue_keyboard(q: excom_uc.Queue) -> InlineKeyboardMarkup:
    first = q.page * excom_uc.PAGE_SIZE + 1
    rows = []
    for n, claim in enumerate(q.claims, first):
        uid = claim.profile.user_id
        rows += grid([button(_("✅ Confirm {n}").format(n=n), ExcomCb(action="ok", uid=uid, page=q.page)),
                      button(_("❌ Reject {n}").format(n=n), ExcomCb(action="no", uid=uid, page=q.page))], 2)
    rows += pager(q.page, q.pages, lambda n: ExcomCb(action="pg", page=n))
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def on_excom(message: Message, uow: UnitOfWork, conf: Event, is_admin: bool) -> None:
    """/excom: the organisers' queue of EXCOM claims (others get the organisers-only line)."""
    q = await excom_uc.queue(uow, conf)
    await message.answer(_queue_text(q), reply_markup=_queue_keyboard(q))


async def on_queue_button(query: CallbackQuery, callback_data: ExcomCb, uow: UnitOfWork, conf: Event,
                          clock: Clock, is_admin: bool) -> None:
    """Confirm / Reject / a page button of the /excom queue."""
    note = None
    if callback_data.action in ("ok", "no"):
        try:
            person = await excom_uc.decide(uow, callback_data.uid, confirm=callback_data.action == "ok",
                                           by=query.from_user.id, now=clock.now())
        except ServiceError as err:
            note = refusal(err, html=False)
        else:
            note = (_("Confirmed: {name}. They will be told.") if callback_data.action == "ok" else
                    _("Rejected: {name}. They will be told.")).format(name=person.full_name)
    elif callback_data.action != "pg":
        await query.answer(_("This button is no longer active."))
        return
    q = await excom_uc.queue(uow, conf, callback_data.page)
    await query.answer(note or None, show_alert=bool(note))
    assert isinstance(query.message, Message)
    with contextlib.suppress(TelegramBadRequest):  # the same page again: "message is not modified"
        await query.message.edit_text(_queue_text(q), reply_markup=_queue_keyboard(q))


async def _from_organiser(message: Message, is_admin: bool) -> bool:
    return is_admin


async def on_list_file(message: Message, bot: Bot, uow: UnitOfWork, clock: Clock) -> None:
    """A document from an organiser (after /excom): a CSV or TXT list of people to confirm as EXCOM members."""
    doc = message.document
    assert doc is not None and message.from_user is not None
    if not rules.is_list_file(doc.file_name, doc.mime_type):
        await message.answer(_("To confirm EXCOM members from a list, send a CSV or TXT file."))
        return
    if doc.file_size is not None and doc.file_size > rules.MAX_LIST_BYTES:
        await message.answer(_(excom_uc.TOO_BIG).format(n=rules.MAX_LIST_ENTRIES))
        return
    buffer = io.BytesIO()
    try:
        await bot.download(doc, destination=buffer)
    except (TelegramAPIError, OSError):
        await message.answer(_("I could not download that file from Telegram. Please send it again."))
        return
    try:
        result = await excom_uc.confirm_list(uow, buffer.getvalue(), by=message.from_user.id, now=clock.now())
    except ServiceError as err:
        await message.answer(refusal(err))
        return
    lines = [ngettext("{n} person in the list is registered.", "{n} people in the list are registered.",
                      result.matched).format(n=result.matched),
             ngettext("{n} newly confirmed as an EXCOM member (they will be told).",
                      "{n} newly confirmed as EXCOM members (they will be told).",
                      result.confirmed).format(n=result.confirmed)]
    if result.already:
        lines.append(ngettext("{n} was confirmed already.", "{n} were confirmed already.",
                              result.already).format(n=result.already))
    if result.not_excom:
        lines.append(ngettext("{n} registered with another participant type and was left as is.",
                              "{n} registered with another participant type and were left as they are.",
                              result.not_excom).format(n=result.not_excom))
    if result.unmatched:
        lines.append(ngettext("{n} e-mail or id matched nobody registered.",
                              "{n} e-mails or ids matched nobody registered.",
                              result.unmatched).format(n=result.unmatched))
    if result.unreadable:
        lines.append(ngettext("{n} line held neither an e-mail nor an id.",
                              "{n} lines held neither an e-mail nor an id.",
                              result.unreadable).format(n=result.unreadable))
    await message.answer("\n".join(lines))


def make_router() -> Router:
    router = Router(name="excom")
    router.message.register(on_excom, Command("excom"), flags=ORGANISER_ONLY)
    router.callback_query.register(on_queue_button, ExcomCb.filter(), on_a_message, flags=ORGANISER_ONLY)
    router.message.register(on_list_file, F.document, _from_organiser)
    return router
