"""Registration rules, free of Telegram: the steps, validation of each answer, who may register.

Messages are English msgids marked with N_ and translated where they are shown.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from rapidfuzz import fuzz

from domain.errors import ServiceError
from domain.event import LANGS, Event
from domain.i18n_marks import N_
from domain.text import normalize

PARTICIPANT_TYPES: tuple[str, ...] = ("excom", "wego_member", "local_gov", "partner", "institution", "other")
# Local governments are asked whether they are available for matchmaking meetings.
LOCAL_GOVERNMENTS = frozenset({"excom", "wego_member", "local_gov"})

PARTICIPANT_LABELS: dict[str, str] = {
    "excom": N_("EXCOM member city"),
    "wego_member": N_("WeGO member"),
    "local_gov": N_("Other local government"),
    "partner": N_("Partner or sponsor company"),
    "institution": N_("Institution"),
    "other": N_("Other"),
}

# The order of the conversation. "matchmaking" is skipped for non-local-governments.
STEPS: tuple[str, ...] = (
    "language", "full_name", "position", "organisation", "city", "participant_type", "email",
    "timezone", "matchmaking", "consent",
)
# Fields a person can change afterwards (from the summary or /profile).
EDITABLE: tuple[str, ...] = (
    "full_name", "position", "organisation", "city", "participant_type", "email", "timezone",
    "matchmaking", "language",
)
FIELD_LABELS: dict[str, str] = {
    "language": N_("Language"),
    "full_name": N_("Full name"),
    "position": N_("Position"),
    "organisation": N_("Organisation"),
    "city": N_("City and country"),
    "participant_type": N_("Participant type"),
    "email": N_("E-mail"),
    "timezone": N_("Time zone"),
    "matchmaking": N_("Matchmaking"),
}

TEXT_LIMITS = (2, 100)
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
                    r"[A-Za-z]{2,63}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class InputError(ServiceError):
    """An answer that cannot be accepted. `message` is an English msgid; `params` fill its placeholders."""


@dataclass
class Profile:
    """A delegate's data as the services see it (no ORM row crosses into handlers)."""

    user_id: int
    language: str
    full_name: str
    position: str
    organisation: str
    city: str
    country: str
    participant_type: str
    email: str
    timezone: str
    matchmaking: bool | None
    city_id: str | None = None
    username: str | None = None
    registered_at: datetime | None = None
    registered_by: int | None = None
    # Telegram said the person blocked the bot (nothing is delivered until they write again).
    blocked: bool = False
    # An EXCOM claim as an organiser decided it: "pending", "confirmed", "rejected" (None: no claim).
    excom_status: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_local_government(self) -> bool:
        return self.participant_type in LOCAL_GOVERNMENTS

    @property
    def is_guest(self) -> bool:
        """Not registered (registration closed): a language, a time zone and follows, nothing else."""
        return self.participant_type == GUEST

    @property
    def is_excom(self) -> bool:
        """They say they represent an EXCOM member city (self-declared: see `is_member`)."""
        return self.participant_type == "excom"

    @property
    def is_member(self) -> bool:
        """An EXCOM member city's representative as an organiser confirmed them (members-only items)."""
        return is_member(self.participant_type, self.excom_status)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# Someone who could not register (registration closed) but keeps a language, a time zone and follows: the
# program in their time and reminders. As a Profile they have no personal fields and are never a member.
GUEST = "guest"


def guest_profile(user_id: int, language: str, timezone: str, *, zone_chosen: bool = True,
                  blocked: bool = False) -> Profile:
    """A guest as the program and reminders see a reader. Without a zone of their own (`zone_chosen` False:
    they followed a session first) `timezone` is the event's and the program says how to set theirs."""
    return Profile(user_id=user_id, language=language, full_name="", position="", organisation="", city="",
                   country="", participant_type=GUEST, email="", timezone=timezone, matchmaking=None,
                   blocked=blocked, extra={"zone_chosen": zone_chosen})


