"""Matchmaking rules (domain/matchmaking.py) and the [matchmaking] section of the event file."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.pofile import read_po

from domain import matchmaking as mm
from domain.errors import ServiceError
from domain.event import Event, EventFileError, load_event
from domain.matchmaking import Action, Board, Booking, Phase, SlotUnavailable
from domain.qa import index_for
from domain.registration import PARTICIPANT_TYPES, Profile, offers_matchmaking
from tests.harness import EVENT_FILE, MSK, msk

ROOT = Path(__file__).resolve().parent.parent
SLOT_IDS = ["1040", "1050", "1100", "1110", "1120"]

# People on the board: hosts are local governments that said yes; requesters book them.
SEOUL, MOSCOW, HANOI = 101, 102, 103
ACME, UNI, KIGALI = 201, 202, 203


def profile(ptype: str = "excom", matchmaking: bool | None = True, user_id: int = 1) -> Profile:
    return Profile(user_id=user_id, language="en", full_name="Ada Lovelace", position="Mayor", organisation="City",
                   city="Seoul", country="Korea", participant_type=ptype, email="ada@example.org",
                   timezone="Asia/Seoul", matchmaking=matchmaking)


def board(*bookings: Booking, free: dict[int, list[str]] | None = None) -> Board:
    """Seoul, Moscow and Hanoi host in every slot unless `free` says otherwise."""
    free = free if free is not None else {SEOUL: SLOT_IDS, MOSCOW: SLOT_IDS, HANOI: SLOT_IDS}
    return Board({h: frozenset(s) for h, s in free.items()}, tuple(bookings))


def refused(code: str, call, *args, **kwargs) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        call(*args, **kwargs)
    assert info.value.code == code
    # The msgid can be filled with its params (placeholders and params agree).
    assert info.value.message.format(**info.value.params)
    return info.value


# -- the event file --------------------------------------------------------------------------------------------


def test_section_from_the_seed(event: Event) -> None:
    conf = event.matchmaking
    assert conf is not None
    item = event.item(conf.item)
    assert item is not None and item.kind == "matchmaking"
    assert (f"{conf.start:%H:%M}", f"{conf.end:%H:%M}") == ("10:40", "11:30")
    assert (conf.start, conf.end) == (item.start, item.end)
    assert (conf.slot_minutes, conf.slot_count, conf.max_bookings) == (10, 5, 3)
    assert conf.availability_deadline.astimezone(MSK).date().isoformat() == "2020-10-23"
    assert conf.schedule_deadline.astimezone(MSK).date().isoformat() == "2020-11-10"
    assert "{meeting_id}" in conf.meeting_link and conf.meeting_link.startswith("https://")


def test_slots_are_utc_instants(event: Event) -> None:
    slots = mm.slots(event)
    assert [s.id for s in slots] == SLOT_IDS
    assert [s.index for s in slots] == [0, 1, 2, 3, 4]
    assert slots[0].starts == datetime(2020, 11, 17, 7, 40, tzinfo=UTC)
    assert slots[-1].ends == datetime(2020, 11, 17, 8, 30, tzinfo=UTC)
    assert all(s.starts.tzinfo is UTC and s.ends - s.starts == timedelta(minutes=10) for s in slots)
    assert all(a.ends == b.starts for a, b in pairwise(slots))
    # Shown in Seoul, the first slot is 16:40 on the event's day.
    assert f"{slots[0].starts.astimezone(ZoneInfo('Asia/Seoul')):%d %H:%M}" == "17 16:40"
    assert mm.slot(event, "1100").starts == datetime(2020, 11, 17, 8, 0, tzinfo=UTC)
    refused("unknown_slot", mm.slot, event, "1130")


def variant(tmp_path: Path, old: str, new: str) -> Path:
    text = EVENT_FILE.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"expected exactly one {old!r} in the event file"
    path = tmp_path / "excom2020.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(EventFileError) as info:
        load_event(path)
    return str(info.value)


def test_event_without_matchmaking(tmp_path: Path) -> None:
    text = EVENT_FILE.read_text(encoding="utf-8")
    start, end = text.index("[matchmaking]\n"), text.index("[contact]\n")
    path = tmp_path / "plain.toml"
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    plain = load_event(path)
    assert plain.matchmaking is None
    assert mm.slots(plain) == ()
    refused("no_matchmaking", mm.phase, plain, msk(12, 0, 1, 11), published=False)
    refused("no_matchmaking", mm.check_booking, plain, board(), SEOUL, ACME, "1040")


@pytest.mark.parametrize(("old", "new", "problem"), [
    ("end = 11:30:00\nslot_minutes", "end = 11:40:00\nslot_minutes",
     "matchmaking: the window 10:40-11:40 is not inside program item 'matchmaking' (10:40-11:30)"),
    ("slot_minutes = 10", "slot_minutes = 15",
     "matchmaking: the window 10:40-11:30 (50 minutes) is not a whole number of 15-minute slots"),
    ("start = 10:40:00\nend = 11:30:00\nslot_minutes", "start = 11:30:00\nend = 10:40:00\nslot_minutes",
     "matchmaking: end 10:40 is not after start 11:30"),
    ("slot_minutes = 10", "slot_minutes = 0", "matchmaking > slot_minutes: Input should be greater than or equal to 5"),
    ("max_bookings = 3", "max_bookings = 0", "matchmaking > max_bookings: Input should be greater than or equal to 1"),
    ("/wego-excom2020/{meeting_id}\"", "/wego-excom2020/\"", "matchmaking > meeting_link: needs the placeholder"),
    ("/wego-excom2020/{meeting_id}\"", "/{room}/{meeting_id}\"",
     "matchmaking > meeting_link: may only contain the placeholder {meeting_id}"),
    ('meeting_link = "https://', 'meeting_link = "meet.', "matchmaking > meeting_link: must be a web address"),
    ("availability_deadline = 2020-10-23T23:59:59+03:00", "availability_deadline = 2020-11-12T23:59:59+03:00",
     "matchmaking: availability_deadline is not before schedule_deadline"),
    ("schedule_deadline = 2020-11-10T23:59:59+03:00", "schedule_deadline = 2020-11-17T11:00:00+03:00",
     "matchmaking: schedule_deadline is after the meetings start"),
    ('item = "matchmaking"\nstart', 'item = "matchmakin"\nstart', "matchmaking: unknown program item 'matchmakin'"),
    ("schedule_deadline = 2020-11-10T23:59:59+03:00", "schedule_deadline = 2020-11-10T23:59:59",
     "matchmaking > schedule_deadline: deadline needs a UTC offset"),
])
def test_loader_names_the_problem(tmp_path: Path, old: str, new: str, problem: str) -> None:
    path = variant(tmp_path, old, new)
    message = load_error(path)
    assert message.startswith(f"{path}: ")
    assert problem in message


def test_defaults(tmp_path: Path) -> None:
    path = variant(tmp_path, "slot_minutes = 10\n# Meetings", "# Meetings")
    path.write_text(path.read_text(encoding="utf-8").replace("max_bookings = 3\n", ""), encoding="utf-8")
    conf = load_event(path).matchmaking
    assert conf is not None and (conf.slot_minutes, conf.slot_count, conf.max_bookings) == (10, 5, 3)


def test_window_defaults_to_the_program_item() -> None:
    """An event file that names only the item (tests/data/mini_event.toml) gets the item's whole time."""
    mini = load_event(ROOT / "tests" / "data" / "mini_event.toml")
    conf = mini.matchmaking
    assert conf is not None and (f"{conf.start:%H:%M}", f"{conf.end:%H:%M}") == ("10:00", "11:00")
    assert [s.id for s in mm.slots(mini)] == ["1000", "1010", "1020", "1030", "1040", "1050"]
    assert conf.meeting_link is None and mm.meeting_link(mini, Booking(1, 2, "1000")) is None


