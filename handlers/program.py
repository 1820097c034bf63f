"""The program assistant: /program, /now, /next, session cards, calendar files and free questions.

Every time is shown in the reader's zone (the event's GMT+3 for people who are not registered, with a
hint). The rules live in domain/program.py, domain/qa.py and domain/calendar.py; this module renders them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n, get_i18n, ngettext
from aiogram.utils.i18n import gettext as _

from domain import calendar as ics
from domain import excom, smalltalk
from domain import program as prog
from domain import timezones as tzs
from domain.clock import Clock
from domain.event import Event, FaqEntry, ProgramItem
from domain.languages import LANGUAGES, detect_language, letters
from domain.program import Page, View
from domain.qa import PROGRAM_FAQ, PROGRAM_TOPIC, TOPICS, Answer, Match, index_for
from domain.registration import EXCOM_REJECTED, Profile
from domain.when import Intent, State, WhenAnswer, answer_when
from handlers import matchmaking as mm_handlers
from handlers.ui import ButtonData, FollowCb, Index, button, esc, grid, refusal
from services import guests
from services import matchmaking as mm_uc
from services import program as program_uc
from services import reminders as reminders_uc
from services.errors import ServiceError
from services.ports import UnitOfWork

# Button labels are cut here (Telegram shows about this much of a half-width button on a phone).
LABEL_CHARS = 30


class ProgramCb(ButtonData, prefix="pg"):
    """A page of /program (-1: the page with what is on now); `edit` replaces the message it is on."""

    n: Index
    edit: bool = True


class CardCb(ButtonData, prefix="card"):
    """Open a session card."""

    item: str


class IcsCb(ButtonData, prefix="ics"):
    """A calendar file for one item, or "*" for the whole program."""

    item: str


class TopicCb(ButtonData, prefix="faq"):
    """An FAQ entry (or the program) offered when a question was not understood."""

    id: str


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# -- times --------------------------------------------------------------------------------------------

def _zone_label(conf: Event, view: View, lang: str) -> str:
    return tzs.zone_name(view.zone, lang, conf.starts) if view.own else conf.tz_label


def _span(conf: Event, item: ProgramItem, view: View, lang: str) -> str:
    """"15:00–15:30", with the date when the reader's date is not the event's ("16 Nov, 23:00–00:00")."""
    start = tzs.fmt_when(item.starts, view.zone, lang, conf.starts, conf.timezone)
    return f"{start}–{tzs.fmt_time(item.ends, view.zone, lang)}"


def _event_span(conf: Event, item: ProgramItem, lang: str) -> str:
    return f"{tzs.fmt_time(item.starts, conf.timezone, lang)}–{tzs.fmt_time(item.ends, conf.timezone, lang)} " \
           f"{conf.tz_label}"


def _when_lines(conf: Event, item: ProgramItem, view: View, lang: str) -> list[str]:
    """The item's date and time in the reader's zone, and the event's GMT+3 time beside it."""
    start = tzs.fmt_datetime(item.starts, view.zone, lang)
    line = _("🕘 {start}–{end} · {zone}").format(start=start, end=tzs.fmt_time(item.ends, view.zone, lang),
                                                zone=esc(_zone_label(conf, view, lang)))
    lines = [line]
    if view.own and tzs.fmt_time(item.starts, view.zone, lang) != tzs.fmt_time(item.starts, conf.timezone, lang):
        lines.append(_("      {span} (event time)").format(span=_event_span(conf, item, lang)))
    return lines


def _duration(delta: timedelta) -> str:
    """"16 days 4 hours", "25 minutes" (the forms that follow "in": "через 25 минут")."""
    words = []
    for unit, n in prog.split_duration(delta):
        if unit == "day":
            words.append(ngettext("{n} day", "{n} days", n).format(n=n))
        elif unit == "hour":
            words.append(ngettext("{n} hour", "{n} hours", n).format(n=n))
        else:
            words.append(ngettext("{n} minute", "{n} minutes", n).format(n=n))
    return " ".join(words)


def _register_hint(conf: Event, now: datetime | None) -> str:
    """How an unregistered reader gets times in their own zone: registering, or after the deadline /timezone."""
    if now is not None and not conf.registration_open(now):
        return _("<i>Send /timezone to see the times in your own time zone.</i>")
    return _("<i>Register with /start to see the times in your own time zone.</i>")


# -- /program -----------------------------------------------------------------------------------------

def _page_text(conf: Event, page: Page, n: int, total: int, view: View, lang: str, now: datetime,
               followed: set[str]) -> str:
    head = [_("📋 <b>{event}: program</b>").format(event=esc(conf.name.get(lang)))]
    date = tzs.fmt_long_date(conf.starts, conf.timezone, lang)
    if view.own:
        head.append(_("{date} · times for {zone}").format(date=date, zone=esc(_zone_label(conf, view, lang))))
    else:
        head.append(_("{date} · times in {zone}").format(date=date, zone=esc(conf.tz_label)))
        head.append(_register_hint(conf, now))
    lines = ["\n".join(head)]
    current: prog.Part | None = None
    body: list[str] = []
    for item in page.items:
        part = prog.part_of(conf, item, view.zone)
        if part != current:
            if body:
                lines.append("\n".join(body))
            # In the reader's time, like every time on the page (the heading names the zone).
            body = [f"<b>{esc(_(part.label))}</b>"]
            current = part
        body.append(_item_line(conf, item, view, lang, now, followed))
    if body:
        lines.append("\n".join(body))
    foot = [_("Tap a session for its details, reminders and calendar file.")]
    if total > 1:
        foot.append(_("Page {n} of {total}.").format(n=n + 1, total=total))
    lines.append("\n".join(foot))
    return "\n\n".join(lines)


