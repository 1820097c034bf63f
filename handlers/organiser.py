"""Organiser tools: /people (registrations, searchable, a person's card, EXCOM decisions, a typo corrected),
/stats (text and a chart), /export (CSV documents) and /audit (the latest organiser actions).

Rights come from ADMIN_IDS (`is_admin`); every command and button refuses others with one neutral line.
The use cases are in services/organiser.py.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from domain.clock import Clock
from domain.event import Event
from domain.languages import LANGUAGE_NAMES
from domain.organiser import Stats
from domain.registration import EXCOM_PENDING, FIELD_LABELS, PARTICIPANT_LABELS, Profile
from domain.timezones import fmt_datetime
from handlers.ui import ORGANISER_ONLY, ButtonData, Id, Page, button, esc, grid, on_a_message, pager, refusal, rows
from services import organiser as org
from services.errors import ServiceError
from services.organiser import Sources
from services.ports import UnitOfWork


class OrgCb(ButtonData, prefix="og"):
    """A button of /people (page "pg", card "card", EXCOM "ok"/"no", fix "fix" with a field) or /export ("ex")."""

    action: str
    uid: Id = 0
    page: Page = 0
    value: str = ""


async def _edit(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    assert isinstance(query.message, Message)
    with contextlib.suppress(TelegramBadRequest):  # the same page again: "message is not modified"
        await query.message.edit_text(text, reply_markup=markup)


# -- /people ---------------------------------------------------------------------------------------------------

def _page_view(p: org.Page) -> tuple[str, InlineKeyboardMarkup]:
    if not p.total:
        text = _("Nobody matches “{query}”.").format(query=esc(p.query)) if p.query else \
            _("Nobody has registered yet.")
        return text, InlineKeyboardMarkup(inline_keyboard=[])
    head = _("<b>Registrations matching “{query}”</b>: {n}").format(query=esc(p.query), n=p.total) if p.query \
        else _("<b>Registrations</b>: {n} (newest first)").format(n=p.total)
    lines = [head]
    first = p.page * org.PAGE_SIZE + 1
    for n, person in enumerate(p.people, first):
        place = f"{person.city}, {person.country}" if person.country else person.city
        lines.append(f"{n}. <b>{esc(person.full_name)}</b> — {esc(person.organisation)}, {esc(place)}\n"
                     f"   {esc(person.email)}")
    if p.pages > 1:
        lines.append(_("Page {n} of {total}.").format(n=p.page + 1, total=p.pages))
    lines.append(_("Search: /people followed by a name, e-mail, city or organisation."))
    buttons = [button(f"{n}. {person.full_name[:30]}", OrgCb(action="card", uid=person.user_id, page=p.page))
               for n, person in enumerate(p.people, first)]
    # The query travels in the button when it fits; a longer one is typed again.
    nav = pager(p.page, p.pages, lambda n: OrgCb(action="pg", page=n, value=p.query))
    return "\n\n".join(lines), InlineKeyboardMarkup(inline_keyboard=grid(buttons, 1) + nav)


async def on_people(message: Message, command: CommandObject, uow: UnitOfWork, is_admin: bool) -> None:
    """/people [search]: registrations, newest first; a button opens a person's card."""
    text, markup = _page_view(await org.registrations(uow, command.args or ""))
    await message.answer(text, reply_markup=markup)


def _card_view(p: Profile, conf: Event, lang: str) -> tuple[str, InlineKeyboardMarkup]:
    excom = {"pending": _("waiting for confirmation"), "confirmed": _("confirmed"),
             "rejected": _("rejected")}.get(p.excom_status or "", "—")
    rows = [
        (_(FIELD_LABELS["full_name"]), esc(p.full_name)), (_(FIELD_LABELS["position"]), esc(p.position)),
        (_(FIELD_LABELS["organisation"]), esc(p.organisation)),
        (_(FIELD_LABELS["city"]), esc(f"{p.city}, {p.country}" if p.country else p.city)),
        (_(FIELD_LABELS["participant_type"]), _(PARTICIPANT_LABELS.get(p.participant_type, "Other"))),
        (_("EXCOM membership"), excom), (_(FIELD_LABELS["email"]), esc(p.email)),
        (_(FIELD_LABELS["language"]), LANGUAGE_NAMES.get(p.language, p.language)),
        (_(FIELD_LABELS["timezone"]), esc(p.timezone)),
        (_("Telegram"), f"<code>{p.user_id}</code>" + (f" @{esc(p.username)}" if p.username else "")),
    ]
    if p.registered_at is not None:
        rows.append((_("Registered"), fmt_datetime(p.registered_at, conf.timezone, lang)))
    if p.blocked:
        rows.append((_("Status"), _("blocked the bot")))
    text = "\n".join(f"<b>{k}:</b> {v}" for k, v in rows)
    buttons = []
    if p.is_excom and p.excom_status == EXCOM_PENDING:
        buttons += [button(_("✅ Confirm EXCOM membership"), OrgCb(action="ok", uid=p.user_id)),
                    button(_("❌ Reject EXCOM membership"), OrgCb(action="no", uid=p.user_id))]
    buttons += [button(_("✏️ Fix: {field}").format(field=_(FIELD_LABELS[f])), OrgCb(action="fix", uid=p.user_id,
                                                                                  value=f))
                for f in org.FIXABLE]
    return text, InlineKeyboardMarkup(inline_keyboard=grid(buttons, 2))