def test_meeting_link(event: Event) -> None:
    one, two = Booking(SEOUL, ACME, "1040"), Booking(SEOUL, UNI, "1050")
    link = mm.meeting_link(event, one)
    assert link == mm.meeting_link(event, Booking(SEOUL, ACME, "1040"))  # stable across restarts
    assert link != mm.meeting_link(event, two)
    assert link.startswith("https://meet.example.org/wego-excom2020/")
    assert str(SEOUL) not in link and str(ACME) not in link


# -- the FAQ states the seeds' process -------------------------------------------------------------------------

DATES = {"en": ("October 23", "November 10"), "ru": ("23 октября", "10 ноября"), "ko": ("10월 23일", "11월 10일")}


def test_faq_states_process_and_dates(event: Event) -> None:
    faq = {f.id: f for f in event.faq if f.id.startswith("matchmaking-")}
    assert set(faq) >= {"matchmaking-what", "matchmaking-apply", "matchmaking-deadlines", "matchmaking-schedule"}
    conf = event.matchmaking
    assert conf is not None
    for lang, (availability, schedule) in DATES.items():
        for entry in faq.values():
            answer = entry.answer.get(lang)
            for stale in ("link to be provided", "ссылку сообщат", "추후 안내", "website", "сайте WeGO", "웹사이트"):
                assert stale not in answer, (entry.id, lang)
        for entry_id in ("matchmaking-apply", "matchmaking-deadlines"):
            answer = faq[entry_id].answer.get(lang)
            assert availability in answer and schedule in answer, (entry_id, lang)
            assert "/meet" in answer
        apply = faq["matchmaking-apply"].answer.get(lang)
        assert str(conf.max_bookings) in apply and str(conf.slot_minutes) in apply
        # The slots listed in the FAQ are the slots of the file.
        local = ", ".join(f"{s.starts.astimezone(MSK):%H:%M}" for s in mm.slots(event))
        assert local in faq["matchmaking-what"].answer.get(lang)
    for step in conf.steps:
        assert "link to be provided" not in step.en and "website" not in step.en


