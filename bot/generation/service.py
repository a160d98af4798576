"""The generation service: drives every job from `queued` to `delivered` (or a final failure).

- The submitter picks queued jobs from SQLite in round-robin order (across users and chats), as
  fast as the submit quota and the cap on jobs in flight allow.
- Each submitted job gets a task that polls its operation when it is likely done (learned from
  recent generation times), paced under the poll quota, then sends the photo.
- Every step starts from what the database says, so a restarted process picks each job up where
  it stopped: queued ones are submitted, submitted ones polled (never resubmitted), generated ones
  sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from bot.generation.delivery import (
    ChatMoved,
    Delivered,
    Delivery,
    DeliveryResult,
    ImageLoader,
    ImageMissing,
    ImageSource,
    RetryLater,
    Undeliverable,
)
from bot.generation.limiter import RollingWindowLimiter, Stamp
from bot.generation.timing import GenerationTiming
from bot.metrics import Metrics
from bot.prompt import DrawOptions
from bot.yandexart.client import GenerationRequest
from bot.yandexart.errors import (
    AuthError,
    ContentRefused,
    OperationFailed,
    OperationNotFound,
    QuotaExceeded,
    TransientError,
    YandexArtError,
)
from bot.yandexart.provider import Finished, ImageProvider
from storage.models import REFUNDED_STATES, Job, JobState
from storage.repositories import JobRepository

log = logging.getLogger(__name__)
T = TypeVar("T")

STOP_GRACE_SECONDS = 5.0  # how long shutdown waits for a request already on the wire
SWEEP_SECONDS = 2.0  # how often queued jobs are checked against their deadline
QUEUE_SHOWN = 200  # waiting jobs that are told their place in the queue
SUBMIT_BATCH = 20  # queued jobs taken from one read of the queue while the quota has room
# Fresh images kept in memory for their send; past that they are read back from SQLite at their
# turn, so 200 images waiting for Telegram do not all sit in memory.
MAX_IMAGES_HELD = 4
# Each answer with an image is ~1.4 MB of JSON, decoded into another ~2.4 MB: a bound on polls in
# flight bounds that memory (a poll takes a round trip, 8 at once allow 80 a second even at 100 ms).
MAX_POLLS_AT_ONCE = 8
QUOTA_WAIT_TOLERANCE = 0.25  # seconds a poll may wait for the quota and still teach timing


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    deadline_seconds: float = 600.0
    submits_per_minute: int = 500
    polls_per_second: int = 50
    max_in_flight: int = 200
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    # The naive strategy most bots use, kept as the benchmark's baseline: a fixed poll interval
    # and no pacing at all.
    naive_poll_interval: float | None = None


def call_outcome(error: YandexArtError) -> str:
    """The metric label of a failed YandexArt call."""
    if isinstance(error, TransientError):
        return "timeout" if error.maybe_accepted else ("5xx" if error.status else "network")
    for kind, label in ((ContentRefused, "refused"), (QuotaExceeded, "429"), (AuthError, "auth"),
                        (OperationNotFound, "not_found"), (OperationFailed, "failed")):
        if isinstance(error, kind):
            return label
    return "rejected"


def learned_generation(ready_at_poll: float, last_pending: float | None,
                       waited_for_quota: float) -> float | None:
    """What a poll that found the image says about the generation time (seconds after submit),
    or None if it says too little to learn from.

    The image was ready somewhere since the last "not yet": the middle of that interval.
    Ready at the very first poll says only "sooner than this": learn less than that, so the next
    first polls go out earlier; but not if that poll waited for the poll quota (a backlog), or
    a long queue would teach that generations are slow and push every first poll later.
    """
    if last_pending is not None:
        return (last_pending + ready_at_poll) / 2
    if waited_for_quota > QUOTA_WAIT_TOLERANCE:
        return None
    return ready_at_poll * 0.7


def backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with full jitter."""
    return random.uniform(base / 2, min(cap, base * 2 ** max(0, attempt - 1)))


