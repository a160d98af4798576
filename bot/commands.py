"""The command menus Telegram shows: user commands for everyone, admin ones only to admins."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault

from bot import texts

log = logging.getLogger(__name__)

USER_COMMANDS = ("draw", "limits", "cancel")
ADMIN_COMMANDS = ("stats", "setlimit", "grant", "ban", "unban", "allow", "disallow")
MENU_LANGUAGES = (None, "ru")  # None: the default menu (English)


def menu(names: tuple[str, ...], language: str | None) -> list[BotCommand]:
    return [BotCommand(command=name, description=texts.text(language, f"cmd_{name}"))
            for name in names]


async def register_commands(bot: Bot, admin_ids: frozenset[int]) -> None:
    """setMyCommands for everyone and, in each admin's private chat, with the admin commands.
    Never fails: a menu is a convenience (an admin who never wrote to the bot has no chat)."""
    for language in MENU_LANGUAGES:
        try:
            await bot.set_my_commands(menu(USER_COMMANDS, language),
                                      scope=BotCommandScopeDefault(), language_code=language)
        except TelegramAPIError as error:
            log.warning("could not set the command menu: %s", error)
            return
    for admin_id in sorted(admin_ids):
        for language in MENU_LANGUAGES:
            try:
                await bot.set_my_commands(
                    menu(USER_COMMANDS + ADMIN_COMMANDS, language),
                    scope=BotCommandScopeChat(chat_id=admin_id), language_code=language,
                )
            except TelegramAPIError as error:
                log.warning("could not set the admin command menu for %s: %s", admin_id, error)
                break