def _item_line(conf: Event, item: ProgramItem, view: View, lang: str, now: datetime, followed: set[str]) -> str:
    marks = ""
    if item.id in followed:
        marks += "🔔 "
    if item.members_only:
        marks += "🔒 "
    text = f"{_span(conf, item, view, lang)}  {marks}{esc(item.title.get(lang))}"
    if item.members_only:
        text += " " + _("(EXCOM members)")
    if item.is_on(now):
        text = "▶️ <b>" + text + "</b> · " + _("now")
    elif item.ends <= now:
        text = "<s>" + text + "</s>"
    if prog.is_parallel(conf, item):
        text = "   ∥ " + text
    return text


def _pages(conf: Event, view: View, lang: str, now: datetime, followed: set[str]) -> list[Page]:
    def measure(page: Page) -> int:
        return _utf16(_page_text(conf, page, 0, 99, view, lang, now, followed))

    return prog.paginate(conf, measure, zone=view.zone)


def _program_keyboard(conf: Event, pages: list[Page], n: int, view: View, lang: str) -> InlineKeyboardMarkup:
    page = pages[n]
    items = [button(f"{tzs.fmt_time(i.starts, view.zone, lang)} {_short(i.title.get(lang))}", CardCb(item=i.id))
             for i in page.items]
    rows = grid(items, 2)
    if len(pages) > 1:
        nav = []
        for k, p in enumerate(pages):
            label = _(p.part.label) if p.part else str(k + 1)
            if p.sub:
                label += f" {p.sub}"
            nav.append(button(f"· {label} ·" if k == n else label, ProgramCb(n=k)))
        rows += grid(nav, 3)
    rows += grid([button(_("📅 Whole program to my calendar"), IcsCb(item="*"))], 1)
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def _program(conf: Event, now: datetime, profile: Profile | None, lang: str, uow: UnitOfWork,
                   n: int = -1) -> tuple[str, InlineKeyboardMarkup] | None:
    view = prog.reader_view(conf, profile)
    followed = await program_uc.followed(uow, conf, profile)
    pages = _pages(conf, view, lang, now, followed)
    if n == -1:
        n = prog.page_for(pages, now)
    if not 0 <= n < len(pages):
        return None
    text = _page_text(conf, pages[n], n, len(pages), view, lang, now, followed)
    return text, _program_keyboard(conf, pages, n, view, lang)


async def on_program(message: Message, conf: Event, clock: Clock, profile: Profile | None,
                     lang: str, uow: UnitOfWork, guest: Profile | None = None) -> None:
    """/program: the program at a glance in the reader's time zone."""
    profile = profile or guest
    rendered = await _program(conf, clock.now(), profile, lang, uow)
    assert rendered is not None
    await message.answer(rendered[0], reply_markup=rendered[1])


async def on_program_page(query: CallbackQuery, callback_data: ProgramCb, bot: Bot, conf: Event, clock: Clock,
                          profile: Profile | None, lang: str, uow: UnitOfWork, guest: Profile | None = None) -> None:
    """A page button of /program (or a "Program" button elsewhere)."""
    profile = profile or guest
    rendered = await _program(conf, clock.now(), profile, lang, uow, callback_data.n)
    if rendered is None:
        await query.answer(_("This button is no longer active. Send /program for the current program."))
        return
    await query.answer()
    text, markup = rendered
    if callback_data.edit and isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):  # the same page pressed again: "message is not modified"
            await query.message.edit_text(text, reply_markup=markup)
        return
    await bot.send_message(query.from_user.id, text, reply_markup=markup)


# -- session cards ------------------------------------------------------------------------------------

def _item_text(conf: Event, item: ProgramItem, view: View, lang: str, profile: Profile | None, *,
               now: datetime | None = None, hint_at: datetime | None = None) -> str:
    """A session: title, time (reader's and the event's), description, speakers. With `now` it is the full card:
    also how soon it starts, the agenda and how to join."""
    lines = [f"<b>{esc(item.title.get(lang))}</b>", *_when_lines(conf, item, view, lang)]
    if now is None:
        pass
    elif item.is_on(now):
        lines.append(_("▶️ On now, until {time}.").format(time=tzs.fmt_time(item.ends, view.zone, lang)))
    elif item.starts > now:
        lines.append(_("⏳ Starts in {duration}.").format(duration=_duration(item.starts - now)))
    else:
        lines.append(_("✓ This session is over."))
    if item.members_only:
        lines.append(_("🔒 For EXCOM members."))
    parts = ["\n".join(lines)]
    if item.description:
        parts.append(esc(item.description.get(lang)))
    if now is not None and item.agenda:
        parts.append(_("<b>Programme</b>") + "\n" + "\n".join(f"• {esc(a.get(lang))}" for a in item.agenda))
    if item.speakers:
        speakers = [f"• <b>{esc(s.name.get(lang))}</b>, {esc(s.role.get(lang))}" for s in item.speakers]
        parts.append(_("<b>Speakers</b>") + "\n" + "\n".join(speakers))
    if now is None:
        pass
    elif prog.can_see_join(item, profile):
        join = item.join or conf.platform.join
        parts.append(_("<b>How to join</b>") + "\n" + esc(join.get(lang)))
    else:
        if profile is not None and profile.is_excom:  # claimed, not (yet) confirmed by an organiser
            note = [_(excom.REJECTED_NOTE if profile.excom_status == EXCOM_REJECTED else excom.PENDING_NOTE)]
        else:
            note = [_("The join details are shown to registered EXCOM member cities.")]
        for other in prog.alongside(conf, item):
            note.append(_("At the same time, everyone can join “{title}”.").format(title=esc(other.title.get(lang))))
        parts.append("\n".join(note))
    if not view.own:
        if now is not None and conf.registration_open(now):
            parts.append(_("<i>Register with /start to see the time in your own time zone and to get "
                           "reminders.</i>"))
        else:
            parts.append(_register_hint(conf, now or hint_at))
    return "\n\n".join(parts)


