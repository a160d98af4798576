"""The generation service: drives every job from `queued` to `delivered` (or a final failure).

One task per unfinished job, all sharing the YandexArt pacing. Every step starts from what the
database says, so a restarted process picks each job up where it stopped.
"""

from __future__ import annotations

import asyncio
import logging
import random
import statistics
import time
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from bot.generation.delivery import (
    ChatMoved,
    Delivered,
    Delivery,
    DeliveryResult,
    RetryLater,
    Undeliverable,
)
from bot.generation.limiter import RollingWindowLimiter
from bot.prompt import DrawOptions
from bot.yandexart.client import GenerationRequest, YandexArtClient
from bot.yandexart.errors import (
    AuthError,
    ContentRefused,
    OperationFailed,
    OperationNotFound,
    QuotaExceeded,
    TransientError,
    YandexArtError,
)
from storage.models import Job, JobState
from storage.repositories import JobRepository

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_GENERATION_SECONDS = 3.0  # until recent jobs tell better
STOP_GRACE_SECONDS = 5.0  # how long shutdown waits for a submit already on the wire


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    deadline_seconds: float = 600.0
    submits_per_minute: int = 500
    polls_per_second: int = 50
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    # The naive strategy most bots use, kept as the benchmark's baseline: a fixed poll interval
    # and no pacing at all.
    naive_poll_interval: float | None = None


def backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with full jitter."""
    return random.uniform(base / 2, min(cap, base * 2 ** max(0, attempt - 1)))


class GenerationService:
    def __init__(self, *, jobs: JobRepository, client: YandexArtClient, delivery: Delivery,
                 settings: ServiceSettings) -> None:
        self.jobs = jobs
        self.client = client
        self.delivery = delivery
        self.settings = settings
        self._submits = RollingWindowLimiter(settings.submits_per_minute, 60.0)
        self._polls = RollingWindowLimiter(settings.polls_per_second, 1.0)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._critical: set[asyncio.Future[Any]] = set()
        self._durations: deque[float] = deque(maxlen=20)
        self._stopping = False

    # lifecycle

    async def start(self) -> int:
        """Resume every unfinished job; returns how many."""
        self._durations.extend(reversed(await self.jobs.recent_generation_seconds(20)))
        pending = await self.jobs.unfinished()
        for job in pending:
            log.info("job %s: resuming in state %s", job.id, job.state)
            self.launch(job)
        return len(pending)

    def launch(self, job: Job) -> None:
        if self._stopping or job.id in self._tasks:
            return
        task = asyncio.create_task(self._run(job), name=f"job-{job.id}")
        self._tasks[job.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job.id, None))

    async def stop(self) -> None:
        """Cancel every job task; the database already holds all that is needed to resume.
        A request already sent (a submit, a photo) gets a few seconds to record its outcome."""
        self._stopping = True
        if self._critical:
            await asyncio.wait(list(self._critical), timeout=STOP_GRACE_SECONDS)
            for task in list(self._critical):
                task.cancel()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def active(self) -> int:
        return len(self._tasks)

    async def cancel(self, job_id: int, reason: str = "cancelled by the user") -> bool:
        """Cancel an unfinished job (refunded) and stop working on it. False if it had
        already finished."""
        if not await self.jobs.finish(job_id, JobState.CANCELLED, reason):
            return False
        task = self._tasks.get(job_id)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        log.info("job %s: cancelled (%s)", job_id, reason)
        return True

    # one job

    async def _run(self, job: Job) -> None:
        self.delivery.progress.start(job)  # chat action and status line while it draws
        try:
            if job.state is JobState.SUBMITTING:
                # The process died while a submit was on the wire: it may have been billed,
                # and resubmitting could bill it twice. Give up on it and refund.
                log.warning("job %s: interrupted during submit; not resubmitting", job.id)
                await self._end(job, JobState.FAILED, "interrupted during submit", "interrupted")
                return
            current: Job | None = job
            if job.state is JobState.QUEUED:
                current = await self._submit(job)
            if current is not None and current.state is JobState.SUBMITTED:
                current = await self._wait_for_image(current)
            if current is not None and current.state is JobState.GENERATED:
                await self._deliver(current)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s: unexpected error", job.id)
            await self._end(job, JobState.FAILED, "internal error", "failed")
        finally:
            await self.delivery.progress.stop(job.id)

    async def _submit(self, job: Job) -> Job | None:
        options = DrawOptions.from_json(job.options)
        request = GenerationRequest(prompt=job.prompt, seed=options.seed, aspect=options.aspect)
        attempt = 0
        while True:
            if self._past_deadline(job):
                return await self._end(job, JobState.EXPIRED, "deadline before submit", "expired")
            if self.settings.naive_poll_interval is None:
                await self._submits.acquire()
            claimed = await self.jobs.mark_submitting(job.id)
            if claimed is None:
                return await self.jobs.get(job.id)  # moved on elsewhere (e.g. cancelled)
            attempt += 1
            try:
                operation_id = await self._shielded(self.client.submit(request))
            except ContentRefused:
                log.info("job %s: prompt refused by the content filter", job.id)
                return await self._end(job, JobState.REFUSED, "content refused", "refused")
            except TransientError as error:
                if error.maybe_accepted:
                    log.warning("job %s: %s; not resubmitting (may be billed)", job.id, error)
                    return await self._end(job, JobState.FAILED, "submit outcome unknown",
                                           "failed")
                await self._retry_submit_later(job, attempt, error)
                continue
            except QuotaExceeded as error:
                self._submits.hold_off(self._backoff(attempt))
                await self._retry_submit_later(job, attempt, error)
                continue
            except AuthError as error:
                log.error("job %s: YandexArt rejected the credentials: %s. Check %s",
                          job.id, error, error.setting_hint)
                return await self._end(job, JobState.FAILED, "auth error", "unavailable")
            except YandexArtError as error:
                hint = getattr(error, "setting_hint", None)
                log.error("job %s: submit failed: %s%s", job.id, error,
                          f". Check {hint}" if hint else "")
                return await self._end(job, JobState.FAILED, "submit rejected", "unavailable")
            if not await self.jobs.mark_submitted(job.id, operation_id):
                log.warning("job %s: state changed during submit; operation %s dropped",
                            job.id, operation_id)
                return None
            log.info("job %s: submitted as operation %s", job.id, operation_id)
            return await self.jobs.get(job.id)

    async def _shielded(self, call: Awaitable[T]) -> T:
        """Run a request whose outcome must be recorded (a submit's operation id, a photo's
        delivery) so that shutdown lets it finish instead of cutting it off mid-way."""
        task: asyncio.Future[T] = asyncio.ensure_future(call)
        self._critical.add(task)
        task.add_done_callback(self._critical.discard)
        return await asyncio.shield(task)

    async def _retry_submit_later(self, job: Job, attempt: int, error: YandexArtError) -> None:
        await self.jobs.requeue(job.id)
        delay = self._backoff(attempt)
        log.info("job %s: submit not accepted (%s); retrying in %.1f s", job.id, error, delay)
        await self._sleep_within_deadline(job, delay)

    async def _wait_for_image(self, job: Job) -> Job | None:
        assert job.operation_id is not None
        submitted_at = job.submitted_at or time.time()
        expected = self.expected_generation_seconds()
        await self._sleep_within_deadline(job, submitted_at + expected * 0.8 - time.time())
        failures = 0
        while True:
            if self._past_deadline(job):
                log.warning("job %s: operation %s passed the deadline", job.id, job.operation_id)
                return await self._end(job, JobState.EXPIRED, "deadline", "expired")
            if self.settings.naive_poll_interval is None:
                await self._polls.acquire()
            try:
                image = await self.client.poll(job.operation_id)
            except (OperationFailed, OperationNotFound) as error:
                log.warning("job %s: %s", job.id, error)
                return await self._end(job, JobState.FAILED, str(error)[:200], "failed")
            except YandexArtError as error:
                failures += 1
                if isinstance(error, QuotaExceeded):
                    self._polls.hold_off(1.0)
                if isinstance(error, AuthError):
                    log.error("job %s: poll rejected: %s. Check %s", job.id, error,
                              error.setting_hint)
                else:
                    log.info("job %s: poll failed (%s); polling again later", job.id, error)
                await self._sleep_within_deadline(job, self._backoff(failures))
                continue
            if image is not None:
                return await self._generated(job, image, submitted_at)
            failures = 0
            interval = self.settings.naive_poll_interval or self._poll_interval(
                time.time() - submitted_at, expected)
            await self._sleep_within_deadline(job, interval)

    async def _generated(self, job: Job, image: bytes, submitted_at: float) -> Job | None:
        if not await self.jobs.store_image(job.id, image):
            return await self.jobs.get(job.id)
        seconds = time.time() - submitted_at
        self._durations.append(seconds)
        log.info("job %s: image ready after %.1f s (%d bytes)", job.id, seconds, len(image))
        return await self.jobs.get(job.id)

    async def _deliver(self, job: Job) -> None:
        image = await self.jobs.image(job.id)
        if image is None:
            await self._end(job, JobState.FAILED, "image missing", "failed")
            return
        attempt = 0
        while True:
            attempt += 1
            result = await self._shielded(self._send_and_record(job, image))
            if isinstance(result, Delivered):
                if not result.confirmed:
                    log.warning("job %s: photo sent, unconfirmed (network error)", job.id)
                log.info("job %s: delivered", job.id)
                await self.delivery.remove_status(job)
                return
            if isinstance(result, Undeliverable):
                log.warning("job %s: undeliverable: %s", job.id, result.reason)
                await self.jobs.finish(job.id, JobState.UNDELIVERABLE, result.reason[:200])
                return
            if isinstance(result, ChatMoved):
                log.info("job %s: chat %s moved to %s", job.id, job.chat_id, result.new_chat_id)
                await self.jobs.move_chat(job.chat_id, result.new_chat_id)
                job = await self.jobs.get(job.id) or job
                continue
            assert isinstance(result, RetryLater)
            delay = max(result.seconds, self._backoff(attempt)) if attempt > 3 else result.seconds
            log.info("job %s: delivery postponed %.0f s (%s)", job.id, delay, result.reason)
            await asyncio.sleep(delay)

    async def _send_and_record(self, job: Job, image: bytes) -> DeliveryResult:
        result = await self.delivery.send_photo(job, image)
        if isinstance(result, Delivered):
            await self.jobs.mark_delivered(job.id)
        return result

    async def _end(self, job: Job, state: JobState, reason: str, notice: str) -> Job | None:
        """Finish the job (once) and tell the user; returns the finished job."""
        if not await self.jobs.finish(job.id, state, reason):
            return None
        log.info("job %s: %s (%s)", job.id, state, reason)
        finished = await self.jobs.get(job.id)
        await self.delivery.notify(finished or job, notice)
        return finished

    # timing

    def expected_generation_seconds(self) -> float:
        if not self._durations:
            return DEFAULT_GENERATION_SECONDS
        return statistics.median(self._durations)

    @staticmethod
    def _poll_interval(elapsed: float, expected: float) -> float:
        """Poll often around the expected finish, less so as a job runs long."""
        if elapsed < expected * 2 + 2:
            return 0.5
        if elapsed < 60:
            return 1.0
        return 3.0

    def _backoff(self, attempt: int) -> float:
        return backoff(attempt, self.settings.backoff_base, self.settings.backoff_cap)

    def _past_deadline(self, job: Job) -> bool:
        return time.time() >= job.deadline_at

    async def _sleep_within_deadline(self, job: Job, seconds: float) -> None:
        seconds = min(seconds, job.deadline_at - time.time())
        if seconds > 0:
            await asyncio.sleep(seconds)

