"""The command menu Telegram shows next to the message field, in each language."""

from __future__ import annotations

import logging
from typing import Final

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand

from bot import texts

log = logging.getLogger(__name__)

#: (command, key of its description in the catalogs); other features add theirs here.
COMMANDS: Final[tuple[tuple[str, str], ...]] = (
    ("draw", "cmd_draw"),
)


def commands(language: str) -> list[BotCommand]:
    return [BotCommand(command=name, description=texts.text(language, key))
            for name, key in COMMANDS]


async def publish_commands(bot: Bot) -> None:
    """English for everyone, Russian for the language codes that get Russian texts.
    Cosmetic: a failure is logged, never fatal."""
    try:
        await bot.set_my_commands(commands(texts.DEFAULT_LANGUAGE))
        for code in sorted(texts.RUSSIAN_SPEAKING):
            await bot.set_my_commands(commands(texts.language_of(code)), language_code=code)
    except TelegramAPIError as error:
        log.warning("command menu not set: %s", error)