# -- phases ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("instant", "published", "expected"), [
    (msk(12, 0, 1, 9), False, Phase.AVAILABILITY),
    (msk(23, 59, 23, 10, 59), False, Phase.AVAILABILITY),
    (msk(0, 0, 24, 10, 0), False, Phase.BOOKING),
    (msk(23, 59, 10, 11, 59), False, Phase.BOOKING),
    (msk(0, 0, 11, 11, 0), False, Phase.CLOSED),
    (msk(10, 45, 17, 11), False, Phase.CLOSED),
    (msk(12, 0, 1, 10), True, Phase.FROZEN),
    (msk(12, 0, 5, 11), True, Phase.FROZEN),
])
def test_phase_by_the_clock(event: Event, instant: datetime, published: bool, expected: Phase) -> None:
    assert mm.phase(event, instant, published=published) is expected


def test_booking_before_the_directory_opens(event: Event) -> None:
    err = refused("not_open", mm.check_action, event, Action.BOOK, msk(12, 0, 20, 10), published=False)
    assert err.params == {"deadline": event.matchmaking.availability_deadline}
    assert err.message == mm.NOT_OPEN
    refused("not_open", mm.check_action, event, Action.REQUEST_OUTSIDE, msk(12, 0, 20, 10), published=False)
    refused("not_open", mm.check_action, event, Action.PUBLISH, msk(12, 0, 20, 10), published=False)
    # Hosts declare when they are free.
    assert mm.check_action(event, Action.SET_AVAILABILITY, msk(12, 0, 20, 10), published=False) is Phase.AVAILABILITY


def test_booking_window(event: Event) -> None:
    now = msk(12, 0, 30, 10)
    for action in Action:
        assert mm.check_action(event, action, now, published=False) is Phase.BOOKING


def test_after_the_final_schedule_date(event: Event) -> None:
    now = msk(12, 0, 12, 11)
    err = refused("closed", mm.check_action, event, Action.BOOK, now, published=False)
    assert err.params == {"deadline": event.matchmaking.schedule_deadline}
    for action in (Action.CANCEL, Action.DECLINE, Action.SET_AVAILABILITY, Action.PUBLISH, Action.REQUEST_OUTSIDE):
        assert mm.check_action(event, action, now, published=False) is Phase.CLOSED


def test_frozen_after_publishing(event: Event) -> None:
    now = msk(12, 0, 5, 11)
    for action in (Action.BOOK, Action.CANCEL, Action.DECLINE):
        assert refused("frozen", mm.check_action, event, action, now, published=True).message == mm.FROZEN
    err = refused("frozen", mm.check_action, event, Action.SET_AVAILABILITY, now, published=True)
    assert err.message == mm.AVAILABILITY_CLOSED
    refused("already_published", mm.check_action, event, Action.PUBLISH, now, published=True, organiser=True)
    # Requests to meet outside the event are still recorded; organisers still change meetings.
    assert mm.check_action(event, Action.REQUEST_OUTSIDE, now, published=True) is Phase.FROZEN
    for action in (Action.BOOK, Action.CANCEL, Action.DECLINE, Action.SET_AVAILABILITY):
        assert mm.check_action(event, action, now, published=True, organiser=True) is Phase.FROZEN


