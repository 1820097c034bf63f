"""The one text folding used by the question matcher and the place-name lookup (domain/text.py)."""

from __future__ import annotations

import pytest

from domain import timezones as tzs
from domain.text import attach_particles, josa, normalize


@pytest.mark.parametrize(("typed", "folded"), [
    ("Beyoğlu", "beyoglu"),
    ("  São   Paulo ", "sao paulo"),
    ("Xi'an", "xi an"),
    ("Hà Nội", "ha noi"),  # Vietnamese letters outside Latin-1/Extended-B lose their marks too
    ("Нью-Йорк", "нью йорк"),  # "й" is a letter of its own in Russian, not "и" with an accent
    ("Ёлки", "елки"),
    ("서울특별시", "서울특별시"),  # Hangul syllables stay whole
    ("Asia/Seoul", "asia seoul"),
    ("ＵＴＣ", "utc"),  # full-width letters (NFKC)
])
def test_normalize(typed: str, folded: str) -> None:
    assert normalize(typed) == folded


def test_place_names_match_however_they_are_typed() -> None:
    assert (m := tzs.resolve("нью-йорк")) is not None and m.zone == "America/New_York"
    assert (m := tzs.resolve("SAO PAULO, Brazil")) is not None and m.zone == "America/Sao_Paulo"


# -- Korean particles -------------------------------------------------------------------------------

@pytest.mark.parametrize(("word", "eul", "ro", "i", "eun", "gwa"), [
    ("세션", "을", "으로", "이", "은", "과"),        # ㄴ
    ("퀴즈", "를", "로", "가", "는", "와"),          # no final consonant
    ("서울", "을", "로", "이", "은", "과"),          # ㄹ takes 로
    ("모스크바", "를", "로", "가", "는", "와"),
    ("<b>개회식</b>", "을", "으로", "이", "은", "과"),  # markup around a name does not count
    ("‘콘서트’", "를", "로", "가", "는", "와"),        # nor quotes
    ("15:00", "를", "로", "가", "는", "와"),         # 열다섯 시
    ("09:30", "을", "으로", "이", "은", "과"),       # 아홉 시 삼십 분
    ("3", "을", "으로", "이", "은", "과"),           # 삼
    ("2", "를", "로", "가", "는", "와"),             # 이
    ("7", "을", "로", "이", "은", "과"),             # 칠: ㄹ
    ("DVMS", "를", "로", "가", "는", "와"),          # 디브이엠에스
    ("Zoom", "을", "으로", "이", "은", "과"),         # 줌
    ("Moscow", "를", "로", "가", "는", "와"),        # 모스크바
])
def test_korean_particles_follow_the_last_syllable(word: str, eul: str, ro: str, i: str, eun: str, gwa: str) -> None:
    assert [josa(word, p) for p in ("을", "으로", "이", "은", "과")] == [eul, ro, i, eun, gwa]
    assert [josa(word, p) for p in ("를", "로", "가", "는", "와")] == [eul, ro, i, eun, gwa]


def test_particle_markers_are_resolved_once_the_names_are_in() -> None:
    assert attach_particles("‘퀴즈’이(가) 마지막 순서예요. 시간이 12:30(으)로, 15:00(으)로 바뀌었어요.") == \
        "‘퀴즈’가 마지막 순서예요. 시간이 12:30으로, 15:00로 바뀌었어요."
    assert attach_particles("<b>세션</b>을(를) 서울과(와) 모스크바은(는)") == "<b>세션</b>을 서울과 모스크바는"
    # Nothing to attach to, or no marker: unchanged (English and Russian texts pass through as they are).
    assert attach_particles("(으)로 (at the start)") == "(으)로 (at the start)"
    assert attach_particles("정답은 <b>쓰촨성</b>(이)에요. 정답은 <b>서울</b>(이)에요. 답은 <b>퀴즈</b>(이)에요.") == \
        "정답은 <b>쓰촨성</b>이에요. 정답은 <b>서울</b>이에요. 답은 <b>퀴즈</b>예요."
    assert attach_particles("Starts at 15:00 (GMT+3).") == "Starts at 15:00 (GMT+3)."
