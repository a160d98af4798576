"""The buttons under each photo. The callback data holds the job id only (never the prompt):
the job row in SQLite has the rest, so a button keeps working after a restart."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot import texts
from storage.models import Job


class JobAction(StrEnum):
    AGAIN = "again"  # same prompt and options, a new seed, charged to whoever presses it
    ORIGINAL = "orig"  # the untouched JPEG as a document


class JobButton(CallbackData, prefix="j1"):
    """`j1:<action>:<job id>`, at most 25 bytes. The prefix carries the layout's version: a
    new layout gets a new prefix, and presses of old buttons get a polite answer."""

    action: JobAction
    job_id: int


def photo_keyboard(job: Job, *, original: bool) -> InlineKeyboardMarkup:
    """Labels in the language of the job's requester; `original` when originals are kept."""
    row = [InlineKeyboardButton(text=texts.text(job.language, "button_again"),
                                callback_data=JobButton(action=JobAction.AGAIN,
                                                        job_id=job.id).pack())]
    if original:
        row.append(InlineKeyboardButton(text=texts.text(job.language, "button_original"),
                                        callback_data=JobButton(action=JobAction.ORIGINAL,
                                                                job_id=job.id).pack()))
    return InlineKeyboardMarkup(inline_keyboard=[row])
