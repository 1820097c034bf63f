"""Reminders: what is reminded when, to whom, and how the messages read at send time.

- Before a followed item, `lead` minutes ahead (5, 10, 15 or 30; the person chooses). One fan-out per start
  instant and lead time creates the rows for everyone concerned; the sender delivers them. Items that start
  together (parallel tracks) make one reminder per person naming every one of them that person follows.
  The Closed Session (a members-only item) is reminded only to EXCOM member cities an organiser confirmed.
- "The whole program" is every item a person may attend, coffee breaks included, except the matchmaking
  meetings for a local government that said No to matchmaking at registration. Following an item from its
  card always counts (a person who said No and then presses "Remind me" on the matchmaking card is reminded).
- The evening before: at 18:00 in each person's own zone on the day before the event, a note lists what they
  follow. One fan-out per distinct 18:00 instant (zones with the same offset share it).
- An item moved in the event file: at the next start-up its followers get one "time changed" notice.

Texts are rendered when sent, in the reader's language and time zone of that moment: a person who changes
their zone sees the new zone in every later message. Times carry the date when the reader's local date is
not the event's date (the rule of the whole bot).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING

from delivery.rendering import RenderContext, Renderers
from domain import timezones as tzs
from domain.event import Event, ProgramItem
from domain.i18n_marks import N_
from domain.messages import Button, Drop, NewMessage, OutboxRow, Recipient, Rendered
from domain.text import Translator, esc, translate, translate_plural

if TYPE_CHECKING:
    from services.ports import UnitOfWork

LEADS: tuple[int, ...] = (5, 10, 15, 30)
DEFAULT_LEAD = 10
DAY_BEFORE_AT = time(18, 0)
# The kind of the matchmaking meetings: left out of "the whole program" for people who said No to them.
MATCHMAKING_KIND = "matchmaking"

KIND_REMINDER, KIND_DAY_BEFORE, KIND_TIME_CHANGED = "reminder", "day_before", "time_changed"
# The callback data of the "Reminder settings" button under a reminder (handlers/reminders.py answers it).
SETTINGS_CALLBACK = "rem:open:"


def ngettext(singular: str, plural: str) -> tuple[str, str]:
    """Mark a plural message for extraction (`ngettext` is the extractor's keyword); chosen by n when sent."""
    return singular, plural


STARTS_IN = ngettext("⏰ <b>{title}</b> starts at {time}, in {n} minute.",
                     "⏰ <b>{title}</b> starts at {time}, in {n} minutes.")
STARTS_NOW = N_("⏰ <b>{title}</b> starts now ({time}).")
STARTED = N_("⏰ <b>{title}</b> started at {time} and is on until {end}.")
HOW_TO_JOIN = N_("<b>How to join:</b> {join}")
TOGETHER_IN = ngettext("⏰ In {n} minute, at {time}, these sessions start at the same time:",
                       "⏰ In {n} minutes, at {time}, these sessions start at the same time:")
TOGETHER_NOW = N_("⏰ These sessions start now ({time}):")
TOGETHER_STARTED = N_("⏰ These sessions started at {time}:")
SETTINGS_BUTTON = N_("⚙️ Reminder settings")
DAY_BEFORE_HEAD = N_("🗓 <b>{event}</b>: the sessions you follow, in your time zone ({zone}):")
DAY_BEFORE_FOOT = ngettext("I will remind you {n} minute before each one. To change that, send /reminders.",
                           "I will remind you {n} minutes before each one. To change that, send /reminders.")
TIME_CHANGED = N_("🕒 <b>Time change:</b> {title} now starts at {time} (it was {old_time}). Your reminder moves "
                  "with it.")


# -- who follows what -----------------------------------------------------------------------------------------

def is_matchmaking(item: ProgramItem) -> bool:
    return item.kind == MATCHMAKING_KIND


def in_whole_program(item: ProgramItem, matchmaking: bool | None = None) -> bool:
    """Whether "the whole program" covers `item` for a person whose matchmaking answer is `matchmaking`."""
    return not (is_matchmaking(item) and matchmaking is False)


def may_follow(item: ProgramItem, member: bool) -> bool:
    """Members-only items (the Closed Session) are for EXCOM member cities an organiser confirmed."""
    return not item.members_only or member


def followed_items(event: Event, explicit: Iterable[str], *, follow_all: bool, member: bool,
                   matchmaking: bool | None = None) -> list[ProgramItem]:
    """The items a person is reminded of, in program order."""
    chosen = set(explicit)
    return [i for i in event.program
            if may_follow(i, member) and (i.id in chosen or (follow_all and in_whole_program(i, matchmaking)))]


async def still_follows(uow: UnitOfWork, item: ProgramItem, who: Recipient) -> bool:
    if not may_follow(item, who.member):
        return False
    if who.follow_all and in_whole_program(item, who.matchmaking):
        return True
    return await uow.follows.is_following(who.user_id, item.id)


# -- when -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FanOut:
    """The reminders of the items starting at one instant, at one lead time: one scheduler job, whatever the
    number of readers. `item_id` is the first of them in program order (it names the job, topic and keys)."""

    item_id: str
    lead: int
    at: datetime
    starts: datetime

    @property
    def job_id(self) -> str:
        return f"reminder:{self.item_id}:{self.lead}"


def together(event: Event, item: ProgramItem) -> list[ProgramItem]:
    """`item` and the items on other tracks starting at the same instant, in program order."""
    return [i for i in event.program if i.starts == item.starts]


def fan_outs(event: Event) -> list[FanOut]:
    firsts = [i for i in event.program if together(event, i)[0].id == i.id]
    return [FanOut(i.id, lead, i.starts - timedelta(minutes=lead), i.starts) for i in firsts for lead in LEADS]


def catch_up(event: Event, now: datetime) -> list[FanOut]:
    """Fan-outs whose instant has passed while their items have not started: run them now.

    They find people who followed (or chose a longer lead) after the instant, and everyone after a restart;
    the keys make sure nobody is reminded twice.
    """
    return [f for f in fan_outs(event) if f.at <= now < f.starts]


def day_before_at(event: Event, zone: str) -> datetime:
    """18:00 on the day before the event, in `zone`, as a UTC instant."""
    local = datetime.combine(event.date - timedelta(days=1), DAY_BEFORE_AT, tzs.get_tz(zone))
    return local.astimezone(UTC)


def day_before_groups(event: Event, zones: Iterable[str]) -> dict[datetime, list[str]]:
    """Zones grouped by the instant their 18:00 falls on (one fan-out per instant)."""
    groups: dict[datetime, list[str]] = {}
    for zone in sorted(set(zones)):
        if tzs.is_valid_zone(zone):
            groups.setdefault(day_before_at(event, zone), []).append(zone)
    return groups


def day_before_job_id(at: datetime) -> str:
    return f"day_before:{at:%Y%m%dT%H%MZ}"


def _stamp(instant: datetime) -> str:
    return f"{instant:%Y%m%dT%H%MZ}"


# -- fan-outs ---------------------------------------------------------------------------------------------------

def reminder_key(user_id: int, item: ProgramItem, lead: int) -> str:
    # One per person, start instant and lead: `item` is the first of the items starting together, so a lone
    # item's key is what it always was. The start is part of the key: if the item moves, the reminder for
    # the new time is a new message.
    return f"reminder:{user_id}:{item.id}:{lead}:{_stamp(item.starts)}"


def reminder_topic(item_id: str, lead: int) -> str:
    return f"reminder:{item_id}:{lead}"


async def _who_follows(uow: UnitOfWork, item: ProgramItem, lead: int) -> list[int]:
    return await uow.reminders.to_remind(item.id, lead, covered_by_all=True, members_only=item.members_only,
                                         matchmaking=is_matchmaking(item))


async def fan_out_reminder(uow: UnitOfWork, event: Event, item_id: str, lead: int, now: datetime) -> int:
    """Create the reminder rows of the items starting with `item_id`, at one lead time; returns how many were
    new. One row per person, whichever of those items they follow (the renderer names them)."""
    named = event.item(item_id)
    if named is None or now >= named.starts:
        return 0
    group = together(event, named)
    first = group[0]
    users: dict[int, None] = {}
    for item in group:
        users.update(dict.fromkeys(await _who_follows(uow, item, lead)))
    topic = reminder_topic(first.id, lead)
    known = await uow.outbox.existing_keys(topic)
    # Rows made one per item before items starting together were merged (an upgrade during the event).
    for item in group[1:]:
        known |= {k.replace(f":{item.id}:", f":{first.id}:", 1)
                  for k in await uow.outbox.existing_keys(reminder_topic(item.id, lead))}
    payload = {"item": first.id, "items": [i.id for i in group], "lead": lead, "starts": first.starts.isoformat()}
    due = max(now, first.starts - timedelta(minutes=lead))
    ends = max(i.ends for i in group)
    messages = [NewMessage(key, uid, KIND_REMINDER, topic, due, payload, expires_at=ends)
                for uid in sorted(users) if (key := reminder_key(uid, first, lead)) not in known]
    return await uow.outbox.add(messages, now)


async def fan_out_day_before(uow: UnitOfWork, event: Event, zones: list[str], now: datetime) -> int:
    """Create the evening-before notes for the people in `zones` (whose 18:00 is now)."""
    users = await uow.reminders.in_zones(zones)
    topic = f"day_before:{event.id}"
    messages = [NewMessage(f"day_before:{uid}:{event.id}", uid, KIND_DAY_BEFORE, topic, now, {},
                           expires_at=event.starts) for uid in users]
    return await uow.outbox.add(messages, now)


def program_times(event: Event) -> dict[str, tuple[datetime, datetime]]:
    return {i.id: (i.starts, i.ends) for i in event.program}


def moved(event: Event, before: dict[str, tuple[datetime, datetime]]) -> list[tuple[ProgramItem, datetime]]:
    """Items whose start differs from the one last scheduled: (item, old start)."""
    return [(i, before[i.id][0]) for i in event.program if i.id in before and before[i.id][0] != i.starts]


async def notify_moves(uow: UnitOfWork, event: Event, now: datetime) -> int:
    """Compare the program with the one last scheduled; queue one notice per follower of a moved item.

    Returns how many notices were created. The first start-up only records the program.
    """
    repo = uow.reminders
    before = await repo.snapshot()
    created = 0
    for item, old in moved(event, before):
        if now >= item.starts:
            continue
        users = await repo.followers(item.id, covered_by_all=True, members_only=item.members_only,
                                     matchmaking=is_matchmaking(item))
        topic = f"time_changed:{item.id}:{_stamp(item.starts)}"
        payload = {"item": item.id, "old": old.isoformat(), "starts": item.starts.isoformat()}
        created += await uow.outbox.add(
            (NewMessage(f"time_changed:{uid}:{item.id}:{_stamp(item.starts)}", uid, KIND_TIME_CHANGED, topic, now,
                        payload, expires_at=item.starts) for uid in users), now)
    if before != program_times(event):
        await repo.save_snapshot(program_times(event), now)
    return created


# -- texts -------------------------------------------------------------------------------------------------------

def when(event: Event, instant: datetime, zone: str, lang: str) -> str:
    """"15:00", or "16 Nov, 23:00" when the reader's date is not the event's."""
    return tzs.fmt_when(instant, zone, lang, instant, event.timezone)


plural = translate_plural


def settings_button(i18n: Translator, lang: str) -> tuple[tuple[Button, ...], ...]:
    return ((Button(translate(i18n, lang, SETTINGS_BUTTON), callback_data=SETTINGS_CALLBACK),),)


def reminder_text(event: Event, item: ProgramItem, who: Recipient, now: datetime, i18n: Translator) -> str:
    lang, zone = who.language, who.timezone
    title = esc(item.title.get(lang))
    at = when(event, item.starts, zone, lang)
    if now < item.starts:
        minutes = round((item.starts - now).total_seconds() / 60)
        head = plural(i18n, lang, STARTS_IN, minutes, title=title, time=at) if minutes >= 1 else \
            translate(i18n, lang, STARTS_NOW, title=title, time=at)
    else:
        head = translate(i18n, lang, STARTED, title=title, time=at, end=when(event, item.ends, zone, lang))
    join = (item.join or event.platform.join).get(lang)
    return f"{head}\n\n{translate(i18n, lang, HOW_TO_JOIN, join=esc(join))}"


def together_text(event: Event, items: list[ProgramItem], who: Recipient, now: datetime, i18n: Translator) -> str:
    """One reminder for parallel items starting together: every one named, each with how to join it."""
    lang, zone = who.language, who.timezone
    starts = items[0].starts
    at = when(event, starts, zone, lang)
    if now < starts:
        minutes = round((starts - now).total_seconds() / 60)
        head = plural(i18n, lang, TOGETHER_IN, minutes, time=at) if minutes >= 1 else \
            translate(i18n, lang, TOGETHER_NOW, time=at)
    else:
        head = translate(i18n, lang, TOGETHER_STARTED, time=at)
    lines = [head]
    joins = {(i.join or event.platform.join).get(lang) for i in items}
    for item in items:
        end = when(event, item.ends, zone, lang)
        lines.append(f"\n• <b>{esc(item.title.get(lang))}</b> ({at}–{end})")
        if len(joins) > 1:
            lines.append(translate(i18n, lang, HOW_TO_JOIN, join=esc((item.join or event.platform.join).get(lang))))
    if len(joins) == 1:
        lines.append("\n" + translate(i18n, lang, HOW_TO_JOIN, join=esc(joins.pop())))
    return "\n".join(lines)


def day_before_text(event: Event, items: list[ProgramItem], who: Recipient, now: datetime, i18n: Translator) -> str:
    lang, zone = who.language, who.timezone
    lines = [translate(i18n, lang, DAY_BEFORE_HEAD, event=esc(event.name.get(lang)),
                       zone=esc(tzs.zone_name(zone, lang, now)))]
    day = None
    for item in items:
        local_day = tzs.to_local(item.starts, zone).date()
        if local_day != day:
            day = local_day
            lines += ["", f"<b>{esc(tzs.fmt_date(item.starts, zone, lang))}</b>"]
        lines.append(f"{tzs.fmt_time(item.starts, zone, lang)} — {esc(item.title.get(lang))}")
    if who.reminders_on:
        lines += ["", plural(i18n, lang, DAY_BEFORE_FOOT, who.reminder_lead)]
    return "\n".join(lines)


# -- renderers (called by the sender when a row is sent) ------------------------------------------------------

async def render_reminder(ctx: RenderContext, row: OutboxRow, who: Recipient | None) -> Rendered | Drop:
    # Rows made before parallel items were merged name one item.
    ids = row.payload.get("items") or [row.payload.get("item")]
    items = [i for i in (ctx.event.item(str(x)) for x in ids) if i is not None]
    if not items:
        return Drop("item no longer in the program")
    items = [i for i in items if i.starts.isoformat() == row.payload.get("starts")]
    if not items:
        return Drop("item moved")
    if who is None:
        return Drop("not registered")
    if not who.reminders_on:
        return Drop("reminders off")
    async with ctx.uows() as uow:
        items = [i for i in items if await still_follows(uow, i, who)]
    if not items:
        return Drop("no longer followed")
    if len(items) == 1:
        text = reminder_text(ctx.event, items[0], who, ctx.now, ctx.i18n)
    else:
        text = together_text(ctx.event, items, who, ctx.now, ctx.i18n)
    return Rendered(text, settings_button(ctx.i18n, who.language))


async def render_day_before(ctx: RenderContext, row: OutboxRow, who: Recipient | None) -> Rendered | Drop:
    if who is None:
        return Drop("not registered")
    if not who.reminders_on:
        return Drop("reminders off")
    async with ctx.uows() as uow:
        explicit = await uow.follows.items(who.user_id)
    items = [i for i in followed_items(ctx.event, explicit, follow_all=who.follow_all, member=who.member,
                                       matchmaking=who.matchmaking) if i.starts > ctx.now]
    if not items:
        return Drop("follows nothing ahead")
    return Rendered(day_before_text(ctx.event, items, who, ctx.now, ctx.i18n), settings_button(ctx.i18n, who.language))


async def render_time_changed(ctx: RenderContext, row: OutboxRow, who: Recipient | None) -> Rendered | Drop:
    item = ctx.event.item(str(row.payload.get("item")))
    if item is None:
        return Drop("item no longer in the program")
    if who is None:
        return Drop("not registered")
    async with ctx.uows() as uow:
        if not await still_follows(uow, item, who):
            return Drop("no longer followed")
    old = datetime.fromisoformat(str(row.payload["old"]))
    lang, zone = who.language, who.timezone
    text = translate(ctx.i18n, lang, TIME_CHANGED, title=f"<b>{esc(item.title.get(lang))}</b>",
                     time=when(ctx.event, item.starts, zone, lang), old_time=when(ctx.event, old, zone, lang))
    return Rendered(text, settings_button(ctx.i18n, lang))


def register_renderers(renderers: Renderers) -> None:
    renderers.register(KIND_REMINDER, render_reminder)
    renderers.register(KIND_DAY_BEFORE, render_day_before)
    renderers.register(KIND_TIME_CHANGED, render_time_changed)


async def alarm_minutes(uow: UnitOfWork, person: int) -> int | None:
    """The alarm a calendar file gives this person: their reminder lead, or None when they turned reminders
    off (registered and guests alike; the default lead for someone the bot does not know)."""
    settings = await uow.reminders.settings(person)
    if settings is None:
        return DEFAULT_LEAD
    return settings.lead if settings.on else None
