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
# None: the default menu (English); then each language code that gets Russian texts.
MENU_LANGUAGES: tuple[str | None, ...] = (None, *sorted(texts.RUSSIAN_SPEAKING))


def menu(names: tuple[str, ...], language_code: str | None) -> list[BotCommand]:
    language = texts.language_of(language_code)
    return [BotCommand(command=name, description=texts.text(language, f"cmd_{name}"))
            for name in names]


async def register_commands(bot: Bot, admin_ids: frozenset[int]) -> None:
    """setMyCommands for everyone and, in each admin's private chat, with the admin commands.
    Never fails: a menu is a convenience (an admin who never wrote to the bot has no chat)."""
    scopes: list[tuple[BotCommandScopeDefault | BotCommandScopeChat, tuple[str, ...]]] = [
        (BotCommandScopeDefault(), USER_COMMANDS)]
    scopes += [(BotCommandScopeChat(chat_id=admin_id), USER_COMMANDS + ADMIN_COMMANDS)
               for admin_id in sorted(admin_ids)]
    for scope, names in scopes:
        for language in MENU_LANGUAGES:
            try:
                await bot.set_my_commands(menu(names, language), scope=scope,
                                          language_code=language)
            except TelegramAPIError as error:
                whom = ("everyone" if isinstance(scope, BotCommandScopeDefault)
                        else f"admin {scope.chat_id}")
                log.warning("could not set the command menu for %s: %s", whom, error)
                break  # the other language would fail the same way
