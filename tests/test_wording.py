"""How the Russian and Korean texts read, checked over every catalog and the event file (issue 12): one
politeness level in Korean (해요체), no "회원님" for people who are not members, no "(으)로" left for the
reader, no period after a Russian date ("2020 г.."), no verb agreeing with a title in a reminder."""

from __future__ import annotations

import re
import tomllib
from datetime import datetime
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from tests.harness import Harness

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = sorted((ROOT / "locales").glob("*/LC_MESSAGES/*.po"))
EVENT = tomllib.loads((ROOT / "events" / "excom2020.toml").read_text(encoding="utf-8"))
# 하십시오체 and 합니다체 endings: the bot speaks 해요체 throughout.
FORMAL = re.compile(r"(?:니다|니까|십시오|시오|는가|은가|던가)[.?!:)]*(?:\s|$)")


def _strings(lang: str) -> list[tuple[str, str]]:
    out = []
    for path in CATALOGS:
        if path.parts[-3] != lang:
            continue
        with path.open("rb") as fh:
            for m in read_po(fh, locale=lang):
                if m.id:
                    for s in (m.string,) if isinstance(m.string, str) else m.string:
                        out.append((f"{path.stem}: {m.id if isinstance(m.id, str) else m.id[0]}", s))
    return out


def _event_texts(lang: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == lang and isinstance(v, str):
                    found.append((where, v))
                else:
                    walk(v, f"{where}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")

    walk(EVENT, "event")
    return found


@pytest.mark.parametrize("source", ["catalogs", "event file"])
def test_korean_is_one_politeness_level(source: str) -> None:
    texts = _strings("ko") if source == "catalogs" else _event_texts("ko")
    formal = [(where, s) for where, s in texts if FORMAL.search(s)]
    assert formal == []


@pytest.mark.parametrize("source", ["catalogs", "event file"])
def test_korean_never_calls_a_reader_member_nor_leaves_a_particle_choice(source: str) -> None:
    texts = _strings("ko") if source == "catalogs" else _event_texts("ko")
    assert [(w, s) for w, s in texts if "회원님" in s] == []
    # A particle marker must follow a placeholder (it is resolved once the name is in), never plain text.
    for where, s in texts:
        for m in re.finditer(r"\((으)\)로|[을를이가은는과와]\([을를이가은는과와]\)", s):
            assert s[: m.start()].rstrip("’”»") .endswith("}"), (where, s)


def test_no_period_right_after_a_russian_date() -> None:
    # Babel's Russian long date ends in "г." ("10 ноября 2020 г."), a short one in "нояб.".
    dated = [(w, s) for w, s in _strings("ru") if re.search(r"\{(?:date|deadline|day|today)\}\.", s)]
    assert dated == []


def test_russian_reminders_have_no_verb_agreeing_with_a_title() -> None:
    # "Матчмейкинг-встречи начинается": a title may be plural, feminine or neuter.
    for where, s in _strings("ru"):
        if where.startswith("reminders:"):
            assert not re.search(r"\{title\}(?:</b>)?»?\s+(?:начина|начнёт|начнет|идёт|идет|прош)", s), (where, s)


async def test_registration_closed_in_russian_has_one_period_after_the_date(settings) -> None:
    h = await Harness.create(settings, at=datetime.fromisoformat("2020-11-12T10:00:00+03:00"))
    try:
        await h.send(1, "/start", lang="ru")
        text = h.last_text(1)
        assert "10 ноября 2020\u202fг. регистрация на WeGO EXCOM 2020 завершилась." in text, text
        assert "г.." not in text
    finally:
        await h.close()


async def test_after_forget_an_old_button_answers_in_the_persons_last_language(settings) -> None:
    h = await Harness.create(settings, at=datetime.fromisoformat("2020-11-17T07:00:00+03:00"))
    try:
        from tests.harness import register
        await register(h, 1, language="ko", timezone="Asia/Seoul")
        await h.send(1, "/program", lang="en")  # their Telegram is in English; they chose Korean
        await h.send(1, "/forget", lang="en")
        await h.press(1, "예, 모두 삭제", lang="en")
        assert "모든 정보를 삭제했어요" in h.last_text(1)
        # Nothing is kept about them now, yet the card they open from the old Korean program is in Korean.
        await h.press(1, "개회식", lang="en")
        assert h.last_text(1).startswith("<b>개회식</b>"), h.last_text(1)
        assert "내 시간대로 시간을 보려면 /timezone" in h.last_text(1)  # registration closed on 10 Nov
    finally:
        await h.close()


def test_a_message_s_language_is_its_main_script_not_its_first_foreign_letter() -> None:
    from domain.languages import detect_language

    summary = ("Please check your registration:\nName: Иван Петров\nPosition: Mayor\nOrganisation: City Hall\n"
               "City: Ulyanovsk\nTime zone: Europe/Ulyanovsk")
    assert detect_language(summary, "en") == "en"
    assert detect_language("/language — change the language (English, Русский, 한국어)", "en") == "en"
    assert detect_language("Проверьте, пожалуйста, регистрацию: WeGO EXCOM 2020", "en") == "ru"
    assert detect_language("개회식\n11월 17일 10:00–10:30 (서울)\nWeGO EXCOM 2020", "en") == "ko"
    assert detect_language("12:00 ✅", "ru") == "ru"


async def test_an_english_speaker_with_a_cyrillic_name_is_answered_in_english_after_forget(settings) -> None:
    """Issue 17 item 11: a button on their old English profile, which quotes their name in Cyrillic, was
    answered in Russian once nothing was stored about them."""
    from tests.harness import register

    h = await Harness.create(settings)
    try:
        await register(h, 1, language="en", full_name="Иван Петров")
        await h.send(1, "/profile")
        profile_msg, data = h._message_with(1, "Edit a field")
        await h.send(1, "/forget")
        await h.press(1, "Yes, delete everything")
        calls = await h.feed(h.updates.callback(1, data, profile_msg, language_code="en"))
        said = " ".join(str(c.params.get("text", "")) for c in calls)
        assert said and not any("\u0400" <= ch <= "\u04ff" for ch in said.replace("Иван Петров", "")), said
    finally:
        await h.close()


@pytest.mark.parametrize("lang", ["ru", "ko"])
def test_no_translation_holds_two_versions_of_itself(lang: str) -> None:
    """The union merge driver of locales/*.po keeps both sides of an entry changed on two branches: the Russian
    late-city notice read its two versions one after the other ("…({contact}).Города сообщали…")."""
    doubled = [where for where, text in _strings(lang) if len(text) >= 40 and text.count(text[:25]) > 1]
    assert doubled == []


def test_korean_sentences_the_bot_speaks_never_say_my_time_zone() -> None:
    """Issue 20 bug 11 (review K1): "내 시간대" in a sentence the bot speaks of itself ("저는 … 도우미예요",
    "…드릴게요") reads as the bot's own time zone; it stays only on buttons, the menu and /help lines."""
    speaker = ("저는", "저와", "제가", "드릴게요", "드려요")
    found = [(where, text) for where, text in _strings("ko")
             if "내 시간대" in text and any(s in text for s in speaker)]
    assert found == []
