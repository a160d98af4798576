"""`/cancel`: cancel your own images that are not ready yet (refunded). Only your own: in a
group, your jobs in that group; in private, all of yours."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot import texts
from bot.generation.delivery import Delivery
from bot.generation.quotas import Quotas
from bot.generation.service import GenerationService
from handlers.common import is_group, language
from storage.models import Job, JobState

log = logging.getLogger(__name__)


def build_router() -> Router:
    router = Router(name="cancel")
    router.message.register(cancel, Command("cancel"))
    return router


async def cancel(message: Message, quotas: Quotas, service: GenerationService,
                 delivery: Delivery) -> None:
    user = message.from_user
    if user is None or user.is_bot:
        return
    lang = language(message)
    jobs = await quotas.unfinished(user.id, message.chat.id if is_group(message) else None)
    cancelled, too_late = await cancel_jobs(jobs, service, delivery)
    if not cancelled and not too_late:
        await message.reply(texts.text(lang, "cancel_none"))
        return
    lines = []
    if cancelled:
        lines.append(texts.text(lang, "cancel_done", count=cancelled))
    if too_late:
        lines.append(texts.text(lang, "cancel_too_late", count=too_late))
    await message.reply("\n".join(lines))


async def cancel_jobs(jobs: list[Job], service: GenerationService,
                      delivery: Delivery) -> tuple[int, int]:
    """Cancel (and refund) every job not drawn yet; returns (cancelled, already drawn).
    A drawn image is paid for and on its way: it is delivered rather than thrown away."""
    cancelled = too_late = 0
    for job in jobs:
        if job.state is JobState.GENERATED:
            too_late += 1
        elif await service.cancel(job.id):
            cancelled += 1
            await delivery.remove_status(job)
    return cancelled, too_late
