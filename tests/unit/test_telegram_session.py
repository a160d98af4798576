"""The answer models aiogram builds per call stay alive between calls."""

from __future__ import annotations

import gc
from typing import Any

from aiogram import Bot
from aiogram.methods import SendMessage, TelegramMethod
from aiogram.methods.base import Response
from aiogram.types import Message

from bot.telegram_session import PinResponseTypes


async def test_response_type_is_built_once_and_kept() -> None:
    middleware = PinResponseTypes()
    send = SendMessage(chat_id=1, text="hi")
    seen: list[TelegramMethod[Message]] = []
    answer: Response[Message] = Response[Message](ok=True)

    async def make_request(bot: Bot, method: TelegramMethod[Message]) -> Response[Message]:
        seen.append(method)
        return answer

    bot = Bot("123:abc")
    try:
        assert await middleware(make_request, bot, send) is answer
        assert seen == [send]
        returning: Any = SendMessage.__returning__
        pinned = middleware.pinned[returning]
        gc.collect()
        assert Response[returning] is pinned  # a cache hit, not a rebuild
    finally:
        await bot.session.close()