def _card_keyboard(conf: Event, item: ProgramItem, lang: str, now: datetime, profile: Profile | None,
                   following: bool) -> InlineKeyboardMarkup:
    first: list[InlineKeyboardButton | None] = []
    if prog.can_follow(item, profile):
        if following:
            first.append(button(_("🔕 Don't remind me"), FollowCb(item=item.id, on=False)))
        elif item.ends > now:
            first.append(button(_("🔔 Remind me"), FollowCb(item=item.id, on=True)))
    first.append(button(_("📅 Add to calendar"), IcsCb(item=item.id)))
    rows = grid(first, 2)
    rows += grid([button("∥ " + _short(o.title.get(lang)), CardCb(item=o.id)) for o in prog.alongside(conf, item)],
                  1)
    rows += grid([button(_("📋 Program"), ProgramCb(n=-1, edit=False))], 1)
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def _card(conf: Event, item: ProgramItem, now: datetime, profile: Profile | None, lang: str,
                uow: UnitOfWork) -> tuple[str, InlineKeyboardMarkup]:
    view = prog.reader_view(conf, profile)
    text = _item_text(conf, item, view, lang, profile, now=now)
    state = await program_uc.card_follow(uow, item, profile)
    if state.whole_program:
        # Covered by "the whole program": a per-session toggle would not change anything.
        if state.reminders_on:
            text += "\n\n" + _("🔔 You follow the whole program: I will remind you {lead} min before. Change it "
                                "with /reminders.").format(lead=state.lead)
        else:
            text += "\n\n" + _("🔕 You follow the whole program, but your reminders are switched off. Switch "
                                "them on with /reminders.")
        return text, _card_keyboard(conf, item, lang, now, None, False)
    return text, _card_keyboard(conf, item, lang, now, profile, state.following)


async def _reader(uow: UnitOfWork, conf: Event, now: datetime, user_id: int, profile: Profile | None,
                  guest: Profile | None, lang: str, is_admin: bool) -> Profile | None:
    """Who reads a card: a delegate, a guest, or someone who cannot register any more and may follow sessions
    as a guest (nothing stored until they do)."""
    if profile is not None or guest is not None:
        return profile or guest
    if await guests.can_be_guest(uow, conf, user_id, now, is_admin=is_admin):
        return guests.prospective(conf, user_id, lang)
    return None


async def on_card(query: CallbackQuery, callback_data: CardCb, bot: Bot, conf: Event, clock: Clock,
                  profile: Profile | None, lang: str, uow: UnitOfWork, guest: Profile | None = None,
                  is_admin: bool = False) -> None:
    """A session button: the session's card as a new message."""
    profile = await _reader(uow, conf, clock.now(), query.from_user.id, profile, guest, lang, is_admin)
    item = conf.item(callback_data.item)
    if item is None:
        await query.answer(_("This session is no longer in the program. Send /program for the current one."))
        return
    await query.answer()
    text, markup = await _card(conf, item, clock.now(), profile, lang, uow)
    await bot.send_message(query.from_user.id, text, reply_markup=markup)


async def on_follow(query: CallbackQuery, callback_data: FollowCb, conf: Event, clock: Clock,
                    profile: Profile | None, lang: str, uow: UnitOfWork, guest: Profile | None = None,
                    is_admin: bool = False) -> None:
    """"Remind me" / "Don't remind me" on a card: follow or unfollow the session (someone who cannot register
    any more becomes a guest: their reminders need their language and zone)."""
    now = clock.now()
    profile = profile or guest
    if profile is None and callback_data.on and conf.item(callback_data.item) is not None:
        profile = await guests.become(uow, conf, query.from_user.id, lang, now, is_admin=is_admin)
    try:
        item = await program_uc.follow(uow, conf, profile, callback_data.item, callback_data.on, now)
    except ServiceError as err:
        await uow.rollback()  # a guest record made for this follow is not kept
        await query.answer(refusal(err, html=False), show_alert=err.code in ("not_registered", "members_only"))
        return
    title = item.title.get(lang)
    if callback_data.on:
        notice = _("🔔 I will remind you before “{title}”.").format(title=title)
    else:
        notice = _("🔕 No reminder for “{title}”.").format(title=title)
    if isinstance(query.message, Message):
        markup = _card_keyboard(conf, item, lang, now, profile, callback_data.on)
        with contextlib.suppress(TelegramBadRequest):  # pressed twice: "message is not modified"
            await query.message.edit_reply_markup(reply_markup=markup)
    await query.answer(_short(notice, 190))