async def on_people_button(query: CallbackQuery, callback_data: OrgCb, state: FSMContext, uow: UnitOfWork,
                           conf: Event, clock: Clock, is_admin: bool, lang: str) -> None:
    """A page, a card, an EXCOM decision or "Fix" on a card."""
    cb = callback_data
    assert isinstance(query.message, Message)
    try:
        match cb.action:
            case "pg":
                text, markup = _page_view(await org.registrations(uow, cb.value, cb.page))
                await query.answer()
                await _edit(query, text, markup)
            case "card":
                text, markup = _card_view(await org.card(uow, cb.uid), conf, lang)
                await query.answer()
                await query.message.answer(text, reply_markup=markup)
            case "ok" | "no":
                person = await org.decide_excom(uow, cb.uid, confirm=cb.action == "ok", by=query.from_user.id,
                                                now=clock.now())
                await query.answer((_("Confirmed: {name}. They will be told.") if cb.action == "ok" else
                                    _("Rejected: {name}. They will be told.")).format(name=person.full_name),
                                   show_alert=True)
                text, markup = _card_view(person, conf, lang)
                await _edit(query, text, markup)
            case "fix":
                person = await org.want_fix(uow, state, cb.uid, cb.value)
                await query.answer()
                await query.message.answer(
                    _("Type the corrected {field} of {name} (now: {value}). /cancel keeps it as it is.").format(
                        field=_(FIELD_LABELS[cb.value]).lower(), name=esc(person.full_name),
                        value=esc(_current(person, cb.value))))
            case "fixok":
                person = await org.fix_anyway(uow, state, conf, by=query.from_user.id, now=clock.now())
                await query.answer()
                text, markup = _card_view(person, conf, lang)
                await query.message.answer(_("Saved.") + "\n\n" + text, reply_markup=markup)
            case "fixno":
                await org.keep_as_it_was(uow, state)
                await query.answer()
                await query.message.answer(_("Kept as it was."))
            case _:
                await query.answer(_("This button is no longer active."))
    except ServiceError as err:
        await query.answer(refusal(err, html=False), show_alert=True)


def _current(p: Profile, field_name: str) -> str:
    if field_name == "city":
        return f"{p.city}, {p.country}" if p.country else p.city
    return str(getattr(p, field_name, ""))


async def on_fix_value(message: Message, state: FSMContext, uow: UnitOfWork, conf: Event, clock: Clock,
                       is_admin: bool, lang: str) -> None:
    """The corrected value of a field (after "Fix" on a card)."""
    assert message.from_user is not None
    try:
        person = await org.fix(uow, state, conf, message.text, by=message.from_user.id, now=clock.now())
    except ServiceError as err:
        if err.code == "claim_change":
            await message.answer(_claim_change_text(err), reply_markup=rows(
                button(_("Save anyway"), OrgCb(action="fixok")), button(_("Keep it as it was"),
                                                                        OrgCb(action="fixno"))))
            return
        await message.answer(refusal(err) + "\n" + _("Please type it again, or /cancel."))
        return
    text, markup = _card_view(person, conf, lang)
    await message.answer(_("Saved.") + "\n\n" + text, reply_markup=markup)


def _claim_change_text(err: ServiceError) -> str:
    return refusal(err)  # the status is a Msgid: translated


# -- /stats ----------------------------------------------------------------------------------------------------

# Days listed in the text (the chart has them all): the message stays well within 4,096 characters.
DAYS_IN_TEXT = 21


