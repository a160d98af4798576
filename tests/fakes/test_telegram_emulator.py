"""Self-tests of the Telegram emulator, driven by a real aiogram Bot over real HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyParameters,
)

from tests.fakes.telegram import TelegramEmulator, parse_html

USER = 1001
GROUP = -100200


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def bot(emu: TelegramEmulator) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url))
    the_bot = Bot(emu.token, session=session)
    yield the_bot
    await the_bot.session.close()


async def test_get_me(bot: Bot, emu: TelegramEmulator) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123456, "ourbot", True)
    assert emu.ok_calls("getMe")[0].response["result"]["first_name"] == "Our Bot"


async def test_send_message_replies_and_records(bot: Bot, emu: TelegramEmulator) -> None:
    asked = emu.user_message(chat_id=USER, user_id=USER, text="/draw@ourbot a cat")
    sent = await bot.send_message(USER, "hi <b>there</b>", parse_mode="HTML",
                                  reply_parameters=ReplyParameters(message_id=asked))
    assert sent.reply_to_message is not None and sent.reply_to_message.message_id == asked
    assert sent.message_id == asked + 1 and sent.text == "hi there"
    assert sent.entities is not None and sent.entities[0].type == "bold"
    call = emu.ok_calls("sendmessage", USER)[0]
    assert call.params["reply_parameters"] == {"message_id": asked}
    assert [m["text"] for m in emu.bot_messages(USER)] == ["hi there"]


async def test_reply_to_missing_message(bot: Bot, emu: TelegramEmulator) -> None:
    emu.user_message(chat_id=USER, user_id=USER, text="hello")
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(USER, "x", reply_parameters=ReplyParameters(message_id=99))
    options = ReplyParameters(message_id=99, allow_sending_without_reply=True)
    sent = await bot.send_message(USER, "x", reply_parameters=options)
    assert sent.reply_to_message is None


async def test_send_photo_records_bytes(bot: Bot, emu: TelegramEmulator) -> None:
    emu.user_message(chat_id=GROUP, user_id=USER, text="/draw cat", chat_type="group")
    data = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (800).to_bytes(4, "big") * 2 + b"rest"
    sent = await bot.send_photo(GROUP, BufferedInputFile(data, "cat.png"), caption="a <i>cat</i>",
                                parse_mode="HTML")
    assert sent.photo is not None and sent.photo[-1].width == 800 and sent.caption == "a cat"
    assert [call.files["photo"] for call in emu.photos(GROUP)] == [data]
    again = await bot.send_photo(GROUP, sent.photo[-1].file_id)
    assert again.photo is not None and again.photo[-1].file_id == sent.photo[-1].file_id


async def test_faults(bot: Bot, emu: TelegramEmulator) -> None:
    emu.user_message(chat_id=USER, user_id=USER, text="hi")
    emu.fail_next("sendMessage", status=429, description="Too Many Requests: retry after 7",
                  retry_after=7)
    with pytest.raises(TelegramRetryAfter) as retry:
        await bot.send_message(USER, "x")
    assert retry.value.retry_after == 7
    await bot.send_message(USER, "second attempt works")
    emu.block_chat(USER)
    with pytest.raises(TelegramForbiddenError, match="blocked by the user"):
        await bot.send_chat_action(USER, "upload_photo")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(777, "x")


async def test_html_validation_and_limits(bot: Bot, emu: TelegramEmulator) -> None:
    emu.user_message(chat_id=USER, user_id=USER, text="hi")
    with pytest.raises(TelegramBadRequest, match="can't parse entities: Unsupported start tag"):
        await bot.send_message(USER, "a <xyz> b", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(USER, "&lt;" * 4097, parse_mode="HTML")
    sent = await bot.send_message(USER, "&lt;" * 4096, parse_mode="HTML")
    assert sent.text == "<" * 4096
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(USER, BufferedInputFile(b"img", "a.png"), caption="x" * 1025)


def test_parse_html_counts_utf16() -> None:
    text, entities = parse_html('🎨 <b>bold &amp; <a href="https://x.y/">link</a></b> &#33;&foo')
    assert text == "🎨 bold & link !&foo"
    assert entities == [
        {"offset": 3, "length": 11, "type": "bold"},
        {"offset": 10, "length": 4, "type": "text_link", "url": "https://x.y/"},
    ]


async def test_edit_and_delete(bot: Bot, emu: TelegramEmulator) -> None:
    emu.user_message(chat_id=USER, user_id=USER, text="hi")
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="again", callback_data="v1:again")]]
    )
    sent = await bot.send_message(USER, "working", reply_markup=keyboard)
    edited = await bot.edit_message_text("done", chat_id=USER, message_id=sent.message_id,
                                         reply_markup=keyboard)
    assert not isinstance(edited, bool) and edited.text == "done"
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("done", chat_id=USER, message_id=sent.message_id,
                                    reply_markup=keyboard)
    query_id = emu.callback_query(chat_id=USER, user_id=USER, message_id=sent.message_id,
                                  data="v1:again")
    assert await bot.answer_callback_query(query_id)
    assert await bot.delete_message(USER, sent.message_id)
    assert emu.bot_messages(USER) == []
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(USER, sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER, message_id=sent.message_id)


async def test_migration_and_drop(bot: Bot, emu: TelegramEmulator) -> None:
    emu.user_message(chat_id=-5, user_id=USER, text="/draw x", chat_type="group")
    emu.chat_migrated(old_chat_id=-5, new_chat_id=-1005)
    with pytest.raises(TelegramMigrateToChat) as migrated:
        await bot.send_message(-5, "x")
    assert migrated.value.migrate_to_chat_id == -1005
    emu.drop_next_connection("sendMessage")
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(-1005, "lost")
    assert emu.bot_messages(-1005) == []
    assert (await bot.send_message(-1005, "kept")).message_id == 1


async def test_group_flood_limit(bot: Bot, emu: TelegramEmulator) -> None:
    emu.user_message(chat_id=GROUP, user_id=USER, text="hi", chat_type="supergroup")
    emu.group_flood_limit = (2, 30.0)
    await bot.send_message(GROUP, "1")
    await bot.send_chat_action(GROUP, "typing")  # not counted
    await bot.send_message(GROUP, "2")
    with pytest.raises(TelegramRetryAfter) as retry:
        await bot.send_message(GROUP, "3")
    assert 29 <= retry.value.retry_after <= 30 and emu.flood_429s == 1


async def test_get_updates_long_poll_and_offset(bot: Bot, emu: TelegramEmulator) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(offset=0, timeout=5))
    await emu.wait_for(lambda: bool(emu.calls), what="the long poll")
    emu.user_message(chat_id=USER, user_id=USER, text="/draw@ourbot cat", language_code="ru")
    updates = await poll
    assert time.monotonic() - started < 3
    message = updates[0].message
    assert message is not None and message.text == "/draw@ourbot cat"
    assert message.entities is not None and message.entities[0].length == len("/draw@ourbot")
    assert message.from_user is not None and message.from_user.language_code == "ru"
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == []
    assert emu.updates == []


async def test_update_deliveries_record_first_answer(bot: Bot, emu: TelegramEmulator) -> None:
    emu.user_message(chat_id=USER, user_id=USER, text="/draw cat")
    assert emu.deliveries == {}
    before = time.monotonic()
    [update] = await bot.get_updates(timeout=0)
    delivered = emu.deliveries[update.update_id]
    assert before <= delivered.at <= time.monotonic()
    assert delivered.update["message"]["text"] == "/draw cat"
    await bot.get_updates(timeout=0)  # not confirmed: sent again, first time kept
    assert emu.deliveries[update.update_id].at == delivered.at


async def test_latency_delays_requests(bot: Bot, emu: TelegramEmulator) -> None:
    emu.latency = 0.2
    started = time.monotonic()
    await bot.get_me()
    assert time.monotonic() - started >= 0.2
    assert emu.calls[0].at - started >= 0.1


async def test_concurrent_polls_and_stop(bot: Bot, emu: TelegramEmulator) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=30))
    await emu.wait_for(lambda: len(emu.calls) == 1, what="the first poll")
    second = asyncio.create_task(bot.get_updates(timeout=30))
    with pytest.raises(TelegramConflictError):
        await first
    started = time.monotonic()
    await emu.stop()
    assert await second == [] and time.monotonic() - started < 3


async def test_raw_http_shapes(emu: TelegramEmulator) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{emu.base_url}/bot{emu.token}/noSuchMethod") as resp:
            assert resp.status == 404
            assert await resp.json() == {
                "ok": False, "error_code": 404, "description": "Not Found: method not found"
            }
        async with http.post(f"{emu.base_url}/bot1:bad/getMe") as resp:
            assert resp.status == 401
        emu.user_message(chat_id=USER, user_id=USER, text="hi")
        body = {"chat_id": USER, "text": "json", "reply_markup": {"inline_keyboard": []}}
        async with http.post(f"{emu.base_url}/bot{emu.token}/SENDMESSAGE", json=body) as resp:
            assert (await resp.json())["result"]["text"] == "json"


async def test_wrong_token_is_unauthorized(emu: TelegramEmulator) -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url))
    other = Bot("42:wrong", session=session)
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await other.get_me()
    finally:
        await session.close()
