"""Property-based fuzzing: random updates, in random conversation states, through the real Dispatcher.

Each example takes a new person, puts them in a conversation state captured from a real registration
(part-way through, at the summary, editing the profile, about to forget, registered, or new), or in front of
a feature's buttons reached by its commands (a quiz question, the matchmaking directory, an organiser's
lists, a broadcast draft, the EXCOM queue: organisers for the organiser features), and sends
them a few random updates: texts of any script and length, commands with junk arguments, media, contacts,
locations, edited messages, callback queries with random or forged data (real prefixes, junk values) on
accessible, inaccessible or missing messages, and group and channel messages.

Properties: no exception escapes a handler (the harness records them instead of the bot's apology), every
private text message gets a message back, every button press gets its callback answered.

`make test` runs the "default" profile (1,000 examples); `make fuzz` runs FUZZ_PROFILE=fuzz (10,000).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import os
import random
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.harness import Harness, make_settings, register

settings.register_profile("default", max_examples=1_000, deadline=None, derandomize=False,
                          suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile("fuzz", max_examples=10_000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile("smoke", max_examples=100, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow], print_blob=True)
# PostgreSQL + Redis: every update is a few network round trips, so fewer examples (make fuzz: FUZZ_PROFILE).
SERVER_EXAMPLES = {"default": 200, "smoke": 50, "fuzz": 2_000}
PROFILE = os.environ.get("FUZZ_PROFILE", "default")

COMMANDS = ("start", "help", "program", "now", "next", "profile", "reminders", "language", "cancel", "forget",
            "myid", "admit", "quiz", "settings", "meet", "availability", "matchmaking",
            "", "START", "start@delegate_test_bot", "help@other_bot",
            "broadcast", "broadcasts", "people", "stats", "export", "audit", "leaderboard", "quiz_open",
            "quiz_close", "quiz_group", "excom", "timezone")
# Oversized and boundary values for every field (issue 17 item 9: a 23-digit id raised in the database).
HUGE = ("12345678901234567890123", str(2**63), str(-(2**63) - 1), str(2**63 - 1), "-0", "1e3", "0x10", "٣")
# Real callback prefixes and what their fields look like (the junk strategy covers the rest).
CALLBACK_SHAPES: dict[str, tuple[tuple[str, ...], ...]] = {
    "lang": (("en", "ru", "ko", "xx", ""),),
    "reg": (("type", "mm", "consent", "confirm", "edit", "field", "back", "pedit", "forget", "forget_yes",
             "forget_no", "tz_ok", "tz_no", "tz_use", "nope"),
            ("1", "0", "excom", "wego_member", "other", "full_name", "timezone", "email", "Asia", "Asia/Seoul",
             "UTC+09:00", "UTC+99:99", "Etc", "../etc", "")),
    "fol": (("opening", "matchmaking", "open-session", "nope", ""), ("1", "0", "true", "maybe")),
    "pg": (("0", "1", "-1", "99", "-99", "x", "999999999999999999999"), ("1", "0", "yes")),
    "card": (("opening", "matchmaking", "nope", ""),),
    "ics": (("opening", "matchmaking", "all", "nope", ""),),
    "faq": (("quiz", "nope", "", "0"),),
    "rem": (("open", "lead", "all", "on", "unf", "reg", "nope"),
            ("5", "10", "15", "30", "0", "-1", "1000000", "opening", "x", "")),
    # Matchmaking (handlers/matchmaking.py).
    "mml": (("0", "1", "-1", "99", "x"), ("-1", "0", "5", "99", "x")),
    "mmc": (("0", "x"),),
    "mmh": (("1", "0", "-1", "999999999999999999999", "x"),),
    "mmb": (("1", "0", "x"), ("1040", "1100", "1130", "", "x")),
    "mmx": (("dec", "can", "out", "my", "zz"), ("1", "0", "-1", "x")),
    "mma": (("1040", "1120", "0000", "", "x"),),
    "mmo": (("csv", "pub", "yes", "no", "grid", "zz"),),
    "bc": (("var", "next", "aud", "val", "send", "stop", "open", "page", "nope"),
           ("ru", "everyone", "type", "country", "members", "unfinished", "quiz", "1", "-1", "x", ""),
           ("", "type", "language", "country", "nope")),
    "bcx": (("1", "0", "-1", "x", "999999999999999999999"),),
    "og": (("pg", "card", "ok", "no", "fix", "ex", "nope"), ("1", "0", "-1", "x"), ("0", "1", "-5"),
           ("", "email", "city", "registrations", "deliveries", "nope")),
    # The quiz (handlers/quiz.py): question index, question id, shown position; the start button.
    "qz": (("0", "1", "9", "10", "-1", "x"), ("q1", "q2", "q10", "nope", ""), ("0", "1", "3", "4", "-1", "x")),
    "qzgo": (("1", "0", "2", "x"),),
    # The EXCOM queue (handlers/excom.py) and a guest's zone button.
    "xc": (("ok", "no", "pg", "nope"), ("1", "0", "-1", "x"), ("0", "1", "-1", "x")),
    "gst": (("tz", "zone", "nope", ""),),
}
# Conversation states to start an example from (captured from a real registration at setup).
# Feature stages: a registered person (an organiser for the organiser ones) who sent these, facing the newest
# message with buttons they got (a quiz question, the directory, a list, a draft).
FEATURE_STAGES: dict[str, tuple[str, ...]] = {
    "quiz": ("/quiz",), "quiz_unregistered": ("/quiz",), "leaderboard": ("/leaderboard",), "meet": ("/meet",),
    "availability": ("/availability",), "people": ("/people",), "excom": ("/excom",),
    "broadcast_draft": ("/broadcast", "Dear delegates, the plenary moves to hall B."),
    "broadcasts": ("/broadcasts",), "matchmaking_org": ("/matchmaking",),
}
ORGANISER_STAGES = frozenset({"people", "excom", "broadcast_draft", "broadcasts", "matchmaking_org"})
STAGES = ("new", "language", "full_name", "position", "organisation", "city", "participant_type", "email",
          "timezone", "timezone_confirm", "matchmaking", "consent", "summary", "choose_field", "paused",
          "registered", "profile_edit", "forget", *FEATURE_STAGES)

any_text = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=300)
long_text = st.text(st.characters(exclude_categories=("Cs",)), min_size=300, max_size=5000)
junk = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


@st.composite
def callback_data(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(("forged", "forged", "random", "raw")))
    if kind == "random":
        return draw(st.text(max_size=64))
    if kind == "raw":
        return draw(st.sampled_from(("", ":", "reg", "reg:", "reg::", "lang:", "pg:1:1:1", "a" * 64)))
    prefix = draw(st.sampled_from(sorted(CALLBACK_SHAPES)))
    values = [draw(st.one_of(st.sampled_from(choices), st.sampled_from(choices), junk, st.sampled_from(HUGE),
                             st.text(min_size=30, max_size=64)))
              for choices in CALLBACK_SHAPES[prefix]]
    return ":".join([prefix, *values])[:64]


@dataclass(frozen=True)
class Action:
    kind: str
    payload: Any = None
    chat: str = "private"  # private | group | supergroup | channel
    message: str = "accessible"  # for callbacks: accessible | inaccessible | none


text_action = st.builds(Action, st.just("text"), st.one_of(any_text, any_text, long_text))
command_action = st.builds(
    Action, st.just("text"),
    st.tuples(st.sampled_from(COMMANDS), st.one_of(st.just(""), junk, st.sampled_from(
        ("²", "12345678901234567890123", "7000000001", "-1", "0", " ", "\u200b", "１２３", "٣"))))
    .map(lambda t: f"/{t[0]} {t[1]}".rstrip() if t[1] else f"/{t[0]}"))
media_action = st.builds(Action, st.sampled_from(("sticker", "photo", "voice", "document", "video",
                                                  "animation", "contact", "dice", "venue")))
location_action = st.builds(Action, st.just("location"),
                            st.tuples(st.floats(-90, 90), st.floats(-180, 180)))
edited_action = st.builds(Action, st.just("edited"), any_text)
callback_action = st.builds(Action, st.just("callback"), callback_data(), st.just("private"),
                            st.sampled_from(("accessible", "accessible", "accessible", "inaccessible", "none")))
# A press on a real button of the newest message with buttons (once or twice), where Telegram may report
# the message as inaccessible or send none.
press_action = st.builds(Action, st.sampled_from(("press", "press", "press2")), st.integers(0, 11), st.just("private"),
                         st.sampled_from(("accessible", "accessible", "accessible", "inaccessible", "none")))
group_action = st.builds(Action, st.sampled_from(("text", "callback")), st.one_of(any_text, command_action.map(
    lambda a: a.payload)), st.sampled_from(("group", "supergroup", "channel")))
actions = st.lists(st.one_of(text_action, command_action, command_action, media_action, location_action,
                             edited_action, callback_action, press_action, press_action, group_action),
                   min_size=1, max_size=4)


class Updates:
    """Raw updates of every shape the fuzz sends (the harness's UpdateFactory covers the common ones)."""

    def __init__(self) -> None:
        self.ids = itertools.count(10_000_000)

    def _user(self, uid: int) -> dict[str, Any]:
        return {"id": uid, "is_bot": False, "first_name": "Fuzz", "language_code": "en"}

    def message(self, uid: int, action: Action, bot_message: dict[str, Any] | None) -> dict[str, Any]:
        n = next(self.ids)
        chat: dict[str, Any] = {"id": uid, "type": "private", "first_name": "Fuzz"}
        if action.chat in ("group", "supergroup"):
            chat = {"id": -1001234567890 if action.chat == "supergroup" else -4242, "type": action.chat,
                    "title": "Delegates"}
        elif action.chat == "channel":
            chat = {"id": -1009876543210, "type": "channel", "title": "News"}
        msg: dict[str, Any] = {"message_id": n % 1_000_000, "date": 1_600_000_000, "chat": chat}
        if action.chat != "channel":
            msg["from"] = self._user(uid)
        else:
            msg["sender_chat"] = chat
        if action.kind == "callback":
            target = bot_message if action.message == "accessible" and bot_message and action.chat == "private" \
                else {"message_id": 7, "date": 0, "chat": chat}
            query: dict[str, Any] = {"id": f"q{n}", "from": self._user(uid), "chat_instance": "ci",
                                     "data": action.payload}
            if action.message == "none":
                query["inline_message_id"] = f"im{n}"
            else:
                query["message"] = target
            return {"update_id": n, "callback_query": query}
        text = action.payload
        match action.kind:
            case "text" | "edited":
                msg["text"] = text
                if text.startswith("/"):
                    msg["entities"] = [{"type": "bot_command", "offset": 0,
                                        "length": len(text.split()[0].encode("utf-16-le")) // 2}]
            case "location":
                msg["location"] = {"latitude": text[0], "longitude": text[1]}
            case "contact":
                msg["contact"] = {"phone_number": "+82 10 0000 0000", "first_name": "Someone", "user_id": uid + 1}
            case "dice":
                msg["dice"] = {"emoji": "🎲", "value": 3}
            case "venue":
                msg["venue"] = {"location": {"latitude": 37.5, "longitude": 127.0}, "title": "Hall",
                                "address": "Seoul"}
            case "sticker":
                msg["sticker"] = {"file_id": "s", "file_unique_id": "s1", "type": "regular", "width": 1,
                                  "height": 1, "is_animated": False, "is_video": False}
            case "photo":
                msg["photo"] = [{"file_id": "p", "file_unique_id": "p1", "width": 1, "height": 1}]
                msg["caption"] = "look"
            case "voice":
                msg["voice"] = {"file_id": "v", "file_unique_id": "v1", "duration": 1}
            case "document":
                msg["document"] = {"file_id": "d", "file_unique_id": "d1", "file_name": "a.pdf"}
            case "video":
                msg["video"] = {"file_id": "vi", "file_unique_id": "vi1", "width": 1, "height": 1, "duration": 1}
            case "animation":
                msg["animation"] = {"file_id": "an", "file_unique_id": "an1", "width": 1, "height": 1,
                                    "duration": 1}
        if action.kind == "edited":
            msg["edit_date"] = 1_600_000_100
            return {"update_id": n, "edited_message": msg}
        if action.chat == "channel":
            return {"update_id": n, "channel_post": msg}
        return {"update_id": n, "message": msg}


class Fuzzer:
    """One bot for all examples; each example gets a new person put into a captured state."""

    def __init__(self, h: Harness, base: int = 1_000_000) -> None:
        self.h = h
        self.updates = Updates()
        self.base = base
        self.uids = itertools.count(base + 1_001)  # base + 1_000: the organiser who opens the quiz
        self.admins = organisers(base)
        self.snapshots: dict[str, tuple[str | None, dict[str, Any]]] = {}
        # The newest message with buttons the template person had at each stage.
        self.stage_messages: dict[str, dict[str, Any]] = {}
        self.examples = 0

    async def _snapshot(self, name: str, uid: int) -> None:
        key = self.h.state_key(uid)
        self.snapshots[name] = (await self.h.app.storage.get_state(key), await self.h.app.storage.get_data(key))
        if (msg := self.newest_with_buttons(uid)) is not None:
            self.stage_messages[name] = msg

    def newest_with_buttons(self, uid: int) -> dict[str, Any] | None:
        """A copy of the newest message to `uid` that has inline buttons (as Telegram attaches it to a press)."""
        mine = [m for m in self.h.session.messages.values()
                if m["chat"]["id"] == uid and (m.get("reply_markup") or {}).get("inline_keyboard")]
        return copy.deepcopy(max(mine, key=lambda m: m["message_id"])) if mine else None

    async def capture(self) -> None:
        """Walk template people through the real conversation, keeping the state after each step."""
        h, uid = self.h, self.base + 1
        await h.send(uid, "/start")
        await self._snapshot("language", uid)
        await h.press(uid, "English")
        steps = [("full_name", "Ada Lovelace"), ("position", "Chief Officer"), ("organisation", "City Hall"),
                 ("city", "Seoul")]
        for name, text in steps:
            await self._snapshot(name, uid)
            await h.send(uid, text)
        await self._snapshot("participant_type", uid)
        await h.press(uid, "EXCOM member city")
        await self._snapshot("email", uid)
        await h.send(uid, "ada@example.org")
        await self._snapshot("timezone", uid)
        await h.send(uid, "Seoul")
        await self._snapshot("timezone_confirm", uid)
        await h.press(uid, "Yes")
        await self._snapshot("matchmaking", uid)
        await h.press(uid, "Yes, available")
        await self._snapshot("consent", uid)
        await h.press(uid, "I agree")
        await self._snapshot("summary", uid)
        await h.press(uid, "Edit")
        await self._snapshot("choose_field", uid)
        await h.send(uid, "/cancel")
        await self._snapshot("paused", uid)
        uid = self.base + 2
        await register(h, uid)
        await h.send(uid, "/profile")
        await h.press(uid, "Edit a field")
        await self._snapshot("profile_edit", uid)
        await h.send(uid, "/cancel")
        await h.send(uid, "/forget")
        await self._snapshot("forget", uid)
        # The quiz open for everyone (an organiser's switch), and a booking request a host can decline.
        organiser = min(self.admins)
        await register(h, organiser)
        await h.send(organiser, "/quiz_open")
        assert h.errors == [], h.errors
        missing = set(STAGES) - set(self.snapshots) - {"new", "registered", *FEATURE_STAGES}
        assert not missing, missing

    def person_for(self, stage: str) -> int:
        """A new person; an organiser (every fourth id) for the organiser stages."""
        while True:
            uid = next(self.uids)
            if stage not in ORGANISER_STAGES or uid in self.admins:
                return uid

    async def put(self, uid: int, stage: str) -> None:
        if stage == "new":
            return
        if stage in FEATURE_STAGES:
            if stage != "quiz_unregistered":
                await register(self.h, uid, participant_type="excom" if stage == "availability" else "wego_member",
                               matchmaking=True)
            for text in FEATURE_STAGES[stage]:
                await self.h.send(uid, text)
            return
        if stage in ("registered", "profile_edit", "forget"):
            await register(self.h, uid)
        if stage == "registered":
            return
        state, data = self.snapshots[stage]
        key = self.h.state_key(uid)
        await self.h.app.storage.set_state(key, state)
        await self.h.app.storage.set_data(key, data)
        assert await self.h.app.storage.get_state(key) == state

    async def play(self, stage: str, script: list[Action]) -> None:
        h = self.h
        uid = self.person_for(stage)
        self.examples += 1
        await self.put(uid, stage)
        assert h.errors == [], f"{stage}: setting up raised {h.errors[0][1]!r}"
        bot_message: dict[str, Any] | None = None
        if stage in FEATURE_STAGES:
            bot_message = self.newest_with_buttons(uid)
        elif stage in self.stage_messages:
            # The stage's message as this person's own (a message id is a message in one chat only).
            template = self.stage_messages[stage]
            server = h.session.server
            bot_message = copy.deepcopy(server.new_message(uid, server.bot_sender(), {
                "text": template.get("text", ""), "reply_markup": template["reply_markup"]}))
        for action in script:
            times = 1
            if action.kind in ("press", "press2"):
                buttons = [b["callback_data"] for row in (bot_message or {}).get("reply_markup", {})
                           .get("inline_keyboard", []) for b in row if b.get("callback_data")]
                if not buttons:
                    continue
                times = 2 if action.kind == "press2" else 1
                action = Action("callback", buttons[action.payload % len(buttons)], "private", action.message)
            update = self.updates.message(uid, action, bot_message)
            for kind in ("message", "edited_message"):
                msg = update.get(kind)
                # A person's message exists at Telegram (the bot may reply to it in a group): the in-process
                # server knows it as it knows the bot's own (an id it already holds is left alone).
                if msg and (msg["chat"]["id"], msg["message_id"]) not in h.session.server.messages:
                    h.session.server.restore(copy.deepcopy(msg))
            for _ in range(times):
                calls = await h.feed(update)
                assert h.errors == [], f"{stage}: {update!r} raised {h.errors[0][1]!r}"
                update = {**update, "update_id": next(self.updates.ids)}
            sent = [c for c in calls if c.chat_id == uid and c.method in ("sendMessage", "sendDocument")]
            if "message" in update and action.chat == "private" and action.kind == "text":
                assert sent, f"{stage}: no answer to {update['message']['text']!r}"
            if "callback_query" in update:
                assert any(c.method == "answerCallbackQuery" for c in calls), f"{stage}: unanswered {update!r}"
            if any(c.buttons for c in sent):
                bot_message = self.newest_with_buttons(uid) or bot_message


@pytest.fixture
def fuzz_dir(tmp_path: Path) -> Iterator[Path]:
    """The database in memory-backed /dev/shm where there is one: a commit then costs no disk sync (3x faster)."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(dir=shm, prefix="delegate-bot-fuzz-") as d:
        yield Path(d)


@pytest.fixture
def fuzz_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


BASE = 1_000_000


def organisers(base: int) -> frozenset[int]:
    """Every fourth person of a run is an organiser (ADMIN_IDS), so /admit and friends get fuzzed too."""
    return frozenset(range(base + 1_000, base + 1_000 + 400_000, 4))


def run_fuzz(h: Harness, loop: asyncio.AbstractEventLoop, fuzzer: Fuzzer, profile: settings) -> None:
    try:
        loop.run_until_complete(fuzzer.capture())

        @settings(profile)
        @given(stage=st.sampled_from(STAGES), script=actions)
        def example(stage: str, script: list[Action]) -> None:
            h.errors.clear()
            h.session.clear()
            loop.run_until_complete(fuzzer.play(stage, script))

        example()
    finally:
        loop.run_until_complete(h.close())


def test_random_updates_in_random_states_raise_nothing_and_get_answers(
        fuzz_dir: Path, fuzz_loop: asyncio.AbstractEventLoop) -> None:
    """SQLite and the SQL conversation state."""
    loop = fuzz_loop
    h = loop.run_until_complete(Harness.create(make_settings(fuzz_dir, admin_ids=organisers(BASE)),
                                               record_errors=True))
    fuzzer = Fuzzer(h, BASE)
    run_fuzz(h, loop, fuzzer, settings.get_profile(PROFILE))
    print(f"fuzz: {fuzzer.examples} examples run on SQLite (profile {PROFILE})")


@pytest.mark.postgres
@pytest.mark.redis
def test_random_updates_on_postgres_and_redis(tmp_path: Path, pg_url: str, redis_url: str,
                                               fuzz_loop: asyncio.AbstractEventLoop) -> None:
    """The production setup: PostgreSQL, conversation state and locks in Redis."""
    loop = fuzz_loop
    # Redis outlives the test: people of this run get ids no earlier run used.
    base = random.randrange(10**9, 10**12, 10**6)
    h = loop.run_until_complete(Harness.create(
        make_settings(tmp_path, database_url=pg_url, redis_url=redis_url, admin_ids=organisers(base)),
        record_errors=True))
    fuzzer = Fuzzer(h, base)
    run_fuzz(h, loop, fuzzer, settings(settings.get_profile(PROFILE), max_examples=SERVER_EXAMPLES[PROFILE]))
    print(f"fuzz: {fuzzer.examples} examples run on PostgreSQL + Redis (profile {PROFILE})")
