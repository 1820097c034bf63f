"""The fake Bot API server, driven by a real aiogram Bot over HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import CommandStart
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from testkit.fake_botapi import FakeBotAPI, UnknownMethod
from testkit.files import PNG_1X1

TOKEN = "42:TEST"


def make_bot(api: FakeBotAPI) -> Bot:
    """A real aiogram Bot pointed at the fake server."""
    return Bot(token=TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))


def keyboard(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    """One row of callback buttons."""
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=text, callback_data=data) for text, data in buttons]]
    )


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    client = make_bot(api)
    try:
        yield client
    finally:
        await client.session.close()


async def test_url_and_get_me(api: FakeBotAPI, bot: Bot) -> None:
    assert api.url.startswith("http://127.0.0.1:")
    assert api.port > 0
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username) == (42, True, "delegate_test_bot")
    assert api.sent(method="getMe")[0].ok


async def test_send_message_records_decoded_inline_keyboard(api: FakeBotAPI, bot: Bot) -> None:
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text="Yes", callback_data="rsvp:yes")],
            [InlineKeyboardButton(text="Docs", url="https://example.org")],
        ]
    )
    message = await bot.send_message(1001, "Will you attend?", reply_markup=markup)

    assert isinstance(message, Message)
    assert message.from_user is not None and message.from_user.id == 42
    assert (message.chat.id, message.chat.type, message.text) == (1001, "private", "Will you attend?")
    assert message.reply_markup is not None
    assert message.reply_markup.inline_keyboard[0][0].callback_data == "rsvp:yes"

    [record] = api.sent(1001)
    assert record.chat_id == 1001 and record.params["chat_id"] == 1001
    assert isinstance(record.params["reply_markup"], dict)
    assert api.buttons(record) == [("Yes", "rsvp:yes"), ("Docs", None)]
    assert api.last_text(1001) == "Will you attend?"
    assert api.stats.delivered == 1
    assert api.delivered_per_chat() == {1001: 1}
    assert api.sent(1002) == []


async def test_html_is_parsed_like_telegram(api: FakeBotAPI, bot: Bot) -> None:
    message = await bot.send_message(1, "<b>Hi</b> &amp; <i>welcome</i>", parse_mode="HTML")
    assert message.text == "Hi & welcome"
    assert api.last_text(1) == "<b>Hi</b> &amp; <i>welcome</i>"  # records keep what the bot sent

    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(1, "<b>unclosed", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match='Unsupported start tag "br"'):
        await bot.send_message(1, "line<br>break", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(1, "")  # aiogram drops the empty field; Telegram sees no text
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(1, "x" * 4097)
    assert api.stats.delivered == 1
    assert api.stats.client_errors == 4


async def test_edit_message_text_and_markup(api: FakeBotAPI, bot: Bot) -> None:
    sent = await bot.send_message(5, "Agenda", reply_markup=keyboard(("Refresh", "refresh")))

    edited = await bot.edit_message_text(
        "Agenda (updated)",
        chat_id=5,
        message_id=sent.message_id,
        reply_markup=keyboard(("Refresh", "refresh")),
    )
    assert isinstance(edited, Message)
    assert edited.message_id == sent.message_id and edited.text == "Agenda (updated)"
    assert edited.edit_date is not None
    stored = api.message(5, sent.message_id)
    assert stored is not None and stored["text"] == "Agenda (updated)"
    assert api.last_text(5) == "Agenda (updated)"

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "Agenda (updated)",
            chat_id=5,
            message_id=sent.message_id,
            reply_markup=keyboard(("Refresh", "refresh")),
        )
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("nope", chat_id=5, message_id=999)

    changed = await bot.edit_message_reply_markup(
        chat_id=5, message_id=sent.message_id, reply_markup=keyboard(("Again", "again"))
    )
    assert isinstance(changed, Message)
    assert api.buttons(api.message(5, sent.message_id) or {}) == [("Again", "again")]

    # Like Telegram: editing the text without reply_markup removes the inline keyboard.
    await bot.edit_message_text("Agenda (final)", chat_id=5, message_id=sent.message_id)
    assert "reply_markup" not in (api.message(5, sent.message_id) or {})

    assert await bot.delete_message(5, sent.message_id) is True
    assert api.message(5, sent.message_id) is None
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(5, sent.message_id)


async def test_callback_query_roundtrip(api: FakeBotAPI, bot: Bot) -> None:
    sent = await bot.send_message(7, "Pick one", reply_markup=keyboard(("A", "pick:a"), ("B", "pick:b")))
    api.push_callback(7, "pick:b", language_code="ko")

    [update] = await bot.get_updates(timeout=1)
    query = update.callback_query
    assert query is not None
    assert (query.data, query.from_user.id, query.from_user.language_code) == ("pick:b", 7, "ko")
    assert isinstance(query.message, Message) and query.message.message_id == sent.message_id

    assert await bot.answer_callback_query(query.id, text="Saved") is True
    [answer] = api.sent(7, "answerCallbackQuery")
    assert answer.params == {"callback_query_id": query.id, "text": "Saved"}
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query.id)

    with pytest.raises(LookupError, match="pick:c"):
        api.push_callback(7, "pick:c")  # no such button: a real client could not press it
    api.push_callback(7, "pick:c", sent.message_id, strict=False)  # a stale/forged callback


async def test_set_my_commands_per_language_and_scope(api: FakeBotAPI, bot: Bot) -> None:
    assert await bot.set_my_commands([BotCommand(command="start", description="Start")])
    await bot.set_my_commands([BotCommand(command="start", description="Начать")], language_code="ru")
    await bot.set_my_commands(
        [BotCommand(command="agenda", description="일정")],
        scope=BotCommandScopeAllPrivateChats(),
        language_code="ko",
    )

    ru = await bot.get_my_commands(language_code="ru")
    assert [(c.command, c.description) for c in ru] == [("start", "Начать")]
    default = await bot.get_my_commands()
    assert [c.description for c in default] == ["Start"]
    assert await bot.get_my_commands(language_code="ko") == []
    ko = await bot.get_my_commands(scope=BotCommandScopeAllPrivateChats(), language_code="ko")
    assert [c.command for c in ko] == ["agenda"]

    assert api.commands("ru") == [{"command": "start", "description": "Начать"}]
    assert api.commands("ko", scope={"type": "all_private_chats"})[0]["command"] == "agenda"
    record = api.sent(method="setMyCommands")[-1]
    assert record.params["scope"] == {"type": "all_private_chats"}
    assert record.params["language_code"] == "ko"

    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad-Command", description="x")])


async def test_send_document_records_upload(api: FakeBotAPI, bot: Bot) -> None:
    content = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"
    message = await bot.send_document(5, BufferedInputFile(content, filename="programme.ics"), caption="Your programme")
    assert message.document is not None
    assert (message.document.file_name, message.document.file_size) == ("programme.ics", len(content))
    assert message.document.mime_type == "text/calendar"
    assert message.caption == "Your programme"

    [record] = api.sent(5, "sendDocument")
    assert record.document is not None
    assert (record.document.filename, record.document.data) == ("programme.ics", content)
    assert str(record.params["document"]).startswith("attach://")

    again = await bot.send_document(6, message.document.file_id)  # re-send by file_id, no upload
    assert again.document is not None and again.document.file_name == "programme.ics"
    assert api.stats.delivered == 2


async def test_send_photo_records_a_multipart_upload_then_sends_by_file_id(api: FakeBotAPI, bot: Bot) -> None:
    png = PNG_1X1
    message = await bot.send_photo(5, BufferedInputFile(png, filename="poster.png"), caption="<b>Our</b> poster",
                                   parse_mode="HTML", reply_markup=InlineKeyboardMarkup(inline_keyboard=[[
                                       InlineKeyboardButton(text="Program", url="https://wego.example/p")]]))
    assert message.photo and message.caption == "Our poster"
    [record] = api.sent(5, "sendPhoto")
    assert record.photo is not None and (record.photo.filename, record.photo.data) == ("poster.png", png)
    assert record.text == "<b>Our</b> poster" and api.buttons(record) == [("Program", None)]
    assert record.delivered and "poster.png" in record.describe()

    again = await bot.send_photo(6, message.photo[-1].file_id, caption="again")  # by file_id: no upload
    assert again.photo and again.photo[-1].file_id == message.photo[-1].file_id
    assert api.sent(6, "sendPhoto")[0].photo is None and api.stats.delivered == 2
    api.blocked.add(7)
    with pytest.raises(TelegramForbiddenError):
        await bot.send_photo(7, message.photo[-1].file_id)
    assert api.stats.blocked == 1


async def test_get_updates_long_polling(api: FakeBotAPI, bot: Bot) -> None:
    asyncio.get_running_loop().call_later(0.3, lambda: api.push_text(3, "hello", language_code="ru"))
    started = time.monotonic()
    [update] = await bot.get_updates(timeout=5)
    assert 0.2 < time.monotonic() - started < 3
    message = update.message
    assert message is not None and message.text == "hello"
    assert message.from_user is not None and message.from_user.language_code == "ru"
    assert (message.chat.id, message.chat.type) == (3, "private")

    # Not confirmed yet: the same update comes again until a later offset confirms it.
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == [update.update_id]

    started = time.monotonic()
    assert await bot.get_updates(offset=update.update_id + 1, timeout=1) == []
    assert time.monotonic() - started >= 0.9
    assert api.pending_updates == []


async def test_get_updates_limit_and_update_kinds(api: FakeBotAPI, bot: Bot) -> None:
    first = api.push_command(11, "start", "ref_abc")
    api.push_location(11, 37.5665, 126.978)
    api.push_sticker(11)

    batch = await bot.get_updates(limit=2)
    assert [u.update_id for u in batch] == [first["update_id"], first["update_id"] + 1]
    command = batch[0].message
    assert command is not None and command.text == "/start ref_abc"
    assert command.entities is not None and command.entities[0].type == "bot_command"
    location = batch[1].message
    assert location is not None and location.location is not None
    assert location.location.latitude == pytest.approx(37.5665)
    assert location.message_id == command.message_id + 1

    [sticker] = await bot.get_updates(offset=batch[-1].update_id + 1)
    assert sticker.message is not None and sticker.message.sticker is not None


async def test_retry_after_429(api: FakeBotAPI, bot: Bot) -> None:
    api.fail_next("sendMessage", status=429, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(1, "flood")
    assert caught.value.retry_after == 7
    assert "retry after 7" in caught.value.message

    await bot.send_message(1, "flood")  # the rule was used up
    assert api.stats.too_many_requests == 1 and api.stats.delivered == 1
    assert len(api.sent(1)) == 1
    assert [rec.status for rec in api.calls] == [429, 200]


async def test_blocked_user_gets_403(api: FakeBotAPI, bot: Bot) -> None:
    api.block(9)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(9, "hi")
    await bot.send_message(10, "hi")

    api.fail_next(status=403, chat_id=10, times=2)
    await bot.send_message(11, "not matched by chat_id")
    for _ in range(2):
        with pytest.raises(TelegramForbiddenError):
            await bot.send_message(10, "again")
    await bot.send_message(10, "rule used up")
    assert api.stats.blocked == 1
    assert api.stats.client_errors == 3
    assert api.delivered_per_chat() == {10: 2, 11: 1}


async def test_server_errors(api: FakeBotAPI, bot: Bot) -> None:
    api.fail_next(status=500)
    with pytest.raises(TelegramServerError, match="Internal Server Error"):
        await bot.send_message(1, "x")
    api.fail_next(None, status=502)  # any method
    with pytest.raises(TelegramServerError, match="Bad Gateway"):
        await bot.get_me()
    api.fail_next(status=502, body="<html><body><h1>502 Bad Gateway</h1></body></html>")
    with pytest.raises(ClientDecodeError):  # what a real nginx 502 page does to aiogram
        await bot.send_message(1, "x")
    assert api.stats.server_errors == 3
    assert api.stats.delivered == 0


async def test_bad_request(api: FakeBotAPI, bot: Bot) -> None:
    api.fail_next(status=400, description="Bad Request: chat not found")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(1, "x")
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(1, "x", reply_markup=keyboard(("Too long", "x" * 65)))
    assert api.stats.delivered == 0


async def test_per_chat_rate_limit() -> None:
    async with FakeBotAPI(per_chat_rate=1.0) as api:
        bot = make_bot(api)
        try:
            await bot.send_message(1, "first")
            for text in ("second", "third"):
                with pytest.raises(TelegramRetryAfter) as caught:
                    await bot.send_message(1, text)
                assert caught.value.retry_after == 1
            await bot.send_message(2, "other chat is fine")
        finally:
            await bot.session.close()
    assert api.delivered_per_chat() == {1: 1, 2: 1}
    assert api.stats.too_many_requests == 2
    assert [rec.text for rec in api.sent(1)] == ["first"]


async def test_global_rate_limit() -> None:
    async with FakeBotAPI(global_rate=3) as api:
        bot = make_bot(api)
        try:
            for chat_id in (1, 2, 3):
                await bot.send_message(chat_id, "ok")
            with pytest.raises(TelegramRetryAfter) as caught:
                await bot.send_message(4, "over the limit")
            assert caught.value.retry_after >= 1
        finally:
            await bot.session.close()
    assert sum(api.delivered_per_chat().values()) == 3


async def test_random_429_is_reproducible_with_seed() -> None:
    async def pattern() -> list[int]:
        async with FakeBotAPI(random_429_ratio=0.5, seed=7) as api:
            bot = make_bot(api)
            try:
                for i in range(20):
                    with contextlib.suppress(TelegramRetryAfter):
                        await bot.send_message(i + 1, "x")
            finally:
                await bot.session.close()
        assert api.stats.delivered + api.stats.too_many_requests == 20
        return [rec.status for rec in api.calls]

    first, second = await pattern(), await pattern()
    assert first == second
    assert 200 in first and 429 in first


async def test_delay_next_times_out_client_but_still_delivers(api: FakeBotAPI, bot: Bot) -> None:
    api.delay_next("sendMessage", 1.5)
    with pytest.raises(TelegramNetworkError, match="timeout"):
        await bot.send_message(1, "slow", request_timeout=1)
    # Like Telegram, the message is delivered even though the client gave up ...
    record = await api.wait_for(method="sendMessage", chat_id=1, timeout=3)
    assert record.text == "slow"
    # ... so a naive retry duplicates it.
    await bot.send_message(1, "slow")
    assert [rec.seq for rec in api.duplicates()] == [rec.seq for rec in api.sent(1)]
    assert api.duplicates(key=lambda rec: rec.seq) == []


async def test_wait_for_timeout_lists_received_calls(api: FakeBotAPI, bot: Bot) -> None:
    await bot.send_message(1, "to somebody else")
    with pytest.raises(TimeoutError, match=r"sendMessage chat=1 200 text='to somebody else'"):
        await api.wait_for(chat_id=2, timeout=0.2)
    mark = api.mark()
    waiter = asyncio.create_task(api.wait_for(lambda rec: rec.text == "later", since=mark))
    await bot.send_message(2, "later")
    assert (await waiter).chat_id == 2


async def test_raw_http_requests() -> None:
    async with FakeBotAPI() as api, aiohttp.ClientSession() as http:
        base = f"{api.url}/bot{TOKEN}"
        async with http.post(f"{base}/fooBar") as resp:
            assert resp.status == 404
            assert await resp.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found: method not found",
            }
        async with http.get(f"{base}/GETME") as resp:  # method names are case-insensitive
            assert (await resp.json())["result"]["id"] == 42
        async with http.post(f"{base}/sendmessage", json={"chat_id": 5, "text": "json body"}) as resp:
            assert (await resp.json())["result"]["text"] == "json body"
        async with http.post(f"{base}/sendMessage", data={"chat_id": "5", "text": "123"}) as resp:
            assert (await resp.json())["result"]["text"] == "123"
        async with http.post(f"{base}/sendMessage", data={"chat_id": "5"}) as resp:
            assert resp.status == 400
            assert (await resp.json())["description"] == "Bad Request: message text is empty"
        async with http.post(f"{base}/sendMessage", data={"text": "x"}) as resp:
            assert (await resp.json())["description"] == "Bad Request: chat_id is empty"
        api.fail_next(status=429, retry_after=4)
        async with http.post(f"{base}/sendMessage", data={"chat_id": "5", "text": "x"}) as resp:
            assert resp.status == 429
            assert (await resp.json())["parameters"] == {"retry_after": 4}
        assert [str(e) for e in api.unexpected] == ["the bot called fooBar: not implemented by the fake Bot API"]
        api.unexpected.clear()
    assert [rec.params["text"] for rec in api.sent(5)] == ["json body", "123"]


async def test_an_unknown_method_fails_the_test_as_in_process() -> None:
    """The bot only sees a 404, which its error handling may swallow: leaving the fake fails the test."""
    api = FakeBotAPI()
    with pytest.raises(UnknownMethod, match="sendGift"):
        async with api, aiohttp.ClientSession() as http, \
                http.post(f"{api.url}/bot{TOKEN}/sendGift", json={"chat_id": 5}) as resp:
            assert resp.status == 404


async def test_webhook_conflicts_with_get_updates(api: FakeBotAPI, bot: Bot) -> None:
    assert await bot.set_webhook("https://example.org/hook")
    assert api.webhook["url"] == "https://example.org/hook"
    with pytest.raises(TelegramConflictError):
        await bot.get_updates()
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates() == []


async def test_dispatcher_polls_end_to_end(api: FakeBotAPI, bot: Bot) -> None:
    dp = Dispatcher()

    @dp.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("Welcome!", reply_markup=keyboard(("Agenda", "agenda")))

    @dp.callback_query(F.data == "agenda")
    async def agenda(query: CallbackQuery) -> None:
        assert isinstance(query.message, Message)
        await query.message.edit_text("Day 1: opening")
        await query.answer()

    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1))
    try:
        await api.wait_until(lambda: api.waiting_polls > 0, timeout=5)
        api.push_command(77, "start", first_name="Minji", language_code="ko")
        welcome = await api.wait_for(method="sendMessage", chat_id=77)
        assert api.buttons(welcome) == [("Agenda", "agenda")]
        api.push_callback(77, "agenda")
        await api.wait_for(method="answerCallbackQuery", chat_id=77)
        assert api.last_text(77) == "Day 1: opening"
    finally:
        await dp.stop_polling()
        await polling


async def test_second_poller_terminates_the_first(api: FakeBotAPI, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await api.wait_until(lambda: api.waiting_polls == 1, timeout=2)
    assert await bot.get_updates() == []
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
        await first


async def test_token_check_known_chats_and_bad_values() -> None:
    async with FakeBotAPI(token=TOKEN, known_chats_only=True) as api:
        wrong = Bot(token="42:WRONG", session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))
        bot = make_bot(api)
        try:
            with pytest.raises(TelegramUnauthorizedError):
                await wrong.get_me()
            with pytest.raises(TelegramBadRequest, match="chat not found"):
                await bot.send_message(8, "nobody wrote to the bot from chat 8")
            api.push_text(8, "hi")
            await bot.send_message(8, "now the chat is known")
            api.fail_next(None, status=418, description="I'm a teapot")
            async with aiohttp.ClientSession() as http:
                url = f"{api.url}/bot{TOKEN}/deleteMessage"
                async with http.post(url, data={"chat_id": "8", "message_id": "abc"}) as resp:
                    assert resp.status == 418  # fail_next wins over everything
                async with http.post(url, data={"chat_id": "8", "message_id": "abc"}) as resp:
                    assert resp.status == 400
                    assert (await resp.json())["description"].startswith("Bad Request: invalid parameter")
        finally:
            await wrong.session.close()
            await bot.session.close()
