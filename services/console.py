"""The web console's use cases that the chat has no counterpart for: signing organisers in with a one-time link
from the bot, their sessions, and the figures of the Today page. Every other page calls the chat's use cases
(services/organiser.py, excom.py, quiz.py, matchmaking.py, registration.py).

A link is `<user id>.<expiry>.<nonce>.<signature>` (HMAC-SHA256 with the console's secret): the signature
makes it unforgeable, the expiry short (10 minutes), and its row (only its hash is stored) makes it single use
and bound to the organiser it was made for. A session is a random secret in a cookie; its row holds the
organiser, the expiry (12 hours) and the CSRF token of its forms. Rights are checked on every request against
ADMIN_IDS, so an organiser removed from the list is signed out by their next request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from domain.errors import ServiceError
from domain.i18n_marks import N_
from domain.organiser import Stats
from domain.registration import EXCOM_PENDING, Profile
from services import broadcasts as broadcasts_uc
from services import quiz as quiz_uc
from services.audit import audit

if TYPE_CHECKING:
    from domain.event import Event
    from services.organiser import Sources
    from services.ports import Conversation, UnitOfWork

LINK_TTL = timedelta(minutes=10)
SESSION_TTL = timedelta(hours=12)
SIGN_IN, SIGN_OUT, LINK_MADE = "console_sign_in", "console_sign_out", "console_link"

BAD_LINK = N_("This sign-in link is not valid. Send /console to the bot for a new one.")
EXPIRED_LINK = N_("This sign-in link has expired (links work for 10 minutes). Send /console to the bot for a "
                  "new one.")
USED_LINK = N_("This sign-in link has been used already: each link works once. Send /console to the bot for "
               "a new one.")
NOT_ORGANISER = N_("The console is for the organisers.")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _sign(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def secret_key(configured: str | None, bot_token: str | None) -> bytes:
    """The signing key: CONSOLE_SECRET, else derived from the bot token (the same in every worker and after a
    restart), else random for this process (the offline chat: links live as long as the process)."""
    if configured:
        return configured.encode()
    if bot_token:
        return hmac.new(b"delegate-bot console", bot_token.encode(), hashlib.sha256).digest()
    return secrets.token_bytes(32)


async def make_link(uow: UnitOfWork, user_id: int, *, admin_ids: Iterable[int], key: bytes, now: datetime) -> str:
    """A one-time sign-in token for an organiser (the bot's /console sends it as a link); commits."""
    if user_id not in set(admin_ids):
        raise ServiceError("not_organiser", NOT_ORGANISER)
    expires = now + LINK_TTL
    payload = f"{user_id}.{int(expires.timestamp())}.{secrets.token_urlsafe(16)}"
    token = f"{payload}.{_sign(key, payload)}"
    await uow.console.end_expired(now)
    await uow.console.add(_hash(token), "link", user_id, now, expires)
    await audit(uow, user_id, LINK_MADE, "sign-in link sent", now)
    await uow.commit()
    return token


@dataclass(frozen=True)
class Session:
    """A signed-in organiser: the cookie's secret (only on sign-in), who, the CSRF token, until when."""

    user_id: int
    csrf: str
    expires_at: datetime
    secret: str = field(default="", repr=False)


def _parse(token: str, key: bytes) -> tuple[int, datetime] | None:
    parts = token.split(".")
    if len(parts) != 4 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    payload = ".".join(parts[:3])
    if not hmac.compare_digest(_sign(key, payload), parts[3]):
        return None
    return int(parts[0]), datetime.fromtimestamp(int(parts[1]), UTC)


async def sign_in(uow: UnitOfWork, token: str, *, admin_ids: Iterable[int], key: bytes, now: datetime) -> Session:
    """Trade a link for a session: the link must be genuine, unexpired, unused, and its organiser still one;
    commits (the link is used up even when the session is refused for rights)."""
    parsed = _parse(token.strip(), key) if len(token) < 300 else None
    if parsed is None:
        raise ServiceError("bad_link", BAD_LINK)
    user_id, expires = parsed
    if expires <= now:
        raise ServiceError("expired_link", EXPIRED_LINK)
    if not await uow.console.use_link(_hash(token.strip()), user_id, now):
        await uow.rollback()
        raise ServiceError("used_link", USED_LINK)
    if user_id not in set(admin_ids):
        await uow.commit()
        raise ServiceError("not_organiser", NOT_ORGANISER)
    secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    session = Session(user_id, csrf, now + SESSION_TTL, secret)
    await uow.console.add(_hash(secret), "session", user_id, now, session.expires_at, csrf)
    await audit(uow, user_id, SIGN_IN, "console", now)
    await uow.commit()
    return session


async def current(uow: UnitOfWork, secret: str, *, admin_ids: Iterable[int], now: datetime) -> Session | None:
    """The session a cookie holds, or None (unknown, expired, or its organiser is no longer in ADMIN_IDS:
    then the session ends here; commits only then)."""
    if not secret or len(secret) > 100:
        return None
    found = await uow.console.session(_hash(secret), now)
    if found is None:
        return None
    user_id, csrf = found
    if user_id not in set(admin_ids):
        await uow.console.end(_hash(secret))
        await audit(uow, user_id, SIGN_OUT, "no longer an organiser (ADMIN_IDS)", now)
        await uow.commit()
        return None
    return Session(user_id, csrf, now)


async def sign_out(uow: UnitOfWork, secret: str, *, by: int, now: datetime) -> None:
    if await uow.console.end(_hash(secret)):
        await audit(uow, by, SIGN_OUT, "console", now)
    await uow.commit()


# -- Today ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BroadcastLine:
    id: int
    recipients: int
    sent: int
    failed: int
    left: int


@dataclass(frozen=True)
class Today:
    stats: Stats
    excom_waiting: int
    broadcasts: list[BroadcastLine]
    quiz: quiz_uc.Availability | None
    quiz_players: int
    extra: list[tuple[str, int]] = field(default_factory=list)


async def today(uow: UnitOfWork, event: Event, sources: Sources, now: datetime) -> Today:
    """The Today page: registrations by type, language and country, EXCOM claims waiting, broadcasts being
    sent, the quiz's state, and what other features count (meetings booked)."""
    from services import organiser

    stats = await organiser.stats(uow, sources)
    lines = []
    for bid in sorted(await uow.broadcasts.open_ids()):
        info = await uow.broadcasts.get(bid)
        if info is None:
            continue
        p = await broadcasts_uc.progress(uow, bid)
        lines.append(BroadcastLine(bid, info.recipients, p.sent, p.failed + p.blocked, p.left))
    quiz = await quiz_uc.availability(uow, event, now) if event.quiz is not None else None
    return Today(stats, await uow.delegates.count_excom_claims(EXCOM_PENDING), lines, quiz,
                 await uow.quiz.count(), stats.extra)


# -- People ------------------------------------------------------------------------------------------------------

PEOPLE_PAGE = 50
SORTS = ("registered", "name", "city", "country", "type", "language")


@dataclass(frozen=True)
class PeopleQuery:
    """What the People page asks: a search, filters, a sort and a page (from 0)."""

    query: str = ""
    participant_type: str = ""
    country: str = ""
    language: str = ""
    excom_status: str = ""
    registered_from: datetime | None = None
    registered_to: datetime | None = None  # exclusive
    sort: str = "registered"
    descending: bool = True
    page: int = 0


@dataclass(frozen=True)
class PeoplePage:
    people: list[Profile]
    total: int
    page: int
    pages: int
    countries: list[tuple[str, int]]


async def people(uow: UnitOfWork, q: PeopleQuery, size: int = PEOPLE_PAGE) -> PeoplePage:
    """One page of the registrations that match; the page number is kept within the pages there are."""
    sort = q.sort if q.sort in SORTS else "registered"
    filters: dict[str, Any] = {
        "query": " ".join(q.query.split())[:100], "participant_type": q.participant_type or None,
        "country": q.country or None, "language": q.language or None, "excom_status": q.excom_status or None,
        "registered_from": q.registered_from, "registered_to": q.registered_to, "sort": sort,
        "descending": q.descending}
    page = max(q.page, 0)
    found, total = await uow.people.table(**filters, offset=page * size, limit=size)
    pages = max(1, -(-total // size))
    if page >= pages:
        page = pages - 1
        found, total = await uow.people.table(**filters, offset=page * size, limit=size)
    return PeoplePage(found, total, page, pages, await uow.people.countries())


@dataclass(frozen=True)
class Unregistered:
    """What the bot knows of someone without a registration (their page offers /admit)."""

    user_id: int
    language: str | None  # chosen when they started registering (None: not started, or not known)
    late_pass: bool  # an organiser admitted them already


async def unregistered(uow: UnitOfWork, user_id: int) -> Unregistered | None:
    """A person's page for an id with no registration; None for a registered person or an impossible id."""
    if not 0 < user_id < 2**52 or await uow.delegates.get(user_id) is not None:
        return None
    return Unregistered(user_id, await uow.people.language_hint(user_id), await uow.late_passes.has(user_id))


DELETED = "forget"


async def delete_person(uow: UnitOfWork, event: Event, user_id: int, conv: Conversation, *, by: int,
                        now: datetime) -> None:
    """What /forget does, by an organiser: the other side of each meeting is told, every row about the person
    goes, and their conversation state; audited; commits."""
    from services import matchmaking, organiser

    await organiser.card(uow, user_id)
    await matchmaking.withdraw(uow, event, user_id, now)
    await uow.forget(user_id)
    await conv.clear()
    await audit(uow, by, DELETED, f"user {user_id}", now)
    await uow.commit()


# -- the quiz screen -----------------------------------------------------------------------------------------------

def _hangul(text: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in text)


def screen_name(standing: Any) -> str | None:
    """How a player appears on the shared screen: the name they chose to show (a first name or a nickname;
    None: anonymous, said in the screen's language), else, never asked, their first name only (a Korean name
    written as one word loses its family name): no surname, no city, no organisation."""
    shown_as = getattr(standing, "shown_as", None)
    if shown_as is not None:
        from domain.quiz import public_name

        return public_name(shown_as, standing.nickname, standing.first_name)
    first = (str(standing.name or "").split() or ["?"])[0]
    if _hangul(first) and len(first) >= 3:
        return first[1:]
    return first[:40]


@dataclass(frozen=True)
class ScreenRow:
    rank: int
    name: str | None  # None: anonymous
    score: int
    right: int


@dataclass(frozen=True)
class Screen:
    """The quiz as the shared screen shows it: open or not, seconds left in the window, players, top 10."""

    open: bool
    seconds_left: int | None
    players: int
    top: list[ScreenRow]
    answers: int = 0


async def screen(uow: UnitOfWork, event: Event, now: datetime, n: int = 10) -> Screen:
    state = await quiz_uc.availability(uow, event, now) if event.quiz is not None else None
    left = None
    if state is not None and state.open and state.closes_at is not None:
        left = max(0, int((state.closes_at - now).total_seconds()))
    rows = [ScreenRow(s.rank, screen_name(s), s.score, s.right) for s in await uow.quiz.top(n)]
    return Screen(bool(state and state.open), left, await uow.quiz.count(), rows, await uow.quiz.answered())


# -- the audit log --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AuditPage:
    items: list[Any]
    total: int
    page: int
    pages: int
    actors: list[int]
    actions: list[str]
    names: dict[int, str]


async def audit_log(uow: UnitOfWork, *, actor: int | None = None, action: str = "", page: int = 0,
                    size: int = 100) -> AuditPage:
    """The organisers' actions (chat and console alike), newest first, filtered by who and what; organisers
    who registered are named."""
    items, total = await uow.audit.search(actor=actor, action=action or None, offset=max(page, 0) * size,
                                          limit=size)
    actors, actions = await uow.audit.facets()
    names = {p.user_id: p.full_name for p in await uow.delegates.find(user_ids=actors)} if actors else {}
    return AuditPage(items, total, max(page, 0), max(1, -(-total // size)), actors, actions, names)
