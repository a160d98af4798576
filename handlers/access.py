"""Bans and the allow-list, applied once for every handler (see `handlers.build_router`).

An inner middleware runs only when a handler matched, so only commands meant for this bot are
refused: a banned user is ignored, and with ACCESS_MODE=allowlist a user or chat not on the list
is told once (remembered in SQLite) and ignored after that; a refused button press is answered
silently. Admins always pass."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Chat, Message, TelegramObject, User

from bot import texts
from bot.config import Settings
from storage.repositories import AccessRepository

log = logging.getLogger(__name__)


class AccessMiddleware(BaseMiddleware):
    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        settings: Settings = data["settings"]
        access: AccessRepository = data["access"]
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        if user is None or chat is None or user.id in settings.admin_ids:
            return await handler(event, data)
        facts = await access.facts(user.id, chat.id)
        if facts.banned:
            log.debug("ignoring banned user %s", user.id)
            await _stop_spinner(event)
            return None
        if settings.access_mode == "allowlist" and not (facts.user_allowed or facts.chat_allowed):
            await _stop_spinner(event)
            # Told once per chat (in a private chat, that is the user), then silence.
            if isinstance(event, Message) and await access.note_refusal(chat.id):
                log.info("user %s in chat %s is not on the allow-list: told once",
                         user.id, chat.id)
                key = "not_allowed_private" if chat.type == "private" else "not_allowed_group"
                try:
                    await event.reply(texts.text(texts.language_of(user.language_code), key,
                                                 id=chat.id))
                except TelegramAPIError as error:
                    log.info("could not tell chat %s it is not allowed: %s", chat.id, error)
            return None
        return await handler(event, data)


async def _stop_spinner(event: TelegramObject) -> None:
    """A refused button press is answered silently, or the button spins for seconds."""
    if isinstance(event, CallbackQuery):
        try:
            await event.answer()
        except TelegramAPIError as error:
            log.debug("refused button press not answered: %s", error)
