"""The bot as a process when the Bot API is down, cut off or shared: it waits, keeps secrets, refuses to double.

Issue 8: items 2 (unreachable at start-up), 6 (two processes on one SQLite file) and 8 (token in the log).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from pathlib import Path

import pytest

from testkit.fake_botapi import FakeBotAPI
from tests.test_e2e import answer, e2e_env, stop_bot

pytestmark = pytest.mark.e2e
TOKEN = "4242424242:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


async def spawn(tmp_path: Path, api_url: str, **env: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, env=e2e_env(tmp_path, api_url, **env),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )


async def read_until(proc: asyncio.subprocess.Process, needle: str, timeout: float = 90) -> str:
    """stderr lines until one contains `needle` (or the process ends, or the time is up)."""
    assert proc.stderr is not None
    seen: list[str] = []

    async def lines() -> None:
        while line := await proc.stderr.readline():
            seen.append(line.decode(errors="replace"))
            if needle in seen[-1]:
                return

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(lines(), timeout)
    return "".join(seen)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def cut_off_server() -> tuple[asyncio.Server, str]:
    """Answers every request with a response broken off mid-header (what a resetting proxy leaves behind).

    aiohttp reports it as ClientResponseError, whose text quotes the request URL: /bot<token>/getMe.
    """
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nBroken Hea")
        writer.write(b"der\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def test_the_token_never_reaches_the_log_when_the_connection_breaks_mid_request(tmp_path: Path) -> None:
    server, url = await cut_off_server()
    proc = await spawn(tmp_path, url, BOT_TOKEN=TOKEN, LOG_LEVEL="DEBUG")
    try:
        err = await read_until(proc, "unreachable")
    finally:
        server.close()
        code, rest = await stop_bot(proc)
    err += rest
    assert "unreachable" in err and "ClientResponseError" in err, err  # the failing URL was logged...
    assert "/bot<token>/getMe" in err, err
    assert TOKEN.split(":")[1] not in err  # ...with the token masked
    assert code == 0, err


async def test_the_bot_waits_for_a_bot_api_that_is_not_up_yet(tmp_path: Path) -> None:
    port = free_port()
    proc = await spawn(tmp_path, f"http://127.0.0.1:{port}")
    try:
        err = await read_until(proc, "unreachable")
        assert "unreachable" in err, err
        assert proc.returncode is None, err  # before: the process exited with a traceback
        await asyncio.sleep(3)  # the server comes up a while later
        async with FakeBotAPI(port=port) as api:
            await api.wait_until(lambda: api.waiting_polls > 0, timeout=60)
            await answer(api, "/start", contains="Please choose your language.")
    finally:
        code, rest = await stop_bot(proc)
    assert code == 0, err + rest
    assert "Traceback" not in err + rest
    assert (err + rest).count("unreachable") == 1, err + rest  # several tries, one line (once a minute)


async def test_polling_resumes_by_itself_after_the_bot_api_goes_away(tmp_path: Path) -> None:
    async with FakeBotAPI() as api:
        proc = await spawn(tmp_path, api.url)
        try:
            await api.wait_until(lambda: api.waiting_polls > 0, timeout=90)
            await answer(api, "/start", contains="Please choose your language.")
            await api.stop()  # connections refused for a while
            await asyncio.sleep(8)  # the fault injected: the Bot API is away this long
            await api.start()
            await api.wait_until(lambda: api.waiting_polls > 0, timeout=90)
            await answer(api, "/help", contains="/program")
        finally:
            code, err = await stop_bot(proc)
    assert code == 0, err
    # The poller retried every 1-5 s; the log says so once (not once per try).
    assert err.lower().count("failed to fetch updates") == 1, err


async def test_a_second_process_on_the_same_sqlite_file_refuses_to_start(tmp_path: Path) -> None:
    async with FakeBotAPI() as api:
        first = await spawn(tmp_path, api.url)
        try:
            await api.wait_until(lambda: api.waiting_polls > 0, timeout=90)
            second = await spawn(tmp_path, api.url)
            _out, err_bytes = await asyncio.wait_for(second.communicate(), 30)
            err = err_bytes.decode()
            assert second.returncode == 2, err
            lines = err.strip().splitlines()
            assert len(lines) == 1 and "already running" in lines[0] and "e2e.db" in lines[0], err
            # The first one carries on.
            await answer(api, "/start", contains="Please choose your language.")
            # Killed without a chance to clean up, it leaves no stale lock behind.
            first.send_signal(signal.SIGKILL)
            await first.wait()
            since = api.mark()
            first = await spawn(tmp_path, api.url)
            # Started (the killed one's last long poll may still look like a waiting poll).
            await api.wait_for(lambda r: True, method="setMyCommands", since=since, timeout=90)
            await answer(api, "/help", contains="/program")
        finally:
            await stop_bot(first)


async def test_a_refused_token_stops_start_up_with_one_line(tmp_path: Path) -> None:
    """Unlike an unreachable server, a 401 does not go away by waiting: say so and stop."""
    async with FakeBotAPI(token="42:SOMETHING-ELSE") as api:
        proc = await spawn(tmp_path, api.url)
        _out, err_bytes = await asyncio.wait_for(proc.communicate(), 90)
    err = err_bytes.decode()
    assert proc.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "BOT_TOKEN" in lines[0] and "refused" in lines[0], err
