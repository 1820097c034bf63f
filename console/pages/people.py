"""People: the registrations (search in any script, filters, sorting, pages), a person's page with every field,
corrections checked by the registration's own rules, EXCOM decisions, /admit, and deleting a person (/forget).
The use cases are the chat's: services/organiser.py, excom.py, admin.py, and services/console.py."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from console.core import LANG, SESSION, UOW, Page, console_of, error_text, form_value, render, tr
from domain.errors import ServiceError
from domain.event import LANGS
from domain.i18n_marks import N_
from domain.languages import LANGUAGE_NAMES
from domain.registration import FIELD_LABELS, PARTICIPANT_LABELS, PARTICIPANT_TYPES, Profile
from domain.timezones import fmt_datetime
from services import admin as admin_uc
from services import console as console_uc
from services import organiser

SAVED = N_("Saved.")
DELETED = N_("{name}'s data has been deleted.")
ADMITTED = N_("User {id} can now register with /start, even after the deadline.")
EXCOM_STATUSES = (("pending", N_("waiting for confirmation")), ("confirmed", N_("confirmed")),
                  ("rejected", N_("rejected")))


def _day(text: str) -> datetime | None:
    try:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
    except ValueError:
        return None


def _people_query(request: web.Request) -> tuple[console_uc.PeopleQuery, dict[str, str]]:
    raw = {k: request.query.get(k, "")[:100] for k in ("q", "type", "country", "lang", "excom", "from", "to",
                                                         "sort", "dir", "page")}
    until = _day(raw["to"])
    q = console_uc.PeopleQuery(
        query=raw["q"], participant_type=raw["type"] if raw["type"] in PARTICIPANT_TYPES else "",
        country=raw["country"], language=raw["lang"] if raw["lang"] in LANGS else "",
        excom_status=raw["excom"] if raw["excom"] in dict(EXCOM_STATUSES) else "",
        registered_from=_day(raw["from"]), registered_to=until + timedelta(days=1) if until else None,
        sort=raw["sort"] or "registered", descending=raw["dir"] != "asc",
        page=max(0, int(raw["page"]) - 1) if raw["page"].isdigit() and len(raw["page"]) < 6 else 0)
    return q, raw


async def people(request: web.Request) -> web.Response:
    q, raw = _people_query(request)
    result = await console_uc.people(request[UOW], q)
    console = console_of(request)
    lang = request[LANG]

    def link(**changes: Any) -> str:
        params = {k: v for k, v in {**raw, **changes}.items() if v not in ("", None)}
        return "/console/people" + ("?" + urlencode(params) if params else "")

    def sort_link(column: str) -> str:
        same = (raw["sort"] or "registered") == column
        return link(sort=column, dir="asc" if same and raw["dir"] != "asc" else "", page="")

    return render(request, "people.html", result=result, raw=raw, link=link, sort_link=sort_link,
                  types=[(t, tr(request, PARTICIPANT_LABELS[t])) for t in PARTICIPANT_TYPES],
                  languages=LANGUAGE_NAMES, statuses=[(k, tr(request, v)) for k, v in EXCOM_STATUSES],
                  type_label=lambda k: tr(request, PARTICIPANT_LABELS.get(k, "Other")),
                  when=lambda at: fmt_datetime(at, console.event.timezone, lang) if at else "",
                  notice=_notice(request))


def _notice(request: web.Request) -> str:
    done = request.query.get("done", "")
    if done == "deleted":
        return tr(request, DELETED, name=request.query.get("name", "")[:100])
    if done == "admitted":
        return tr(request, ADMITTED, id=request.query.get("id", "")[:20])
    if done == "saved":
        return tr(request, SAVED)
    return ""


def _user_id(request: web.Request) -> int:
    raw = request.match_info.get("uid", "")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 16:
        raise web.HTTPNotFound()
    return int(raw)


def _field_value(p: Profile, name: str) -> str:
    if name == "city":
        return f"{p.city}, {p.country}" if p.country else p.city
    return str(getattr(p, name, "") or "")


async def _person_page(request: web.Request, user_id: int, *, status: int = 200, errors: dict[str, str] | None = None,
                       values: dict[str, str] | None = None, claim: dict[str, str] | None = None,
                       message: str = "") -> web.Response:
    console = console_of(request)
    try:
        person = await organiser.card(request[UOW], user_id)
    except ServiceError as err:
        stranger = await console_uc.unregistered(request[UOW], user_id)
        if stranger is None:
            return render(request, "error.html", status=404, message=error_text(request, err))
        # Not registered (any more): the page says what the bot knows and offers /admit.
        known = stranger.late_pass or stranger.language is not None
        return render(request, "person_unregistered.html", status=200 if known else 404, stranger=stranger,
                      message=message or _notice(request), language=LANGUAGE_NAMES.get(stranger.language or "", ""))
    lang = request[LANG]
    rows = [
        (tr(request, FIELD_LABELS["full_name"]), person.full_name), (tr(request, FIELD_LABELS["position"]),
                                                                     person.position),
        (tr(request, FIELD_LABELS["organisation"]), person.organisation),
        (tr(request, FIELD_LABELS["city"]), _field_value(person, "city")),
        (tr(request, FIELD_LABELS["participant_type"]),
         tr(request, PARTICIPANT_LABELS.get(person.participant_type, "Other"))),
        (tr(request, "EXCOM membership"), tr(request, dict(EXCOM_STATUSES)[person.excom_status])
         if person.excom_status in dict(EXCOM_STATUSES) else "—"),
        (tr(request, FIELD_LABELS["email"]), person.email),
        (tr(request, FIELD_LABELS["language"]), LANGUAGE_NAMES.get(person.language, person.language)),
        (tr(request, FIELD_LABELS["timezone"]), person.timezone),
        (tr(request, FIELD_LABELS["matchmaking"]),
         "—" if person.matchmaking is None else (tr(request, "Yes") if person.matchmaking else tr(request, "No"))),
        ("Telegram", f"{person.user_id}" + (f" @{person.username}" if person.username else "")),
        (tr(request, "Registered"), fmt_datetime(person.registered_at, console.event.timezone, lang)
         if person.registered_at else "—"),
    ]
    if person.blocked:
        rows.append((tr(request, "Status"), tr(request, "blocked the bot")))
    fields = [(f, tr(request, FIELD_LABELS[f]), (values or {}).get(f, _field_value(person, f)))
              for f in organiser.FIXABLE]
    return render(request, "person.html", status=status, person=person, rows=rows, fields=fields,
                  errors=errors or {}, claim=claim, message=message or _notice(request),
                  pending=person.is_excom and person.excom_status == "pending")


async def person(request: web.Request) -> web.Response:
    return await _person_page(request, _user_id(request))


async def edit(request: web.Request) -> web.StreamResponse:
    """One corrected field; a wrong value shows the rule's message next to it; a change of a decided EXCOM
    claim asks first (the form comes back with the warning and a "Save anyway" button)."""
    user_id = _user_id(request)
    console = console_of(request)
    form = await request.post()
    name, value = form_value(form, "field", 32), form_value(form, "value", 300)
    try:
        await organiser.correct(request[UOW], console.event, user_id, name, value, by=request[SESSION].user_id,
                                now=console.clock.now(), change_claim=form.get("change_claim") == "1")
        await request[UOW].commit()
    except ServiceError as err:
        await request[UOW].rollback()
        if err.code == "claim_change":
            return await _person_page(request, user_id, status=409, values={name: value},
                                      claim={"field": name, "value": value, "text": error_text(request, err)})
        return await _person_page(request, user_id, status=400, errors={name: error_text(request, err)},
                                  values={name: value})
    raise web.HTTPSeeOther(f"/console/people/{user_id}?done=saved")


async def excom(request: web.Request) -> web.StreamResponse:
    user_id = _user_id(request)
    console = console_of(request)
    form = await request.post()
    try:
        await organiser.decide_excom(request[UOW], user_id, confirm=form.get("decision") == "confirm",
                                     by=request[SESSION].user_id, now=console.clock.now())
    except ServiceError as err:
        return await _person_page(request, user_id, status=409, message=error_text(request, err))
    raise web.HTTPSeeOther(f"/console/people/{user_id}?done=saved")


async def confirm_delete(request: web.Request) -> web.Response:
    user_id = _user_id(request)
    try:
        found = await organiser.card(request[UOW], user_id)
    except ServiceError as err:
        return render(request, "error.html", status=404, message=error_text(request, err))
    return render(request, "person_delete.html", person=found)


async def delete(request: web.Request) -> web.StreamResponse:
    user_id = _user_id(request)
    console = console_of(request)
    uow = request[UOW]
    try:
        found = await organiser.card(uow, user_id)
        assert console.conversation is not None
        await console_uc.delete_person(uow, console.event, user_id, console.conversation(uow, user_id),
                                       by=request[SESSION].user_id, now=console.clock.now())
    except ServiceError as err:
        return render(request, "error.html", status=404, message=error_text(request, err))
    raise web.HTTPSeeOther("/console/people?" + urlencode({"done": "deleted", "name": found.full_name}))


async def _admit(request: web.Request, arg: str) -> int:
    """/admit's use case (the late pass, the person's notice, the audit entry); returns the user id."""
    console = console_of(request)
    username = None
    if console.bot is not None:
        username = (await console.bot.me()).username
    result = await admin_uc.admit(request[UOW], arg, by=request[SESSION].user_id, now=console.clock.now(),
                                  bot_username=username)
    if result.notified and console.sources.admitted is not None:
        console.sources.admitted(result.user_id)
    return result.user_id


async def admit(request: web.Request) -> web.StreamResponse:
    """The People page's form: any Telegram user id; then their page."""
    form = await request.post()
    try:
        user_id = await _admit(request, form_value(form, "user_id", 30))
    except ServiceError as err:
        return render(request, "error.html", status=400, message=error_text(request, err))
    raise web.HTTPSeeOther(f"/console/people/{user_id}?done=admitted&id={user_id}")


async def admit_person(request: web.Request) -> web.StreamResponse:
    """The Admit button of a person's page (someone not registered)."""
    user_id = _user_id(request)
    try:
        await _admit(request, str(user_id))
    except ServiceError as err:
        return await _person_page(request, user_id, status=409, message=error_text(request, err))
    raise web.HTTPSeeOther(f"/console/people/{user_id}?done=admitted&id={user_id}")


def routes(r: web.RouteTableDef) -> None:
    r.get("/people")(people)
    r.post("/people/admit")(admit)
    r.get("/people/{uid}")(person)
    r.post("/people/{uid}/edit")(edit)
    r.post("/people/{uid}/excom")(excom)
    r.post("/people/{uid}/admit")(admit_person)
    r.get("/people/{uid}/delete")(confirm_delete)
    r.post("/people/{uid}/delete")(delete)


PAGE = Page("/people", N_("People"), routes)
