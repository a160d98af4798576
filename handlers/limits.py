"""`/limits`: images left today (for you, for this chat), when the day resets, and your images
in progress with their place in the queue."""

from __future__ import annotations

from aiogram import Router, html
from aiogram.filters import Command
from aiogram.types import Message

from bot import texts
from bot.generation.delivery import cut_utf16
from bot.generation.quotas import Progress, Quotas, QuotaStatus
from handlers.common import is_group, language, reset_values
from storage.models import JobState

PROMPT_PREVIEW = 60  # characters of each prompt shown in the list


def build_router() -> Router:
    router = Router(name="limits")
    router.message.register(show_limits, Command("limits"))
    return router


async def show_limits(message: Message, quotas: Quotas) -> None:
    user = message.from_user
    if user is None or user.is_bot:
        return
    lang = language(message)
    status = await quotas.status(user.id, message.chat.id)
    every = await quotas.progress(user.id, None)
    # In a group, list only this chat's jobs: prompts sent in private stay private.
    shown = [item for item in every if item.job.chat_id == message.chat.id] if is_group(
        message) else every
    lines = limit_lines(status, lang)
    if not is_group(message):
        lines.append(texts.text(lang, "limits_id", id=user.id))
    lines.append("")
    lines.extend(progress_lines(shown, len(every) - len(shown), lang))
    await message.reply("\n".join(lines))


def limit_lines(status: QuotaStatus, lang: str) -> list[str]:
    if status.exempt:
        return [texts.text(lang, "limits_admin")]
    lines = []
    if status.user.limit is None:
        lines.append(texts.text(lang, "limits_user_unlimited", used=status.user.used))
    else:
        line = texts.text(lang, "limits_user", left=status.user.left, limit=status.user.limit)
        if status.granted:
            line += texts.text(lang, "limits_granted", granted=status.granted)
        lines.append(line)
    if status.chat is not None:
        lines.append(texts.text(lang, "limits_chat", left=status.chat.left,
                                limit=status.chat.limit))
    everyone = status.everyone
    if everyone is not None and everyone.left is not None:
        own = [left for left in (status.user.left, status.chat.left if status.chat else None)
               if left is not None]
        if not own or everyone.left < min(own):  # shown only when it is what holds you back
            lines.append(texts.text(lang, "limits_everyone", left=everyone.left,
                                    limit=everyone.limit))
    if status.max_active is not None:
        lines.append(texts.text(lang, "limits_active", limit=status.max_active))
    lines.append(texts.text(lang, "limits_reset", **reset_values(lang, status.now, status.reset)))
    return lines


def progress_lines(items: list[Progress], elsewhere: int, lang: str) -> list[str]:
    if not items and not elsewhere:
        return [texts.text(lang, "limits_jobs_none")]
    lines = [texts.text(lang, "limits_jobs")]
    for item in items:
        prompt = html.quote(cut_utf16(item.job.prompt, PROMPT_PREVIEW))
        if item.job.state is JobState.GENERATED:
            lines.append(texts.text(lang, "limits_job_sending", prompt=prompt))
        elif item.position is not None:
            lines.append(texts.text(lang, "limits_job_queued", position=item.position,
                                    prompt=prompt))
        else:
            lines.append(texts.text(lang, "limits_job_drawing", prompt=prompt))
    if elsewhere:
        lines.append(texts.text(lang, "limits_jobs_elsewhere", count=elsewhere))
    return lines
