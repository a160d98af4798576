"""Accepting a `/draw`: the limit check and the job row in one step, then the acknowledgement."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bot.generation.delivery import Delivery
from bot.generation.quotas import LimitSettings, Quotas
from bot.generation.service import GenerationService
from bot.metrics import Metrics
from bot.prompt import ParsedPrompt
from storage.models import Created, CreateResult, Job, JobState, LimitReached, NewJob
from storage.repositories import JobRepository

__all__ = ["DrawRequest", "Intake", "LimitSettings"]

log = logging.getLogger(__name__)

MAX_RANDOM_SEED = 2**31 - 1  # short enough to retype, far more than enough variety
# From this many /draws being taken in at once, each is acknowledged with a chat action as it
# arrives: its limit check and insert then wait for their turn on the database (and its status
# message with them), which in a burst of 200 takes the last ones ~0.7 s.
BUSY_INTAKE = 10
# In such a burst a private chat's job needs no status message if it is drawn at once (its chat
# action is renewed while it draws): the message and its deletion under the photo would be two
# requests per image when the bot is busiest. One still waiting for its turn this many seconds
# later gets its status message, and with it its place in the queue.
WAITING_STATUS_AFTER = 2.0


@dataclass(frozen=True, slots=True)
class DrawRequest:
    chat_id: int
    thread_id: int | None
    user_id: int
    message_id: int
    language: str
    prompt: ParsedPrompt
    request_key: str | None = None  # default "<chat_id>:<message_id>"; "cb:<id>" for a button


class Intake:
    def __init__(self, *, jobs: JobRepository, service: GenerationService, delivery: Delivery,
                 quotas: Quotas, metrics: Metrics | None = None) -> None:
        self.metrics = metrics if metrics is not None else Metrics()
        self.jobs = jobs
        self.service = service
        self.delivery = delivery
        self.quotas = quotas
        self.limits = quotas.settings
        self._taking_in = 0  # /draws between their arrival and their acknowledgement
        self._background: set[asyncio.Task[None]] = set()

    async def accept(self, request: DrawRequest) -> CreateResult:
        busy = self._taking_in >= BUSY_INTAKE
        if busy:
            self._in_background(self.delivery.chat_action_in(request.chat_id,
                                                              request.thread_id))
        self._taking_in += 1
        try:
            result = await self.register(request)
            if isinstance(result, Created):
                await self.begin(result.job, acknowledged=busy)
        finally:
            self._taking_in -= 1
        return result

    async def stop(self) -> None:
        """Cancel what is still to be sent (a waiting job's status message): the database and
        the bot's session close next."""
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)  # (held until done: the loop keeps only weak references)
        task.add_done_callback(self._background.discard)

    async def register(self, request: DrawRequest) -> CreateResult:
        """The limit check and the job row (one atomic step); nothing is sent yet."""
        options = request.prompt.options
        if not self.service.provider.supports_seed:  # the Images API takes none
            options = replace(options, seed=None)
        elif options.seed is None:  # every image can be reproduced from its caption
            options = replace(options, seed=secrets.randbelow(MAX_RANDOM_SEED) + 1)
        new = NewJob(
            request_key=request.request_key or f"{request.chat_id}:{request.message_id}",
            chat_id=request.chat_id,
            thread_id=request.thread_id,
            user_id=request.user_id,
            message_id=request.message_id,
            language=request.language,
            prompt=request.prompt.text,
            options=options.to_json(),
            day=self.today(),
            deadline_at=time.time() + self.limits.deadline_seconds,
        )
        # The admins' rules, counting usage against them and the insert: one transaction.
        result = await self.jobs.create(new, self.quotas.policy_rule(request.user_id,
                                                                     request.chat_id))
        if isinstance(result, LimitReached):
            self.metrics.limit_refusal(result.kind.value)
        return result

    async def begin(self, job: Job, *, acknowledged: bool = False) -> None:
        """The acknowledgement, then the generation: a prompt refused at once then has its
        notice in place of the status message. `acknowledged`: a chat action went out already,
        in a burst: the generation starts at once and a private chat's status message comes
        only if the job has to wait (`WAITING_STATUS_AFTER`)."""
        log.info("job %s: queued chat=%s user=%s request=%s", job.id, job.chat_id, job.user_id,
                 job.request_key)
        if acknowledged:
            self.service.launch(job)
            if job.chat_id > 0:
                self._in_background(self._status_if_waiting(job))
            else:
                await self._acknowledge(job)  # a group's reaction
            return
        if await self._acknowledge(job):
            self.service.launch(job)

    async def _status_if_waiting(self, job: Job) -> None:
        await asyncio.sleep(WAITING_STATUS_AFTER)
        if self.service.is_drawing(job.id):
            return
        current = await self.jobs.get(job.id)
        if current is not None and current.state is JobState.QUEUED:
            await self._acknowledge(current)

    async def _acknowledge(self, job: Job) -> bool:
        """False if the job has ended already (its status message is then removed again)."""
        status_message_id = await self.delivery.acknowledge(job)
        if status_message_id is None:
            return True
        job = replace(job, status_message_id=status_message_id)
        if not await self.jobs.set_status_message(job.id, status_message_id):
            # The submitter took it at once and it has ended already (a refused prompt,
            # say), its notice sent as a message of its own: "working…" would stay.
            await self.delivery.remove_status(job)
            return False
        self.service.status_message_known(job)
        return True

    def now(self) -> datetime:
        return self.quotas.now()

    def today(self) -> str:
        return self.quotas.today()

    def next_reset(self) -> datetime:
        """The start of the next limits day."""
        return self.quotas.next_reset()