EXCOM_PENDING, EXCOM_CONFIRMED, EXCOM_REJECTED = "pending", "confirmed", "rejected"
# Changing one of these drops an organiser's decision on an EXCOM claim: it was about the old answers.
EXCOM_CLAIM_FIELDS = ("participant_type", "city", "country", "city_id")


def is_member(participant_type: str | None, excom_status: str | None) -> bool:
    return participant_type == "excom" and excom_status == EXCOM_CONFIRMED


def claim_status(participant_type: str | None) -> str | None:
    """The status of a new claim: an EXCOM member city waits for an organiser; other types claim nothing."""
    return EXCOM_PENDING if participant_type == "excom" else None


def claim_changed(old: Profile, values: dict[str, Any]) -> bool:
    """A profile edit changes the EXCOM claim (type or city): an organiser's decision on it no longer holds."""
    return any(f in values and values[f] != getattr(old, f) for f in EXCOM_CLAIM_FIELDS)


# How alike two spellings of a city (or country) must be, 0-100 after `normalize`, to be one typo apart.
TYPO_SIMILARITY = 80


def _alike(a: str, b: str) -> bool:
    a, b = normalize(a), normalize(b)
    return a == b or fuzz.ratio(a, b) >= TYPO_SIMILARITY


def is_typo_fix(old: Profile, values: dict[str, Any]) -> bool:
    """An organiser's correction that names the same claim: the type stays, and the city is the same event
    city (same `city_id`) or a spelling a typo away ("Bucharets" -> "Bucharest")."""
    if not claim_changed(old, values):
        return True
    if values.get("participant_type", old.participant_type) != old.participant_type:
        return False
    new_id = values.get("city_id", old.city_id)
    if old.city_id and new_id:
        return bool(new_id == old.city_id)
    # A spelling put right: the city a typo away; the country too, unless the event file now knows the city.
    return (_alike(str(values.get("city", old.city)), old.city)
            and (bool(new_id) or _alike(str(values.get("country", old.country)), old.country)))


def clean_text(value: str | None, *, what: str = "text") -> str:
    """A name, position or organisation: 2-100 characters after trimming, one line."""
    if value is None:
        raise InputError("not_text", N_("Please answer with text."))
    value = " ".join(_CONTROL.sub(" ", value).split())
    low, high = TEXT_LIMITS
    if len(value) < low:
        raise InputError("too_short", N_("That is too short: please use at least {min} characters."), min=low)
    if len(value) > high:
        raise InputError("too_long", N_("That is too long: please use at most {max} characters "
                                        "(you sent {length})."), max=high, length=len(value))
    if value.startswith("/"):
        raise InputError("command", N_("That looks like a command. Please type your answer as text."))
    if not any(c.isalpha() for c in value):
        raise InputError("no_letters", N_("Please use letters, not only digits or symbols."))
    return value


def clean_email(value: str | None) -> str:
    if value is None:
        raise InputError("not_text", N_("Please answer with text."))
    value = value.strip().strip("<>").strip()
    if " " in value or not _EMAIL.match(value) or len(value) > 254 or ".." in value:
        raise InputError("bad_email", N_("“{value}” does not look like an e-mail address. Please type it as "
                                         "name@example.org."), value=value[:60])
    local, domain = value.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def split_city(value: str) -> tuple[str, str]:
    """"Seoul, Republic of Korea" -> ("Seoul", "Republic of Korea"); the country may be missing."""
    value = clean_text(value)
    for sep in (",", ";", " / ", " - ", " — "):
        if sep in value:
            city, country = value.split(sep, 1)
            return city.strip(), country.strip()
    return value, ""


def match_city(event: Event, city: str) -> str | None:
    """The id of the event city the person named (any language or alias), or None."""
    key = normalize(city)
    for c in event.cities:
        names = (c.id, c.name.en, c.name.ru, c.name.ko, *c.aliases)
        if key in {normalize(n) for n in names}:
            return c.id
    return None