async def on_ics(query: CallbackQuery, callback_data: IcsCb, bot: Bot, uow: UnitOfWork, conf: Event, clock: Clock,
                 profile: Profile | None, lang: str, guest: Profile | None = None) -> None:
    """"Add to calendar": an .ics file for one session or the whole program, with an alarm at the person's
    reminder lead."""
    profile = profile or guest
    if callback_data.item == "*":
        item, items = None, [i for i in conf.program if prog.in_whole_calendar(i, profile)]
        caption = _("📅 The whole program of {event}. Open the file to add it to your calendar (Google Calendar, "
                    "Apple Calendar, Outlook).").format(event=esc(conf.name.get(lang)))
    else:
        item = conf.item(callback_data.item)
        if item is None:
            await query.answer(_("This session is no longer in the program. Send /program for the current one."))
            return
        items = [item]
        caption = _("📅 “{title}”. Open the file to add it to your calendar (Google Calendar, Apple Calendar, "
                    "Outlook).").format(title=esc(item.title.get(lang)))
    alarm = await reminders_uc.alarm_minutes(uow, query.from_user.id)
    data = ics.build_ics(conf, items, lang, now=clock.now(), tr=_,
                         show_join=lambda i: prog.can_see_join(i, profile), alarm=alarm)
    await query.answer()
    await bot.send_document(query.from_user.id, BufferedInputFile(data, ics.filename(conf, item)), caption=caption)


# -- /now and /next -----------------------------------------------------------------------------------

def _closing(conf: Event, lang: str) -> str:
    text = esc(conf.closing.get(lang))
    if conf.contact.email not in conf.closing.get(lang):
        text += "\n\n" + _contact_line(conf, lang)
    return text


def _contact_line(conf: Event, lang: str) -> str:
    c = conf.contact
    return _("✉️ Organisers: {name}, {email}, {phone} ({languages}).").format(
        name=esc(c.name.get(lang)), email=esc(c.email), phone=esc(c.phone), languages=esc(c.languages.get(lang)))


# /now and /next change once a minute: their text is made once per minute, language, zone and view (the
# Babel formatting was the largest part of answering /now; docs/performance.md, "Update path").
_STATUS_CACHE: dict[tuple[int, str, str, bool, bool, datetime], tuple[str, list[ProgramItem], Event]] = {}
_STATUS_CACHE_SIZE = 4096


def _status(conf: Event, now: datetime, profile: Profile | None, lang: str, *, with_now: bool,
            view: View | None = None) -> tuple[str, list[ProgramItem]]:
    """What is on and what comes next, in the reader's zone (or in `view`'s: a zone named in a question)."""
    view = view or prog.reader_view(conf, profile)
    minute = now.replace(second=0, microsecond=0)
    key = (id(conf), lang, view.zone, view.own, with_now, minute)
    made = _STATUS_CACHE.get(key)
    if made is None or made[2] is not conf:  # the entry holds its event, so an id is never reused under it
        if len(_STATUS_CACHE) >= _STATUS_CACHE_SIZE:
            _STATUS_CACHE.clear()
        made = _STATUS_CACHE[key] = (*_make_status(conf, minute, lang, with_now=with_now, view=view), conf)
    return made[0], list(made[1])


def _make_status(conf: Event, now: datetime, lang: str, *, with_now: bool, view: View
                 ) -> tuple[str, list[ProgramItem]]:
    st = prog.status(conf, now)
    if st.phase == "after":
        return _closing(conf, lang), []
    shown: list[ProgramItem] = []
    blocks: list[str] = []
    if st.phase == "before":
        first = st.next
        blocks.append(_("<b>{event}</b> starts in {duration}: {when}, {zone}.").format(
            event=esc(conf.name.get(lang)), duration=_duration(st.until_next or timedelta(0)),
            when=tzs.fmt_datetime(first[0].starts, view.zone, lang), zone=esc(_zone_label(conf, view, lang))))
        blocks.append(_("<b>First</b>") + "\n" + "\n".join(_line(conf, i, view, lang) for i in first))
        shown += first
    else:
        if with_now:
            clock_line = _("<b>On now</b> · {time}, {zone}").format(
                time=tzs.fmt_time(now, view.zone, lang), zone=esc(_zone_label(conf, view, lang)))
            if st.now:
                body = [_line(conf, i, view, lang) + " " + _("(until {time})").format(
                    time=tzs.fmt_time(i.ends, view.zone, lang)) for i in st.now]
                shown += st.now
            else:
                body = [_("Nothing is on right now.")]
            blocks.append("\n".join([clock_line, *body]))
        if st.next and st.until_next is not None:
            head = _("<b>Next</b>, starts in {duration}:").format(duration=_duration(st.until_next))
            blocks.append(head + "\n" + "\n".join(_line(conf, i, view, lang) for i in st.next))
            shown += [i for i in st.next if i not in shown]
        else:
            last = max(conf.program, key=lambda i: (i.ends, i.starts))
            blocks.append(_("Nothing else follows: “{title}” is the last item of the day, until {time}.").format(
                title=esc(last.title.get(lang)), time=tzs.fmt_time(last.ends, view.zone, lang)))
            if last not in shown:
                shown.append(last)
    if not view.own:
        blocks.append(_register_hint(conf, now))
    return "\n\n".join(blocks), shown


