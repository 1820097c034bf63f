"""What organiser tools read from other features, plugged in at wiring time, and the audit log.

Features built separately (the quiz, matchmaking) give the organiser tools an audience for broadcasts, a
figure for /stats and a file for /export by registering a function in `Sources` (bot/app.py
`organiser_sources`). A button or a line appears only for what is registered, so the tools work without them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from domain import registration as reg
from domain.csvfile import csv_bytes
from domain.errors import Msgid, ServiceError
from domain.i18n_marks import N_
from domain.messages import Drop, NewMessage, Priority, Rendered
from domain.organiser import Stats, top
from domain.text import translate
from domain.timezones import fmt_long_date
from services import excom as excom_uc
from services.audit import (
    ADMIT,
    BROADCAST,
    BROADCAST_CANCEL,
    EXCOM_DECISION,
    EXPORT,
    PROFILE_FIX,
    RETENTION,
    audit,
)

__all__ = ["ADMIT", "BROADCAST", "BROADCAST_CANCEL", "EXCOM_DECISION", "EXPORT", "PROFILE_FIX", "RETENTION",
           "Sources", "audit"]

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from domain.event import Event
    from services.ports import Conversation, UnitOfWork

AudienceFn = Callable[["UnitOfWork"], Awaitable[set[int]]]
CounterFn = Callable[["UnitOfWork"], Awaitable[int]]
ExportFn = Callable[["UnitOfWork", "Event"], Awaitable[tuple[str, bytes]]]

# Labels of the sources the other features are expected to register (msgids, translated where shown).
QUIZ_PARTICIPANTS = N_("Quiz participants")
MATCHMAKING_PARTICIPANTS = N_("Matchmaking participants")
MEETINGS_BOOKED = N_("Meetings booked")
QUIZ_RESULTS = N_("Quiz results")
MEETINGS = N_("Meetings")


@dataclass(frozen=True)
class Source:
    label: str  # a msgid
    fn: Any


@dataclass
class Sources:
    """Audiences (name -> who), stat counters (name -> a number) and exports (name -> a file) that features
    provide. `broadcast_started` is set at wiring: it plans a new broadcast's progress and wakes the sender."""

    audiences: dict[str, Source] = field(default_factory=dict)
    counters: dict[str, Source] = field(default_factory=dict)
    exports: dict[str, Source] = field(default_factory=dict)
    broadcast_started: Callable[[int], None] | None = None
    # Conversation state kept outside the database (Redis): who did not finish registering, and forgetting
    # people's state (storage.organiser.RedisConversations); None: the SQL storage, read through the uow.
    conversations: Any = None
    # Set at wiring: looks a little later whether an admitted person's notice got through.
    admitted: Callable[[int], None] | None = None

    def add_audience(self, name: str, label: str, fn: AudienceFn) -> None:
        self.audiences[name] = Source(label, fn)

    def add_counter(self, name: str, label: str, fn: CounterFn) -> None:
        self.counters[name] = Source(label, fn)

    def add_export(self, name: str, label: str, fn: ExportFn) -> None:
        self.exports[name] = Source(label, fn)

    def started(self, broadcast_id: int) -> None:
        if self.broadcast_started is not None:
            self.broadcast_started(broadcast_id)


# -- the audit log (services/audit.py; re-exported here for features that plug into the organiser tools) ------

async def latest_actions(uow: UnitOfWork, limit: int = 20) -> list[Any]:
    return await uow.audit.latest(limit)


# -- registrations: the list, a card, a typo fixed --------------------------------------------------------------

PAGE_SIZE = 5
# Fields an organiser may correct (a typo): the text answers; type, zone and the rest are the person's own.
FIXABLE = ("full_name", "position", "organisation", "city", "email")
NOT_FOUND = N_("This person is not registered (any more).")
S_FIX = "Org:fix"


@dataclass(frozen=True)
class Page:
    people: list[Any]
    page: int
    pages: int
    total: int
    query: str


async def registrations(uow: UnitOfWork, query: str = "", page: int = 0) -> Page:
    """One page of registrations whose name, e-mail, city or organisation contains `query`, newest first."""
    query = " ".join(query.split())[:50]
    _, total = await uow.people.search(query, offset=0, limit=0)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    found, total = await uow.people.search(query, offset=page * PAGE_SIZE, limit=PAGE_SIZE)
    return Page(found, page, pages, total, query)


