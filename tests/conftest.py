from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.harness import Harness, make_settings
from tools import catalogs


@pytest.fixture(scope="session", autouse=True)
def compiled_catalogs() -> None:
    """Tests read the same compiled catalogs as the bot (make test compiles them too)."""
    catalogs.compile_all()


@pytest.fixture
def settings(tmp_path: Path):
    return make_settings(tmp_path)


@pytest.fixture
async def harness(settings) -> AsyncIterator[Harness]:
    h = await Harness.create(settings)
    yield h
    await h.close()


def pytest_report_header() -> list[str]:
    lines = []
    for var in ("TEST_DATABASE_URL", "TEST_REDIS_URL"):
        lines.append(f"{var}: {'set' if os.environ.get(var) else 'not set (those tests skip)'}")
    return lines
