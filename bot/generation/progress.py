"""What the chat sees while a job is drawing: Telegram's "sending photo…" chat action and an
occasional update of the status message ("🎨 Drawing… 12 s").

- The `upload_photo` action is renewed every `ACTION_EVERY` seconds (Telegram shows it for 5 s at
  most), once per chat and topic however many jobs are drawing there.
- The status message is edited at most every `PRIVATE_EDIT_EVERY` seconds in private chats and
  `GROUP_EDIT_EVERY` in groups; in a group with more than one job drawing, or in a chat that
  Telegram flood-limited recently, it is not edited at all. Never twice with the same text, so
  never "message is not modified".
- Everything here is cosmetic and best-effort: each call has a short timeout, a 429 is never
  waited for, and no error escapes (aiogram's `ChatActionSender` dies on its first API error
  and leaves "Task exception was never retrieved"; this replaces it).

The service starts tracking a job when it picks it up; `Delivery` stops it before it sends the
photo, deletes the status message or turns it into a notice, so an edit never lands after them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

from aiogram import Bot
from aiogram.enums import ChatAction
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNotFound,
    TelegramRetryAfter,
)

from bot import texts
from bot.telegram_retry import flood_wait_at_most
from storage.models import Job

log = logging.getLogger(__name__)

ACTION_EVERY = 4.0
PRIVATE_EDIT_EVERY = 5.0
GROUP_EDIT_EVERY = 15.0
BUSY_AFTER_FLOOD = 30.0  # seconds a chat stays "busy" beyond the retry_after Telegram asked for
REQUEST_TIMEOUT = 5  # seconds; a stuck cosmetic request must not hold anything up
STOP_WAIT = 2.0  # how long stop() lets a request in flight finish before cancelling it

ChatKey = tuple[int, int | None]


@dataclass
class _Tracked:
    job: Job
    stopping: asyncio.Event
    task: asyncio.Task[None]


class Progress:
    def __init__(self, bot: Bot, *, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self._queue_shown: dict[int, tuple[int, float]] = {}  # job id -> (position, when)
        self._queue_chat_edit: dict[int, float] = {}  # chat id -> last queue edit
        self.bot = bot
        self.clock = clock
        self.wall_clock = wall_clock
        # Read when built, so a test can set the module's constants first.
        self.action_every = ACTION_EVERY
        self.private_edit_every = PRIVATE_EDIT_EVERY
        self.group_edit_every = GROUP_EDIT_EVERY
        self._jobs: dict[int, _Tracked] = {}
        self._next_action: dict[ChatKey, float] = {}
        self._busy_until: dict[int, float] = {}

    # lifecycle

    def start(self, job: Job) -> None:
        """Track `job` until `stop(job.id)`; a second start of the same job does nothing."""
        if job.id in self._jobs:
            return
        stopping = asyncio.Event()
        task = asyncio.create_task(self._track(job, stopping), name=f"progress-{job.id}")
        self._jobs[job.id] = _Tracked(job, stopping, task)

    def status_message_known(self, job: Job) -> None:
        """The job's status message was stored after its tracking began (the submitter may
        claim a job between its acknowledgement and that): edit it from now on."""
        tracked = self._jobs.get(job.id)
        if tracked is not None and tracked.job.status_message_id is None:
            tracked.job = job

    async def stop(self, job_id: int) -> None:
        """Stop tracking; returns once no request of this job's tracking can still land."""
        tracked = self._jobs.pop(job_id, None)
        if tracked is None:
            return
        tracked.stopping.set()
        if tracked.task is not asyncio.current_task():
            done, _ = await asyncio.wait({tracked.task}, timeout=STOP_WAIT)
            if not done:
                tracked.task.cancel()
                with suppress(asyncio.CancelledError):
                    await tracked.task
        self._forget_quiet_chat(tracked.job.chat_id)

    async def show_queue_position(self, job: Job, position: int) -> None:
        """Tell a waiting job its place in the queue, rarely: when the place has moved
        meaningfully since it was last shown, at most once per edit interval per chat, never
        in a chat Telegram flood-limited, never while the job is already drawing."""
        if job.status_message_id is None or job.id in self._jobs or self.busy(job.chat_id):
            return
        now = self.clock()
        every = self.private_edit_every if job.chat_id > 0 else self.group_edit_every
        shown = self._queue_shown.get(job.id)
        if shown is None:
            meaningful = position > 1
        else:
            meaningful = position < shown[0] and (shown[0] - position >= 5
                                                  or position <= shown[0] * 0.8)
        if not meaningful or now < self._queue_chat_edit.get(job.chat_id, 0.0) + every:
            return
        self._queue_chat_edit[job.chat_id] = now
        self._queue_shown[job.id] = (position, now)
        await self._edit(job, texts.text(job.language, "waiting_in_queue", position=position))

    def forget_queued(self, still_queued: set[int]) -> None:
        """Drop what was shown for jobs that left the queue."""
        for job_id in [job_id for job_id in self._queue_shown if job_id not in still_queued]:
            del self._queue_shown[job_id]
        if not still_queued:
            self._queue_chat_edit.clear()

    async def close(self) -> None:
        for job_id in list(self._jobs):
            await self.stop(job_id)

    @property
    def tracked(self) -> int:
        return len(self._jobs)

    def drawing_in(self, chat_id: int) -> int:
        return sum(1 for tracked in self._jobs.values() if tracked.job.chat_id == chat_id)

    def busy(self, chat_id: int) -> bool:
        return self.clock() < self._busy_until.get(chat_id, 0.0)

    def _forget_quiet_chat(self, chat_id: int) -> None:
        """No job left drawing in the chat: drop its timers (a flood pause still running is
        kept), so the maps do not grow with every chat ever served."""
        if self.drawing_in(chat_id):
            return
        for place in [place for place in self._next_action if place[0] == chat_id]:
            del self._next_action[place]
        if not self.busy(chat_id):
            self._busy_until.pop(chat_id, None)

    # one job

    async def _track(self, job: Job, stopping: asyncio.Event) -> None:
        try:
            await self._loop(job, stopping)
        except Exception:  # never let a cosmetic task die with an unretrieved exception
            log.exception("job %s: progress updates stopped by an unexpected error", job.id)

    async def _loop(self, job: Job, stopping: asyncio.Event) -> None:
        place: ChatKey = (job.chat_id, job.thread_id)
        private = job.chat_id > 0
        edit_every = self.private_edit_every if private else self.group_edit_every
        age = self.wall_clock() - job.created_at
        next_edit = self.clock() + max(0.0, edit_every - age)
        acting, editing = True, job.status_message_id is not None
        # The acknowledgement (a status message, a reaction) was just sent: the first action
        # would add nothing, and with hundreds of chats drawing at once it costs a request each.
        self._next_action.setdefault(place, self.clock() + self.action_every)
        shown: str | None = None
        while not stopping.is_set():
            if job.status_message_id is None:
                job = self._latest(job)
                editing = job.status_message_id is not None
            now = self.clock()
            if acting and now >= self._action_due(place):
                self._next_action[place] = now + self.action_every
                acting = await self._chat_action(job)
            if now >= next_edit and (editing or job.status_message_id is None):
                next_edit = now + edit_every  # (unknown yet: looked for again by then)
                if editing and self._may_edit(job, private):
                    text = texts.text(job.language, "working_for", elapsed=texts.elapsed(
                        job.language, self.wall_clock() - job.created_at))
                    if text != shown:
                        editing = await self._edit(job, text)
                        shown = text
            wake = min(self._action_due(place) if acting else math.inf,
                       next_edit if editing or job.status_message_id is None else math.inf)
            timeout = None if wake == math.inf else max(0.05, wake - self.clock())
            with suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout)

    def _latest(self, job: Job) -> Job:
        tracked = self._jobs.get(job.id)
        return job if tracked is None else tracked.job

    def _action_due(self, place: ChatKey) -> float:
        return max(self._next_action.get(place, 0.0), self._busy_until.get(place[0], 0.0))

    def _may_edit(self, job: Job, private: bool) -> bool:
        if self.busy(job.chat_id):
            return False
        return private or self.drawing_in(job.chat_id) == 1

    def _flood_limited(self, job: Job, error: TelegramRetryAfter) -> None:
        self._busy_until[job.chat_id] = self.clock() + error.retry_after + BUSY_AFTER_FLOOD
        log.info("job %s: chat %s flood-limited; progress updates paused", job.id, job.chat_id)

    async def _chat_action(self, job: Job) -> bool:
        """Send the action; False if this chat cannot get any more (blocked, gone, moved)."""
        try:
            with flood_wait_at_most(0):
                await self.bot.send_chat_action(job.chat_id, ChatAction.UPLOAD_PHOTO,
                                                message_thread_id=job.thread_id,
                                                request_timeout=REQUEST_TIMEOUT)
        except TelegramRetryAfter as error:
            self._flood_limited(job, error)
        except (TelegramForbiddenError, TelegramMigrateToChat, TelegramNotFound,
                TelegramBadRequest) as error:
            log.debug("job %s: no more chat actions (%s)", job.id, error)
            return False
        except TelegramAPIError as error:  # network, server: maybe next time
            log.debug("job %s: chat action failed (%s)", job.id, error)
        return True

    async def _edit(self, job: Job, text: str) -> bool:
        """Edit the status message; False if it cannot be edited any more."""
        try:
            with flood_wait_at_most(0):
                await self.bot.edit_message_text(text, chat_id=job.chat_id,
                                                 message_id=job.status_message_id,
                                                 request_timeout=REQUEST_TIMEOUT)
        except TelegramRetryAfter as error:
            self._flood_limited(job, error)
        except TelegramBadRequest as error:
            if "not modified" in error.message:
                return True
            log.debug("job %s: status message no longer editable (%s)", job.id, error)
            return False  # deleted by someone, too old, ...
        except (TelegramForbiddenError, TelegramMigrateToChat, TelegramNotFound) as error:
            log.debug("job %s: status message no longer editable (%s)", job.id, error)
            return False
        except TelegramAPIError as error:
            log.debug("job %s: status edit failed (%s)", job.id, error)
        return True