# -- who takes part --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("ptype", "answer", "code"), [
    ("excom", True, None), ("wego_member", True, None), ("local_gov", True, None),
    ("excom", False, "host_declined"), ("local_gov", None, "host_declined"),
    ("partner", None, "not_local_government"), ("institution", True, "not_local_government"),
    ("other", None, "not_local_government"),
])
def test_who_may_host(ptype: str, answer: bool | None, code: str | None) -> None:
    person = profile(ptype, answer)
    assert mm.can_host(person) is (code is None)
    if code is None:
        assert mm.check_host(person) is person
    else:
        refused(code, mm.check_host, person)


def test_hosts_follow_the_registration_rule() -> None:
    for ptype in PARTICIPANT_TYPES:
        assert mm.can_host(profile(ptype, True)) is offers_matchmaking(ptype)
    assert mm.can_host(None) is False
    refused("not_registered", mm.check_host, None)


@pytest.mark.parametrize(("ptype", "allowed"), [
    ("excom", True), ("wego_member", True), ("local_gov", True), ("partner", True), ("institution", True),
    ("other", False),
])
def test_who_may_book(ptype: str, allowed: bool) -> None:
    # A city may book whether or not it hosts meetings itself.
    for answer in ((True, False, None) if offers_matchmaking(ptype) else (None,)):
        person = profile(ptype, answer)
        assert mm.can_book(person) is allowed
        if allowed:
            assert mm.check_requester(person) is person
        else:
            refused("not_eligible", mm.check_requester, person)
    refused("not_registered", mm.check_requester, None)


# -- the booking check -----------------------------------------------------------------------------------------


def test_free_host_and_requester_book(event: Event) -> None:
    found = mm.check_booking(event, board(), SEOUL, ACME, "1050")
    assert found == mm.slot(event, "1050")


def test_nobody_books_themselves(event: Event) -> None:
    refused("self", mm.check_booking, event, board(), SEOUL, SEOUL, "1040")


def test_only_hosts_are_booked(event: Event) -> None:
    refused("not_host", mm.check_booking, event, board(), KIGALI, ACME, "1040")
    refused("unknown_slot", mm.check_booking, event, board(), SEOUL, ACME, "0940")


def test_taken_slot_offers_the_next_free_slots(event: Event) -> None:
    b = board(Booking(SEOUL, UNI, "1050"))
    with pytest.raises(SlotUnavailable) as info:
        mm.check_booking(event, b, SEOUL, ACME, "1050")
    assert info.value.code == "slot_taken"
    assert info.value.message == mm.SLOT_TAKEN
    # Later slots first, then earlier ones, at most three.
    assert [s.id for s in info.value.alternatives] == ["1100", "1110", "1120"]
    b = board(Booking(SEOUL, UNI, "1110"), Booking(SEOUL, KIGALI, "1120"), Booking(MOSCOW, ACME, "1040"))
    with pytest.raises(SlotUnavailable) as info:
        mm.check_booking(event, b, SEOUL, ACME, "1110")
    # 1120 is taken, 1040 is the requester's meeting with Moscow.
    assert [s.id for s in info.value.alternatives] == ["1050", "1100"]


def test_slot_the_host_did_not_mark(event: Event) -> None:
    b = board(free={SEOUL: ["1100", "1120"]})
    with pytest.raises(SlotUnavailable) as info:
        mm.check_booking(event, b, SEOUL, ACME, "1040")
    assert info.value.code == "host_unavailable"
    assert [s.id for s in info.value.alternatives] == ["1100", "1120"]


def test_host_busy_as_a_requester_elsewhere(event: Event) -> None:
    # Seoul booked a meeting with Moscow at 10:40, so Seoul cannot host one then.
    b = board(Booking(MOSCOW, SEOUL, "1040"))
    with pytest.raises(SlotUnavailable) as info:
        mm.check_booking(event, b, SEOUL, ACME, "1040")
    assert info.value.code == "slot_taken"
    assert mm.free_slots(event, b, SEOUL) == list(mm.slots(event)[1:])


def test_nobody_in_two_meetings_in_one_slot(event: Event) -> None:
    b = board(Booking(SEOUL, ACME, "1040"))
    refused("requester_busy", mm.check_booking, event, b, MOSCOW, ACME, "1040")
    # A host that receives a meeting at 10:40 cannot book another city then.
    refused("requester_busy", mm.check_booking, event, b, MOSCOW, SEOUL, "1040")
    assert mm.check_booking(event, b, MOSCOW, SEOUL, "1050").id == "1050"


