"""The log never shows the bot token, nor a person's name or e-mail (issue 8, item 8)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra import logsafe
from tests.harness import Harness, make_settings

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.fixture
def redacting(caplog: pytest.LogCaptureFixture) -> Iterator[logsafe.RedactingFilter]:
    """The filter the bot installs at start-up, on the handler pytest captures with."""
    levels = {name: logging.getLogger(name).level for name in logsafe.QUIET_LOGGERS}
    flt = logsafe.install([TOKEN], handlers=[caplog.handler])
    yield flt
    logsafe.uninstall(flt, handlers=[caplog.handler])
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_token_in_an_exception_url_and_traceback_is_masked(
        caplog: pytest.LogCaptureFixture, redacting: logsafe.RedactingFilter) -> None:
    log = logging.getLogger("bot.test")
    url = f"http://127.0.0.1:8081/bot{TOKEN}/sendMessage"
    try:
        try:
            raise ConnectionResetError(104, f"Connection reset by peer while requesting {url}")
        except ConnectionResetError as exc:
            raise RuntimeError(f"request to {url} failed") from exc
    except RuntimeError:
        log.exception("send failed: %s", url)
    log.warning("token %s, quoted %s", TOKEN, TOKEN.replace(":", "%3A"))
    text = caplog.text
    secret = TOKEN.split(":")[1]
    assert secret not in text and "%3A" + secret not in text
    # The lines themselves are kept, with the token masked (the cause's traceback too).
    assert "send failed: http://127.0.0.1:8081/bot<token>/sendMessage" in text
    assert "ConnectionResetError" in text and "RuntimeError: request to" in text
    assert text.count("<token>") >= 5


def test_a_filter_another_install_left_on_the_handler_does_not_stop_ours(
        caplog: pytest.LogCaptureFixture) -> None:
    """A second install (the webhook app started in the same process, with another token) marks the record
    too; ours still masks its own token's quoted form, which only it knows (a CI run showed it unmasked)."""
    other = logsafe.install(["987654321:ZZother0000000000000000000000000000"], handlers=[caplog.handler])
    ours = logsafe.install([TOKEN], handlers=[caplog.handler])
    try:
        logging.getLogger("bot.test").warning("quoted %s", TOKEN.replace(":", "%3A"))
    finally:
        logsafe.uninstall(ours, handlers=[caplog.handler])
        logsafe.uninstall(other, handlers=[caplog.handler])
    assert TOKEN.split(":")[1] not in caplog.text
    assert "quoted <token>" in caplog.text


def test_a_token_shaped_string_and_any_bot_url_are_masked_without_knowing_the_token() -> None:
    redact = logsafe.Redactor()
    assert redact(f"x {TOKEN} y") == "x <token> y"
    assert redact("GET /bot42:TEST/getUpdates") == "GET /bot<token>/getUpdates"
    assert redact("write to ada.lovelace+bot@example.org now") == "write to <e-mail> now"


def test_a_host_named_bot_is_not_taken_for_a_token() -> None:
    """`https://bot.example.org/webhook` (a WEBHOOK_URL or PUBLIC_URL) stays readable in the log; the path
    segment of a Bot API URL is still masked."""
    redact = logsafe.Redactor()
    assert redact("webhook set to https://bot.example.org/tg/hook") == "webhook set to https://bot.example.org/tg/hook"
    assert (redact("POST https://api.example.org/bot42:TEST/sendMessage")
            == "POST https://api.example.org/bot<token>/sendMessage")


async def test_registration_at_debug_level_logs_no_name_or_email(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, redacting: logsafe.RedactingFilter) -> None:
    """Before: aiosqlite logs every SQL call with its parameters at DEBUG, names and e-mails included."""
    caplog.set_level(logging.DEBUG)
    h = await Harness.create(make_settings(tmp_path))
    try:
        uid = 5150
        await h.send(uid, "/start")
        await h.press(uid, "English")
        for text in ("Zyxwvut Qponmlk", "Chief Officer", "City Hall", "Seoul"):
            await h.send(uid, text)
        await h.press(uid, "EXCOM member city")
        await h.send(uid, "zyx.qpo@example.org")
        await h.send(uid, "Asia/Seoul")
        await h.press(uid, "Yes")
        await h.press(uid, "Yes, available")
        await h.press(uid, "I agree")
        await h.press(uid, "Confirm")
        assert "You are registered" in h.last_text(uid)
        await h.send(uid, "/profile")
    finally:
        await h.close()
    assert caplog.records, "nothing was logged at DEBUG: the test would prove nothing"
    assert "Zyxwvut" not in caplog.text
    assert "zyx.qpo" not in caplog.text


async def test_sql_errors_do_not_carry_their_parameters(tmp_path: Path) -> None:
    """An IntegrityError's text would otherwise quote the row (a name, an e-mail) into the log."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from storage.db import make_engine

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("create table people (email text unique)"))
            await conn.execute(text("insert into people values (:e)"), {"e": "zyx.qpo@example.org"})
        with pytest.raises(IntegrityError) as info:
            async with engine.begin() as conn:
                await conn.execute(text("insert into people values (:e)"), {"e": "zyx.qpo@example.org"})
    finally:
        await engine.dispose()
    assert "UNIQUE constraint failed" in str(info.value)
    assert "zyx.qpo" not in str(info.value)


def test_a_send_error_stored_on_an_outbox_row_carries_no_token() -> None:
    from aiogram.exceptions import TelegramNetworkError
    from aiogram.methods import SendMessage

    from delivery.sender import classify

    exc = TelegramNetworkError(SendMessage(chat_id=1, text="x"), "ClientResponseError: 400, message='Invalid "
                               f"header', url='http://127.0.0.1:8081/bot{TOKEN}/sendMessage'")
    verdict = classify(exc)
    assert verdict.action == "retry"
    assert "/bot<token>/sendMessage" in verdict.error and TOKEN.split(":")[1] not in verdict.error
