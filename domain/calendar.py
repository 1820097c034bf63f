"""Calendar files (.ics, RFC 5545) for one session or the whole program.

Times are written in the event's zone (DTSTART;TZID=Europe/Moscow) with its VTIMEZONE, so Google
Calendar, Apple Calendar and Outlook place each session at the right UTC instant and convert it to the
reader's own zone. UIDs are stable per event and item: importing a file twice updates, never duplicates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from icalendar import Alarm, Calendar
from icalendar import Event as VEvent

from domain.event import Event, ProgramItem
from domain.i18n_marks import N_

_SPEAKERS = N_("Speakers:")
_JOIN = N_("How to join:")
_MEMBERS_ONLY = N_("For EXCOM members only. The join details are shown to registered EXCOM member cities.")
_LOCATION = N_("{platform} (online)")
_MORE = N_("More information: {website}")


def uid(conf: Event, item: ProgramItem) -> str:
    return f"{conf.id}-{item.id}@delegate-bot"


def filename(conf: Event, item: ProgramItem | None) -> str:
    return f"{conf.id}-{item.id}.ics" if item else f"{conf.id}-program.ics"


def _description(conf: Event, item: ProgramItem, lang: str, tr: Callable[[str], str], show_join: bool) -> str:
    parts: list[str] = []
    if item.description:
        parts.append(item.description.get(lang))
    if item.agenda:
        parts.append("\n".join(f"• {a.get(lang)}" for a in item.agenda))
    if item.speakers:
        names = "\n".join(f"• {s.name.get(lang)}, {s.role.get(lang)}" for s in item.speakers)
        parts.append(f"{tr(_SPEAKERS)}\n{names}")
    if show_join:
        join = item.join or conf.platform.join
        parts.append(f"{tr(_JOIN)}\n{join.get(lang)}")
    else:
        parts.append(tr(_MEMBERS_ONLY))
    parts.append(tr(_MORE).format(website=conf.website))
    return "\n\n".join(parts)


def _calendar(conf: Event, lang: str) -> Calendar:
    """An empty calendar of the event, named in `lang`, in the event's zone."""
    cal = Calendar()
    cal.add("prodid", f"-//delegate-bot//{conf.id}//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", conf.name.get(lang))
    cal.add("x-wr-timezone", conf.timezone)
    return cal


def _finished(cal: Calendar, conf: Event) -> bytes:
    # A VTIMEZONE covering the year around the event (enough for every item, small for every client).
    cal.add_missing_timezones(first_date=conf.date - timedelta(days=366), last_date=conf.date + timedelta(days=366))
    return bytes(cal.to_ical())


def _alarm(ev: VEvent, minutes: int | None, summary: str) -> None:
    """A VALARM `minutes` before the start: the same lead as the person's reminders in the bot (None: they turned
    reminders off, so the file adds none either)."""
    if minutes is None:
        return
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", summary)
    alarm.add("trigger", timedelta(minutes=-minutes))
    ev.add_component(alarm)


def build_ics(conf: Event, items: Sequence[ProgramItem], lang: str, *, now: datetime,
              tr: Callable[[str], str], show_join: Callable[[ProgramItem], bool], alarm: int | None = None) -> bytes:
    """An iCalendar file with one VEVENT per item, texts in `lang` (`tr` translates this module's msgids);
    each with an alarm `alarm` minutes before it starts."""
    cal = _calendar(conf, lang)
    tz = conf.tz
    location = tr(_LOCATION).format(platform=conf.platform.name)
    for item in items:
        ev = VEvent()
        ev.add("uid", uid(conf, item))
        ev.add("dtstamp", now)
        ev.add("dtstart", item.starts.astimezone(tz))
        ev.add("dtend", item.ends.astimezone(tz))
        ev.add("summary", f"{item.title.get(lang)} · {conf.name.get(lang)}")
        ev.add("description", _description(conf, item, lang, tr, show_join(item)))
        ev.add("location", location)
        ev.add("url", f"https://{conf.website}")
        ev.add("status", "CONFIRMED")
        ev.add("transp", "OPAQUE")
        ev.add("sequence", 0)
        _alarm(ev, alarm, f"{item.title.get(lang)} · {conf.name.get(lang)}")
        cal.add_component(ev)
    return _finished(cal, conf)


def build_meetings_ics(conf: Event, meetings: Sequence[tuple[str, datetime, datetime, str, str]], lang: str, *,
                       now: datetime, alarm: int | None = None) -> bytes:
    """A person's matchmaking meetings: (uid, starts, ends, summary, link) each, in the event's zone. The
    summary is already in `lang`; the link (may be empty) is the meeting's location and URL."""
    cal = _calendar(conf, lang)
    for meeting_uid, starts, ends, summary, link in meetings:
        ev = VEvent()
        ev.add("uid", meeting_uid)
        ev.add("dtstamp", now)
        ev.add("dtstart", starts.astimezone(conf.tz))
        ev.add("dtend", ends.astimezone(conf.tz))
        ev.add("summary", f"{summary} · {conf.name.get(lang)}")
        if link:
            ev.add("location", link)
            ev.add("url", link)
        ev.add("status", "CONFIRMED")
        ev.add("sequence", 0)
        _alarm(ev, alarm, summary)
        cal.add_component(ev)
    return _finished(cal, conf)