def test_a_pair_meets_once(event: Event) -> None:
    b = board(Booking(SEOUL, ACME, "1040"))
    refused("pair_met", mm.check_booking, event, b, SEOUL, ACME, "1100")
    # Either way round: Moscow hosted Seoul, so Seoul cannot host Moscow, and the other way.
    b = board(Booking(MOSCOW, SEOUL, "1040"))
    refused("pair_met", mm.check_booking, event, b, SEOUL, MOSCOW, "1100")
    b = board(Booking(SEOUL, MOSCOW, "1040"))
    refused("pair_met", mm.check_booking, event, b, MOSCOW, SEOUL, "1100")


def test_at_most_three_bookings_per_person(event: Event) -> None:
    b = board(Booking(SEOUL, ACME, "1040"), Booking(MOSCOW, ACME, "1050"), Booking(HANOI, ACME, "1100"))
    other_host = 104
    b = Board({**b.availability, other_host: frozenset(SLOT_IDS)}, b.bookings)
    err = refused("limit", mm.check_booking, event, b, other_host, ACME, "1110")
    assert err.params == {"max": 3}
    assert err.message.format(**err.params).startswith("You already have 3 meetings")
    # At the limit the answer is the limit, not alternatives for a taken slot.
    b2 = b.with_booking(Booking(other_host, UNI, "1110"))
    refused("limit", mm.check_booking, event, b2, other_host, ACME, "1110")
    # Meetings a host receives do not count against what it may book.
    hosted = board(*(Booking(SEOUL, 300 + n, s) for n, s in enumerate(SLOT_IDS[:4])))
    assert mm.check_booking(event, hosted, MOSCOW, SEOUL, "1120").id == "1120"


def test_fifty_people_press_one_slot(event: Event) -> None:
    """First come, first served: applied in the order they arrive, one gets the slot, 49 get alternatives."""
    b = board()
    won, offered = [], []
    for requester in range(1000, 1050):
        try:
            mm.check_booking(event, b, SEOUL, requester, "1100")
        except SlotUnavailable as err:
            offered.append([s.id for s in err.alternatives])
            continue
        b = b.with_booking(Booking(SEOUL, requester, "1100"))
        won.append(requester)
    assert won == [1000]
    assert len(offered) == 49 and all(o == ["1110", "1120", "1040"] for o in offered)
    assert [x for x in b.bookings if x.slot == "1100"] == [Booking(SEOUL, 1000, "1100")]


def test_random_traffic_keeps_every_rule(event: Event) -> None:
    """Any sequence of accepted bookings leaves a board that breaks no rule."""
    rnd = random.Random(20201117)
    hosts = list(range(1, 9))
    people = hosts + list(range(50, 80))
    free = {h: rnd.sample(SLOT_IDS, rnd.randint(1, 5)) for h in hosts}
    b = board(free=free)
    accepted = refusals = 0
    for _ in range(3000):
        host, requester, slot_id = rnd.choice(hosts), rnd.choice(people), rnd.choice(SLOT_IDS)
        try:
            mm.check_booking(event, b, host, requester, slot_id)
        except ServiceError:
            refusals += 1
            continue
        b = b.with_booking(Booking(host, requester, slot_id))
        accepted += 1
    assert accepted > 20 and refusals > 100
    seats = [(p, x.slot) for x in b.bookings for p in (x.host, x.requester)]
    assert len(seats) == len(set(seats))  # nobody twice in one slot, in either role
    pairs = [x.pair for x in b.bookings]
    assert len(pairs) == len(set(pairs))  # a pair meets once
    assert all(x.host != x.requester for x in b.bookings)
    assert all(x.slot in free[x.host] for x in b.bookings)
    assert max(len(b.booked_by(p)) for p in people) <= 3
    # Every host's remaining free slots are exactly its marked slots where it has no meeting.
    for h in hosts:
        assert {s.id for s in mm.free_slots(event, b, h)} == {s for s in free[h] if b.busy(h, s) is None}


# -- availability, cancel, decline, outside the event ----------------------------------------------------------


