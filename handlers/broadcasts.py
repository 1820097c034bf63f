"""/broadcast (an organiser's message to an audience, with a preview, a confirmation and a live progress
message) and /broadcasts (past broadcasts, their figures, who was not reached and why).

Rights come from ADMIN_IDS (`is_admin`); the use cases are in services/broadcasts.py.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from domain import organiser as rules
from domain.clock import Clock
from domain.event import LANGS, Event
from domain.languages import LANGUAGE_NAMES
from domain.organiser import Audience, BroadcastInfo, Part
from domain.registration import PARTICIPANT_LABELS, Profile
from domain.timezones import fmt_datetime, get_tz, reader_zone, zone_name
from handlers.ui import ORGANISER_ONLY, ButtonData, Id, button, esc, grid, on_a_message, pager, refusal
from services import broadcasts as bc
from services.errors import ServiceError
from services.organiser import Sources
from services.ports import UnitOfWork


class BcCb(ButtonData, prefix="bc"):
    """A button of the /broadcast conversation or of /broadcasts."""

    action: str
    value: str = ""
    kind: str = ""


class BcCancel(ButtonData, prefix="bcx"):
    """The Cancel button of a running broadcast's progress message."""

    id: Id


def _markup(*buttons: InlineKeyboardButton | None, width: int = 1) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=grid(list(buttons), width))


# -- the message and its variants ------------------------------------------------------------------------------

def _variants_prompt(d: bc.Draft) -> tuple[str, InlineKeyboardMarkup]:
    have = ", ".join(LANGUAGE_NAMES[lang] for lang in d.languages) or _("none")
    text = _("Got it. Everyone gets this text unless their language has its own variant.\n"
             "Variants so far: {langs}.\n\n"
             "Add a variant for readers of another language, or go on to choose the audience.").format(langs=have)
    if d.buttons:
        text += "\n\n" + _("Buttons under the message: {buttons}.").format(
            buttons=", ".join(esc(b.label) for b in d.buttons))
    buttons = [button(_("➕ {lang} variant").format(lang=LANGUAGE_NAMES[lang]), BcCb(action="var", value=lang))
               for lang in LANGS]
    buttons.append(button(_("🔗 Add link buttons"), BcCb(action="btn")))
    buttons.append(button(_("➡️ Choose the audience"), BcCb(action="next")))
    return text, _markup(*buttons)


def _url_rows(d: bc.Draft) -> InlineKeyboardMarkup | None:
    if not d.buttons:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=b.label, url=b.url)] for b in d.buttons])


async def on_broadcast(message: Message, state: FSMContext, uow: UnitOfWork, is_admin: bool) -> None:
    """/broadcast: start a new broadcast draft."""
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
    if message.text is None and not message.photo and not message.document:
        await message.answer(_("Please send text, or a photo or a document with a caption."))
        return
    try:
        d = await bc.take_message(uow, state, _part(message), _media(message))
    except ServiceError as err:
        await message.answer(refusal(err))
        return
    text, markup = _variants_prompt(d)
    await message.answer(text, reply_markup=markup)


async def on_variant_text(message: Message, state: FSMContext, uow: UnitOfWork, is_admin: bool) -> None:
    """The text of a language variant."""
    if message.text is None and message.caption is None:
        await message.answer(_("Please send the text of this language's variant."))
        return
    try:
        d = await bc.take_variant(uow, state, _part(message))
    except ServiceError as err:
        await message.answer(refusal(err))
        return
    text, markup = _variants_prompt(d)
    await message.answer(text, reply_markup=markup)


async def on_buttons_text(message: Message, state: FSMContext, uow: UnitOfWork, is_admin: bool) -> None:
    """The link buttons, typed one a line."""
    try:
        d = await bc.take_buttons(uow, state, message.text or "")
    except ServiceError as err:
        await message.answer(refusal(err))
        return
    text, markup = _variants_prompt(d)
    await message.answer(text, reply_markup=markup)


# -- the audience -------------------------------------------------------------------------------------------

def _audience_keyboard(sources: Sources) -> InlineKeyboardMarkup:
    return _markup(*(button(_(o.label), BcCb(action="aud", value=o.kind)) for o in bc.audience_options(sources)),
                   button(_("✖️ Discard the draft"), BcCb(action="stop")))


