from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from domain.event import Event, load_event
from testkit.databases import throwaway_database
from testkit.fake_botapi import FakeBotAPI
from tests.harness import EVENT_FILE, Harness, make_settings
from tools import catalogs


@pytest.fixture(scope="session", autouse=True)
def compiled_catalogs() -> None:
    """Tests read the same compiled catalogs as the bot (make test compiles them too)."""
    catalogs.compile_all()


def _bot_children() -> set[int]:
    """This process's children that are bots (`python -m bot`, gunicorn serving bot.serve)."""
    found = set()
    for task in Path("/proc/self/task").glob("*"):
        try:
            pids = (task / "children").read_text().split()
        except OSError:
            continue
        for pid in pids:
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if b"-m bot" in cmd or b"bot.serve" in cmd:
                found.add(int(pid))
    return found


@pytest.fixture(scope="module", autouse=True)
def no_bot_left_behind() -> Iterator[None]:
    """A test that fails between starting a bot process and stopping it leaves the bot running (two did, for
    the rest of a CI run, on a loaded machine): at the end of each module, bots it started and did not stop
    are killed, so they cost the later tests nothing."""
    before = _bot_children()
    yield
    for pid in _bot_children() - before:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


@pytest.fixture(scope="module")
def event() -> Event:
    """The event file the tests read (events/excom2020.toml), loaded once per module."""
    return load_event(EVENT_FILE)


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    """A fake Bot API server over HTTP (testkit/fake_botapi.py), for bots in this process or in others."""
    async with FakeBotAPI() as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path):
    return make_settings(tmp_path)


@pytest.fixture
async def harness(settings) -> AsyncIterator[Harness]:
    h = await Harness.create(settings)
    yield h
    await h.close()


@pytest.fixture
async def h(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    """The bot wired as in production on a fresh SQLite file, one organiser (999), the rehearsal clock.

    A module (`pytestmark`) or a test changes how it is made with `@pytest.mark.harness(...)`: the keyword
    arguments of `Harness.create` (`at=`, `record_errors=`, ...) and of `make_settings` under `settings=`."""
    marker = request.node.get_closest_marker("harness")
    options = dict(marker.kwargs) if marker else {}
    harness = await Harness.create(make_settings(tmp_path, **options.pop("settings", {})), **options)
    yield harness
    await harness.close()


# Modules left out of `make test-fast` besides the e2e ones (processes, kills, outages): benchmarks' smoke
# runs and the 1,000-example fuzz test.
SLOW_MODULES = ("test_bench_", "_bench", "test_fuzz")
# Single tests that cost a large share of `make test-fast` on their own: the question ranking run over every
# question of the QA sets twice (about 30 s of CPU on a loaded machine).
SLOW_TESTS = ("test_ranking_is_deterministic",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`slow` on the benchmark and fuzz modules and on tests that wait on real time (`make test-fast` skips
    them with `-m "not e2e and not slow"`); `e2e` already marks the tests with processes."""
    for item in items:
        name = item.path.stem
        if any(part in name for part in SLOW_MODULES) or "bench" in item.name or item.name in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


def pytest_report_header() -> list[str]:
    lines = []
    for var in ("TEST_DATABASE_URL", "TEST_REDIS_URL"):
        lines.append(f"{var}: {'set' if os.environ.get(var) else 'not set (those tests skip)'}")
    return lines


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for one test (dropped afterwards); skips without TEST_DATABASE_URL."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip("TEST_DATABASE_URL is not set: PostgreSQL tests skipped")
    async with throwaway_database(base) as url:
        yield url


@pytest.fixture
def redis_url() -> str:
    """TEST_REDIS_URL, with a database of its own per parallel test worker (make test runs two: pytest-xdist's
    gw0 keeps the given database, gw1 the one below it), so workers never share keys."""
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("TEST_REDIS_URL is not set: Redis tests skipped")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    head, _, db = url.rpartition("/")
    if not db.isdigit():
        head, db = url.rstrip("/"), "15"
    return f"{head}/{(int(db) - int(worker.removeprefix('gw') or 0)) % 16}"