async def card(uow: UnitOfWork, user_id: int) -> Any:
    profile = await uow.delegates.get(user_id) if 0 < user_id < 2**52 else None
    if profile is None:
        raise ServiceError("not_found", NOT_FOUND)
    return profile


async def want_fix(uow: UnitOfWork, conv: Conversation, user_id: int, field_name: str) -> Any:
    """The organiser will type the corrected value of one field of a person's registration."""
    profile = await card(uow, user_id)
    if field_name not in FIXABLE:
        raise ServiceError("not_found", NOT_FOUND)
    await conv.update_data(fix={"uid": user_id, "field": field_name})
    await conv.set_state(S_FIX)
    await uow.commit()
    return profile


CLAIM_CHANGE = N_("This is not a typo fix: it changes the EXCOM member city {name} claims ({old} → {new}). "
                  "The decision on the claim ({status}) would go back to pending, and they would lose the "
                  "members-only join details until an organiser confirms again. Save anyway?")
# The claim's status as an organiser reads it (msgids).
EXCOM_STATUS_LABELS = {reg.EXCOM_PENDING: N_("pending"), reg.EXCOM_CONFIRMED: N_("confirmed"),
                       reg.EXCOM_REJECTED: N_("rejected")}


def _fix_values(event: Event, before: Any, field_name: str, value: str | None) -> dict[str, Any]:
    """The columns one corrected answer sets, checked by the registration's own rules."""
    if field_name == "email":
        return {"email": reg.clean_email(value)}
    if field_name == "city":
        city, country = reg.split_city(value or "")
        return {"city": city, "country": country or before.country, "city_id": reg.match_city(event, city)}
    return {field_name: reg.clean_text(value)}


async def correct(uow: UnitOfWork, event: Event, user_id: int, field_name: str, value: str | None, *, by: int,
                  now: datetime, change_claim: bool = False) -> Any:
    """An organiser corrects one answer of a person's registration (chat and console); audits, does not commit.

    A typo fix keeps the decision on an EXCOM claim (domain.registration.is_typo_fix). A real change of a
    decided claim is refused with `claim_change` (saying what it would undo) unless `change_claim`; then the
    claim waits for an organiser again."""
    before = await card(uow, user_id)
    if field_name not in FIXABLE:
        raise ServiceError("not_found", NOT_FOUND)
    values = _fix_values(event, before, field_name, value)
    new_claim = reg.claim_changed(before, values) and not reg.is_typo_fix(before, values)
    decided = before.excom_status in (reg.EXCOM_CONFIRMED, reg.EXCOM_REJECTED)
    if new_claim and decided and not change_claim:
        old_city = f"{before.city}, {before.country}" if before.country else before.city
        new_city = f"{values['city']}, {values['country']}" if values.get("country") else values["city"]
        raise ServiceError("claim_change", CLAIM_CHANGE, name=before.full_name, old=old_city, new=new_city,
                           status=Msgid(EXCOM_STATUS_LABELS.get(before.excom_status or "", "")))
    profile = await uow.delegates.update_fields(user_id, now, **values)
    if profile is not None and new_claim:
        profile = await uow.delegates.set_excom_status(user_id, reg.claim_status(profile.participant_type),
                                                       by=None, at=None)
    await audit(uow, by, PROFILE_FIX, f"user {user_id}: {field_name}", now)
    return profile


async def fix(uow: UnitOfWork, conv: Conversation, event: Event, value: str | None, *, by: int, now: datetime,
              change_claim: bool = False) -> Any:
    """Store the corrected value typed in the chat (`correct`); commits. A wrong value raises the rule's
    error and keeps the organiser on this step; so does a change of a decided EXCOM claim (`claim_change`),
    with the value kept for `fix_anyway`."""
    data = await conv.get_data()
    target = data.get("fix") or {}
    user_id, field_name = int(target.get("uid", 0)), str(target.get("field", ""))
    try:
        profile = await correct(uow, event, user_id, field_name, value, by=by, now=now, change_claim=change_claim)
    except ServiceError as err:
        if err.code == "claim_change":
            await conv.update_data(fix={**target, "value": value})
            await uow.commit()
        raise
    data.pop("fix", None)
    await conv.set_data(data)
    await conv.set_state(None)
    await uow.commit()
    return profile


