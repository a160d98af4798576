"""Small helpers shared by the handlers (no router here)."""

from __future__ import annotations

from datetime import datetime

from aiogram.types import Message

from bot import texts


def language(message: Message) -> str:
    user = message.from_user
    return texts.language_of(user.language_code if user else None)


def is_group(message: Message) -> bool:
    return message.chat.type in {"group", "supergroup"}


# Filters are coroutines, not magic filters (`F.…`): aiogram runs a plain callable in a worker
# thread (`asyncio.to_thread`), a trip there and back for every message update.


async def in_people_chat(message: Message) -> bool:
    """Users' messages only: no channels, no messages from other bots."""
    return message.chat.type in {"private", "group", "supergroup"}


async def is_migration(message: Message) -> bool:
    """Telegram's service message telling that a group became a supergroup."""
    return message.migrate_to_chat_id is not None


def reset_values(language: str, now: datetime, reset: datetime) -> dict[str, str]:
    """`reset_at` and `reset_in` for the texts that say when the limits day ends."""
    return {
        "reset_at": reset.strftime("%H:%M ") + (reset.tzname() or ""),
        "reset_in": texts.duration(language, (reset - now).total_seconds()),
    }


def replied_user_id(message: Message) -> int | None:
    """The author of the message this one replies to, if that is a person."""
    replied = message.reply_to_message
    if replied is None or replied.forum_topic_created is not None:
        return None  # in a forum topic every message "replies" to the topic's first message
    if replied.from_user is None or replied.from_user.is_bot:
        return None
    return replied.from_user.id
