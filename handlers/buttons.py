"""The buttons under a photo: 🔄 Again and 📄 Original.

Every press is answered (answerCallbackQuery) as soon as its outcome is known, before anything
slow happens, so Telegram's spinner stops and the query never grows "too old".
"""

from __future__ import annotations

import logging
from dataclasses import replace

from aiogram import F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery

from bot import texts
from bot.buttons import JobAction, JobButton
from bot.generation.delivery import Delivery
from bot.generation.intake import DrawRequest, Intake
from bot.generation.originals import Originals
from bot.prompt import DrawOptions, ParsedPrompt
from handlers.draw import limit_text
from storage.models import Created, Job, LimitReached
from storage.repositories import JobRepository

log = logging.getLogger(__name__)


def build_router() -> Router:
    router = Router(name="buttons")
    router.callback_query.register(again, JobButton.filter(F.action == JobAction.AGAIN))
    router.callback_query.register(original, JobButton.filter(F.action == JobAction.ORIGINAL))
    router.callback_query.register(outdated)  # an older layout's data, or forged data
    return router


async def again(query: CallbackQuery, callback_data: JobButton, intake: Intake,
                jobs: JobRepository, language: str) -> None:
    """Same prompt and options with a new seed: a new job, charged to whoever pressed."""
    job = await pressed_job(query, callback_data, jobs)
    if job is None or query.message is None:
        await answer(query, texts.text(language, "button_gone"))
        return
    options = replace(DrawOptions.from_json(job.options), seed=None)  # the intake picks one
    request = DrawRequest(
        chat_id=job.chat_id,
        thread_id=job.thread_id,
        user_id=query.from_user.id,
        message_id=query.message.message_id,  # the new photo replies to this one
        language=language,
        prompt=ParsedPrompt(text=job.prompt, options=options),
        request_key=f"cb:{query.id}",  # a re-sent press creates nothing new
    )
    result = await intake.register(request)
    if isinstance(result, LimitReached):
        # Same wording as /draw's reply; an alert holds 200 characters of plain text.
        await answer(query, limit_text(result, language, intake)[:200], alert=True)
        return
    await answer(query)
    if isinstance(result, Created):
        log.info("job %s: again of job %s, by user %s", result.job.id, job.id, query.from_user.id)
        await intake.begin(result.job)


async def original(query: CallbackQuery, callback_data: JobButton, jobs: JobRepository,
                   originals: Originals, delivery: Delivery, language: str) -> None:
    """The untouched JPEG as a document, while it is kept."""
    job = await pressed_job(query, callback_data, jobs)
    if job is None or query.message is None:
        await answer(query, texts.text(language, "button_gone"))
        return
    image = await originals.image(job)
    if image is None:
        await answer(query, texts.text(language, "original_gone",
                                       hours=f"{originals.retention_hours:g}"), alert=True)
        return
    chat_id = query.message.chat.id
    if not originals.claim(chat_id, job.id):
        await answer(query, texts.text(language, "original_recent"))
        return
    await answer(query)
    if not await delivery.send_original(job, image, chat_id=chat_id,
                                        reply_to=query.message.message_id):
        originals.release(chat_id, job.id)


async def outdated(query: CallbackQuery, language: str) -> None:
    await answer(query, texts.text(language, "button_gone"))


async def pressed_job(query: CallbackQuery, data: JobButton, jobs: JobRepository) -> Job | None:
    """The button's job, if it belongs to the chat the button is in (callback data can be
    forged: a job id alone must not reveal another chat's prompt or image)."""
    if query.message is None:
        return None
    job = await jobs.get(data.job_id)
    if job is None or job.chat_id != query.message.chat.id:
        return None
    return job


async def answer(query: CallbackQuery, text: str | None = None, *, alert: bool = False) -> None:
    try:
        await query.answer(text, show_alert=alert)
    except TelegramAPIError as error:  # e.g. a press re-sent after a restart: too old by now
        log.info("callback query %s not answered (%s)", query.id, error)