def _stats_text(s: Stats) -> str:
    def block(title: str, items: list[tuple[str, int]], label: dict[str, str] | None = None) -> str:
        body = "\n".join(f"  {esc(label.get(k, k) if label else k)}: {n}" for k, n in items) or "  —"
        return f"<b>{title}</b>\n{body}"

    types = {k: _(v) for k, v in PARTICIPANT_LABELS.items()}
    parts = [_("<b>Registered: {n}</b>").format(n=s.registered),
             block(_("By day (UTC)"), s.by_day) if len(s.by_day) <= DAYS_IN_TEXT else
             block(_("By day (UTC), the last {n} days (the chart shows every day)").format(n=DAYS_IN_TEXT),
                   s.by_day[-DAYS_IN_TEXT:]),
             block(_("By participant type"), s.by_type, types),
             block(_("By language"), s.by_language, LANGUAGE_NAMES),
             block(_("By country"), s.by_country),
             block(_("By time zone"), s.by_zone),
             "\n".join([f"{_(org.FOLLOWING)}: {s.following}", *(f"{_(label)}: {n}" for label, n in s.extra),
                        f"{_(org.BLOCKED)}: {s.blocked}"])]
    return "\n\n".join(parts)


async def on_stats(message: Message, uow: UnitOfWork, conf: Event, sources: Sources, i18n: I18n, lang: str,
                   is_admin: bool) -> None:
    """/stats: the figures as text, then as a chart."""
    s = await org.stats(uow, sources)
    await message.answer(_stats_text(s))
    if not s.registered:
        return
    # In the reader's language: the chart falls back to Noto Sans CJK for Hangul (services.organiser.CHART_FONTS).
    with i18n.use_locale(lang):
        titles = {"title": _("Registrations: {n}").format(n=s.registered), "by_day": _("By day (UTC)"),
                  "by_type": _("By participant type"), "by_language": _("By language"),
                  "by_country": _("By country")}
        types = {k: _(v) for k, v in PARTICIPANT_LABELS.items()}
    png = await asyncio.to_thread(org.chart_png, s, titles, types)
    await message.answer_photo(BufferedInputFile(png, filename="stats.png"))


# -- /export ---------------------------------------------------------------------------------------------------

async def on_export(message: Message, sources: Sources, is_admin: bool) -> None:
    """/export: a button per CSV file."""
    buttons = [button(_(source.label), OrgCb(action="ex", value=name)) for name, source in org.exports(sources).items()]
    await message.answer(_("Which file? (CSV, UTF-8, opens in Excel; headers in English.)"),
                         reply_markup=InlineKeyboardMarkup(inline_keyboard=grid(buttons, 1)))


async def on_export_button(query: CallbackQuery, callback_data: OrgCb, uow: UnitOfWork, conf: Event, clock: Clock,
                           sources: Sources, is_admin: bool) -> None:
    try:
        filename, data = await org.export(uow, conf, sources, callback_data.value, by=query.from_user.id,
                                          now=clock.now())
    except ServiceError as err:
        await query.answer(refusal(err, html=False), show_alert=True)
        return
    await query.answer()
    assert isinstance(query.message, Message)
    await query.message.answer_document(BufferedInputFile(data, filename=filename), caption=_(
        "Personal data: keep this file safe and delete it when you no longer need it."))


# -- /audit ----------------------------------------------------------------------------------------------------

async def on_audit(message: Message, uow: UnitOfWork, conf: Event, is_admin: bool, lang: str) -> None:
    """/audit: the latest organiser actions (who, what, when)."""
    items = await org.latest_actions(uow, 20)
    if not items:
        await message.answer(_("No organiser action has been recorded yet."))
        return
    lines = [_("<b>Latest organiser actions</b> (newest first):")]
    # Details clipped, so that 20 entries stay within one message.
    lines += [f"{fmt_datetime(i.at, conf.timezone, lang)} · <code>{i.actor}</code> · {esc(i.action)} · "
              f"{esc(i.detail[:120])}" for i in items]
    await message.answer("\n".join(lines))


def make_router() -> Router:
    router = Router(name="organiser")
    router.message.register(on_people, Command("people"), flags=ORGANISER_ONLY)
    router.message.register(on_stats, Command("stats"), flags=ORGANISER_ONLY)
    router.message.register(on_export, Command("export"), flags=ORGANISER_ONLY)
    router.message.register(on_audit, Command("audit"), flags=ORGANISER_ONLY)
    router.message.register(on_fix_value, StateFilter(org.S_FIX), ~F.text.startswith("/"), flags=ORGANISER_ONLY)
    router.callback_query.register(on_export_button, OrgCb.filter(F.action == "ex"), on_a_message, flags=ORGANISER_ONLY)
    router.callback_query.register(on_people_button, OrgCb.filter(), on_a_message, flags=ORGANISER_ONLY)
    return router
