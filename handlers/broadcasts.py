"""/broadcast (an organiser's message to an audience, with a preview, a confirmation and a live progress
message) and /broadcasts (past broadcasts, their figures, who was not reached and why).

Rights come from ADMIN_IDS (`is_admin`); the use cases are in services/broadcasts.py.
"""

from __future__ import annotations

import contextlib

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from domain import organiser as rules
from domain.clock import Clock
from domain.event import LANGS, Event
from domain.languages import LANGUAGE_NAMES
from domain.organiser import Audience, BroadcastInfo, Part
from domain.registration import PARTICIPANT_LABELS
from domain.timezones import fmt_datetime
from handlers.ui import button, esc, grid, on_a_message, pager, refuse_non_organiser
from services import broadcasts as bc
from services.errors import ServiceError
from services.organiser import Sources
from services.ports import UnitOfWork


class BcCb(CallbackData, prefix="bc"):
    """A button of the /broadcast conversation or of /broadcasts."""

    action: str
    value: str = ""
    kind: str = ""


class BcCancel(CallbackData, prefix="bcx"):
    """The Cancel button of a running broadcast's progress message."""

    id: int


def _markup(*buttons: object, width: int = 1) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=grid(list(buttons), width))  # type: ignore[arg-type]


# -- the message and its variants ------------------------------------------------------------------------------

def _variants_prompt(d: bc.Draft) -> tuple[str, InlineKeyboardMarkup]:
    have = ", ".join(LANGUAGE_NAMES[lang] for lang in d.languages) or _("none")
    text = _("Got it. Everyone gets this text unless their language has its own variant.\n"
             "Variants so far: {langs}.\n\n"
             "Add a variant for readers of another language, or go on to choose the audience.").format(langs=have)
    buttons = [button(_("➕ {lang} variant").format(lang=LANGUAGE_NAMES[lang]), BcCb(action="var", value=lang))
               for lang in LANGS]
    buttons.append(button(_("➡️ Choose the audience"), BcCb(action="next")))
    return text, _markup(*buttons)


async def on_broadcast(message: Message, state: FSMContext, uow: UnitOfWork, is_admin: bool) -> None:
    """/broadcast: start a new broadcast draft."""
    if not is_admin:
        await refuse_non_organiser(message)
        return
    await bc.begin(uow, state)
    await message.answer(_("📣 <b>New broadcast.</b> Send me the message as recipients should see it: text with "
                           "formatting, or a photo or a document with a caption. /cancel stops."))