async def fix_anyway(uow: UnitOfWork, conv: Conversation, event: Event, *, by: int, now: datetime) -> Any:
    """"Save anyway" after the warning that a correction changes a decided EXCOM claim; commits."""
    target = (await conv.get_data()).get("fix") or {}
    if "value" not in target:
        raise ServiceError("stale", N_("This button is no longer active."))
    return await fix(uow, conv, event, target["value"], by=by, now=now, change_claim=True)


async def keep_as_it_was(uow: UnitOfWork, conv: Conversation) -> None:
    """"Keep it as it was" after that warning: the correction is dropped; commits."""
    data = await conv.get_data()
    data.pop("fix", None)
    await conv.set_data(data)
    await conv.set_state(None)
    await uow.commit()


async def decide_excom(uow: UnitOfWork, user_id: int, *, confirm: bool, by: int, now: datetime) -> Any:
    """Confirm or reject a pending EXCOM claim from a person's card (services/excom.py decides and audits)."""
    return await excom_uc.decide(uow, user_id, confirm=confirm, by=by, now=now)


# -- stats ------------------------------------------------------------------------------------------------------

FOLLOWING = N_("People following reminders")
BLOCKED = N_("People who blocked the bot")


async def stats(uow: UnitOfWork, sources: Sources) -> Stats:
    """Registrations by day, participant type, language, country and time zone; followers; blocked; and the
    figures other features provide (quiz participants, meetings booked)."""
    counts = await uow.people.counts()
    extra = [(source.label, int(await source.fn(uow))) for source in sources.counters.values()]
    return Stats(registered=sum(counts["type"].values()),
                 by_day=sorted(counts["day"].items()),
                 by_type=top(dict(counts["type"])), by_language=top(dict(counts["language"])),
                 by_country=top(dict(counts["country"]), 10), by_zone=top(dict(counts["zone"]), 10),
                 following=await uow.people.following(), blocked=await uow.people.blocked(), extra=extra)


# Fonts the chart draws with, in order: DejaVu Sans (Latin, Cyrillic; matplotlib's own) then Noto Sans CJK
# for Hangul (Debian's fonts-noto-cjk, installed by `make system-packages`); matplotlib falls back glyph by glyph.
CHART_FONTS = ["DejaVu Sans", "Noto Sans CJK KR", "Noto Sans CJK JP", "Noto Sans CJK SC", "NanumGothic",
               "Malgun Gothic", "Apple SD Gothic Neo"]