def audience_label(a: Audience, sources: Sources) -> str:
    """The audience's conditions in the reader's language, joined with " · " (values of one kind with " / ")."""
    if a.everyone:
        return _(bc.EVERYONE_LABEL)
    parts = []
    if a.unfinished:
        parts.append(_(bc.UNFINISHED_LABEL))
    if a.countries:
        parts.append(_("Country: {value}").format(value=esc(" / ".join(a.countries))))
    if a.types:
        parts.append(_("Participant type: {value}").format(
            value=" / ".join(_(PARTICIPANT_LABELS.get(t, "Other")) for t in a.types)))
    if a.languages:
        parts.append(_("Language: {value}").format(
            value=" / ".join(LANGUAGE_NAMES.get(lang, lang) for lang in a.languages)))
    if a.members:
        parts.append(_(bc.MEMBERS_LABEL))
    for g in a.groups:
        source = sources.audiences.get(g)
        parts.append(_(source.label) if source else esc(g))
    return " · ".join(parts)


async def _edit(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    assert isinstance(query.message, Message)
    with contextlib.suppress(TelegramBadRequest):  # the same text again: "message is not modified"
        await query.message.edit_text(text, reply_markup=markup)


async def _send_shown(message: Message, s: bc.Shown, markup: InlineKeyboardMarkup | None = None) -> None:
    if s.media_type == "photo" and s.file_id:
        await message.answer_photo(s.file_id, caption=s.text, reply_markup=markup)
    elif s.media_type == "document" and s.file_id:
        await message.answer_document(s.file_id, caption=s.text, reply_markup=markup)
    else:
        await message.answer(s.text, reply_markup=markup)


def _question(d: bc.Draft, n: int, zone: str, lang: str) -> tuple[str, InlineKeyboardMarkup]:
    """The confirmation: how many it reaches now, when, and the ways on."""
    if d.send_at is not None:
        when = fmt_datetime(d.send_at, zone, lang)
        text = ngettext("Send this broadcast to <b>{n}</b> person on {when}?",
                        "Send this broadcast to <b>{n}</b> people on {when}?", n).format(n=n, when=when)
        send = button(ngettext("✅ Schedule for {n} person", "✅ Schedule for {n} people", n).format(n=n),
                      BcCb(action="send"))
        later = button(_("⚡ Send now instead"), BcCb(action="now"))
    else:
        text = ngettext("Send this broadcast to <b>{n}</b> person now?",
                        "Send this broadcast to <b>{n}</b> people now?", n).format(n=n)
        send = button(ngettext("✅ Send to {n} person", "✅ Send to {n} people", n).format(n=n), BcCb(action="send"))
        later = button(_("🕒 Send later"), BcCb(action="at"))
    return text, _markup(send, button(_("🧪 Send a test to me"), BcCb(action="test")), later,
                         button(_("➕ Add a condition"), BcCb(action="more")),
                         button(_("↩️ Change the audience"), BcCb(action="next")),
                         button(_("✖️ Discard the draft"), BcCb(action="stop")))


async def _confirm(query: CallbackQuery, d: bc.Draft, n: int, sources: Sources, zone: str, lang: str) -> None:
    assert isinstance(query.message, Message) and d.audience is not None
    await _edit(query, _("Audience: {audience}.").format(audience=audience_label(d.audience, sources)))
    for variant, s in bc.previews(d):
        if variant is not None:
            await query.message.answer(_("Readers of {lang} get this variant:").format(lang=LANGUAGE_NAMES[variant]))
        await _send_shown(query.message, s, _url_rows(d))
    text, markup = _question(d, n, zone, lang)
    await query.message.answer(_("Above is exactly what recipients will see.") + "\n" + text, reply_markup=markup)


async def on_button(query: CallbackQuery, callback_data: BcCb, state: FSMContext, uow: UnitOfWork, clock: Clock,
                    conf: Event, sources: Sources, is_admin: bool, lang: str, profile: Profile | None) -> None:
    """The buttons of the /broadcast conversation."""
    action, value = callback_data.action, callback_data.value
    zone = reader_zone(profile, conf)
    try:
        match action:
            case "btn":
                await bc.want_buttons(uow, state)
                await query.answer()
                await _edit(query, _("Send the buttons, one a line, as: label - https://address\n"
                                     "For example:\n<code>Program - https://wego.example/program</code>"))
            case "more":
                d = await bc.to_audience(uow, state, keep=True)
                so_far = d.audience or Audience()  # an old button after "Change the audience": from everyone
                n = await bc.count(uow, so_far, sources)
                await query.answer()
                await _edit(query, _("So far: {audience} ({n}). Each choice narrows it further; a second value of "
                                     "the same kind (another country) adds to it.").format(
                    audience=audience_label(so_far, sources), n=n), _audience_keyboard(sources))
            case "test":
                await bc.send_test(uow, state, by=query.from_user.id, lang=lang, now=clock.now())
                await query.answer(_("A test is on its way to you. Nobody else gets anything yet."), show_alert=True)
            case "at":
                await bc.want_send_at(uow, state)
                await query.answer()
                now = clock.now()
                await _edit(query, _("When should it go out? Send a date and time in your time zone ({zone}), for "
                                     "example {example}. By the bot's clock it is now {now}.").format(
                    zone=esc(zone_name(zone, lang, now)), now=fmt_datetime(now, zone, lang),
                    example=f"<code>{(now + timedelta(days=1)).astimezone(get_tz(zone)):%Y-%m-%d} 09:00</code>"),
                    _markup(button(_("↩️ Back"), BcCb(action="back"))))
            case "now" | "back":
                d = await (bc.send_now_instead(uow, state) if action == "now" else bc.back_to_confirm(uow, state))
                n = await bc.count(uow, d.audience or Audience(), sources)
                await query.answer()
                text, markup = _question(d, n, zone, lang)
                await _edit(query, text, markup)
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
                await bc.to_audience(uow, state, keep=True)
                await query.answer()
                await _edit(query, _("Which one?"), await _values_keyboard(uow, value))
            case "aud" | "val":
                kind = value if action == "aud" else callback_data.kind
                d, n = await bc.add_condition(uow, state, kind, value if action == "val" else None, sources)
                await query.answer()
                await _confirm(query, d, n, sources, zone, lang)
            case "send":
                draft = await bc.draft(state)
                bid, n = await bc.start(uow, state, sources, by=query.from_user.id, lang=lang, now=clock.now())
                await query.answer()
                assert isinstance(query.message, Message)
                if draft is not None and draft.send_at is not None and draft.send_at > clock.now():
                    when = fmt_datetime(draft.send_at, zone, lang)
                    await _edit(query, ngettext("Scheduled for {n} person on {when}.",
                                                "Scheduled for {n} people on {when}.", n).format(n=n, when=when))
                    first = _("📣 <b>Broadcast #{id}</b>: scheduled for {when}\nRecipients: {n}").format(
                        id=bid, when=when, n=n)
                else:
                    await _edit(query, ngettext("Sending to {n} person.", "Sending to {n} people.", n).format(n=n))
                    first = _("📣 <b>Broadcast #{id}</b>: sending…\nSent: 0 of {n}").format(id=bid, n=n)
                sent = await query.message.answer(first, reply_markup=_markup(button(_(bc.CANCEL_BUTTON),
                                                                                     BcCancel(id=bid))))
                await bc.attach_progress(uow, bid, sent.chat.id, sent.message_id)
                sources.started(bid)
            case "stop":
                await bc.discard(uow, state)
                await query.answer()
                await _edit(query, _("Draft discarded. Nothing was sent."))
            case _:
                await query.answer(_("This button is no longer active."))
    except ServiceError as err:
        await query.answer(refusal(err, html=False), show_alert=True)


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

async def on_send_at_text(message: Message, state: FSMContext, uow: UnitOfWork, clock: Clock, conf: Event,
                          sources: Sources, is_admin: bool, lang: str, profile: Profile | None) -> None:
    """"Send later": the date and time typed."""
    zone = reader_zone(profile, conf)
    try:
        d = await bc.take_send_at(uow, state, message.text or "", zone, clock.now(), lang)
        n = await bc.count(uow, d.audience or Audience(), sources)
    except ServiceError as err:
        await message.answer(refusal(err))
        return
    text, markup = _question(d, n, zone, lang)
    await message.answer(text, reply_markup=markup)


async def on_cancel_button(query: CallbackQuery, callback_data: BcCancel, uow: UnitOfWork, clock: Clock,
                           sources: Sources, is_admin: bool) -> None:
    """Cancel on a progress message: the rows not sent yet are cancelled."""
    try:
        n = await bc.cancel(uow, callback_data.id, by=query.from_user.id, now=clock.now())
    except ServiceError as err:
        await query.answer(refusal(err, html=False), show_alert=True)
        return
    sources.started(callback_data.id)  # a scheduled broadcast's progress message says so now, not at its time
    await query.answer(ngettext("Cancelled: {n} message will not be sent.", "Cancelled: {n} messages will not be sent.",
                                n).format(n=n), show_alert=True)


def _summary_line(b: BroadcastInfo, sources: Sources, lang: str, zone: str, now: datetime) -> str:
    status = {rules.SENDING: _("sending"), rules.DONE: _("finished"), rules.CANCELLED: _("cancelled")}.get(
        b.status, b.status)
    if bc.scheduled(b, now) and b.send_at is not None:
        status = _(bc.SCHEDULED_STATUS).format(when=fmt_datetime(b.send_at, zone, lang))
    return _("<b>#{id}</b> · {when} · {audience} · {status}\n"
             "   sent {sent} of {total}, failed {failed}, blocked the bot {blocked}, cancelled {cancelled}").format(
        id=b.id, when=fmt_datetime(b.created_at, zone, lang), audience=audience_label(b.audience, sources),
        status=status, sent=b.sent, total=b.recipients, failed=b.failed, blocked=b.blocked, cancelled=b.cancelled)


async def on_list(message: Message, uow: UnitOfWork, conf: Event, clock: Clock, sources: Sources, is_admin: bool,
                  lang: str) -> None:
    """/broadcasts: the latest broadcasts with their figures; a button opens each."""
    text, markup = await _list(uow, conf, sources, lang, 0, clock.now())
    await message.answer(text, reply_markup=markup)


async def _list(uow: UnitOfWork, conf: Event, sources: Sources, lang: str, page: int, now: datetime
                ) -> tuple[str, InlineKeyboardMarkup]:
    found, pages, page = await bc.listing(uow, page)
    if not found:
        return _("No broadcast has been sent yet. /broadcast starts one."), _markup()
    lines = [_("<b>Broadcasts</b> (newest first):")]
    lines += [_summary_line(b, sources, lang, conf.timezone, now) for b in found]
    buttons = [button(_("🔎 #{id}: who was not reached").format(id=b.id), BcCb(action="open", value=str(b.id)))
               for b in found]
    markup = InlineKeyboardMarkup(inline_keyboard=grid(buttons, 1)
                                  + pager(page, pages, lambda n: BcCb(action="page", value=str(n))))
    return "\n\n".join(lines), markup


async def on_list_button(query: CallbackQuery, callback_data: BcCb, uow: UnitOfWork, conf: Event, clock: Clock,
                         sources: Sources, is_admin: bool, lang: str) -> None:
    """A page of /broadcasts, or one broadcast's report."""
    if not callback_data.value.isdigit():
        await query.answer(_("This button is no longer active."))
        return
    number = int(callback_data.value)
    if callback_data.action == "page":
        text, markup = await _list(uow, conf, sources, lang, number, clock.now())
        await query.answer()
        await _edit(query, text, markup)
        return
    try:
        info, p, missed = await bc.report(uow, number)
    except ServiceError as err:
        await query.answer(refusal(err, html=False), show_alert=True)
        return
    await query.answer()
    lines = [_summary_line(info, sources, lang, conf.timezone, clock.now()),
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
    await message.answer(_("Please use the buttons above, or send /cancel to drop the draft."))


def make_router() -> Router:
    router = Router(name="broadcasts")
    router.message.register(on_broadcast, Command("broadcast"), flags=ORGANISER_ONLY)
    router.message.register(on_list, Command("broadcasts"), flags=ORGANISER_ONLY)
    router.message.register(on_message, StateFilter(bc.S_MESSAGE), ~F.text.startswith("/"), flags=ORGANISER_ONLY)
    router.message.register(on_variant_text, StateFilter(bc.S_VARIANT), ~F.text.startswith("/"), flags=ORGANISER_ONLY)
    router.message.register(on_buttons_text, StateFilter(bc.S_BUTTONS), F.text, ~F.text.startswith("/"),
                            flags=ORGANISER_ONLY)
    router.message.register(on_send_at_text, StateFilter(bc.S_SEND_AT), F.text, ~F.text.startswith("/"),
                            flags=ORGANISER_ONLY)
    router.message.register(on_stray_input, StateFilter(bc.S_VARIANTS, bc.S_AUDIENCE, bc.S_CONFIRM, bc.S_BUTTONS,
                                                        bc.S_SEND_AT), ~F.text.startswith("/"), flags=ORGANISER_ONLY)
    router.callback_query.register(on_list_button, BcCb.filter(F.action.in_({"open", "page"})), on_a_message,
                                   flags=ORGANISER_ONLY)
    router.callback_query.register(on_button, BcCb.filter(), on_a_message, flags=ORGANISER_ONLY)
    router.callback_query.register(on_cancel_button, BcCancel.filter(), flags=ORGANISER_ONLY)
    return router
