"""Broadcasts: an organiser's message to an audience, sent through the outbox with a live progress message.

The /broadcast conversation (handlers/broadcasts.py) keeps a draft in the organiser's conversation state:
the message (HTML as Telegram delivered it, an optional photo or document), optional variants per language,
the audience. Confirming creates a `broadcasts` row and one outbox row per recipient (BULK priority, topic
`broadcast:<id>`, key `broadcast:<id>:<user>`) in one commit; each row is rendered when it is sent, in the
recipient's language of that moment (their variant, else the default). A planner edits the organiser's
progress message every few seconds (an `Edit` outbox row rendered from the live counts) and records the
final figures when the last row settled; Cancel cancels the rows not sent yet.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from domain import organiser as rules
from domain import timezones as tzs
from domain.errors import ServiceError
from domain.event import LANGS
from domain.i18n_marks import N_
from domain.messages import Button, Document, Drop, Edit, FileRef, NewMessage, Photo, Priority, Rendered
from domain.organiser import Audience, BroadcastInfo, Part, Progress, UploadInfo, UrlButton
from domain.registration import PARTICIPANT_LABELS, PARTICIPANT_TYPES
from domain.text import translate
from services import organiser
from services.organiser import Sources

if TYPE_CHECKING:
    from delivery.jobs import Jobs
    from delivery.rendering import RenderContext
    from domain.messages import OutboxRow, Recipient, Sent
    from services.ports import Conversation, UnitOfWork

log = logging.getLogger(__name__)

KIND, PROGRESS_KIND = "broadcast", "broadcast_progress"
NAME = "broadcasts"
# Seconds (bot clock) between two edits of the progress message.
PROGRESS_EVERY = 3.0
PAGE_SIZE = 5
# The Cancel button of the progress message (handlers.broadcasts.BcCancel packs to this).
CANCEL_CALLBACK = "bcx:{id}"

# Conversation states (their string names: handlers set and read them through the use cases).
S_MESSAGE, S_VARIANTS, S_VARIANT, S_AUDIENCE, S_CONFIRM, S_BUTTONS, S_SEND_AT = (
    "Bc:message", "Bc:variants", "Bc:variant", "Bc:audience", "Bc:confirm", "Bc:buttons", "Bc:send_at")
STATES = (S_MESSAGE, S_VARIANTS, S_VARIANT, S_AUDIENCE, S_CONFIRM, S_BUTTONS, S_SEND_AT)
KIND_TEST = "broadcast_test"

NO_DRAFT = N_("This broadcast draft is gone (sent, cancelled or replaced). Send /broadcast to start again.")
NOBODY = N_("Nobody is in this audience yet. Please choose another one.")
NOT_FOUND = N_("There is no such broadcast.")
FINISHED = N_("This broadcast has finished already; nothing was cancelled.")

EVERYONE_LABEL = N_("Everyone registered")
TYPE_LABEL = N_("By participant type")
LANGUAGE_LABEL = N_("By language")
COUNTRY_LABEL = N_("By country")
MEMBERS_LABEL = N_("EXCOM member cities (confirmed)")
UNFINISHED_LABEL = N_("Started registering, did not finish")

PROGRESS_TEXT = N_("📣 <b>Broadcast #{id}</b>: {status}\n"
                   "Sent: {sent} of {total}\nFailed: {failed}\nBlocked the bot: {blocked}\nLeft: {left}\n{eta}")
SENDING_STATUS = N_("sending…")
DONE_STATUS = N_("finished")
CANCELLED_STATUS = N_("cancelled ({n} not sent)")
SCHEDULED_STATUS = N_("scheduled for {when}")
ETA_TEXT = N_("Time left: about {time}.")
ETA_UNKNOWN = N_("Time left: estimating…")
CANCEL_BUTTON = N_("⏹ Cancel the broadcast")
MINUTES = N_("{n} min")
SECONDS = N_("{n} s")


# -- the draft ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Draft:
    texts: dict[str, str]
    media: dict[str, Any] | None
    audience: Audience | None
    variant: str | None = None
    buttons: tuple[UrlButton, ...] = ()
    send_at: datetime | None = None  # None: at once

    @property
    def languages(self) -> list[str]:
        return [lang for lang in LANGS if lang in self.texts]


def _draft(data: dict[str, Any]) -> Draft | None:
    bc = data.get("bc")
    if not isinstance(bc, dict) or not bc.get("texts"):
        return None
    audience = Audience.from_dict(bc["audience"]) if bc.get("audience") is not None else None
    buttons = tuple(UrlButton(str(label), str(url)) for label, url in bc.get("buttons") or ())
    send_at = datetime.fromisoformat(bc["send_at"]) if bc.get("send_at") else None
    return Draft(dict(bc["texts"]), bc.get("media"), audience, bc.get("variant"), buttons, send_at)


async def draft(conv: Conversation) -> Draft | None:
    return _draft(await conv.get_data())


async def _need_draft(conv: Conversation) -> Draft:
    found = await draft(conv)
    if found is None:
        raise ServiceError("no_draft", NO_DRAFT)
    return found


async def _put(conv: Conversation, state: str, **changes: Any) -> Draft:
    data = await conv.get_data()
    bc = dict(data.get("bc") or {})
    bc.update(changes)
    await conv.set_data({**data, "bc": bc})
    await conv.set_state(state)
    found = _draft({"bc": bc})
    assert found is not None
    return found


async def begin(uow: UnitOfWork, conv: Conversation) -> None:
    """/broadcast: a new draft (a draft left earlier is replaced); waits for the message."""
    data = await conv.get_data()
    data.pop("bc", None)
    await conv.set_data(data)
    await conv.set_state(S_MESSAGE)
    await uow.commit()


async def take_message(uow: UnitOfWork, conv: Conversation, part: Part, media: dict[str, Any] | None) -> Draft:
    """The message itself (the default for every language); then the organiser may add variants."""
    rules.check_part(part, with_media=media is not None, text_required=media is None)
    found = await _put(conv, S_VARIANTS, texts={rules.DEFAULT: part.html}, media=media, audience=None, variant=None,
                       buttons=[], send_at=None)
    await uow.commit()
    return found


async def want_variant(uow: UnitOfWork, conv: Conversation, lang: str) -> Draft:
    """The organiser will send the text for readers of `lang`."""
    await _need_draft(conv)
    if lang not in LANGS:
        raise ServiceError("no_draft", NO_DRAFT)
    found = await _put(conv, S_VARIANT, variant=lang)
    await uow.commit()
    return found


async def take_variant(uow: UnitOfWork, conv: Conversation, part: Part) -> Draft:
    current = await _need_draft(conv)
    if current.variant is None:
        raise ServiceError("no_draft", NO_DRAFT)
    rules.check_part(part, with_media=current.media is not None)
    found = await _put(conv, S_VARIANTS, texts={**current.texts, current.variant: part.html}, variant=None)
    await uow.commit()
    return found


async def discard(uow: UnitOfWork, conv: Conversation) -> None:
    """Drop the draft; nothing is sent."""
    data = await conv.get_data()
    data.pop("bc", None)
    await conv.set_data(data)
    await conv.set_state(None)
    await uow.commit()


async def want_buttons(uow: UnitOfWork, conv: Conversation) -> Draft:
    """The organiser will type the URL buttons."""
    await _need_draft(conv)
    found = await _put(conv, S_BUTTONS)
    await uow.commit()
    return found


async def take_buttons(uow: UnitOfWork, conv: Conversation, text: str) -> Draft:
    """URL buttons typed one a line ("label - https://address"); they replace earlier ones."""
    await _need_draft(conv)
    buttons = rules.parse_url_buttons(text)
    found = await _put(conv, S_VARIANTS, buttons=[[b.label, b.url] for b in buttons])
    await uow.commit()
    return found


async def to_audience(uow: UnitOfWork, conv: Conversation, *, keep: bool = False) -> Draft:
    """The audience menu: a new audience, or (`keep`) one more condition for the current one."""
    current = await _need_draft(conv)
    audience = current.audience.as_dict() if keep and current.audience is not None else None
    found = await _put(conv, S_AUDIENCE, audience=audience)
    await uow.commit()
    return found


# -- audiences ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Option:
    kind: str
    label: str  # a msgid (built in or a source's label)


def audience_options(sources: Sources) -> list[Option]:
    """The audiences to choose from: the built-in ones, then those other features registered."""
    built_in = [Option(rules.EVERYONE, EVERYONE_LABEL), Option(rules.BY_TYPE, TYPE_LABEL),
                Option(rules.BY_LANGUAGE, LANGUAGE_LABEL), Option(rules.BY_COUNTRY, COUNTRY_LABEL),
                Option(rules.MEMBERS, MEMBERS_LABEL), Option(rules.UNFINISHED, UNFINISHED_LABEL)]
    return built_in + [Option(name, s.label) for name, s in sources.audiences.items()]


def type_values() -> list[tuple[str, str]]:
    return [(t, PARTICIPANT_LABELS[t]) for t in PARTICIPANT_TYPES]


async def country_values(uow: UnitOfWork, limit: int = 12) -> list[tuple[str, int]]:
    return (await uow.people.countries())[:limit]


async def recipients(uow: UnitOfWork, audience: Audience, sources: Sources) -> dict[int, str | None]:
    """Who the audience is now: user id -> a language hint for people not registered (None: unknown). The rule
    is domain.organiser.Audience.resolve; this reads what it needs."""
    unknown = [g for g in audience.groups if g not in sources.audiences]
    if unknown:
        raise ServiceError("audience", rules.UNKNOWN_AUDIENCE)
    groups = {g: set(await sources.audiences[g].fn(uow)) for g in audience.groups}
    unfinished = await organiser.unfinished(uow, sources) if audience.unfinished else {}
    registered = await uow.people.readers() if not audience.unfinished else []
    return audience.resolve(registered, groups, unfinished)


async def count(uow: UnitOfWork, audience: Audience, sources: Sources) -> int:
    """The live recipient count of an audience (the audience builder shows it as conditions change)."""
    return len(await recipients(uow, audience, sources))


async def choose_audience(uow: UnitOfWork, conv: Conversation, audience: Audience, sources: Sources
                          ) -> tuple[Draft, int]:
    """Set the audience; returns the draft and how many it reaches now (the confirmation names it)."""
    await _need_draft(conv)
    n = len(await recipients(uow, audience, sources))
    if not n:
        raise ServiceError("nobody", NOBODY)
    found = await _put(conv, S_CONFIRM, audience=audience.as_dict())
    await uow.commit()
    return found, n


async def add_condition(uow: UnitOfWork, conv: Conversation, kind: str, value: str | None, sources: Sources
                        ) -> tuple[Draft, int]:
    """One more condition on the draft's audience ("everyone" starts again); refused, keeping the audience as it
    was, when nobody would be left."""
    current = await _need_draft(conv)
    audience = (current.audience or Audience()).adding(kind, value)
    return await choose_audience(uow, conv, audience, sources)


async def want_send_at(uow: UnitOfWork, conv: Conversation) -> Draft:
    d = await _need_draft(conv)
    if d.audience is None:
        raise ServiceError("no_draft", NO_DRAFT)
    found = await _put(conv, S_SEND_AT)
    await uow.commit()
    return found


async def take_send_at(uow: UnitOfWork, conv: Conversation, text: str, zone: str, now: datetime, lang: str
                       ) -> Draft:
    """"Send at" a later instant on the bot's clock, typed in the organiser's zone."""
    d = await _need_draft(conv)
    tz = tzs.get_tz(zone)
    at = rules.parse_send_at(text, tz, now)
    if at is None:
        example = f"{(now + timedelta(hours=1)).astimezone(tz):%Y-%m-%d %H:00}"
        raise ServiceError("bad_send_at", rules.BAD_SEND_AT, text=text.strip()[:40], example=example,
                           zone=tzs.zone_name(zone, lang, now))
    if at <= now:
        raise ServiceError("send_at_past", rules.SEND_AT_PAST, when=tzs.fmt_datetime(at, zone, lang),
                           now=tzs.fmt_datetime(now, zone, lang))
    found = await _put(conv, S_CONFIRM, send_at=at.isoformat(), audience=(d.audience or Audience()).as_dict())
    await uow.commit()
    return found


async def back_to_confirm(uow: UnitOfWork, conv: Conversation) -> Draft:
    """Back from "Send later" to the confirmation, nothing changed."""
    d = await _need_draft(conv)
    if d.audience is None:
        raise ServiceError("no_draft", NO_DRAFT)
    found = await _put(conv, S_CONFIRM)
    await uow.commit()
    return found


async def send_now_instead(uow: UnitOfWork, conv: Conversation) -> Draft:
    await _need_draft(conv)
    found = await _put(conv, S_CONFIRM, send_at=None)
    await uow.commit()
    return found


async def send_test(uow: UnitOfWork, conv: Conversation, *, by: int, lang: str, now: datetime) -> None:
    """"Send a test to me": the draft goes to the organiser alone, through the outbox like every copy (their
    language's variant, the buttons), before anyone else gets it. The draft stays."""
    d = await _need_draft(conv)
    await test_to(uow, d, by=by, lang=lang, now=now)


async def test_to(uow: UnitOfWork, d: Draft, *, by: int, lang: str, now: datetime) -> None:
    """A draft's test copy to organiser `by` (the chat's and the console's "Send a test to me"); commits."""
    await uow.outbox.add([NewMessage(f"broadcast-test:{by}:{now:%Y%m%dT%H%M%S%f}", by, KIND_TEST,
                                     f"broadcast-test:{by}", now,
                                     {"texts": d.texts, "media": d.media, "lang": lang,
                                      "buttons": [[b.label, b.url] for b in d.buttons]},
                                     priority=Priority.INTERACTIVE,
                                     expires_at=now + timedelta(minutes=10))], now)
    await uow.commit()


def compose(texts: dict[str, str], buttons_text: str, audience: Audience, send_at: datetime | None, now: datetime,
            media: dict[str, Any] | None = None) -> Draft:
    """A draft from the console's form: the default text and the variants (Telegram HTML, checked; a caption's
    limit with a photo or a document, which may also go without text), link buttons typed one a line, the
    audience, and "send at" (a past instant is refused)."""
    checked = {}
    for key, html in texts.items():
        if not html.strip():
            continue
        checked[key] = rules.check_html(html, with_media=media is not None)
    if rules.DEFAULT not in checked:
        if media is None:
            raise ServiceError("empty", rules.EMPTY)
        checked[rules.DEFAULT] = ""
    buttons = rules.parse_url_buttons(buttons_text) if buttons_text.strip() else ()
    if send_at is not None and send_at <= now:
        raise ServiceError("send_at_past", rules.SEND_AT_PAST, when=f"{send_at:%Y-%m-%d %H:%M} UTC",
                           now=f"{now:%Y-%m-%d %H:%M} UTC")
    return Draft(checked, media, audience, None, buttons, send_at)


async def upload(uow: UnitOfWork, filename: str, data: bytes, *, by: int, now: datetime, as_document: bool = False
                 ) -> dict[str, Any]:
    """A photo or a document attached in the console (checked: size, type), stored until Telegram has it;
    returns the draft's media (`{"type", "upload", "name"}`, beside the chat's `{"type", "file_id"}`); commits."""
    kind, name, content_type = rules.check_upload(filename, data, as_document=as_document)
    info = await uow.uploads.add(kind=kind, filename=name, content_type=content_type, data=data, by=by, now=now)
    await uow.commit()
    return media_of(info)


def media_of(info: UploadInfo) -> dict[str, Any]:
    return {"type": info.kind, "upload": info.id, "name": info.filename}


async def attached(uow: UnitOfWork, upload_id: str) -> dict[str, Any] | None:
    """The draft's media from the form's hidden field (an upload's id), or None."""
    if not upload_id.isdigit() or len(upload_id) > 9:
        return None
    info = await uow.uploads.get(int(upload_id))
    return media_of(info) if info is not None else None


async def attachment(uow: UnitOfWork, upload_id: int) -> UploadInfo | None:
    """An attached file with its bytes (the console's preview shows it)."""
    return await uow.uploads.get(upload_id, with_data=True)


# -- what recipients see ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Shown:
    """A broadcast as one reader sees it: HTML text, with a photo or a document (a Telegram file_id, or a file
    uploaded in the console) or not."""

    text: str
    media_type: str | None = None
    file_id: str | None = None
    upload: int | None = None
    name: str = ""


def shown(texts: dict[str, str], media: dict[str, Any] | None, lang: str | None) -> Shown:
    text = rules.text_for(texts, lang)
    if media and media.get("type") in rules.MEDIA_TYPES:
        if media.get("file_id"):
            return Shown(text, str(media["type"]), str(media["file_id"]))
        if isinstance(media.get("upload"), int):
            return Shown(text, str(media["type"]), None, int(media["upload"]), str(media.get("name") or ""))
    return Shown(text)


def previews(d: Draft) -> list[tuple[str | None, Shown]]:
    """What each reader will get: (None, the default), then (language, its variant) for each variant."""
    out: list[tuple[str | None, Shown]] = [(None, shown(d.texts, d.media, None))]
    out += [(lang, shown(d.texts, d.media, lang)) for lang in d.languages]
    return out


# -- sending -------------------------------------------------------------------------------------------------------

def topic(broadcast_id: int) -> str:
    return f"broadcast:{broadcast_id}"


async def start(uow: UnitOfWork, conv: Conversation, sources: Sources, *, by: int, lang: str, now: datetime
                ) -> tuple[int, int]:
    """Send the confirmed draft: the broadcast row, one outbox row per recipient, the audit entry; commits.
    Returns (broadcast id, recipients). The draft is cleared, so pressing Send twice sends once."""
    d = await _need_draft(conv)
    if d.audience is None or await conv.get_state() != S_CONFIRM:
        raise ServiceError("no_draft", NO_DRAFT)
    data = await conv.get_data()
    data.pop("bc", None)
    await conv.set_data(data)
    await conv.set_state(None)
    return await send(uow, d, sources, by=by, lang=lang, now=now)


async def send(uow: UnitOfWork, d: Draft, sources: Sources, *, by: int, lang: str, now: datetime
               ) -> tuple[int, int]:
    """A complete draft sent (the chat's confirmation, the console's Send): the broadcast row, one outbox row per
    recipient (due at "send at", if later), the audit entry; commits. Returns (broadcast id, recipients)."""
    if d.audience is None:
        raise ServiceError("no_draft", NO_DRAFT)
    who = await recipients(uow, d.audience, sources)
    if not who:
        raise ServiceError("nobody", NOBODY)
    send_at = d.send_at if d.send_at is not None and d.send_at > now else None
    bid = await uow.broadcasts.create(author=by, author_language=lang, now=now, texts=d.texts, media=d.media,
                                      audience=d.audience, recipients=len(who), buttons=d.buttons, send_at=send_at)
    t = topic(bid)
    await uow.outbox.add((NewMessage(f"{t}:{uid}", uid, KIND, t, send_at or now,
                                     {"b": bid, **({"lang": hint} if hint else {})},
                                     priority=Priority.BULK) for uid, hint in who.items()), now)
    when = f" at {send_at:%Y-%m-%d %H:%M} UTC" if send_at else ""
    await organiser.audit(uow, by, organiser.BROADCAST,
                          f"#{bid} to {d.audience.summary()}{when}: {len(who)} recipients", now)
    await uow.commit()
    return bid, len(who)


async def attach_progress(uow: UnitOfWork, broadcast_id: int, chat_id: int, message_id: int) -> None:
    """The progress message the organiser got (edited in place from now on)."""
    await uow.broadcasts.set_progress_message(broadcast_id, chat_id, message_id)
    await uow.commit()


async def _get(uow: UnitOfWork, broadcast_id: int) -> BroadcastInfo | None:
    # A forged button may carry any number: only ids the column can hold are looked up.
    return await uow.broadcasts.get(broadcast_id) if 0 < broadcast_id < 2**31 else None


async def cancel(uow: UnitOfWork, broadcast_id: int, *, by: int, now: datetime) -> int:
    """Cancel what is not sent yet (rows being sent at this instant finish); returns how many; commits."""
    info = await _get(uow, broadcast_id)
    if info is None:
        raise ServiceError("not_found", NOT_FOUND)
    if info.status != rules.SENDING:
        raise ServiceError("finished", FINISHED)
    n = await uow.outbox.cancel(topic(broadcast_id), now)
    await organiser.audit(uow, by, organiser.BROADCAST_CANCEL, f"#{broadcast_id}: {n} not sent", now)
    await uow.commit()
    return n


async def progress(uow: UnitOfWork, broadcast_id: int) -> Progress:
    c = await uow.outbox.counts(topic(broadcast_id))
    return Progress(total=c.total, sent=c.sent, failed=c.failed, blocked=c.blocked, left=c.open,
                    cancelled=c.cancelled, dropped=c.dropped)


def _duration(tr: Any, lang: str, seconds: float) -> str:
    if seconds >= 90:
        return translate(tr, lang, MINUTES, n=round(seconds / 60))
    return translate(tr, lang, SECONDS, n=max(1, round(seconds)))


def scheduled(info: BroadcastInfo, now: datetime) -> bool:
    """Sent at a later instant that has not come yet."""
    return info.status == rules.SENDING and info.send_at is not None and now < info.send_at


def progress_text(tr: Any, lang: str, info: BroadcastInfo, p: Progress, now: datetime, status: str,
                  zone: str | None = None) -> str:
    """The organiser's progress message (`tr`: a gettext translator such as aiogram's I18n)."""
    if status == rules.SENDING and scheduled(info, now) and info.send_at is not None:
        state = translate(tr, lang, SCHEDULED_STATUS, when=tzs.fmt_datetime(info.send_at, zone or "UTC", lang))
        eta = ""
    elif status == rules.SENDING:
        state = translate(tr, lang, SENDING_STATUS)
        eta_s = p.seconds_left((now - info.created_at).total_seconds())
        eta = translate(tr, lang, ETA_TEXT, time=_duration(tr, lang, eta_s)) if eta_s is not None \
            else translate(tr, lang, ETA_UNKNOWN)
    else:
        state = translate(tr, lang, DONE_STATUS) if status == rules.DONE else \
            translate(tr, lang, CANCELLED_STATUS, n=p.cancelled)
        eta = ""
    return translate(tr, lang, PROGRESS_TEXT, id=info.id, status=state, sent=p.sent, total=p.total,
                     failed=p.failed + p.dropped, blocked=p.blocked, left=p.left, eta=eta).rstrip()


async def tick(uow: UnitOfWork, broadcast_id: int, now: datetime) -> bool:
    """Queue an edit of the progress message with the live figures; record the final ones once the last row
    settled. Returns whether the broadcast is still running; commits."""
    info = await uow.broadcasts.get(broadcast_id)
    if info is None or info.status != rules.SENDING:
        return False
    p = await progress(uow, broadcast_id)
    running = p.left > 0
    if running and scheduled(info, now):
        return True  # nothing moves before its time: no edit until then
    if not running:
        status = rules.CANCELLED if p.cancelled else rules.DONE
        await uow.broadcasts.finish(broadcast_id, status, now, sent=p.sent, failed=p.failed + p.dropped,
                                    blocked=p.blocked, cancelled=p.cancelled)
    if info.progress_chat is not None and info.progress_message is not None:
        # One edit per tick (the final one once); an edit not sent within 30 s is worthless.
        key = f"{topic(broadcast_id)}:progress:{'final' if not running else f'{now:%Y%m%dT%H%M%S%f}'}"
        await uow.outbox.add([NewMessage(key, info.progress_chat, PROGRESS_KIND, f"broadcast-progress:{broadcast_id}",
                                         now, {"b": broadcast_id, "m": info.progress_message},
                                         expires_at=None if not running else now + timedelta(seconds=30),
                                         priority=Priority.INTERACTIVE)], now)
    await uow.commit()
    return running


# -- reports ---------------------------------------------------------------------------------------------------

async def listing(uow: UnitOfWork, page: int = 0) -> tuple[list[BroadcastInfo], int, int]:
    """One page of past broadcasts, newest first: (broadcasts, pages, page)."""
    total = await uow.broadcasts.count()
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    found = await uow.broadcasts.latest(offset=page * PAGE_SIZE, limit=PAGE_SIZE)
    # One still sending shows its live figures (the final ones are written when it has settled).
    live = []
    for b in found:
        if b.status == rules.SENDING:
            p = await progress(uow, b.id)
            b = replace(b, sent=p.sent, failed=p.failed + p.dropped, blocked=p.blocked, cancelled=p.cancelled)
        live.append(b)
    return live, pages, page


async def wait_before_tick(uow: UnitOfWork, broadcast_id: int, now: datetime) -> float:
    """Seconds until a scheduled broadcast's time (0 when it is sending or done)."""
    info = await uow.broadcasts.get(broadcast_id)
    if info is None or not scheduled(info, now) or info.send_at is None:
        return 0.0
    return float((info.send_at - now).total_seconds())


async def report(uow: UnitOfWork, broadcast_id: int, limit: int = 30) -> tuple[BroadcastInfo, Progress, list[Any]]:
    """One broadcast: its record, its live figures, and the first recipients not reached with the reason."""
    info = await _get(uow, broadcast_id)
    if info is None:
        raise ServiceError("not_found", NOT_FOUND)
    return info, await progress(uow, broadcast_id), await uow.broadcasts.unreached(topic(broadcast_id), limit=limit)


# -- renderers (at send time) -----------------------------------------------------------------------------------

_Content = tuple[dict[str, str], dict[str, Any] | None, tuple[UrlButton, ...]]


def _message(content: _Content, lang: str | None, file: FileRef | None) -> Rendered | Photo | Document:
    texts, media, url_buttons = content
    s = shown(texts, media, lang)
    buttons = tuple((Button(b.label, url=b.url),) for b in url_buttons)
    if s.media_type == "photo" and file is not None:
        return Photo(file, caption=s.text, buttons=buttons)
    if s.media_type == "document" and file is not None:
        return Document(file, caption=s.text, buttons=buttons)
    return Rendered(s.text, buttons)


class Renderers:
    """The broadcast's renderers; a broadcast's content never changes, so it is read once per process. A file
    uploaded in the console goes up with the first copy; Telegram's file_id for it, learned then (after_sent),
    sends every later copy (and is stored, for the other processes and a restart)."""

    def __init__(self) -> None:
        self._content: dict[int, _Content] = {}
        self._file_ids: dict[int, str] = {}

    async def _load(self, ctx: RenderContext, bid: int) -> _Content | None:
        if bid not in self._content:
            async with ctx.uows() as uow:
                info = await uow.broadcasts.get(bid)
            if info is None:
                return None
            self._content[bid] = (info.texts, info.media, info.buttons)
        return self._content[bid]

    async def _file(self, ctx: RenderContext, media: dict[str, Any] | None) -> FileRef | None:
        s = shown({}, media, None)
        if s.file_id is not None:
            return FileRef(file_id=s.file_id)
        if s.upload is None:
            return None
        if s.upload in self._file_ids:
            return FileRef(file_id=self._file_ids[s.upload])
        async with ctx.uows() as uow:
            info = await uow.uploads.get(s.upload, with_data=True)
        if info is None or info.data is None:
            return None
        if info.file_id:
            self._file_ids[s.upload] = info.file_id
            return FileRef(file_id=info.file_id)
        return FileRef(data=info.data, filename=info.filename)

    async def _learn(self, ctx: RenderContext, media: dict[str, Any] | None, sent: Sent) -> None:
        s = shown({}, media, None)
        if s.upload is None or not sent.file_id or s.upload in self._file_ids:
            return
        self._file_ids[s.upload] = sent.file_id
        async with ctx.uows() as uow:
            await uow.uploads.set_file_id(s.upload, sent.file_id)
            await uow.commit()

    async def broadcast(self, ctx: RenderContext, row: OutboxRow, who: Recipient | None
                        ) -> Rendered | Photo | Document | Drop:
        content = await self._load(ctx, int(row.payload.get("b", 0)))
        if content is None:
            return Drop("broadcast deleted")
        file = await self._file(ctx, content[1])
        if content[1] is not None and file is None:
            return Drop("attachment deleted")
        return _message(content, who.language if who is not None else row.payload.get("lang"), file)

    async def broadcast_sent(self, ctx: RenderContext, row: OutboxRow, sent: Sent) -> None:
        content = self._content.get(int(row.payload.get("b", 0)))
        if content is not None:
            await self._learn(ctx, content[1], sent)

    async def test(self, ctx: RenderContext, row: OutboxRow, who: Recipient | None
                   ) -> Rendered | Photo | Document | Drop:
        """"Send a test to me": the draft's content travels in the row (nothing is stored as a broadcast)."""
        p = row.payload
        buttons = tuple(UrlButton(str(label), str(url)) for label, url in p.get("buttons") or ())
        file = await self._file(ctx, p.get("media"))
        if p.get("media") is not None and file is None:
            return Drop("attachment deleted")
        return _message((dict(p.get("texts") or {}), p.get("media"), buttons), str(p.get("lang") or "") or None,
                        file)

    async def test_sent(self, ctx: RenderContext, row: OutboxRow, sent: Sent) -> None:
        await self._learn(ctx, row.payload.get("media"), sent)

    async def progress(self, ctx: RenderContext, row: OutboxRow, who: Recipient | None) -> Edit | Drop:
        bid = int(row.payload.get("b", 0))
        async with ctx.uows() as uow:
            info = await uow.broadcasts.get(bid)
            if info is None:
                return Drop("broadcast deleted")
            p = await progress(uow, bid)
        lang = who.language if who is not None else info.author_language
        status = info.status
        if status == rules.SENDING and not p.left:
            status = rules.CANCELLED if p.cancelled else rules.DONE
        text = progress_text(ctx.i18n, lang, info, p, ctx.now, status, who.timezone if who is not None else None)
        buttons = ((Button(translate(ctx.i18n, lang, CANCEL_BUTTON), CANCEL_CALLBACK.format(id=bid)),),) \
            if status == rules.SENDING else ()
        return Edit(int(row.payload["m"]), text, buttons)


# -- the progress planner ----------------------------------------------------------------------------------------

class BroadcastPlanner:
    """Edits each running broadcast's progress message every few seconds until it has settled (and again after
    a restart: `plan` and `sync` pick up the broadcasts still sending)."""

    name = NAME

    def __init__(self, jobs: Jobs) -> None:
        self.jobs = jobs

    def job_id(self, broadcast_id: int) -> str:
        return f"broadcast-progress:{broadcast_id}"

    def watch(self, broadcast_id: int, delay: float = 0.0) -> None:
        self.jobs.at(self.job_id(broadcast_id), self.jobs.now() + timedelta(seconds=delay), self.tick, broadcast_id)
        self.jobs.wake()

    async def plan(self, jobs: Jobs) -> None:
        await self.sync(jobs)

    async def sync(self, jobs: Jobs) -> None:
        async with jobs.uows() as uow:
            running = await uow.broadcasts.open_ids()
        for bid in running:
            if not jobs.is_planned(self.job_id(bid)):
                self.watch(bid)

    async def tick(self, broadcast_id: int) -> bool:
        async with self.jobs.uows() as uow:
            running = await tick(uow, broadcast_id, self.jobs.now())
            wait = await wait_before_tick(uow, broadcast_id, self.jobs.now())
        if running:
            # A scheduled broadcast is looked at again when its time comes (or at once when cancelled).
            self.watch(broadcast_id, max(PROGRESS_EVERY, wait))
        self.jobs.wake()
        return running


def register(delivery: Any, sources: Sources | None = None) -> BroadcastPlanner:
    """Wiring (bot/app.py): the message kinds, the progress planner, and the hook that starts watching a new
    broadcast at once."""
    renderers = Renderers()
    delivery.renderers.register(KIND, renderers.broadcast, after_sent=renderers.broadcast_sent)
    delivery.renderers.register(PROGRESS_KIND, renderers.progress)
    delivery.renderers.register(KIND_TEST, renderers.test, after_sent=renderers.test_sent)
    planner = BroadcastPlanner(delivery)
    delivery.add_planner(planner)
    if sources is not None:
        # The organiser's progress message says "0 of N" already: the first edit comes a few seconds later.
        sources.broadcast_started = lambda bid: planner.watch(bid, PROGRESS_EVERY)
    return planner


def planner(delivery: Any) -> BroadcastPlanner:
    found = delivery.planners[NAME]
    assert isinstance(found, BroadcastPlanner)
    return found
