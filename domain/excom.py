"""Who is an EXCOM member: the rules behind the organisers' confirmation (no Telegram, no database here).

Picking "EXCOM member city" at registration is a claim. A person is treated as a member (the Closed
Session's join details, its reminders, its calendar entry) only once an organiser confirmed the claim, with
one tap in the /excom queue or by sending a list of e-mails or Telegram user ids. The queue marks whether
the person's city is on the event file's EXCOM list; an organiser may confirm someone whose city is not
(their decision). Changing the participant type or city drops the decision (`claim_changed` in
`domain.registration`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from domain.event import Event
from domain.i18n_marks import N_
from domain.registration import EXCOM_CONFIRMED, EXCOM_PENDING, EXCOM_REJECTED, Profile

# An uploaded list is read whole: a few thousand lines are plenty for one event's delegates.
MAX_LIST_BYTES = 1_000_000
MAX_LIST_ENTRIES = 5_000
LIST_EXTENSIONS = (".csv", ".txt")
# Telegram user ids are positive and fit in 52 bits (the Bot API's own promise).
MAX_USER_ID = 2**52

_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_SEPARATORS = re.compile(r"[,;\t\s|]+")


# What a person who picked "EXCOM member city" is told about their claim.
STATUS_LABEL = N_("EXCOM membership")
STATUS_TEXT = {
    EXCOM_PENDING: N_("waiting for an organiser's confirmation"),
    EXCOM_CONFIRMED: N_("confirmed by the organisers"),
    EXCOM_REJECTED: N_("not confirmed by the organisers"),
}
PENDING_NOTE = N_("⏳ Your EXCOM membership is waiting for an organiser's confirmation. The join details appear "
                  "here once it is confirmed.")
REJECTED_NOTE = N_("An organiser did not confirm your EXCOM membership, so the join details are not shown. If "
                   "this is a mistake, please contact the organisers.")
AFTER_REGISTERING = N_("⏳ Your EXCOM membership is waiting for an organiser's confirmation. Until then the "
                       "Closed Session's join details are not shown to you; I will tell you as soon as it is "
                       "decided.")


ORGANISER_HELP = N_("/excom — confirm or reject EXCOM member claims (or send a CSV/TXT list of e-mails or ids)")


def status_text(profile: Profile) -> str | None:
    """The msgid describing an EXCOM claim's status (None when the person claims nothing)."""
    return STATUS_TEXT.get(profile.excom_status or "") if profile.is_excom else None


def on_excom_list(event: Event, profile: Profile) -> bool:
    """The city the person named is one the event file lists as an EXCOM member."""
    city = event.city(profile.city_id) if profile.city_id else None
    return city is not None and city.excom


@dataclass
class ParsedList:
    """What an organiser's list holds: ids and e-mails, and how many non-empty lines held neither."""

    user_ids: set[int] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    unreadable: int = 0

    @property
    def entries(self) -> int:
        return len(self.user_ids) + len(self.emails)


def decode(data: bytes) -> str:
    """UTF-8 (with or without a BOM, as spreadsheets save CSV), else Windows-1251, else Latin-1."""
    for encoding in ("utf-8-sig", "cp1251"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def parse_list(text: str) -> ParsedList:
    """E-mails and numeric Telegram user ids, in any column of a CSV or one a line (a header is harmless)."""
    parsed = ParsedList()
    for line in text.splitlines():
        if not line.strip():
            continue
        found = False
        for token in _SEPARATORS.split(line):
            token = token.strip().strip("\"'<>()[]")
            if not token:
                continue
            if _EMAIL.fullmatch(token):
                parsed.emails.add(token.lower())
                found = True
            elif token.isascii() and token.isdigit() and 0 < int(token) < MAX_USER_ID:
                parsed.user_ids.add(int(token))
                found = True
        if not found:
            parsed.unreadable += 1
    return parsed


def is_list_file(file_name: str | None, mime_type: str | None) -> bool:
    """A CSV or plain-text file, by its name or its type."""
    name = (file_name or "").lower()
    return name.endswith(LIST_EXTENSIONS) or (mime_type or "") in ("text/csv", "text/plain")