def _line(conf: Event, item: ProgramItem, view: View, lang: str) -> str:
    title = esc(item.title.get(lang))
    if item.members_only:
        title = "🔒 " + title + " " + _("(EXCOM members)")
    return f"{_span(conf, item, view, lang)}  {title}"


# The buttons under /now, /next and answers about time: made once per items, language and locale (building the
# pydantic models and packing their callback data was a twentieth of answering /now; issue 18). A markup is a
# frozen model nobody changes (a reply that adds buttons makes a new one). The entry holds its items, so an
# id is never reused under it.
_CARDS_CACHE: dict[tuple[object, ...], tuple[tuple[ProgramItem, ...], InlineKeyboardMarkup]] = {}
_CARDS_CACHE_SIZE = 4096


def _cards_keyboard(items: Sequence[ProgramItem], lang: str, *, program: bool = True) -> InlineKeyboardMarkup:
    held = tuple(items)
    key = (*map(id, held), lang, program, get_i18n().current_locale)
    made = _CARDS_CACHE.get(key)
    if made is not None and all(a is b for a, b in zip(made[0], held, strict=True)):
        return made[1]
    buttons = [button(f"ℹ️ {_short(i.title.get(lang))}", CardCb(item=i.id)) for i in items]
    rows = grid(buttons, 1)
    if program:
        rows += grid([button(_("📋 Program"), ProgramCb(n=-1, edit=False))], 1)
    markup = InlineKeyboardMarkup(inline_keyboard=rows)
    if len(_CARDS_CACHE) >= _CARDS_CACHE_SIZE:
        _CARDS_CACHE.clear()
    _CARDS_CACHE[key] = (held, markup)
    return markup


async def on_now(message: Message, conf: Event, clock: Clock, profile: Profile | None,
                 lang: str, guest: Profile | None = None) -> None:
    """/now: what is on now (every parallel item) and what comes next."""
    profile = profile or guest
    text, items = _status(conf, clock.now(), profile, lang, with_now=True)
    await message.answer(text, reply_markup=_cards_keyboard(items, lang))


async def on_next(message: Message, conf: Event, clock: Clock, profile: Profile | None,
                  lang: str, guest: Profile | None = None) -> None:
    """/next: what comes next and how soon."""
    profile = profile or guest
    text, items = _status(conf, clock.now(), profile, lang, with_now=False)
    await message.answer(text, reply_markup=_cards_keyboard(items, lang))


# -- free questions -----------------------------------------------------------------------------------

def _faq(conf: Event, faq_id: str) -> FaqEntry | None:
    return next((f for f in conf.faq if f.id == faq_id), None)


def _label(conf: Event, m: Match, lang: str) -> str:
    """A button for a runner-up answer: the item's title or the FAQ entry's question."""
    if m.kind == "item":
        item = conf.item(m.id)
        return f"ℹ️ {_short(item.title.get(lang))}" if item else m.id
    entry = _faq(conf, m.id)
    return f"❓ {_short(entry.question.get(lang))}" if entry else m.id


# A free question's reply depends on the answer, the reader's view, the language and, through `now`, only on
# whether registration is open (issue 18: made once per such key, as /now's status is; the profile counts only
# through the view). The entry holds its event, so an id is never reused under it.
_ANSWER_CACHE: dict[tuple[object, ...], tuple[str, InlineKeyboardMarkup, Event]] = {}
_ANSWER_CACHE_SIZE = 4096


def render_answer(conf: Event, answer: Answer, profile: Profile | None, lang: str, *, view: View | None = None,
                  now: datetime | None = None) -> tuple[str, InlineKeyboardMarkup]:
    """The reply to a free question (in `lang`, the question's language)."""
    view = view or prog.reader_view(conf, profile)
    key = (id(conf), answer, view, lang, get_i18n().current_locale,
           None if now is None else conf.registration_open(now))
    made = _ANSWER_CACHE.get(key)
    if made is None or made[2] is not conf:
        if len(_ANSWER_CACHE) >= _ANSWER_CACHE_SIZE:
            _ANSWER_CACHE.clear()
        made = _ANSWER_CACHE[key] = (*_render_answer(conf, answer, lang, view, now), conf)
    return made[0], made[1]