class GenerationService:
    def __init__(self, *, jobs: JobRepository, provider: ImageProvider, delivery: Delivery,
                 settings: ServiceSettings, metrics: Metrics | None = None) -> None:
        self.metrics = metrics if metrics is not None else Metrics()
        self.jobs = jobs
        self.provider = provider
        self.delivery = delivery
        self.settings = settings
        self.timing = GenerationTiming()
        self._submits = RollingWindowLimiter(settings.submits_per_minute, 60.0)
        self._polls = RollingWindowLimiter(settings.polls_per_second, 1.0)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._critical: set[asyncio.Future[Any]] = set()
        self._in_flight: set[int] = set()  # jobs holding a slot: claimed until their image is in
        self._claimed_queued: set[int] = set()  # claimed, still `queued` in the database
        self._downloads = asyncio.Semaphore(MAX_POLLS_AT_ONCE)
        self._not_before: dict[int, float] = {}  # queued jobs backing off after a failed submit
        self._fresh_images: dict[int, bytes] = {}  # generated, not yet handed to delivery
        self._late_status_messages: dict[int, int] = {}  # stored after the job's task began
        self._submit_stamps: dict[int, Stamp] = {}  # each claimed job's place in the quota
        self._background: set[asyncio.Task[None]] = set()  # notices, tasks tidying up
        self._wake = asyncio.Event()
        self._submitter: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._positions: asyncio.Task[None] | None = None
        self._stopping = False

    # lifecycle

    async def start(self) -> int:
        """Resume every unfinished job and start the submitter; returns how many resumed."""
        self.timing.extend(await self.jobs.recent_generation_seconds(self.timing.size))
        pending = await self.jobs.unfinished()
        for job in pending:
            log.info("job %s: resuming in state %s", job.id, job.state)
            if job.state is JobState.SUBMITTED:
                self._claim(job.id)
            if job.state is not JobState.QUEUED:
                self._spawn(job)
        self._submitter = asyncio.create_task(self._submit_loop(), name="submitter")
        self._sweeper = asyncio.create_task(self._sweep_loop(), name="queue-sweeper")
        return len(pending)

    def launch(self, job: Job) -> None:
        """A new queued job is in the database: let the submitter consider it."""
        self._wake.set()

    def is_drawing(self, job_id: int) -> bool:
        """Taken by the submitter: submitted or being submitted, polled, or being delivered."""
        return job_id in self._tasks

    def status_message_known(self, job: Job) -> None:
        """The job's status message is stored. If the job is already being drawn, the copy of
        it its task holds was read before: progress updates edit that message from now on, and
        it is removed when the photo is sent."""
        if job.status_message_id is not None and job.id in self._tasks:
            self._late_status_messages[job.id] = job.status_message_id
            self.delivery.progress.status_message_known(job)

    def _with_late_status_message(self, job: Job) -> Job:
        late = self._late_status_messages.get(job.id)
        if late is None or job.status_message_id is not None:
            return job
        return replace(job, status_message_id=late)

    async def stop(self) -> None:
        """Cancel every job task; the database already holds all that is needed to resume.
        A request already sent (a submit, a photo) gets a few seconds to record its outcome."""
        self._stopping = True
        for loop in (self._submitter, self._sweeper, self._positions):
            if loop is not None:
                loop.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loop
        if self._critical:
            await asyncio.wait(list(self._critical), timeout=STOP_GRACE_SECONDS)
            for future in list(self._critical):
                future.cancel()
        tasks = [*self._tasks.values(), *self._background]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def cancel(self, job_id: int, reason: str = "cancelled by the user") -> bool:
        """Cancel an unfinished job (refunded) and stop working on it. False if it had
        already finished."""
        if not await self.jobs.finish(job_id, JobState.CANCELLED, reason):
            return False
        self.metrics.job_finished(JobState.CANCELLED)
        self.metrics.refund()
        task = self._tasks.get(job_id)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        self._release(job_id)
        self._not_before.pop(job_id, None)
        log.info("job %s: cancelled (%s)", job_id, reason)
        return True

    # the submitter

    async def _submit_loop(self) -> None:
        while True:
            try:
                await self._submit_next()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup must not stop every future submission
                log.exception("submitter: unexpected error; going on in a second")
                await asyncio.sleep(1.0)

    async def _sweep_loop(self) -> None:
        """Apart from the submitter, which may wait a minute for the submit quota."""
        while True:
            try:
                await self._sweep_queue()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("queue sweep: unexpected error; going on")
            await asyncio.sleep(SWEEP_SECONDS)

    async def _submit_next(self) -> None:
        room = self.settings.max_in_flight - len(self._in_flight)
        batch = await self._next_submittable(min(room, SUBMIT_BATCH)) if room > 0 else []
        if not batch:
            await self._sleep_until_woken(min(self._next_retry_in(), SWEEP_SECONDS))
            return
        if self._paced and self._submits.delay() > 0:
            # One waits for the quota; then the queue is read again: it may have changed.
            stamp = await self._submits.acquire()
            batch = await self._next_submittable(1)
            if not batch:
                self._submits.done(stamp)
                return
            self._start(batch[0], stamp)
            return
        # The quota has room now: as many as it takes at once from one read of the queue.
        for job in batch:
            if not self._paced:
                self._start(job)
            elif self._submits.delay() > 0:
                return
            else:
                self._start(job, await self._submits.acquire())

    def _start(self, job: Job, stamp: Stamp | None = None) -> None:
        if stamp is not None:
            self._submit_stamps[job.id] = stamp
        self._claim(job.id)
        self._claimed_queued.add(job.id)
        self._spawn(job)

    async def _next_submittable(self, count: int) -> list[Job]:
        """The next `count` queued jobs in fair order, but those claimed or waiting to retry."""
        now = time.monotonic()
        for job_id, not_before in list(self._not_before.items()):
            if not_before <= now:
                del self._not_before[job_id]
        skip = self._claimed_queued | set(self._not_before)
        # The serving order ranks every unfinished job (~0.5 ms of SQLite with 200 in flight);
        # it matters only if some of the queue must wait. A queue that starts whole now (room
        # in this batch and in the quota) is read by id: one cheap read per wake in a burst.
        # (With no room in the quota, as after waiting for it, only the serving order can help.)
        room = min(count, self._submit_room())
        if room > 0:
            whole = len(skip) + count + 1
            queued = await self.jobs.queued_by_id(whole)
            fresh = [job for job in queued if job.id not in skip]
            if len(queued) < whole and len(fresh) <= room:
                return fresh
        queued = await self.jobs.queued_in_order(len(skip) + count)
        return [job for job in queued if job.id not in skip][:count]

    def _submit_room(self) -> int:
        """How many submits the quota lets through at once now."""
        return self._submits.room() if self._paced else self.settings.max_in_flight

    def _next_retry_in(self) -> float:
        if not self._not_before:
            return SWEEP_SECONDS
        return max(0.01, min(self._not_before.values()) - time.monotonic())

    async def _sleep_until_woken(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        self._wake.clear()

    async def _sweep_queue(self) -> None:
        """Every few seconds: the queue-length metric, queued jobs past their deadline, and
        the place in the queue shown to those waiting."""
        queued = await self.jobs.queued_count()
        self.metrics.set_queue_length(queued)
        for job in await self.jobs.overdue(time.time()):
            if job.id not in self._in_flight:
                # Told in a task of its own: a notice may wait for its chat's turn.
                await self._end(job, JobState.EXPIRED, "deadline while queued", "expired",
                                notify_now=False)
        if self._positions is None or self._positions.done():
            waiting = await self.jobs.queued_in_order(QUEUE_SHOWN) if queued else []
            self._positions = asyncio.create_task(self._show_positions(waiting))

    async def _show_positions(self, waiting: list[Job]) -> None:
        """Apart from the submitter: a slow Telegram edit must not hold up submissions."""
        progress = self.delivery.progress
        progress.forget_queued({job.id for job in waiting})
        for position, job in enumerate(waiting, start=1):
            if job.id not in self._in_flight and not self._stopping:
                await progress.show_queue_position(job, position)

    def _claim(self, job_id: int) -> None:
        self._in_flight.add(job_id)
        self.metrics.set_in_flight(len(self._in_flight))

    def _release(self, job_id: int) -> None:
        if job_id in self._in_flight:
            self._in_flight.discard(job_id)
            self.metrics.set_in_flight(len(self._in_flight))
            self._wake.set()

    @property
    def _paced(self) -> bool:
        return self.settings.naive_poll_interval is None

    # one job

    def _spawn(self, job: Job) -> None:
        if self._stopping:
            return
        # A job requeued for a retry may be picked again while its last task is still tidying
        # up (stopping its progress updates): the new run waits for that one, never drops out
        # (which would leave the job claimed, and stuck in the queue, for good).
        previous = self._tasks.get(job.id)
        if previous is not None:
            self._keep(previous)
        task = asyncio.create_task(self._run(job, after=previous), name=f"job-{job.id}")
        self._tasks[job.id] = task
        task.add_done_callback(functools.partial(self._forget_task, job.id))

    def _forget_task(self, job_id: int, task: asyncio.Task[None]) -> None:
        if self._tasks.get(job_id) is task:
            del self._tasks[job_id]

    def _keep(self, task: asyncio.Task[None]) -> None:
        """Hold a task no job maps to any more until it ends (and let stop() cancel it)."""
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _run(self, job: Job, after: asyncio.Task[None] | None = None) -> None:
        if after is not None:
            await asyncio.wait({after})
        self.delivery.progress.start(job)  # chat action and status line while it draws
        try:
            current: Job | None = job
            if job.state is JobState.SUBMITTING:
                current = await self._interrupted(job)
            elif job.state is JobState.QUEUED:
                current = await self._submit(job)
            if current is not None and current.state is JobState.SUBMITTED:
                current = await self._wait_for_image(current)
            self._release(job.id)
            if current is not None and current.state is JobState.GENERATED:
                await self._deliver(current)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s: unexpected error", job.id)
            await self._end(job, JobState.FAILED, "internal error", "failed")
        finally:
            self._release(job.id)
            self._submitted(job.id)  # (if it never got that far)
            self._claimed_queued.discard(job.id)
            self._fresh_images.pop(job.id, None)
            self._late_status_messages.pop(job.id, None)
            await self.delivery.progress.stop(job.id)

    async def _interrupted(self, job: Job) -> Job | None:
        """The process died while a submit was on the wire: it may have been billed."""
        if self.provider.retries_interrupted_submit and job.attempts < 2:
            log.warning("job %s: interrupted during a request; sending it once more "
                        "(it may be billed twice)", job.id)
            await self.jobs.requeue(job.id)
            self._wake.set()
            return None
        log.warning("job %s: interrupted during submit; not resubmitting", job.id)
        return await self._end(job, JobState.FAILED, "interrupted during submit", "interrupted")

    async def _submit(self, job: Job) -> Job | None:
        if self._past_deadline(job):
            return await self._end(job, JobState.EXPIRED, "deadline before submit", "expired")
        claimed = await self.jobs.mark_submitting(job.id)
        self._claimed_queued.discard(job.id)
        if claimed is None:
            return await self.jobs.get(job.id)  # moved on elsewhere (e.g. cancelled)
        try:
            outcome = await self._shielded(self.provider.submit(self._request(claimed)))
        except YandexArtError as error:
            self._submitted(job.id)
            self.metrics.yandex_call("submit", call_outcome(error))
            return await self._submit_failed(job, claimed, error)
        self._submitted(job.id)
        self.metrics.yandex_call("submit", "ok")
        if isinstance(outcome, Finished):
            return await self._generated(claimed, outcome.image, time.time())
        submitted = await self.jobs.mark_submitted(job.id, outcome.operation_id)
        if submitted is None:
            log.warning("job %s: state changed during submit; operation %s dropped",
                        job.id, outcome.operation_id)
            return None
        log.info("job %s: submitted chat=%s user=%s operation=%s queued=%.1fs attempt=%d",
                 job.id, job.chat_id, job.user_id, outcome.operation_id,
                 (submitted.submitted_at or 0) - job.created_at, submitted.attempts)
        return submitted

    def _submitted(self, job_id: int) -> None:
        """The submit's answer came: the quota counts it from now."""
        stamp = self._submit_stamps.pop(job_id, None)
        if stamp is not None:
            self._submits.done(stamp)

    async def _submit_failed(self, job: Job, claimed: Job, error: YandexArtError) -> Job | None:
        """What a failed submit means for the job: retried later, or ended and refunded."""
        if isinstance(error, ContentRefused):
            return await self._end(job, JobState.REFUSED, "content refused", "refused")
        if isinstance(error, TransientError):
            if error.maybe_accepted and not (
                self.provider.retries_interrupted_submit and claimed.attempts < 2
            ):
                log.warning("job %s: %s; not resubmitting (may be billed)", job.id, error)
                return await self._end(job, JobState.FAILED, "submit outcome unknown", "failed")
            await self._retry_later(claimed, error)
            return None
        if isinstance(error, QuotaExceeded):
            self._submits.penalize(hold=self._backoff(claimed.attempts))
            await self._retry_later(claimed, error)
            return None
        hint = getattr(error, "setting_hint", None)
        log.error("job %s: YandexArt rejected the request: %s%s", job.id, error,
                  f". Check {hint}" if hint else "")
        reason = "auth error" if isinstance(error, AuthError) else "submit rejected"
        return await self._end(job, JobState.FAILED, reason, "unavailable")

    def _request(self, job: Job) -> GenerationRequest:
        options = DrawOptions.from_json(job.options)
        seed = options.seed if self.provider.supports_seed else None
        return GenerationRequest(prompt=job.prompt, seed=seed, aspect=options.aspect)

    async def _retry_later(self, job: Job, error: YandexArtError) -> None:
        await self.jobs.requeue(job.id)
        delay = self._backoff(job.attempts)
        self._not_before[job.id] = time.monotonic() + delay
        log.info("job %s: submit not accepted (%s); retrying in %.1f s", job.id, error, delay)
        self._release(job.id)

    async def _shielded(self, call: Awaitable[T]) -> T:
        """Run a request whose outcome must be recorded (a submit's operation id, a photo's
        delivery) so that shutdown lets it finish instead of cutting it off mid-way."""
        future: asyncio.Future[T] = asyncio.ensure_future(call)
        self._critical.add(future)
        future.add_done_callback(self._critical.discard)
        return await asyncio.shield(future)

    async def _wait_for_image(self, job: Job) -> Job | None:
        assert job.operation_id is not None
        submitted_at = job.submitted_at or time.time()
        naive = self.settings.naive_poll_interval
        first = naive if naive is not None else self.timing.first_poll_after()
        await self._sleep_within_deadline(job, submitted_at + first - time.time())
        failures = 0
        last_pending: float | None = None  # seconds after submit of the last "not yet" answer
        while True:
            if self._past_deadline(job):
                log.warning("job %s: operation %s passed the deadline", job.id, job.operation_id)
                return await self._end(job, JobState.EXPIRED, "deadline", "expired")
            due = time.time()
            expected_ready = submitted_at + self.timing.expected_generation(last_pending or 0)
            try:
                async with self._poll_turn(priority=expected_ready) as answered:
                    sent = time.time()
                    image = await self.provider.poll(job.operation_id)
                    answered()
                    self.metrics.yandex_call("poll", "ok")
                    if image is not None:
                        # Stored before the poll's place is given up: the images between the
                        # wire and SQLite stay as few as the polls allowed at once.
                        ready_after = learned_generation(sent - submitted_at, last_pending,
                                                         sent - due)
                        return await self._generated(job, image, submitted_at, ready_after)
            except YandexArtError as error:
                self.metrics.yandex_call("poll", call_outcome(error))
                failures += 1
                if await self._poll_failed(job, error, failures):
                    return await self.jobs.get(job.id)
                continue
            elapsed = sent - submitted_at
            failures = 0
            last_pending = elapsed
            interval = naive or self.timing.next_poll_in(elapsed)
            await self._sleep_within_deadline(job, interval)

    @contextlib.asynccontextmanager
    async def _poll_turn(self, priority: float) -> AsyncIterator[Callable[[], None]]:
        """A place in the poll quota (the operations expected to be done soonest first) and one
        of the polls allowed at once, kept until the block ends. Yields `answered`, to call when
        the answer came: the quota counts the poll from then on."""
        if not self._paced:
            yield lambda: None
            return
        stamp = await self._polls.acquire(priority)
        try:
            async with self._downloads:
                yield lambda: self._polls.done(stamp)
        finally:
            self._polls.done(stamp)

    async def _poll_failed(self, job: Job, error: YandexArtError, failures: int) -> bool:
        """True if the job ended; otherwise it is polled again after a backoff."""
        if isinstance(error, OperationFailed | OperationNotFound):
            log.warning("job %s: %s", job.id, error)
            await self._end(job, JobState.FAILED, str(error)[:200], "failed")
            return True
        if isinstance(error, QuotaExceeded):
            self._polls.penalize(hold=self._polls.window)
        if isinstance(error, AuthError):
            log.error("job %s: poll rejected: %s. Check %s", job.id, error, error.setting_hint)
        else:
            log.info("job %s: poll failed (%s); polling again later", job.id, error)
        await self._sleep_within_deadline(job, self._backoff(failures))
        return False

    async def _generated(self, job: Job, image: bytes, submitted_at: float,
                         ready_after: float | None = None) -> Job | None:
        generated = await self.jobs.store_image(job.id, image)
        if generated is None:
            return await self.jobs.get(job.id)
        self._release(job.id)
        if len(self._fresh_images) < MAX_IMAGES_HELD:
            self._fresh_images[job.id] = image
        seconds = time.time() - submitted_at
        if ready_after is not None:  # (nothing to learn, or the Images API: no polls)
            self.timing.add(ready_after)
        self.metrics.observe_generation(seconds)
        log.info("job %s: generated chat=%s user=%s operation=%s generation=%.1fs bytes=%d",
                 job.id, job.chat_id, job.user_id, job.operation_id or "-", seconds, len(image))
        return generated

    async def _deliver(self, job: Job) -> None:
        attempt = 0
        while True:
            attempt += 1
            result = await self._send_once(job)
            if isinstance(result, ImageMissing):
                await self._end(job, JobState.FAILED, "image missing", "failed")
                return
            if isinstance(result, Delivered):
                self.metrics.job_finished(JobState.DELIVERED)
                if job.generated_at is not None:
                    self.metrics.observe_ready_to_photo(time.time() - job.generated_at)
                log.info("job %s: delivered chat=%s user=%s total=%.1fs%s", job.id, job.chat_id,
                         job.user_id, time.time() - job.created_at,
                         "" if result.confirmed else " (unconfirmed: network error)")
                await self.delivery.remove_status(self._with_late_status_message(job))
                return
            if isinstance(result, Undeliverable):
                self.metrics.telegram_error("undeliverable")
                self.metrics.job_finished(JobState.UNDELIVERABLE)
                log.warning("job %s: undeliverable chat=%s: %s", job.id, job.chat_id,
                            result.reason)
                await self.jobs.finish(job.id, JobState.UNDELIVERABLE, result.reason[:200])
                return
            if isinstance(result, ChatMoved):
                log.info("job %s: chat %s moved to %s", job.id, job.chat_id, result.new_chat_id)
                await self.jobs.move_chat(job.chat_id, result.new_chat_id)
                job = await self.jobs.get(job.id) or job
                continue
            assert isinstance(result, RetryLater)
            self.metrics.telegram_error("retry_later")
            delay = max(result.seconds, self._backoff(attempt)) if attempt > 3 else result.seconds
            log.info("job %s: delivery postponed %.0f s (%s)", job.id, delay, result.reason)
            await asyncio.sleep(delay)

    async def _send_once(self, job: Job) -> DeliveryResult:
        """The image straight from the poll if it is held; otherwise read from SQLite when its
        turn to be sent comes, so images waiting for a turn are not all in memory at once."""
        held = self._fresh_images.get(job.id)
        source: ImageSource = held if held is not None else self._stored_image(job.id)
        try:
            return await self._shielded(self._send_and_record(job, source))
        finally:
            self._fresh_images.pop(job.id, None)  # a retry (after a flood wait) reads it back

    def _stored_image(self, job_id: int) -> ImageLoader:
        return lambda: self.jobs.image(job_id)

    async def _send_and_record(self, job: Job, image: ImageSource) -> DeliveryResult:
        result = await self.delivery.send_photo(job, image)
        if isinstance(result, Delivered):
            await self.jobs.mark_delivered(job.id)
        return result

    async def _end(self, job: Job, state: JobState, reason: str, notice: str, *,
                   notify_now: bool = True) -> Job | None:
        """Finish the job (once) and tell the user (`notify_now=False`: in a task of its own);
        returns the finished job."""
        if not await self.jobs.finish(job.id, state, reason):
            return None
        self._release(job.id)
        self.metrics.job_finished(state)
        if state in REFUNDED_STATES:
            self.metrics.refund()
        log.info("job %s: %s chat=%s user=%s operation=%s reason=%s", job.id, state,
                 job.chat_id, job.user_id, job.operation_id or "-", reason)
        finished = await self.jobs.get(job.id)
        if notify_now:
            await self.delivery.notify(finished or job, notice)
        else:
            self._keep(asyncio.create_task(self.delivery.notify(finished or job, notice),
                                           name=f"notice-{job.id}"))
        return finished

    # timing

    def _backoff(self, attempt: int) -> float:
        return backoff(attempt, self.settings.backoff_base, self.settings.backoff_cap)

    def _past_deadline(self, job: Job) -> bool:
        return time.time() >= job.deadline_at

    async def _sleep_within_deadline(self, job: Job, seconds: float) -> None:
        seconds = min(seconds, job.deadline_at - time.time())
        if seconds > 0:
            await asyncio.sleep(seconds)