def next_step(answers: dict[str, Any], after: str | None = None) -> str | None:
    """The first step after `after` that is still to be asked (None: all asked, show the summary)."""
    start = STEPS.index(after) + 1 if after else 0
    for step in STEPS[start:]:
        if step == "matchmaking" and answers.get("participant_type") not in LOCAL_GOVERNMENTS:
            continue
        if step not in answers:
            return step
    return None


def previous_step(step: str, answers: dict[str, Any]) -> str | None:
    """The step before `step` in the conversation (matchmaking only where it is asked); None for the first."""
    steps = [s for s in STEPS if applies(s, answers)]
    if step not in steps:
        return None
    i = steps.index(step)
    return steps[i - 1] if i > 0 else None


def step_number(step: str, answers: dict[str, Any]) -> tuple[int, int]:
    """(n, total) for "Step n of total", counting matchmaking only when it is asked."""
    # Until the participant type is known, count the matchmaking question in.
    ptype = answers.get("participant_type")
    steps = [s for s in STEPS if s != "matchmaking" or ptype is None or ptype in LOCAL_GOVERNMENTS]
    return (steps.index(step) + 1 if step in steps else len(steps)), len(steps)


def check_language(lang: str) -> str:
    if lang not in LANGS:
        raise InputError("bad_language", N_("Please choose one of the languages offered."))
    return lang


def registration_open(event: Event, now: datetime, *, is_admin: bool, has_pass: bool) -> bool:
    """Registration closes at the deadline; organisers and people they let in may still register."""
    return is_admin or has_pass or event.registration_open(now)


# -- answers and the stored profile ---------------------------------------------------------------------------

# What a conversation collects ("answers" in its data) and a Profile stores, besides the ids.
ANSWER_KEYS: tuple[str, ...] = (
    "language", "full_name", "position", "organisation", "city", "country", "participant_type", "email",
    "timezone", "matchmaking", "city_id",
)
# The order fields are shown in (summary, /profile).
SHOWN_FIELDS: tuple[str, ...] = (
    "full_name", "position", "organisation", "city", "participant_type", "email", "timezone", "matchmaking",
    "language",
)


def offers_matchmaking(participant_type: object) -> bool:
    """Only local governments are asked about (and hold) matchmaking availability."""
    return participant_type in LOCAL_GOVERNMENTS


def applies(field: str, answers: dict[str, Any]) -> bool:
    """Whether a field is asked and shown for these answers (matchmaking only for local governments)."""
    return field != "matchmaking" or offers_matchmaking(answers.get("participant_type"))


def merge_answers(answers: dict[str, Any], **values: Any) -> dict[str, Any]:
    """The answers with `values` added; a matchmaking answer is dropped when it no longer applies."""
    merged = {**answers, **values}
    if not offers_matchmaking(merged.get("participant_type")):
        merged.pop("matchmaking", None)
    return merged


def needs_matchmaking_answer(answers: dict[str, Any]) -> bool:
    """The participant type now asks for matchmaking and it has not been answered."""
    return offers_matchmaking(answers.get("participant_type")) and answers.get("matchmaking") is None


def missing_steps(answers: dict[str, Any]) -> list[str]:
    """Steps without an answer, consent aside (it is checked on its own)."""
    return [s for s in STEPS if s != "consent" and s not in answers and applies(s, answers)]


def answers_from(profile: Profile) -> dict[str, Any]:
    return {k: getattr(profile, k) for k in ANSWER_KEYS}


def stored_values(answers: dict[str, Any]) -> dict[str, Any]:
    """The profile columns the answers set (matchmaking None where it does not apply)."""
    values = {k: answers.get(k) for k in ANSWER_KEYS}
    values["country"] = values["country"] or ""
    if not offers_matchmaking(values["participant_type"]):
        values["matchmaking"] = None
    return values


def profile_from(answers: dict[str, Any], user_id: int, username: str | None) -> Profile:
    values = stored_values(answers)
    return Profile(user_id=user_id, username=username, excom_status=claim_status(values["participant_type"]),
                   **values)