def _render_answer(conf: Event, answer: Answer, lang: str, view: View, now: datetime | None
                   ) -> tuple[str, InlineKeyboardMarkup]:
    best = answer.best
    if best is None:
        text, markup = _not_sure(conf, lang)
        if answer.near:
            # The closest answers first, one a row, then the main topics (without repeating one of them).
            near = [button(_label(conf, m, lang), CardCb(item=m.id) if m.kind == "item" else TopicCb(id=m.id))
                    for m in answer.near]
            ids = {m.id for m in answer.near}
            topics = [[b for b in row if not (isinstance(b.callback_data, str) and b.callback_data.split(":")[-1]
                                               in ids)] for row in markup.inline_keyboard]
            rows = [[b] for b in near if b is not None] + [r for r in topics if r]
            markup = InlineKeyboardMarkup(inline_keyboard=rows)
        return text, markup
    if answer.ask and answer.also is not None:
        # Two answers score alike: ask rather than guess.
        text = _("I can answer this in two ways. Which do you mean?")
        pair = [button(_label(conf, m, lang), CardCb(item=m.id) if m.kind == "item" else TopicCb(id=m.id))
                for m in (best, answer.also)]
        return text, InlineKeyboardMarkup(inline_keyboard=grid(pair, 1))
    if answer.missing:
        # An unknown detail of a known topic: say so, who knows, and what the bot does know as help.
        text, markup = _render_answer(conf, Answer(best, answer.also), lang, view, now)
        head = _("I don't know that: the event materials do not say. The organisers can tell you:") + "\n" + \
            _contact_line(conf, lang)
        known = _("What I know about it:")
        return f"{head}\n\n{known}\n\n{text}", markup
    buttons: list[InlineKeyboardButton | None] = []
    item = conf.item(best.item) if best.item else None
    if best.kind == "faq":
        entry = _faq(conf, best.id)
        assert entry is not None
        if entry.after_deadline is not None and now is not None and not conf.registration_open(now):
            # "Register at ... by November 10" no longer holds: say so, and who to write to.
            body = f"{esc(entry.after_deadline.get(lang))}\n\n{_contact_line(conf, lang)}"
        else:
            body = esc(entry.answer.get(lang))
        text = f"<b>{esc(entry.question.get(lang))}</b>\n\n{body}"
        if item is not None:
            text += "\n\n" + "\n".join(_when_lines(conf, item, view, lang))
            if not view.own:
                text += "\n" + _register_hint(conf, now)
        if entry.id == PROGRAM_FAQ:
            buttons.append(button(_("📋 The program in my time"), ProgramCb(n=-1, edit=False)))
    else:
        assert item is not None
        text = _item_text(conf, item, view, lang, None, hint_at=now)  # no `now`: the profile is not read
    if item is not None:
        buttons.append(button(_("ℹ️ Session details"), CardCb(item=item.id)))
        buttons.append(button(_("📅 Add to calendar"), IcsCb(item=item.id)))
    if answer.also is not None:
        also = answer.also
        cb: CallbackData = CardCb(item=also.id) if also.kind == "item" else TopicCb(id=also.id)
        buttons.append(button(_label(conf, also, lang), cb))
    return text, InlineKeyboardMarkup(inline_keyboard=grid(buttons, 1))


def _not_sure(conf: Event, lang: str) -> tuple[str, InlineKeyboardMarkup]:
    text = _("I am not sure I understood the question. Here are the main topics; you can also ask in other "
             "words, or write to the organisers.") + "\n\n" + _contact_line(conf, lang)
    buttons = [button(_(label), TopicCb(id=key)) for key, label in TOPICS
               if key == PROGRAM_TOPIC or _faq(conf, key) is not None]
    return text, InlineKeyboardMarkup(inline_keyboard=grid(buttons, 2))