def _part(message: Message) -> Part:
    plain = message.text if message.text is not None else (message.caption or "")
    html = message.html_text if plain else ""
    # Telegram counts its limits in UTF-16 code units (an emoji is two).
    return Part(html, len(plain.encode("utf-16-le")) // 2)


def _media(message: Message) -> dict[str, str] | None:
    if message.photo:
        return {"type": "photo", "file_id": message.photo[-1].file_id}
    if message.document:
        return {"type": "document", "file_id": message.document.file_id}
    return None


async def on_message(message: Message, state: FSMContext, uow: UnitOfWork, is_admin: bool) -> None:
    """The broadcast's message (text, or a photo or a document with a caption)."""
    if not is_admin:
        await refuse_non_organiser(message)
        return
    if message.text is None and not message.photo and not message.document:
        await message.answer(_("Please send text, or a photo or a document with a caption."))
        return
    try:
        d = await bc.take_message(uow, state, _part(message), _media(message))
    except ServiceError as err:
        await message.answer(_(err.message).format(**err.params))
        return
    text, markup = _variants_prompt(d)
    await message.answer(text, reply_markup=markup)


async def on_variant_text(message: Message, state: FSMContext, uow: UnitOfWork, is_admin: bool) -> None:
    """The text of a language variant."""
    if not is_admin:
        await refuse_non_organiser(message)
        return
    if message.text is None and message.caption is None:
        await message.answer(_("Please send the text of this language's variant."))
        return
    try:
        d = await bc.take_variant(uow, state, _part(message))
    except ServiceError as err:
        await message.answer(_(err.message).format(**err.params))
        return
    text, markup = _variants_prompt(d)
    await message.answer(text, reply_markup=markup)


# -- the audience -------------------------------------------------------------------------------------------

def _audience_keyboard(sources: Sources) -> InlineKeyboardMarkup:
    return _markup(*(button(_(o.label), BcCb(action="aud", value=o.kind)) for o in bc.audience_options(sources)),
                   button(_("✖️ Discard the draft"), BcCb(action="stop")))


def audience_label(a: Audience, sources: Sources) -> str:
    match a.kind:
        case rules.EVERYONE:
            return _(bc.EVERYONE_LABEL)
        case rules.BY_TYPE:
            return _("Participant type: {value}").format(value=_(PARTICIPANT_LABELS.get(a.value or "", "Other")))
        case rules.BY_LANGUAGE:
            return _("Language: {value}").format(value=LANGUAGE_NAMES.get(a.value or "", a.value or ""))
        case rules.BY_COUNTRY:
            return _("Country: {value}").format(value=esc(a.value or ""))
        case rules.MEMBERS:
            return _(bc.MEMBERS_LABEL)
        case rules.UNFINISHED:
            return _(bc.UNFINISHED_LABEL)
    source = sources.audiences.get(a.kind)
    return _(source.label) if source else esc(a.kind)


async def _edit(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    assert isinstance(query.message, Message)
    with contextlib.suppress(TelegramBadRequest):  # the same text again: "message is not modified"
        await query.message.edit_text(text, reply_markup=markup)


async def _send_shown(message: Message, s: bc.Shown) -> None:
    if s.media_type == "photo" and s.file_id:
        await message.answer_photo(s.file_id, caption=s.text)
    elif s.media_type == "document" and s.file_id:
        await message.answer_document(s.file_id, caption=s.text)
    else:
        await message.answer(s.text)


async def _confirm(query: CallbackQuery, d: bc.Draft, n: int, sources: Sources) -> None:
    assert isinstance(query.message, Message) and d.audience is not None
    await _edit(query, _("Audience: {audience}.").format(audience=audience_label(d.audience, sources)))
    for lang, s in bc.previews(d):
        if lang is not None:
            await query.message.answer(_("Readers of {lang} get this variant:").format(lang=LANGUAGE_NAMES[lang]))
        await _send_shown(query.message, s)
    await query.message.answer(
        _("Above is exactly what recipients will see.") + "\n" +
        ngettext("Send this broadcast to <b>{n}</b> person now?", "Send this broadcast to <b>{n}</b> people now?",
                 n).format(n=n),
        reply_markup=_markup(button(ngettext("✅ Send to {n} person", "✅ Send to {n} people", n).format(n=n),
                                    BcCb(action="send")),
                             button(_("↩️ Change the audience"), BcCb(action="next")),
                             button(_("✖️ Discard the draft"), BcCb(action="stop"))))


async def on_button(query: CallbackQuery, callback_data: BcCb, state: FSMContext, uow: UnitOfWork, clock: Clock,
                    conf: Event, sources: Sources, is_admin: bool, lang: str) -> None:
    """The buttons of the /broadcast conversation."""
    if not is_admin:
        await refuse_non_organiser(query)
        return
    action, value = callback_data.action, callback_data.value
    try:
        match action:
            case "var":
                await bc.want_variant(uow, state, value)
                await query.answer()
                await _edit(query, _("Send the text for readers of {lang} (formatting is kept).")
                            .format(lang=LANGUAGE_NAMES.get(value, value)))
            case "next":
                await bc.to_audience(uow, state)
                await query.answer()
                await _edit(query, _("Who should get it?"), _audience_keyboard(sources))
            case "aud" if value in rules.WITH_VALUE:
                await bc.to_audience(uow, state)
                await query.answer()
                await _edit(query, _("Which one?"), await _values_keyboard(uow, value))
            case "aud" | "val":
                audience = Audience(value) if action == "aud" else Audience(callback_data.kind, value or None)
                d, n = await bc.choose_audience(uow, state, audience, sources)
                await query.answer()
                await _confirm(query, d, n, sources)
            case "send":
                bid, n = await bc.start(uow, state, sources, by=query.from_user.id, lang=lang, now=clock.now())
                await query.answer()
                await _edit(query, ngettext("Sending to {n} person.", "Sending to {n} people.", n).format(n=n))
                assert isinstance(query.message, Message)
                sent = await query.message.answer(
                    _("📣 <b>Broadcast #{id}</b>: sending…\nSent: 0 of {n}").format(id=bid, n=n),
                    reply_markup=_markup(button(_(bc.CANCEL_BUTTON), BcCancel(id=bid))))
                await bc.attach_progress(uow, bid, sent.chat.id, sent.message_id)
                sources.started(bid)
            case "stop":
                await bc.discard(uow, state)
                await query.answer()
                await _edit(query, _("Draft discarded. Nothing was sent."))
            case _:
                await query.answer(_("This button is no longer active."))
    except ServiceError as err:
        await query.answer(_(err.message).format(**err.params), show_alert=True)


async def _values_keyboard(uow: UnitOfWork, kind: str) -> InlineKeyboardMarkup:
    if kind == rules.BY_TYPE:
        buttons = [button(_(label), BcCb(action="val", kind=kind, value=t)) for t, label in bc.type_values()]
    elif kind == rules.BY_LANGUAGE:
        buttons = [button(name, BcCb(action="val", kind=kind, value=code)) for code, name in LANGUAGE_NAMES.items()]
    else:
        # A country whose name cannot travel in a button (":" or too long) is left out of the menu.
        buttons = [button(f"{country} ({n})", BcCb(action="val", kind=kind, value=country))
                   for country, n in await bc.country_values(uow) if ":" not in country]
    buttons.append(button(_("↩️ Back"), BcCb(action="next")))
    return _markup(*buttons, width=2)


# -- running broadcasts ------------------------------------------------------------------------------------------

async def on_cancel_button(query: CallbackQuery, callback_data: BcCancel, uow: UnitOfWork, clock: Clock,
                           is_admin: bool) -> None:
    """Cancel on a progress message: the rows not sent yet are cancelled."""
    if not is_admin:
        await refuse_non_organiser(query)
        return
    try:
        n = await bc.cancel(uow, callback_data.id, by=query.from_user.id, now=clock.now())
    except ServiceError as err:
        await query.answer(_(err.message).format(**err.params), show_alert=True)
        return
    await query.answer(ngettext("Cancelled: {n} message will not be sent.", "Cancelled: {n} messages will not be sent.",
                                n).format(n=n), show_alert=True)


def _summary_line(b: BroadcastInfo, sources: Sources, lang: str, zone: str) -> str:
    status = {rules.SENDING: _("sending"), rules.DONE: _("finished"), rules.CANCELLED: _("cancelled")}.get(
        b.status, b.status)
    return _("<b>#{id}</b> · {when} · {audience} · {status}\n"
             "   sent {sent} of {total}, failed {failed}, blocked the bot {blocked}, cancelled {cancelled}").format(
        id=b.id, when=fmt_datetime(b.created_at, zone, lang), audience=audience_label(b.audience, sources),
        status=status, sent=b.sent, total=b.recipients, failed=b.failed, blocked=b.blocked, cancelled=b.cancelled)


async def on_list(message: Message, uow: UnitOfWork, conf: Event, sources: Sources, is_admin: bool,
                  lang: str) -> None:
    """/broadcasts: the latest broadcasts with their figures; a button opens each."""
    if not is_admin:
        await refuse_non_organiser(message)
        return
    text, markup = await _list(uow, conf, sources, lang, 0)
    await message.answer(text, reply_markup=markup)


async def _list(uow: UnitOfWork, conf: Event, sources: Sources, lang: str, page: int
                ) -> tuple[str, InlineKeyboardMarkup]:
    found, pages, page = await bc.listing(uow, page)
    if not found:
        return _("No broadcast has been sent yet. /broadcast starts one."), _markup()
    lines = [_("<b>Broadcasts</b> (newest first):")]
    lines += [_summary_line(b, sources, lang, conf.timezone) for b in found]
    buttons = [button(_("🔎 #{id}: who was not reached").format(id=b.id), BcCb(action="open", value=str(b.id)))
               for b in found]
    markup = InlineKeyboardMarkup(inline_keyboard=grid(buttons, 1)
                                  + pager(page, pages, lambda n: BcCb(action="page", value=str(n))))
    return "\n\n".join(lines), markup


async def on_list_button(query: CallbackQuery, callback_data: BcCb, uow: UnitOfWork, conf: Event,
                         sources: Sources, is_admin: bool, lang: str) -> None:
    """A page of /broadcasts, or one broadcast's report."""
    if not is_admin:
        await refuse_non_organiser(query)
        return
    if not callback_data.value.isdigit():
        await query.answer(_("This button is no longer active."))
        return
    number = int(callback_data.value)
    if callback_data.action == "page":
        text, markup = await _list(uow, conf, sources, lang, number)
        await query.answer()
        await _edit(query, text, markup)
        return
    try:
        info, p, missed = await bc.report(uow, number)
    except ServiceError as err:
        await query.answer(_(err.message), show_alert=True)
        return
    await query.answer()
    lines = [_summary_line(info, sources, lang, conf.timezone),
             _("Now: sent {sent}, failed {failed}, blocked the bot {blocked}, left {left}, cancelled {cancelled}.")
             .format(sent=p.sent, failed=p.failed + p.dropped, blocked=p.blocked, left=p.left, cancelled=p.cancelled)]
    if missed:
        lines.append(_("<b>Not reached</b> (the first {n}):").format(n=len(missed)))
        reasons = {"blocked": _("blocked the bot"), "failed": _("refused by Telegram"),
                   "cancelled": _("cancelled"), "dropped": _("not sent"), "pending": _("waiting"),
                   "sending": _("being sent")}
        # Clipped, so that 30 lines stay within one message (4,096 characters).
        lines += [f"• {esc((u.name or '—')[:40])} (<code>{u.user_id}</code>): {reasons.get(u.status, u.status)}"
                  + (f" — {esc(u.error[:80])}" if u.error and u.status == "failed" else "") for u in missed]
    else:
        lines.append(_("Everyone was reached."))
    assert isinstance(query.message, Message)
    await query.message.answer("\n".join(lines))


async def on_stray_input(message: Message, is_admin: bool) -> None:
    """Something typed while the draft waits for a button."""
    if not is_admin:
        await refuse_non_organiser(message)
        return
    await message.answer(_("Please use the buttons above, or send /cancel to drop the draft."))


def make_router() -> Router:
    router = Router(name="broadcasts")
    router.message.register(on_broadcast, Command("broadcast"))
    router.message.register(on_list, Command("broadcasts"))
    router.message.register(on_message, StateFilter(bc.S_MESSAGE), ~F.text.startswith("/"))
    router.message.register(on_variant_text, StateFilter(bc.S_VARIANT), ~F.text.startswith("/"))
    router.message.register(on_stray_input, StateFilter(bc.S_VARIANTS, bc.S_AUDIENCE, bc.S_CONFIRM),
                            ~F.text.startswith("/"))
    router.callback_query.register(on_list_button, BcCb.filter(F.action.in_({"open", "page"})), on_a_message)
    router.callback_query.register(on_button, BcCb.filter(), on_a_message)
    router.callback_query.register(on_cancel_button, BcCancel.filter())
    return router