def test_availability_changes(event: Event) -> None:
    b = board(Booking(SEOUL, ACME, "1040"), Booking(MOSCOW, SEOUL, "1050"))
    refused("slot_booked", mm.check_availability_change, event, b, SEOUL, "1040", False)
    refused("busy_elsewhere", mm.check_availability_change, event, b, SEOUL, "1050", True)
    assert mm.check_availability_change(event, b, SEOUL, "1100", False).id == "1100"
    assert mm.check_availability_change(event, b, SEOUL, "1040", True).id == "1040"
    refused("unknown_slot", mm.check_availability_change, event, b, SEOUL, "1200", True)


def test_cancel_and_decline() -> None:
    meeting = Booking(SEOUL, ACME, "1040")
    assert mm.check_cancel(meeting, ACME) is meeting
    assert mm.check_cancel(meeting, SEOUL) is meeting
    assert mm.check_cancel(meeting, SEOUL, decline=True) is meeting
    refused("only_host_declines", mm.check_cancel, meeting, ACME, decline=True)
    refused("not_yours", mm.check_cancel, meeting, UNI)


def test_request_outside_the_event(event: Event) -> None:
    refused("has_free_slots", mm.check_outside_request, event, board(), SEOUL, ACME)
    full = board(*(Booking(SEOUL, 300 + n, s) for n, s in enumerate(SLOT_IDS)))
    mm.check_outside_request(event, full, SEOUL, ACME)
    # Seoul is free only at 10:40, when the requester already meets Moscow: no common slot.
    b = board(Booking(MOSCOW, ACME, "1040"), free={SEOUL: ["1040"], MOSCOW: SLOT_IDS})
    mm.check_outside_request(event, b, SEOUL, ACME)
    refused("pair_met", mm.check_outside_request, event, b, MOSCOW, ACME)
    refused("self", mm.check_outside_request, event, full, SEOUL, SEOUL)
    refused("not_host", mm.check_outside_request, event, full, KIGALI, ACME)


# -- the program around a slot ---------------------------------------------------------------------------------


def test_slots_overlapping_the_open_session_are_marked(event: Event) -> None:
    marks = mm.clash_marks(event, {"open-session"})
    assert sorted(marks) == ["1100", "1110", "1120"]  # the Open Session starts at 11:00
    assert all([i.id for i in items] == ["open-session"] for items in marks.values())
    # The meetings themselves and their coffee break are no clash; the plenary ended at 10:30.
    assert mm.clash_marks(event, {"coffee1", "matchmaking", "plenary", "closing"}) == {}
    assert mm.clash_marks(event, set()) == {}
    assert mm.clashes(event, mm.slot(event, "1050"), ["open-session"]) == []
    # Touching is not overlapping, on either side.
    first = mm.slot(event, "1040")
    assert not first.overlaps(first.starts - timedelta(minutes=30), first.starts)
    assert not first.overlaps(first.ends, first.ends + timedelta(minutes=30))
    assert first.overlaps(first.ends - timedelta(minutes=1), first.ends + timedelta(minutes=30))


# -- messages --------------------------------------------------------------------------------------------------


def test_every_refusal_is_translated() -> None:
    msgids = {v for k, v in vars(mm).items() if k.isupper() and isinstance(v, str) and v.endswith(".")}
    assert len(msgids) >= 20
    for lang in ("ru", "ko"):
        with (ROOT / "locales" / lang / "LC_MESSAGES" / "matchmaking.po").open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        for msgid in msgids:
            message = catalog.get(msgid)
            assert message is not None and message.string and not message.fuzzy, (lang, msgid)
            for placeholder in ("{max}", "{deadline}"):
                assert (placeholder in msgid) == (placeholder in message.string), (lang, msgid)


@pytest.mark.parametrize(("question", "entry"), [
    ("whats the deadline to sign up for matchmaking", "matchmaking-deadlines"),
    ("до какого числа можно записаться на матчмейкинг", "matchmaking-deadlines"),
    ("매칭 미팅 신청 마감", "matchmaking-deadlines"),
    ("how does booking a meeting work", "matchmaking-apply"),
    ("как записаться на встречу", "matchmaking-apply"),
    ("how many meetings can I book", "matchmaking-apply"),
    ("when is the registration deadline", "register-deadline"),
])
def test_free_questions_find_the_matchmaking_entries(event: Event, question: str, entry: str) -> None:
    """The FAQ keywords lead matchmaking questions to the matchmaking answers, never the registration deadline."""
    best = index_for(event).answer(question).best
    assert best is not None and best.id == entry