def render_when(conf: Event, wa: WhenAnswer, profile: Profile | None, lang: str, now: datetime
                ) -> tuple[str, InlineKeyboardMarkup]:
    """The reply to a question about time ("what's on now", "how long until the quiz", "what's on at 1pm in
    Seoul", "how long does the concert last", "what day is it there"), from the bot's clock, in the reader's
    zone or the zone the question named."""
    q = wa.query
    view = View(wa.zone, True) if q.zone is not None else prog.reader_view(conf, profile)
    zone = esc(_zone_label(conf, view, lang))
    if wa.state == State.OTHER_DAY:
        return _other_day(conf, wa, view, lang), _cards_keyboard(wa.items, lang)
    if q.intent == Intent.DAY:
        return _day_there(conf, wa, profile, lang), _cards_keyboard((), lang)
    if q.intent == Intent.DIFF:
        return _difference(conf, wa, lang), _cards_keyboard((), lang)
    named = wa.items[0] if wa.items and not q.event and (
        q.intent in (Intent.UNTIL, Intent.START_TIME, Intent.DURATION) or q.after) else None
    if q.intent == Intent.AT:
        at = tzs.fmt_time(wa.instant, view.zone, lang)
        took = [_("(I took “{said}” as {time}, {zone}.)").format(said=esc(q.said), time=at, zone=zone)] \
            if q.said else []
        if wa.items:
            lines = [_("<b>At {time}</b> ({zone}):").format(time=at, zone=zone),
                     *(_line(conf, i, view, lang) for i in wa.items), *took]
            mine = prog.reader_view(conf, profile)
            if q.zone is not None and mine.own and mine.zone != view.zone:
                # "что будет в 16:00 по москве" from Seoul: the same, in the reader's own time too.
                lines += ["", _("Your time ({zone}): {time}").format(
                    zone=esc(_zone_label(conf, mine, lang)), time=tzs.fmt_when(wa.instant, mine.zone, lang,
                                                                               conf.starts, conf.timezone)),
                          *(_line(conf, i, mine, lang) for i in wa.items)]
            return "\n".join(lines), _cards_keyboard(wa.items, lang)
        blocks = [_("Nothing is on at {time} ({zone}).").format(time=at, zone=zone)]
        if wa.next:
            blocks.append("\n".join([_("Next after that, at {time}:").format(
                time=tzs.fmt_when(wa.next[0].starts, view.zone, lang, conf.starts, conf.timezone)),
                *(_line(conf, i, view, lang) for i in wa.next)]))
        blocks += took
        return "\n\n".join(blocks), _cards_keyboard(wa.next, lang)
    if q.event and q.intent == Intent.DURATION:
        text = _("<b>{event}</b> lasts {duration}: {start}–{end} ({zone}).").format(
            event=esc(conf.name.get(lang)), duration=_duration(conf.ends - conf.starts),
            start=tzs.fmt_when(conf.starts, view.zone, lang, conf.starts, conf.timezone),
            end=tzs.fmt_when(conf.ends, view.zone, lang, conf.starts, conf.timezone), zone=zone)
        return text, _cards_keyboard(wa.items, lang)
    if q.event and wa.state == State.ON:
        text = _("<b>{event}</b> began at {time} ({zone}) and runs until {end}.").format(
            event=esc(conf.name.get(lang)), time=tzs.fmt_when(conf.starts, view.zone, lang, conf.starts, conf.timezone),
            zone=zone, end=tzs.fmt_when(conf.ends, view.zone, lang, conf.starts, conf.timezone))
        status, shown = _status(conf, now, profile, lang, with_now=True, view=view)
        return f"{text}\n\n{status}", _cards_keyboard(shown, lang)
    if q.event and q.end and wa.state == State.UPCOMING:
        # "When does it all end": the end of the day, not the start (nor the closing ceremony).
        text = _("<b>{event}</b> ends at {time} ({zone}), with “{title}”.").format(
            event=esc(conf.name.get(lang)), time=tzs.fmt_when(conf.ends, view.zone, lang, conf.starts, conf.timezone),
            zone=zone, title=esc(wa.items[0].title.get(lang)) if wa.items else "")
        return text, _cards_keyboard(wa.items, lang)
    if named is None:  # now, next, or the event itself before it starts or after it ended
        status, shown = _status(conf, now, profile, lang, with_now=q.intent != Intent.NEXT, view=view)
        return status, _cards_keyboard(shown, lang)
    text, markup = render_answer(conf, Answer(Match("item", named.id, named.id, 0.0), None), profile, lang,
                                 view=view, now=now)
    if wa.state == State.ON:
        line = _("▶️ On now, until {time}: {duration} left.").format(
            time=tzs.fmt_time(named.ends, view.zone, lang), duration=_duration(named.ends - now))
    elif wa.state == State.OVER:
        line = _("✓ This session is over.")
    else:
        line = _("⏳ Starts in {duration}.").format(duration=_duration(named.starts - now))
    if q.intent == Intent.DURATION:
        line = _("⏱ It lasts {duration}.").format(duration=_duration(named.ends - named.starts)) + "\n" + line
    head, _sep, rest = text.partition("\n\n")
    return f"{head}\n{line}\n\n{rest}" if rest else f"{head}\n{line}", markup


def _other_day(conf: Event, wa: WhenAnswer, view: View, lang: str) -> str:
    """The question named a day (tomorrow, завтра, 내일) that is not the event's: when the event is."""
    return _("That day is not the event's. <b>{event}</b> runs on {date}, {start}–{end} ({zone}).").format(
        event=esc(conf.name.get(lang)), date=tzs.fmt_long_date(conf.starts, view.zone, lang),
        start=tzs.fmt_time(conf.starts, view.zone, lang),
        end=tzs.fmt_when(conf.ends, view.zone, lang, conf.starts, view.zone), zone=esc(_zone_label(conf, view, lang)))


def _day_there(conf: Event, wa: WhenAnswer, profile: Profile | None, lang: str) -> str:
    """What day and time it is now at the event (or in the zone the question named), and the reader's own."""
    lines = [_("In {zone} it is now {date}, {time}.").format(
        zone=esc(tzs.zone_name(wa.zone, lang, wa.instant)), date=tzs.fmt_full_date(wa.instant, wa.zone, lang),
        time=tzs.fmt_time(wa.instant, wa.zone, lang))]
    mine = prog.reader_view(conf, profile)
    if mine.own and mine.zone != wa.zone:
        lines.append(_("Your time: {date}, {time} ({zone}).").format(
            date=tzs.fmt_full_date(wa.instant, mine.zone, lang), time=tzs.fmt_time(wa.instant, mine.zone, lang),
            zone=esc(tzs.zone_name(mine.zone, lang, wa.instant))))
    return "\n".join(lines)


def _difference(conf: Event, wa: WhenAnswer, lang: str) -> str:
    """The time difference between a zone and the event's, with the event's start in both as an example."""
    assert wa.offset is not None
    there = esc(tzs.zone_name(wa.zone, lang, conf.starts))
    event_zone = esc(conf.tz_label)
    if wa.against is not None and wa.against != conf.timezone:
        # Two places named, neither the event's: "Seoul is 14 hours ahead of New York (GMT-5)."
        other = esc(tzs.zone_name(wa.against, lang, conf.starts))
        if wa.offset > timedelta(0):
            return _("{zone} is {duration} ahead of {other}.").format(
                zone=there, duration=_duration(wa.offset), other=other)
        if wa.offset < timedelta(0):
            return _("{zone} is {duration} behind {other}.").format(
                zone=there, duration=_duration(-wa.offset), other=other)
        return _("{zone} has the same time as {other}.").format(zone=there, other=other)
    if wa.offset > timedelta(0):
        head = _("{zone} is {duration} ahead of the event's time ({event_zone}).").format(
            zone=there, duration=_duration(wa.offset), event_zone=event_zone)
    elif wa.offset < timedelta(0):
        head = _("{zone} is {duration} behind the event's time ({event_zone}).").format(
            zone=there, duration=_duration(-wa.offset), event_zone=event_zone)
    else:
        head = _("{zone} has the same time as the event ({event_zone}).").format(zone=there, event_zone=event_zone)
    example = _("When the event starts at {event_time} ({event_zone}), it is {time} in {zone}.").format(
        event_time=tzs.fmt_time(conf.starts, conf.timezone, lang), event_zone=event_zone,
        time=tzs.fmt_when(conf.starts, wa.zone, lang, conf.starts, conf.timezone), zone=there)
    return f"{head}\n{example}"