def chart_png(s: Stats, titles: dict[str, str], type_labels: dict[str, str]) -> bytes:
    """A tall PNG (reads on a phone): registrations by day, then by participant type, language and country.
    CPU work: run it in a thread (`asyncio.to_thread`)."""
    import io
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 11), dpi=150, layout="constrained")
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    # Named families, only installed ones (matplotlib logs a warning for every family it cannot find); a
    # generic "sans-serif" would resolve to its first font only, with no fallback for Hangul.
    matplotlib.rcParams["font.family"] = [f for f in CHART_FONTS if f in installed] or ["DejaVu Sans"]
    axes = fig.subplots(4, 1, height_ratios=(3, 2.2, 1.4, 3))
    fig.suptitle(titles["title"], fontsize=15, fontweight="bold")
    panels = [
        (titles["by_day"], [d[5:] for d, _ in s.by_day], [n for _, n in s.by_day], "v"),
        (titles["by_type"], [type_labels.get(k, k) for k, _ in s.by_type], [n for _, n in s.by_type], "h"),
        (titles["by_language"], [k for k, _ in s.by_language], [n for _, n in s.by_language], "h"),
        (titles["by_country"], [k for k, _ in s.by_country], [n for _, n in s.by_country], "h"),
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for ax, (title, labels, values, orient) in zip(axes, panels, strict=True):
            ax.set_title(title, fontsize=12, loc="left")
            ax.spines[["top", "right"]].set_visible(False)
            if not values:
                ax.text(0.5, 0.5, "—", ha="center", va="center", fontsize=14)
                ax.set_axis_off()
                continue
            if orient == "v":
                bars = ax.bar(range(len(values)), values, color="#2f6db5")
                # At most about 12 dates under the bars, so they stay readable on a phone.
                step = max(1, -(-len(labels) // 12))
                ax.set_xticks(range(0, len(labels), step), labels[::step], rotation=45, fontsize=9)
            else:
                bars = ax.barh(labels[::-1], values[::-1], color="#2f6db5")
                ax.tick_params(axis="y", labelsize=10)
            if len(values) <= 15:
                ax.bar_label(bars, fontsize=9, padding=2)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    missing = sorted({str(w.message) for w in caught if "missing from font" in str(w.message)})
    if missing:  # drawn as boxes: the CJK font is not installed (make system-packages)
        log.warning("the /stats chart lacks %d glyphs, e.g. %s", len(missing), missing[0])
    return buffer.getvalue()


# -- exports ----------------------------------------------------------------------------------------------------

REGISTRATIONS = N_("Registrations")
DELIVERIES = N_("Broadcast deliveries")
_REGISTRATION_COLUMNS = (
    ("user_id", "Telegram user id"), ("full_name", "Full name"), ("position", "Position"),
    ("organisation", "Organisation"), ("city", "City"), ("country", "Country"),
    ("participant_type", "Participant type"), ("excom_status", "EXCOM membership"), ("email", "E-mail"),
    ("language", "Language"), ("timezone", "Time zone"), ("matchmaking", "Matchmaking"),
    ("username", "Telegram username"), ("registered_at", "Registered at (UTC)"),
    ("consent_at", "Consent given at (UTC)"), ("updated_at", "Updated at (UTC)"),
    ("reminders_on", "Reminders on"), ("blocked_at", "Blocked the bot at (UTC)"),
)


async def registrations_csv(uow: UnitOfWork, event: Event) -> tuple[str, bytes]:
    rows = await uow.people.all_rows()
    data = csv_bytes([h for _, h in _REGISTRATION_COLUMNS], ([r.get(k) for k, _ in _REGISTRATION_COLUMNS]
                                                             for r in rows))
    return f"{event.id}-registrations.csv", data


async def deliveries_csv(uow: UnitOfWork, event: Event) -> tuple[str, bytes]:
    rows = await uow.broadcasts.deliveries()
    data = csv_bytes(["Broadcast", "Telegram user id", "Status", "Error", "Sent at (UTC)", "Attempts"],
                     ([t.removeprefix("broadcast:"), *rest] for t, *rest in rows))
    return f"{event.id}-broadcast-deliveries.csv", data


def exports(sources: Sources) -> dict[str, Source]:
    """Every export an organiser can ask for: the bot's own, then those other features registered."""
    return {"registrations": Source(REGISTRATIONS, registrations_csv), **sources.exports,
            "deliveries": Source(DELIVERIES, deliveries_csv)}


async def export(uow: UnitOfWork, event: Event, sources: Sources, name: str, *, by: int, now: datetime
                 ) -> tuple[str, bytes]:
    """Make one export file and record who took it (audit); commits."""
    made = exports(sources).get(name)
    if made is None:
        raise ServiceError("not_found", UNKNOWN_EXPORT)
    filename, data = await made.fn(uow, event)
    await audit(uow, by, EXPORT, f"{name}: {filename}", now)
    await uow.commit()
    return filename, data


UNKNOWN_EXPORT = N_("There is no such export.")


# -- retention --------------------------------------------------------------------------------------------------

KIND_RETENTION_NOTICE = "retention_notice"
RETENTION_NOTICE = N_("🗑 Personal data of {event} will be deleted automatically on {date} (the retention date in "
                      "the event file): registrations, conversations and delivery records. Exports you made before "
                      "stay your responsibility: please delete them too once you no longer need them.")


async def notify_retention(uow: UnitOfWork, event: Event, admin_ids: Iterable[int], now: datetime) -> int:
    """A week before the retention date: one notice to each organiser (once); commits."""
    when = event.retention_date
    if when is None:
        return 0
    created = await uow.outbox.add([NewMessage(f"retention:{event.id}:{uid}", uid, KIND_RETENTION_NOTICE,
                                               f"retention:{event.id}", now, {}, priority=Priority.TIMELY)
                                    for uid in sorted(admin_ids)], now)
    await uow.commit()
    return created


async def deletion_date(uow: UnitOfWork, event: Event, admin_ids: Iterable[int]) -> datetime | None:
    """When personal data may be deleted: the retention date, but never sooner than a week after the
    organisers' notice was queued (a bot started after the date, or down a week before it, warns first).
    None: not yet (no retention date, or the notice is still to come)."""
    when = event.retention_date
    if when is None:
        return None
    if not admin_ids:
        return when  # nobody to warn
    notices = await uow.outbox.rows(topic=f"retention:{event.id}")
    if not notices:
        return None
    first: datetime = min(r.created_at for r in notices)
    return max(when, first + timedelta(days=7))


async def unfinished(uow: UnitOfWork, sources: Sources | None = None) -> dict[int, str | None]:
    """People who started registering and did not finish, with the language they chose (wherever the
    conversation state lives)."""
    if sources is not None and sources.conversations is not None:
        found: dict[int, str | None] = await sources.conversations.unfinished(set(await uow.people.everyone()))
        return found
    return await uow.people.unfinished()


async def apply_retention(uow: UnitOfWork, event: Event, now: datetime, admin_ids: Iterable[int] = (),
                          sources: Sources | None = None) -> int:
    """On the deletion date (`deletion_date`): delete every person's data (storage forget: their rows in every
    table, delivery records included) and the conversation states; commits. Returns how many people.

    Everyone with a row counts, not only delegates (issue 17 item 5): unregistered and group quiz players
    (names, answers), guests (language, zone, follows) and whoever an outbox row was for. The files attached
    to broadcasts go too (a photo may show people)."""
    when = await deletion_date(uow, event, admin_ids)
    if when is None or now < when:
        return 0
    people = set(await uow.people.known()) | set(await unfinished(uow, sources))
    for uid in sorted(people):
        await uow.forget(uid)
    await uow.people.clear_states()
    files = await uow.uploads.delete_all()
    if sources is not None and sources.conversations is not None:
        await sources.conversations.forget(people)
    await audit(uow, 0, RETENTION, f"{len(people)} people's data deleted (attached files: {files})", now)
    await uow.commit()
    return len(people)


class RetentionPlanner:
    """Plans the organisers' notice a week before the retention date and the deletion on it (in the process
    that runs the scheduler); `sync` catches up after a restart."""

    name = "retention"

    def __init__(self, jobs: Any, event: Event, admin_ids: Iterable[int], sources: Sources | None = None) -> None:
        self.jobs = jobs
        self.event = event
        self.admin_ids = frozenset(admin_ids)
        self.sources = sources

    async def plan(self, jobs: Any) -> None:
        when = self.event.retention_date
        if when is None:
            return
        now = jobs.now()
        notice = when - timedelta(days=7)
        if notice > now:
            jobs.at("retention-notice", notice, self.run_notice)
        if when > now:
            jobs.at("retention", when, self.run_deletion)

    async def sync(self, jobs: Any) -> None:
        when = self.event.retention_date
        if when is None:
            return
        now = jobs.now()
        if when - timedelta(days=7) <= now:
            await self.run_notice()
        if when <= now:
            await self.run_deletion()  # waits for a week after the notice when that came late

    async def run_notice(self) -> int:
        async with self.jobs.uows() as uow:
            created = await notify_retention(uow, self.event, self.admin_ids, self.jobs.now())
        if created:
            self.jobs.wake()
        return created

    async def run_deletion(self) -> int:
        async with self.jobs.uows() as uow:
            return await apply_retention(uow, self.event, self.jobs.now(), self.admin_ids, self.sources)


async def render_retention_notice(ctx: Any, row: Any, who: Any) -> Rendered | Drop:
    lang = who.language if who is not None else "en"
    when = ctx.event.retention_date
    if when is None:
        return Drop("no retention date")
    when = max(when, row.due_at + timedelta(days=7))  # a late notice: a week from it (deletion_date)
    return Rendered(translate(ctx.i18n, lang, RETENTION_NOTICE, event=ctx.event.name.get(lang),
                              date=fmt_long_date(when, ctx.event.timezone, lang)))


def register(delivery: Any, sources: Sources | None = None) -> None:
    """Wiring (bot/app.py): the retention notice's kind and the retention planner."""
    delivery.renderers.register(KIND_RETENTION_NOTICE, render_retention_notice)
    delivery.add_planner(RetentionPlanner(delivery, delivery.event, getattr(delivery.settings, "admin_ids", ()),
                                          sources))
