"""A group upgraded to a supergroup: its jobs follow it to the new chat id, so photos still to
come and the buttons under delivered ones keep working."""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.types import Message

from storage.repositories import JobRepository

log = logging.getLogger(__name__)


def build_router() -> Router:
    router = Router(name="migration")
    router.message.register(chat_migrated, F.migrate_to_chat_id)
    return router


async def chat_migrated(message: Message, jobs: JobRepository) -> None:
    new_chat_id = message.migrate_to_chat_id
    assert new_chat_id is not None  # the filter
    moved = await jobs.move_chat(message.chat.id, new_chat_id)
    log.info("chat %s became supergroup %s; %d job(s) moved", message.chat.id, new_chat_id, moved)