async def free_answer(text: str, conf: Event, now: datetime, profile: Profile | None, lang: str, i18n: I18n,
                      uow: UnitOfWork) -> tuple[str, InlineKeyboardMarkup | None]:
    """The reply to free text: small talk, a question about time (from the clock) or about the event (the
    program and the FAQ), in the language it was written in. Registration steps answer questions with it."""
    qlang = detect_language(text, fallback=lang)
    if qlang != lang and lang in LANGUAGES and letters(text, LANGUAGES[lang].script) >= 2:
        # "что за воркшоп smart city driver": a question in the reader's own language quoting a name in
        # another script is answered in the reader's language, whichever script has more letters.
        qlang = lang
    if (chat := smalltalk.kind(text)) is not None:
        with i18n.use_locale(qlang):
            reply = _("Hello! Ask me about the program, for example “What is on now?”, or send /help.") \
                if chat == "hello" else _("You are welcome! Ask me anything else about the event, or send /help.")
        return reply, None
    query = program_uc.question_about_time(text, qlang, conf)
    with i18n.use_locale(qlang):
        if query is not None:
            reader = prog.reader_view(conf, profile)
            return render_when(conf, answer_when(conf, query, now, reader.zone), profile, qlang, now)
        answer = index_for(conf).answer(text)
        reply, markup = render_answer(conf, answer, profile, qlang, now=now)
        if answer.best is not None and mm_handlers.concerns_matchmaking(conf, answer.best.item):
            # Booking steps, the dates by the bot's clock and /meet (the only question that reads the
            # database: whether the schedule is published).
            phase = (await mm_uc.state(uow, conf, now)).phase
            reply, markup = mm_handlers.with_matchmaking(conf, reply, markup, phase, now, profile, qlang,
                                                         answer_id=answer.best.id)
        return reply, markup


async def on_question(message: Message, conf: Event, clock: Clock, profile: Profile | None, lang: str,
                      i18n: I18n, uow: UnitOfWork, guest: Profile | None = None) -> None:
    """Any text that is not a command, outside a conversation step: a question about the event (about time:
    answered from the clock; anything else: from the program and the FAQ)."""
    profile = profile or guest
    reply, markup = await free_answer(message.text or "", conf, clock.now(), profile, lang, i18n, uow)
    await message.answer(reply, reply_markup=markup)


async def on_topic(query: CallbackQuery, callback_data: TopicCb, bot: Bot, conf: Event, clock: Clock,
                   profile: Profile | None, lang: str, uow: UnitOfWork, guest: Profile | None = None) -> None:
    """A topic button under "I am not sure": the FAQ entry, or the program."""
    profile = profile or guest
    if callback_data.id == PROGRAM_TOPIC:
        rendered = await _program(conf, clock.now(), profile, lang, uow)
        assert rendered is not None
        await query.answer()
        await bot.send_message(query.from_user.id, rendered[0], reply_markup=rendered[1])
        return
    entry = _faq(conf, callback_data.id)
    if entry is None:
        await query.answer(_("This button is no longer active. Please ask your question again."))
        return
    await query.answer()
    match = Match("faq", entry.id, entry.item, 0.0)
    text, markup = render_answer(conf, Answer(match, None), profile, lang, now=clock.now())
    if mm_handlers.concerns_matchmaking(conf, entry.item):
        now = clock.now()
        phase = (await mm_uc.state(uow, conf, now)).phase
        text, markup = mm_handlers.with_matchmaking(conf, text, markup, phase, now, profile, lang, answer_id=entry.id)
    await bot.send_message(query.from_user.id, text, reply_markup=markup)


# -- routers ------------------------------------------------------------------------------------------

def make_router() -> Router:
    """Commands and buttons of the program."""
    router = Router(name="program")
    router.message.register(on_program, Command("program"))
    router.message.register(on_now, Command("now"))
    router.message.register(on_next, Command("next"))
    router.callback_query.register(on_program_page, ProgramCb.filter())
    router.callback_query.register(on_card, CardCb.filter())
    router.callback_query.register(on_follow, FollowCb.filter())
    router.callback_query.register(on_ics, IcsCb.filter())
    router.callback_query.register(on_topic, TopicCb.filter())
    return router


def make_questions_router() -> Router:
    """Free questions: text with no conversation step; keep it just before the fallback."""
    router = Router(name="questions")
    router.message.register(on_question, StateFilter(None), F.text, ~F.text.startswith("/"))
    return router
