"""Matchmaking in the private chat: /meet (the cities with free slots, paged, searched by name, filtered by
country; a city's card with its free slots in the reader's zone, slots that clash with followed sessions
marked; one-tap booking; "my meetings" with cancel and decline), /availability for host cities, and
/matchmaking for organisers (the grid, outside-event requests, CSV export, publishing the schedule).

The use cases are in services/matchmaking.py; they commit before anything here replies.
"""

from __future__ import annotations

from datetime import datetime

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from domain import matchmaking as rules
from domain import timezones as tzs
from domain.clock import Clock
from domain.event import Event
from domain.matchmaking import CityProfile, Phase, SlotUnavailable
from domain.registration import Profile
from handlers.ui import ORGANISER_ONLY, ButtonData, Id, Index, Page, button, esc, grid, on_a_message, pager, refusal
from services import matchmaking as mm_uc
from services.errors import ServiceError
from services.ports import UnitOfWork

# The organisers' grid stays inside one message (4,096 characters): hosts up to this many characters, then
# a count; the outside-event requests shown (the CSV export and the count give the rest).
GRID_CHARS = 3000
OUTSIDE_SHOWN = 10


class MmList(ButtonData, prefix="mml"):
    """A page of the directory; `c` is the index of a country filter, `t` of a topic filter (-1: all)."""

    page: Page = 0
    c: Index = -1
    t: Index = -1


class MmTopics(ButtonData, prefix="mmt"):
    """Show the topic filter."""

    x: Index = 0


class MmProf(ButtonData, prefix="mmp"):
    """A city's directory profile: topics (show the list), t (toggle topic `t`), about (type the line),
    back (to /availability)."""

    action: str
    t: str = ""


class MmCountries(ButtonData, prefix="mmc"):
    """Show the country filter."""

    x: Index = 0


class MmHost(ButtonData, prefix="mmh"):
    """A host city's card."""

    host: Id


class MmBook(ButtonData, prefix="mmb"):
    """Book `host` at `slot` (one tap)."""

    host: Id
    slot: str


class MmAct(ButtonData, prefix="mmx"):
    """dec (host declines booking `id`), can (cancel booking `id`), out (ask host `id` to meet outside the
    event), my (my meetings)."""

    action: str
    id: Id = 0


class MmAvail(ButtonData, prefix="mma"):
    """Toggle the host's own slot."""

    slot: str


class MmOrg(ButtonData, prefix="mmo"):
    """Organisers: csv, pub (ask to confirm), yes (publish), no, grid."""

    action: str


# -- shared pieces --------------------------------------------------------------------------------------------

_deadline = mm_uc.deadline_text


def _error(conf: Event, err: ServiceError, profile: Profile | None, lang: str) -> str:
    zone = tzs.reader_zone(profile, conf)
    return refusal(err, shown={k: _deadline(v, zone, lang) for k, v in err.params.items() if isinstance(v, datetime)})


def _slot_label(conf: Event, slot: rules.Slot, profile: Profile | None, lang: str, now: datetime) -> str:
    return mm_uc.slot_label(slot, tzs.reader_zone(profile, conf), lang, now)


def _zone_name(conf: Event, profile: Profile | None, lang: str) -> str:
    return tzs.zone_name(tzs.reader_zone(profile, conf), lang, conf.starts)


