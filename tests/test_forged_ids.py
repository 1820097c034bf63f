"""Forged callback data with ids too large for the database (issue 17 item 9).

A 23-digit id in a button's data reached SQLite as an OverflowError and PostgreSQL as a DataError whose log
line quoted the value. Every int field of every callback data factory is bounded at parsing (handlers/ui.py
ButtonData): such a press gets the fallback's polite answer and nothing reaches the database.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram.filters.callback_data import CallbackData

import handlers
from handlers.ui import INT64_MAX, ButtonData
from tests.harness import Harness, make_settings, register

ADMIN = 4242
UID = 4243
HUGE = "12345678901234567890123"
# Real prefixes and actions, with the id a forger would change.
FORGED = (f"mmh:{HUGE}", f"mmb:{HUGE}:1040", f"mmx:dec:{HUGE}", f"mmx:can:{HUGE}", f"mmx:out:{HUGE}",
          f"mml:{HUGE}:-1", f"mml:0:{HUGE}", f"mmc:{HUGE}", f"bcx:{HUGE}", f"og:card:{HUGE}:0:",
          f"og:ok:{HUGE}:0:", f"og:pg:0:{HUGE}:", f"xc:ok:{HUGE}:0", f"xc:pg:0:{HUGE}", f"pg:{HUGE}:1",
          f"qz:{HUGE}:q1:0", f"qz:0:q1:{HUGE}", f"qzgo:{HUGE}", f"mmh:-{HUGE}", f"mmh:{INT64_MAX + 1}")


def factories() -> list[type[CallbackData]]:
    for info in pkgutil.iter_modules(handlers.__path__):
        importlib.import_module(f"handlers.{info.name}")
    found: list[type[CallbackData]] = []
    todo = list(CallbackData.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return [c for c in found if c.__module__.startswith("handlers.") and c is not ButtonData]


def test_every_callback_factory_bounds_its_int_fields() -> None:
    made = factories()
    assert len(made) > 15
    for cls in made:
        assert issubclass(cls, ButtonData), f"{cls.__name__} does not derive from handlers.ui.ButtonData"
        for name, field in cls.model_fields.items():
            if field.annotation is int or "int" in str(field.annotation):
                with pytest.raises(ValueError):
                    cls.model_validate({**_sample(cls), name: 10**22})


def _sample(cls: type[CallbackData]) -> dict[str, object]:
    return {n: (f.default if not f.is_required() else ("1" if "str" in str(f.annotation) else 1))
            for n, f in cls.model_fields.items()}


async def _press_everything(h: Harness) -> None:
    await register(h, UID)
    await register(h, ADMIN)
    for uid in (UID, ADMIN):
        for data in FORGED:
            h.errors.clear()
            calls = await h.press_data(uid, data)
            assert h.errors == [], f"{data}: {h.errors[0][1]!r}"
            answers = [str(c.params.get("text", "")) for c in calls if c.method == "answerCallbackQuery"]
            assert answers == ["This button is no longer active."], (data, answers)


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[Harness]:
    h = await Harness.create(make_settings(tmp_path, admin_ids=frozenset({ADMIN})), record_errors=True)
    yield h
    await h.close()


async def test_forged_huge_ids_get_a_polite_answer_on_sqlite(sqlite: Harness) -> None:
    await _press_everything(sqlite)


@pytest.mark.postgres
async def test_forged_huge_ids_get_a_polite_answer_on_postgres(tmp_path: Path, pg_url: str) -> None:
    h = await Harness.create(make_settings(tmp_path, database_url=pg_url, admin_ids=frozenset({ADMIN})),
                             record_errors=True)
    try:
        await _press_everything(h)
    finally:
        await h.close()


@pytest.mark.parametrize("url", ["sqlite+aiosqlite:///{dir}/x.db", "postgresql+asyncpg://nobody@127.0.0.1:1/none"])
async def test_sql_errors_never_log_their_parameters(tmp_path: Path, url: str) -> None:
    from storage.db import make_engine

    engine = make_engine(url.format(dir=tmp_path))
    try:
        assert engine.sync_engine.hide_parameters
    finally:
        await engine.dispose()


def test_the_driver_s_quoted_parameter_is_masked_in_the_log() -> None:
    """asyncpg quotes the value it could not encode in its own message (hide_parameters does not reach it)."""
    from infra.logsafe import Redactor

    line = ("(sqlalchemy.dialects.postgresql.asyncpg.Error) invalid input for query argument $1: "
            "12345678901234567890123 (value out of int64 range)")
    assert HUGE not in Redactor()(line)
    assert "value out of int64 range" in Redactor()(line)
