"""A group upgraded to a supergroup: its jobs follow it to the new chat id, so photos still to
come and the buttons under delivered ones keep working; so do the group's own daily limit and
its place on the allow-list, set by an admin."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.types import Message

from bot.generation.quotas import Quotas
from handlers.common import is_migration
from storage.repositories import AccessRepository, JobRepository

log = logging.getLogger(__name__)


def build_router() -> Router:
    router = Router(name="migration")
    router.message.register(chat_migrated, is_migration)
    return router


async def chat_migrated(message: Message, jobs: JobRepository, quotas: Quotas,
                        access: AccessRepository) -> None:
    old_chat_id, new_chat_id = message.chat.id, message.migrate_to_chat_id
    assert new_chat_id is not None  # the filter
    moved = await jobs.move_chat(old_chat_id, new_chat_id)
    limit = await quotas.rules.move_chat(old_chat_id, new_chat_id)
    allowed = await access.move_chat(old_chat_id, new_chat_id)
    log.info("chat %s became supergroup %s; %d job(s) moved%s%s", old_chat_id, new_chat_id,
             moved, ", its daily limit too" if limit else "",
             ", its allow-list entry too" if allowed else "")