async def _reply(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Show `text` in place of the message the button was on (or as a new one when it cannot be edited)."""
    assert isinstance(query.message, Message)
    try:
        await query.message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as err:
        if "not modified" not in str(err):  # too old to edit: say it in a new message
            await query.message.answer(text, reply_markup=markup)


def _kb(rows: list[list[InlineKeyboardButton]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=rows)


# -- /meet: the directory -------------------------------------------------------------------------------------

async def _directory(uow: UnitOfWork, conf: Event, profile: Profile | None, lang: str, now: datetime, *,
                     query: str = "", page: int = 0, c: int = -1, t: int = -1) -> tuple[str, InlineKeyboardMarkup]:
    st = await mm_uc.state(uow, conf, now)
    my = button(_("📋 My meetings"), MmAct(action="my"))
    if st.phase is Phase.AVAILABILITY:
        err = ServiceError("not_open", rules.NOT_OPEN, deadline=rules.config(conf).availability_deadline)
        return _error(conf, err, profile, lang), _kb(grid([my], 1))
    if st.phase is not Phase.BOOKING:
        err = (ServiceError("frozen", rules.FROZEN) if st.phase is Phase.FROZEN else
               ServiceError("closed", rules.CLOSED, deadline=rules.config(conf).schedule_deadline))
        return _error(conf, err, profile, lang), _kb(grid([my], 1))
    reader = profile.user_id if profile else None
    country = topic = ""
    if c >= 0 or t >= 0:  # the filter's index into what the hosts have (a second read only when filtering)
        everyone = await mm_uc.directory(uow, conf, reader)
        country = everyone.countries[c] if 0 <= c < len(everyone.countries) else ""
        topic = everyone.topics[t] if 0 <= t < len(everyone.topics) else ""
    found = await mm_uc.directory(uow, conf, reader, query=query, country=country, topic=topic, page=page)
    mm = rules.config(conf)
    if query:
        head = _("<b>Cities matching “{query}”</b>: {n}").format(query=esc(query), n=found.total)
    elif country:
        head = _("<b>Cities in {country} open for meetings</b>: {n}").format(
            country=esc(mm_uc.country_name(conf, country, lang)), n=found.total)
    elif topic and (chosen := mm.topic(topic)) is not None:
        head = _("<b>Cities open for meetings on “{topic}”</b>: {n}").format(topic=esc(chosen.name.get(lang)),
                                                                              n=found.total)
    else:
        head = _("<b>Cities open for meetings</b>: {n}").format(n=found.total)
    lines = [head]
    buttons = []
    for n, entry in enumerate(found.hosts, found.page * mm_uc.PAGE_SIZE + 1):
        p = entry.profile
        city = mm_uc.city_name(conf, p, lang)
        place = mm_uc.country_name(conf, mm_uc.country_of(conf, p), lang)
        free = ngettext("{n} free slot", "{n} free slots", entry.free).format(n=entry.free)
        lines.append(f"{n}. <b>{esc(city)}</b>, {esc(place)} · {free}")
        buttons.append(button(f"{n}. {city}"[:60], MmHost(host=p.user_id)))
    if not found.total:
        lines.append(_("No city has a slot free for you right now.") if not (query or country) else
                     _("No city matches. Send /meet to see them all."))
    if found.pages > 1:
        lines.append(_("Page {n} of {total}.").format(n=found.page + 1, total=found.pages))
    lines.append(_("To search, send /meet and a city's name, for example: /meet Seoul"))
    rows = grid(buttons, 2)
    rows += pager(found.page, found.pages, lambda n: MmList(page=n, c=c, t=t))
    filters = [button(_("🌍 By country"), MmCountries())]
    if found.topics or topic:
        filters.append(button(_("🏷 By topic"), MmTopics()))
    rows += grid([*filters, my], 2)
    return "\n\n".join(lines), _kb(rows)


async def on_meet(message: Message, command: CommandObject, uow: UnitOfWork, conf: Event, clock: Clock,
                  profile: Profile | None, lang: str) -> None:
    """/meet [name]: the cities with free slots (searched by name when one is given)."""
    if conf.matchmaking is None:
        await message.answer(_(rules.NO_MATCHMAKING))
        return
    try:
        rules.check_requester(profile)
    except ServiceError as err:
        await message.answer(_error(conf, err, profile, lang))
        return
    query = (command.args or "").strip()[:60]
    text, markup = await _directory(uow, conf, profile, lang, clock.now(), query=query)
    await message.answer(text, reply_markup=markup)


async def on_list(query: CallbackQuery, callback_data: MmList, uow: UnitOfWork, conf: Event, clock: Clock,
                  profile: Profile | None, lang: str) -> None:
    """A directory page (also the button of the "directory is open" notice)."""
    await query.answer()
    text, markup = await _directory(uow, conf, profile, lang, clock.now(), page=callback_data.page,
                                    c=callback_data.c, t=callback_data.t)
    await _reply(query, text, markup)


async def on_countries(query: CallbackQuery, uow: UnitOfWork, conf: Event, profile: Profile | None,
                       lang: str) -> None:
    """The country filter's choices (the countries that have cities with free slots)."""
    found = await mm_uc.directory(uow, conf, profile.user_id if profile else None)
    await query.answer()
    buttons = [button(mm_uc.country_name(conf, key, lang)[:60], MmList(c=n)) for n, key in enumerate(found.countries)]
    rows = grid(buttons, 2) + grid([button(_("All cities"), MmList())], 1)
    await _reply(query, _("Choose a country:"), _kb(rows))


async def on_topics(query: CallbackQuery, uow: UnitOfWork, conf: Event, profile: Profile | None,
                    lang: str) -> None:
    """The topic filter's choices (the topics that cities with free slots named)."""
    found = await mm_uc.directory(uow, conf, profile.user_id if profile else None)
    mm = rules.config(conf)
    await query.answer()
    buttons = [button(topic.name.get(lang)[:60], MmList(t=n))
               for n, key in enumerate(found.topics) if (topic := mm.topic(key)) is not None]
    rows = grid(buttons, 1) + grid([button(_("All cities"), MmList())], 1)
    await _reply(query, _("Choose a topic:"), _kb(rows))


def _topics_line(conf: Event, city: CityProfile, lang: str) -> str:
    mm = rules.config(conf)
    names = [topic.name.get(lang) for key in city.topics if (topic := mm.topic(key)) is not None]
    return _("Topics: {topics}").format(topics=esc(", ".join(names))) if names else ""


# -- a city's card ------------------------------------------------------------------------------------------------

async def _card(uow: UnitOfWork, conf: Event, profile: Profile, host: int, lang: str, now: datetime
                ) -> tuple[str, InlineKeyboardMarkup]:
    card = await mm_uc.host_card(uow, conf, profile.user_id, host, await mm_uc.followed(uow, conf, profile.user_id))
    p = card.profile
    city = mm_uc.city_name(conf, p, lang)
    place = mm_uc.country_name(conf, mm_uc.country_of(conf, p), lang)
    # What bookers see of a city open for meetings (docs/security.md, "Matchmaking"): the city, its country,
    # the organisation and what the city wrote for the directory; its contact's name and position only once
    # a meeting is booked.
    lines = [f"<b>{esc(city)}</b>, {esc(place)}\n{esc(p.organisation)}"]
    if topics := _topics_line(conf, card.city, lang):
        lines.append(topics)
    if card.city.about:
        lines.append(_("«{text}»").format(text=esc(card.city.about)))  # each language's quotes (ko: "…")
    rows: list[list[InlineKeyboardButton]] = []
    if card.met:
        lines.append(_(rules.PAIR_MET))
    elif card.free:
        lines.append(_("Free slots in your time zone ({zone}); tap one to book it. Booking tells the city your "
                       "name, position, organisation and city.").format(zone=esc(_zone_name(conf, profile, lang))))
        buttons = []
        for slot in card.free:
            label = _slot_label(conf, slot, profile, lang, now)
            clashes = card.clashes.get(slot.id)
            if clashes:
                titles = ", ".join(i.title.get(lang) for i in clashes)
                lines.append(_("⚠️ {time} overlaps {sessions}, which you follow.").format(
                    time=label, sessions=esc(titles)))
                label = f"⚠️ {label}"
            buttons.append(button(label, MmBook(host=host, slot=slot.id)))
        rows += grid(buttons, 2)
    else:
        lines.append(_("This city has no slot free for you."))
        lines.append(esc(rules.config(conf).overflow.get(lang)) if rules.config(conf).overflow else "")
        if card.asked_outside:
            lines.append(_(mm_uc.ALREADY_ASKED))
        else:
            rows += grid([button(_("🤝 Ask to meet outside the event"), MmAct(action="out", id=host))], 1)
    rows += grid([button(_("⬅️ All cities"), MmList()), button(_("📋 My meetings"), MmAct(action="my"))], 2)
    return "\n\n".join(x for x in lines if x), _kb(rows)


async def on_host(query: CallbackQuery, callback_data: MmHost, uow: UnitOfWork, conf: Event, clock: Clock,
                  profile: Profile | None, lang: str) -> None:
    """A city's card."""
    if profile is None:
        await query.answer(_(rules.NOT_REGISTERED), show_alert=True)
        return
    try:
        text, markup = await _card(uow, conf, profile, callback_data.host, lang, clock.now())
    except ServiceError as err:
        await query.answer(_error(conf, err, profile, lang), show_alert=True)
        return
    await query.answer()
    await _reply(query, text, markup)


async def on_book(query: CallbackQuery, callback_data: MmBook, uow: UnitOfWork, conf: Event, clock: Clock,
                  profile: Profile | None, lang: str) -> None:
    """One tap on a free slot: booked at once, or told why not with the city's next free slots."""
    host, slot_id, now = callback_data.host, callback_data.slot, clock.now()
    try:
        meeting = await mm_uc.book(uow, conf, profile, host, slot_id, now)
    except SlotUnavailable as err:
        await query.answer()
        rows = grid([button(_slot_label(conf, s, profile, lang, now), MmBook(host=host, slot=s.id))
                     for s in err.alternatives], 2)
        text = refusal(err)
        if err.alternatives:
            text += "\n\n" + _("These slots of the city are still free for you; tap one to book it:")
        else:
            text += "\n\n" + _("This city has no other slot free for you.")
            rows += grid([button(_("🤝 Ask to meet outside the event"), MmAct(action="out", id=host))], 1)
        rows += grid([button(_("⬅️ All cities"), MmList())], 1)
        await _reply(query, text, _kb(rows))
        return
    except ServiceError as err:
        await query.answer(_error(conf, err, profile, lang)[:200], show_alert=True)
        return
    assert profile is not None
    await query.answer(_("Booked!"))
    host_profile = await uow.delegates.get(host)
    slot = rules.slot(conf, meeting.slot)
    city = mm_uc.city_name(conf, host_profile, lang) if host_profile else "—"
    text = _("✅ <b>Booked:</b> a meeting with {city} at {time} ({zone}). They are told now. WeGO announces the "
             "final schedule by {date}, with the meeting's link; I will remind you 5 minutes before.").format(
        city=esc(city), time=_slot_label(conf, slot, profile, lang, now), zone=esc(_zone_name(conf, profile, lang)),
        date=_deadline(rules.config(conf).schedule_deadline, tzs.reader_zone(profile, conf), lang))
    await _reply(query, text, _kb(grid([button(_("✏️ Add a note for the city"), MmAct(action="note", id=meeting.id))],
                                       1) + grid([button(_("⬅️ All cities"), MmList()),
                                                  button(_("📋 My meetings"), MmAct(action="my"))], 2)))


# -- my meetings, cancel, decline, outside requests ----------------------------------------------------------------

async def _my_meetings(uow: UnitOfWork, conf: Event, profile: Profile, lang: str, now: datetime
                       ) -> tuple[str, InlineKeyboardMarkup]:
    views = await mm_uc.my_meetings(uow, conf, profile.user_id)
    st = await mm_uc.state(uow, conf, now)
    if not views:
        return _("You have no matchmaking meetings yet. Send /meet to book one."), _kb(
            grid([button(_("⬅️ All cities"), MmList())], 1))
    lines = [_("<b>Your matchmaking meetings</b> ({zone}):").format(zone=esc(_zone_name(conf, profile, lang)))]
    rows = []
    changeable = st.phase in (Phase.BOOKING, Phase.CLOSED)
    for v in views:
        other = v.other
        who = (f"{esc(other.full_name)}, {esc(other.organisation)}, {esc(mm_uc.city_name(conf, other, lang))}"
               if other else "—")
        label = _slot_label(conf, v.slot, profile, lang, now)
        role = _("you host") if v.hosting else _("you booked")
        lines.append(f"• <b>{label}</b>: {who} ({role})")
        if v.meeting.note:
            lines.append("   " + _("Note: «{note}»").format(note=esc(v.meeting.note)))
        if st.phase is Phase.FROZEN:
            link = rules.meeting_link(conf, v.meeting.booking)
            lines.append("   " + _("Link: {link}").format(link=esc(link) if link else _(mm_uc.NO_LINK)))
        if changeable:
            if v.hosting:
                rows += grid([button(_("Decline {time}").format(time=label), MmAct(action="dec", id=v.meeting.id))], 1)
            else:
                rows += grid([button(_("Cancel {time}").format(time=label), MmAct(action="can", id=v.meeting.id))], 1)
    if st.phase is Phase.FROZEN:
        lines.append(_(rules.FROZEN))
        rows += grid([button(_("📅 Send the calendar file again"), MmAct(action="ics"))], 1)
    return "\n".join(lines), _kb(rows)


async def on_action(query: CallbackQuery, callback_data: MmAct, uow: UnitOfWork, conf: Event, clock: Clock,
                    profile: Profile | None, lang: str, state: FSMContext) -> None:
    """My meetings, cancel, decline, ask to meet outside the event."""
    if profile is None:
        await query.answer(_(rules.NOT_REGISTERED), show_alert=True)
        return
    now = clock.now()
    action = callback_data.action
    try:
        if action in ("dec", "can"):
            meeting = await mm_uc.cancel(uow, conf, profile.user_id, callback_data.id, now, decline=action == "dec")
            slot = rules.slot(conf, meeting.slot)
            note = (_("You declined the meeting at {time}. The slot is free again and they are told.")
                    if action == "dec" else
                    _("Your meeting at {time} is cancelled. The other side is told.")).format(
                time=_slot_label(conf, slot, profile, lang, now))
            await query.answer(note[:200], show_alert=True)
        elif action == "out":
            await mm_uc.request_outside(uow, conf, profile, callback_data.id, now)
            await query.answer()
            await _reply(query, _("✅ Your request to meet this city outside the event is recorded. The organisers "
                                  "will contact you to agree on a date."),
                         _kb(grid([button(_("⬅️ All cities"), MmList())], 1)))
            return
        elif action == "note":
            meeting = await mm_uc.want_note(uow, state, profile.user_id, callback_data.id)
            await query.answer()
            assert isinstance(query.message, Message)
            await query.message.answer(_("Send one line (up to {n} characters) for the city about your meeting at "
                                         "{time}, for example what you would like to discuss.").format(
                n=rules.NOTE_MAX, time=_slot_label(conf, rules.slot(conf, meeting.slot), profile, lang, now)))
            return
        elif action == "ics":
            await mm_uc.resend_calendar(uow, conf, profile.user_id, now)
            await query.answer(_("The calendar file is on its way."))
            return
        elif action == "my":
            await query.answer()
        else:
            await query.answer(_("This button is no longer active."))
            return
    except ServiceError as err:
        await query.answer(_error(conf, err, profile, lang)[:200], show_alert=True)
        return
    text, markup = await _my_meetings(uow, conf, profile, lang, now)
    await _reply(query, text, markup)


# -- /availability: a host's free slots -----------------------------------------------------------------------------

def _availability(conf: Event, view: mm_uc.Availability, profile: Profile, lang: str, now: datetime
                  ) -> tuple[str, InlineKeyboardMarkup]:
    mm = rules.config(conf)
    lines = [_("<b>When can your city meet?</b> Tap a slot to mark it free (✅) or not (▫️). Times in your time "
               "zone ({zone}).").format(zone=esc(_zone_name(conf, profile, lang)))]
    if view.phase is Phase.AVAILABILITY:
        lines.append(_("Mark your free slots by {date}; then cities and sponsors book them, first come, first "
                       "served.").format(date=tzs.fmt_long_date(mm.availability_deadline, profile.timezone, lang)))
    elif not view.free and not view.booked:
        lines.append(_error(conf, mm_uc.late_host(conf, profile), profile, lang))
    else:
        lines.append(_("You can still take a slot away; since {date} only the organisers add one.").format(
            date=tzs.fmt_long_date(mm.availability_deadline, profile.timezone, lang)))
    buttons = []
    for slot in rules.slots(conf):
        label = _slot_label(conf, slot, profile, lang, now)
        if slot.id in view.booked:
            label = f"📅 {label}"
        elif slot.id in view.free:
            label = f"✅ {label}"
        else:
            label = f"▫️ {label}"
        buttons.append(button(label, MmAvail(slot=slot.id)))
    if view.booked:
        lines.append(_("📅 marks a slot with a meeting; to free it, decline the meeting in /meet → My meetings."))
    # What bookers see in the directory besides the city, country and organisation.
    shown = [x for x in (_topics_line(conf, view.city, lang),
                         _("«{text}»").format(text=esc(view.city.about)) if view.city.about else "") if x]
    lines.append(_("<b>In the directory</b>: {profile}").format(profile="\n".join(shown)) if shown else
                 _("Tell bookers what your city would like to discuss: choose topics and add a line."))
    rows = grid(buttons, 1)
    if mm.topics:
        rows += grid([button(_("🏷 Topics"), MmProf(action="topics")),
                      button(_("✏️ A line about your city"), MmProf(action="about"))], 2)
    else:
        rows += grid([button(_("✏️ A line about your city"), MmProf(action="about"))], 1)
    return "\n\n".join(lines), _kb(rows)


def _topics_keyboard(conf: Event, view: mm_uc.Availability, lang: str) -> InlineKeyboardMarkup:
    mm = rules.config(conf)
    buttons = [button(f"{'✅' if t.id in view.city.topics else '▫️'} {t.name.get(lang)}"[:60],
                      MmProf(action="t", t=t.id)) for t in mm.topics]
    return _kb(grid(buttons, 1) + grid([button(_("⬅️ Back"), MmProf(action="back"))], 1))


async def on_profile(query: CallbackQuery, callback_data: MmProf, uow: UnitOfWork, conf: Event, clock: Clock,
                     profile: Profile | None, lang: str, state: FSMContext) -> None:
    """The city's directory profile: topics, the line about the city."""
    now, action = clock.now(), callback_data.action
    try:
        if action == "t":
            view = await mm_uc.toggle_topic(uow, conf, profile, callback_data.t, now)
        elif action == "about":
            view = await mm_uc.want_about(uow, state, conf, profile, now)
            await query.answer()
            assert isinstance(query.message, Message)
            await query.message.answer(_("Send one line (up to {n} characters) saying what your city would like to "
                                         "discuss. Bookers see it in the directory.").format(n=rules.ABOUT_MAX))
            return
        else:
            view = await mm_uc.availability(uow, conf, profile, now)
    except ServiceError as err:
        await query.answer(_error(conf, err, profile, lang)[:200], show_alert=True)
        return
    assert profile is not None
    await query.answer()
    if action in ("topics", "t"):
        await _reply(query, _("Which topics would your city like to discuss? Tap to choose or remove."),
                     _topics_keyboard(conf, view, lang))
        return
    text, markup = _availability(conf, view, profile, lang, now)
    await _reply(query, text, markup)


async def on_about_text(message: Message, uow: UnitOfWork, conf: Event, clock: Clock, profile: Profile | None,
                        lang: str, state: FSMContext) -> None:
    """The city's line for the directory."""
    now = clock.now()
    try:
        view = await mm_uc.take_about(uow, state, conf, profile, message.text or "", now)
    except ServiceError as err:
        await message.answer(_error(conf, err, profile, lang))
        return
    assert profile is not None
    text, markup = _availability(conf, view, profile, lang, now)
    await message.answer(text, reply_markup=markup)


async def on_note_text(message: Message, uow: UnitOfWork, conf: Event, clock: Clock, profile: Profile | None,
                       lang: str, state: FSMContext) -> None:
    """The booker's note for the city."""
    if profile is None:
        await message.answer(_(rules.NOT_REGISTERED))
        return
    try:
        await mm_uc.take_note(uow, state, conf, profile.user_id, message.text or "", clock.now())
    except ServiceError as err:
        await message.answer(_error(conf, err, profile, lang))
        return
    await message.answer(_("✅ Your note is on its way to the city."),
                         reply_markup=_kb(grid([button(_("📋 My meetings"), MmAct(action="my"))], 1)))


async def on_availability(message: Message, uow: UnitOfWork, conf: Event, clock: Clock, profile: Profile | None,
                          lang: str) -> None:
    """/availability: a host city marks the slots it is free in."""
    if conf.matchmaking is None:
        await message.answer(_(rules.NO_MATCHMAKING))
        return
    try:
        view = await mm_uc.availability(uow, conf, profile, clock.now())
    except ServiceError as err:
        await message.answer(_error(conf, err, profile, lang))
        return
    assert profile is not None
    if view.phase is Phase.FROZEN:
        await message.answer(_(rules.AVAILABILITY_CLOSED))
        return
    text, markup = _availability(conf, view, profile, lang, clock.now())
    await message.answer(text, reply_markup=markup)


async def on_toggle(query: CallbackQuery, callback_data: MmAvail, uow: UnitOfWork, conf: Event, clock: Clock,
                    profile: Profile | None, lang: str) -> None:
    """A slot of /availability tapped."""
    try:
        view = await mm_uc.toggle(uow, conf, profile, callback_data.slot, clock.now())
    except ServiceError as err:
        await query.answer(_error(conf, err, profile, lang)[:200], show_alert=True)
        return
    assert profile is not None
    await query.answer()
    text, markup = _availability(conf, view, profile, lang, clock.now())
    await _reply(query, text, markup)


# -- /matchmaking: organisers -------------------------------------------------------------------------------------

def _back_to_grid() -> InlineKeyboardMarkup:
    return _kb(grid([button(_("⬅️ Back"), MmOrg(action="grid"))], 1))


def _overview(conf: Event, ov: mm_uc.Overview, lang: str) -> tuple[str, InlineKeyboardMarkup]:
    slots = rules.slots(conf)
    head = " ".join(f"{s.starts.astimezone(conf.tz):%H:%M}" for s in slots)
    free = sum(len(f) for _p, f, _b in ov.hosts)
    lines = [_("<b>Matchmaking</b>. Cities open for meetings: {hosts} · slots offered: {free} · meetings booked: "
               "{booked}.").format(hosts=len(ov.hosts), free=free, booked=ov.bookings),
        _("Slots (GMT+3): {slots}. ✅ booked, ▫️ free, · not offered.").format(slots=head)]
    for shown, (p, offered, booked) in enumerate(ov.hosts):
        if sum(map(len, lines)) > GRID_CHARS:  # one message holds about 60 cities: the CSV has them all
            more = len(ov.hosts) - shown
            lines.append(ngettext("… and {n} more city (all of them are in the CSV).",
                                  "… and {n} more cities (all of them are in the CSV).", more).format(n=more))
            break
        marks = "".join("✅" if s.id in booked else "▫️" if s.id in offered else "·" for s in slots)
        lines.append(f"<code>{marks}</code> {esc(mm_uc.city_name(conf, p, lang))} ({len(booked)}/{len(offered)})")
    if ov.outside:
        lines.append(_("<b>Requests to meet outside the event</b>: {n}").format(n=len(ov.outside)))
        for host, req, _at in ov.outside[:OUTSIDE_SHOWN]:
            lines.append("• " + _("{requester} ({rcity}) → {host}").format(
                requester=esc(req.full_name if req else "—"), rcity=esc(req.city if req else "—"),
                host=esc(mm_uc.city_name(conf, host, lang) if host else "—")))
    if ov.published_at is not None:
        lines.append(_("The schedule was published on {date}.").format(
            date=tzs.fmt_datetime(ov.published_at, conf.timezone, lang)))
    rows = grid([button(_("📄 Export CSV"), MmOrg(action="csv"))], 1)
    if ov.published_at is None:
        rows += grid([button(_("➕ Open a city for meetings"), MmOrg(action="add")),
                      button(_("📣 Publish schedule"), MmOrg(action="pub"))], 1)
    return "\n".join(lines), _kb(rows)


async def on_matchmaking(message: Message, uow: UnitOfWork, conf: Event, clock: Clock, is_admin: bool,
                         lang: str) -> None:
    """/matchmaking: the organisers' grid (others get the organisers-only line)."""
    if conf.matchmaking is None:
        await message.answer(_(rules.NO_MATCHMAKING))
        return
    text, markup = _overview(conf, await mm_uc.overview(uow, conf, clock.now()), lang)
    await message.answer(text, reply_markup=markup)


async def on_open_city_text(message: Message, uow: UnitOfWork, conf: Event, clock: Clock, is_admin: bool,
                            lang: str, profile: Profile | None, state: FSMContext) -> None:
    """An organiser opens a city for meetings: its delegate's e-mail or Telegram id."""
    try:
        opened = await mm_uc.open_city(uow, state, conf, message.from_user.id if message.from_user else 0,
                                       message.text or "", clock.now())
    except ServiceError as err:
        await message.answer(_error(conf, err, profile, lang) + "\n" + _("Send another e-mail or id, or /cancel."))
        return
    await message.answer(_("✅ {city} ({name}) is open for meetings and offers every slot; they are told.").format(
        city=esc(mm_uc.city_name(conf, opened.profile, lang)), name=esc(opened.profile.full_name)))


async def on_organiser(query: CallbackQuery, callback_data: MmOrg, uow: UnitOfWork, conf: Event, clock: Clock,
                       is_admin: bool, lang: str, profile: Profile | None, state: FSMContext) -> None:
    """CSV export, Publish schedule (with a confirmation)."""
    assert isinstance(query.message, Message)
    action = callback_data.action
    if action == "csv":
        await query.answer()
        data = await mm_uc.meetings_csv(uow, conf)
        await query.message.answer_document(BufferedInputFile(data, filename=f"{conf.id}-matchmaking.csv"))
        return
    if action == "add":
        await mm_uc.want_open_city(uow, state)
        await query.answer()
        await query.message.answer(_("Send the e-mail or Telegram id of the registered delegate whose city should "
                                     "offer meetings. After the availability deadline only organisers can open a "
                                     "city."))
        return
    if action == "pub":
        try:
            n = await mm_uc.publish_preview(uow, conf, clock.now())
        except ServiceError as err:
            await query.answer()
            await _reply(query, _error(conf, err, profile, lang), _back_to_grid())
            return
        await query.answer()
        await _reply(query, _("Publish the final schedule now? Bookings freeze (afterwards only organisers change "
                              "them) and every participant receives their schedule. Participants: {n}.").format(n=n),
                     _kb(grid([button(_("Yes, publish"), MmOrg(action="yes")),
                               button(_("No, not yet"), MmOrg(action="no"))], 2)))
        return
    if action == "yes":
        try:
            n = await mm_uc.publish(uow, conf, query.from_user.id, clock.now())
        except ServiceError as err:
            await query.answer()
            await _reply(query, _error(conf, err, profile, lang), _back_to_grid())
            return
        await query.answer(_("Published. Participants who will receive their schedule: {n}.").format(n=n),
                           show_alert=True)
    elif action not in ("no", "grid"):
        await query.answer(_("This button is no longer active."))
        return
    else:
        await query.answer()
    text, markup = _overview(conf, await mm_uc.overview(uow, conf, clock.now()), lang)
    await _reply(query, text, markup)


def make_router() -> Router:
    router = Router(name="matchmaking")
    router.message.register(on_meet, Command("meet"))
    router.message.register(on_availability, Command("availability"))
    router.message.register(on_matchmaking, Command("matchmaking"), flags=ORGANISER_ONLY)
    router.callback_query.register(on_list, MmList.filter(), on_a_message)
    router.message.register(on_about_text, StateFilter(mm_uc.S_ABOUT), F.text, ~F.text.startswith("/"))
    router.message.register(on_note_text, StateFilter(mm_uc.S_NOTE), F.text, ~F.text.startswith("/"))
    router.message.register(on_open_city_text, StateFilter(mm_uc.S_OPEN_CITY), F.text, ~F.text.startswith("/"),
                            flags=ORGANISER_ONLY)
    router.callback_query.register(on_countries, MmCountries.filter(), on_a_message)
    router.callback_query.register(on_topics, MmTopics.filter(), on_a_message)
    router.callback_query.register(on_profile, MmProf.filter(), on_a_message)
    router.callback_query.register(on_host, MmHost.filter(), on_a_message)
    router.callback_query.register(on_book, MmBook.filter(), on_a_message)
    router.callback_query.register(on_action, MmAct.filter(), on_a_message)
    router.callback_query.register(on_toggle, MmAvail.filter(), on_a_message)
    router.callback_query.register(on_organiser, MmOrg.filter(), on_a_message, flags=ORGANISER_ONLY)
    return router


# -- free questions about matchmaking (handlers/program.py's on_question adds this to its answer) ----------------

def concerns_matchmaking(conf: Event, item_id: str | None) -> bool:
    """Whether an answer is about the matchmaking meetings (its item, or an FAQ entry linked to it)."""
    return conf.matchmaking is not None and item_id is not None and item_id == conf.matchmaking.item


def question_note(conf: Event, phase: Phase, now: datetime, profile: Profile | None, lang: str) -> str:
    """Where booking stands by the bot's clock, with the dates that apply (in the reader's zone)."""
    mm = rules.config(conf)
    zone = tzs.reader_zone(profile, conf)
    today = tzs.fmt_long_date(now, zone, lang)
    availability = _deadline(mm.availability_deadline, zone, lang)
    schedule = _deadline(mm.schedule_deadline, zone, lang)
    if phase is Phase.AVAILABILITY:
        return _("📅 Today is {today}. Cities open for meetings mark their free times until {availability}; then "
                 "booking opens here with /meet, first come, first served, until WeGO publishes the final schedule "
                 "(by {schedule}).").format(today=today, availability=availability, schedule=schedule)
    if phase is Phase.BOOKING:
        return _("📅 Today is {today}: booking is open now with /meet, first come, first served, until WeGO "
                 "publishes the final schedule (by {schedule}).").format(today=today, schedule=schedule)
    if phase is Phase.CLOSED:
        return _("📅 Today is {today}: booking closed on {schedule}, and WeGO is preparing the final schedule. To "
                 "change a meeting, please contact the organisers.").format(today=today, schedule=schedule)
    return _("📅 The final schedule has been published: /meet → My meetings shows yours.")


# The FAQ entry whose answer is the booking steps themselves (the others get the event file's steps added).
STEPS_FAQ = "matchmaking-apply"


def with_matchmaking(conf: Event, text: str, markup: InlineKeyboardMarkup, phase: Phase, now: datetime,
                     profile: Profile | None, lang: str, *, answer_id: str = "") -> tuple[str, InlineKeyboardMarkup]:
    """A free question's answer about matchmaking: the booking steps, the dates by the bot's clock, a /meet
    button first."""
    mm = rules.config(conf)
    if answer_id != STEPS_FAQ and mm.steps:
        text += "\n\n" + "\n".join(f"{n}. {esc(step.get(lang))}" for n, step in enumerate(mm.steps, 1))
    text = f"{text}\n\n{question_note(conf, phase, now, profile, lang)}"
    meet = button(_("🤝 Book a meeting (/meet)"), MmList())
    rows = [[meet]] if meet is not None else []
    return text, InlineKeyboardMarkup(inline_keyboard=rows + list(markup.inline_keyboard))
