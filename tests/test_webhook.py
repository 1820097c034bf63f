"""Issue 18: the webhook's contract. The secret is checked (401 without it, logged without the token), an
update is stored before 200 is answered and handled after, a repeated update_id is answered once, the worker
answers 503 while it stops, the health endpoints answer, setWebhook is called with the secret, the update
types and the connections, and webhook mode never deletes the webhook."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.__main__ import main
from bot.config import Settings
from bot.web import STOPPING, build_web_app
from bot.webhook import SECRET_HEADER, webhook_part
from testkit.fake_botapi import FakeBotAPI

SECRET = "s3cret-Token_42"
PATH = "/tg/updates"


def _settings(tmp_path: Path, api: FakeBotAPI) -> Settings:
    return Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path / 'hook.db'}",
                    bot_token="42:HOOK", telegram_api_url=api.url, redis_url=None, admin_ids="",
                    clock_start="2020-11-01T10:00:00+03:00", clock_speed=1, log_level="WARNING",
                    webhook_url=f"https://bot.example.org{PATH}", webhook_secret=SECRET,
                    webhook_max_connections=25)


@contextlib.asynccontextmanager
async def _worker(tmp_path: Path, api: FakeBotAPI) -> AsyncIterator[TestClient[Any, Any]]:
    web_app = build_web_app([webhook_part(_settings(tmp_path, api))])
    async with TestClient(TestServer(web_app)) as client:
        yield client


def _start(update_id: int, uid: int, text: str = "/start") -> dict[str, Any]:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": int(time.time()), "chat": {"id": uid, "type": "private"},
        "from": {"id": uid, "is_bot": False, "first_name": "Ada", "language_code": "en"}, "text": text,
        "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}] if text.startswith("/") else []}}


def _inbox(tmp_path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(tmp_path / "hook.db") as db:
        return db.execute("select update_id, handled_at is not null from inbox order by update_id").fetchall()


async def test_the_secret_token_is_checked_and_never_logged(tmp_path: Path, api: FakeBotAPI,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    async with _worker(tmp_path, api) as client:
        caplog.set_level(logging.WARNING)
        assert (await client.post(PATH, json=_start(1, 501))).status == 401
        wrong = "not-the-secret-XYZ"
        assert (await client.post(PATH, json=_start(2, 501), headers={SECRET_HEADER: wrong})).status == 401
        assert (await client.post(PATH, json=_start(3, 501), headers={SECRET_HEADER: SECRET[:-1]})).status == 401
        assert _inbox(tmp_path) == []
        assert not api.sent(501)
    assert "refused" in caplog.text
    assert wrong not in caplog.text and SECRET[:-1] not in caplog.text


async def test_stored_before_200_handled_after_repeats_answered_once(tmp_path: Path, api: FakeBotAPI) -> None:
    async with _worker(tmp_path, api) as client:
        # The reply waits at Telegram: the webhook's answer does not wait for it.
        api.delay_next("sendMessage", 3, chat_id=501)
        t0 = time.monotonic()
        response = await client.post(PATH, json=_start(10, 501), headers={SECRET_HEADER: SECRET})
        assert response.status == 200
        assert time.monotonic() - t0 < 2
        assert [row[0] for row in _inbox(tmp_path)] == [10]  # stored when 200 was answered
        assert not api.sent(501)
        await api.wait_for(lambda r: "choose your language" in (r.text or ""), chat_id=501, timeout=20)
        # Telegram sends the same update again (our 200 was lost): answered 200, not handled again.
        again = await client.post(PATH, json=_start(10, 501), headers={SECRET_HEADER: SECRET})
        assert again.status == 200
        await client.post(PATH, json=_start(11, 502), headers={SECRET_HEADER: SECRET})
        await api.wait_for(lambda r: "choose your language" in (r.text or ""), chat_id=502, timeout=20)
        await asyncio.sleep(0.3)  # absence: a second answer to the repeated update would show up by now
        assert sum("choose your language" in (r.text or "") for r in api.sent(501)) == 1
        # Not an update at all: refused, nothing stored.
        assert (await client.post(PATH, data=b"{", headers={SECRET_HEADER: SECRET})).status == 400
    assert _inbox(tmp_path) == [(10, 1), (11, 1)]


async def test_set_webhook_once_health_and_503_while_stopping(tmp_path: Path, api: FakeBotAPI) -> None:
    async with _worker(tmp_path, api) as client:
        hooks = [r for r in api.records if r.method == "setWebhook"]
        assert len(hooks) == 1
        params = hooks[0].params
        assert params["url"] == f"https://bot.example.org{PATH}"
        assert params["secret_token"] == SECRET
        assert params["max_connections"] == 25
        allowed = params["allowed_updates"]
        assert "message" in allowed and "callback_query" in allowed
        assert not any(r.method == "deleteWebhook" for r in api.records)
        assert (await client.get("/healthz")).status == 200
        ready = await client.get("/readyz")
        assert ready.status == 200 and (await ready.json())["database"] == "ok"
        client.app[STOPPING].set()  # what SIGTERM starts with
        assert (await client.post(PATH, json=_start(20, 503), headers={SECRET_HEADER: SECRET})).status == 503
        assert (await client.get("/readyz")).status == 503
        assert (await client.get("/healthz")).status == 200
    assert _inbox(tmp_path) == []


@pytest.mark.parametrize(("env", "line"), [
    ({"WORKERS": "2"}, "DATABASE_URL: 2 workers need PostgreSQL"),
    ({"WORKERS": "3", "DATABASE_URL": "postgresql+asyncpg://bot@127.0.0.1/bot"}, "REDIS_URL: 3 workers need Redis"),
    ({"WEBHOOK_SECRET": ""}, "WEBHOOK_SECRET: webhook mode needs a secret token"),
    ({"WEBHOOK_URL": ""}, "WEBHOOK_URL: webhook mode needs the public address"),
])
def test_a_configuration_that_cannot_be_shared_refuses_to_start(
        env: dict[str, str], line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    for name, value in {"BOT_TOKEN": "42:HOOK", "WEBHOOK_URL": "https://bot.example.org/tg",
                        "WEBHOOK_SECRET": SECRET, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
                        "REDIS_URL": "", **env}.items():
        monkeypatch.setenv(name, value)
    assert main(["webhook"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and line in err, err


async def test_the_fake_bot_api_posts_to_the_webhook_and_retries_until_200(tmp_path: Path, api: FakeBotAPI) -> None:
    """As Telegram does: updates are posted with the secret, and posted again while the answer is not 200."""
    async with _worker(tmp_path, api) as client:
        api.deliver_to(str(client.make_url(PATH)))
        client.app[STOPPING].set()  # the worker answers 503 for a while
        api.push_text(601, "/start", language_code="en")
        await api.wait_until(lambda: any(status == 503 for _u, _t, status in api.webhook_attempts), timeout=20)
        client.app[STOPPING].clear()
        await api.wait_for(lambda r: "choose your language" in (r.text or ""), chat_id=601, timeout=20)
        await asyncio.sleep(1)  # absence: a second delivery of the update would be attempted by now
        statuses = [status for _u, _t, status in api.webhook_attempts]
        assert statuses[-1] == 200 and statuses.count(200) == 1 and 503 in statuses
        assert not api.pending_updates
        assert sum("choose your language" in (r.text or "") for r in api.sent(601)) == 1


async def test_a_gunicorn_worker_on_sqlite_holds_the_file_and_refuses_a_second_process(
        tmp_path: Path, api: FakeBotAPI, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`make serve` on SQLite (one worker) is one process on the file, as `make run` is: while the worker lives
    another bot process on the same file is refused, and a second worker (a reload's overlap past the wait)
    stops with one line instead of scheduling and sending everything twice."""
    from bot import serve as serve_module
    from storage.db import DatabaseInUse, hold_sqlite_lock

    db = tmp_path / "hook.db"
    for key, value in {"DATABASE_URL": f"sqlite+aiosqlite:///{db}", "BOT_TOKEN": "42:HOOK",
                       "TELEGRAM_API_URL": api.url, "WEBHOOK_URL": f"https://bot.example.org{PATH}",
                       "WEBHOOK_SECRET": SECRET, "WORKERS": "1", "REDIS_URL": "", "ADMIN_IDS": "",
                       "LOG_LEVEL": "WARNING"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    monkeypatch.setattr(serve_module, "SQLITE_LOCK_WAIT", 0.2)
    web_app = await serve_module.serve()
    async with TestClient(TestServer(web_app)) as client:
        assert (await client.get("/healthz")).status == 200
        with pytest.raises(DatabaseInUse), hold_sqlite_lock(f"sqlite+aiosqlite:///{db}"):
            pass
        with pytest.raises(SystemExit) as stopped:
            await serve_module.serve()
        assert stopped.value.code == 2
        assert "another bot process is already running on" in capsys.readouterr().err
    # The worker stopped: the file is free again.
    with hold_sqlite_lock(f"sqlite+aiosqlite:///{db}"):
        pass
