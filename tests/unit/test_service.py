"""The generation service's submitter, with the database and YandexArt faked out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from bot.generation import service as service_module
from bot.generation.delivery import Delivered, Delivery, DeliveryResult, ImageSource
from bot.generation.limiter import RollingWindowLimiter
from bot.generation.service import (
    QUEUE_SHOWN,
    SUBMIT_BATCH,
    GenerationService,
    ServiceSettings,
    call_outcome,
    learned_generation,
)
from bot.yandexart.client import GenerationRequest
from bot.yandexart.errors import (
    AuthError,
    ContentRefused,
    OperationNotFound,
    QuotaExceeded,
    TransientError,
)
from bot.yandexart.provider import Finished, Started
from storage.database import Database
from storage.jobs import SqliteJobRepository
from storage.models import Created, Job, NewJob


class FlakyJobs:
    """Fails the first queue read, as a locked or briefly unavailable database would."""

    def __init__(self) -> None:
        self.queue_reads = 0

    async def recent_generation_seconds(self, count: int) -> list[float]:
        return []

    async def unfinished(self) -> list[Any]:
        return []

    async def queued_count(self) -> int:
        return 0

    async def overdue(self, now: float) -> list[Any]:
        return []

    async def queued_by_id(self, limit: int) -> list[Any]:
        self.queue_reads += 1
        if self.queue_reads == 1:
            raise RuntimeError("database is locked")
        return []

    async def queued_in_order(self, limit: int) -> list[Any]:
        raise AssertionError("an empty queue is read by id")


class NoProvider:
    supports_seed = True
    retries_interrupted_submit = False

    async def submit(self, request: GenerationRequest) -> Started | Finished:
        raise AssertionError("nothing is queued")

    async def poll(self, operation_id: str) -> bytes | None:
        raise AssertionError("nothing is submitted")


async def test_the_submitter_survives_a_database_error() -> None:
    jobs = FlakyJobs()
    service = GenerationService(
        jobs=jobs,  # type: ignore[arg-type]  # only what the submitter reads
        provider=NoProvider(), delivery=Delivery(bot=None),  # type: ignore[arg-type]
        settings=ServiceSettings(),
    )
    await service.start()
    try:
        for _ in range(40):
            if jobs.queue_reads >= 3:
                break
            await asyncio.sleep(0.1)
    finally:
        await service.stop()
    assert jobs.queue_reads >= 3  # it went on reading the queue after the error


def test_call_outcome_labels() -> None:
    assert call_outcome(ContentRefused("x", status=400)) == "refused"
    assert call_outcome(QuotaExceeded("x", status=429)) == "429"
    assert call_outcome(AuthError("x", status=401, setting_hint="K")) == "auth"
    assert call_outcome(OperationNotFound("x", status=404)) == "not_found"
    assert call_outcome(TransientError("x", maybe_accepted=True)) == "timeout"
    assert call_outcome(TransientError("x", status=503)) == "5xx"
    assert call_outcome(TransientError("x")) == "network"


class InstantProvider:
    """Every operation is done at its first poll, with an image naming it."""

    supports_seed = True
    retries_interrupted_submit = False

    def __init__(self) -> None:
        self.submits = 0

    async def submit(self, request: GenerationRequest) -> Started | Finished:
        self.submits += 1
        return Started(operation_id=f"op{self.submits}")

    async def poll(self, operation_id: str) -> bytes | None:
        return f"jpeg of {operation_id}".encode()


class QuietProgress:
    def start(self, job: Job) -> None:
        pass

    async def stop(self, job_id: int) -> None:
        pass

    def forget_queued(self, still_queued: set[int]) -> None:
        pass

    async def show_queue_position(self, job: Job, position: int) -> None:
        pass

    def status_message_known(self, job: Job) -> None:
        pass


class HeldDelivery:
    """Records what each send was given; every send waits until `release` is set."""

    def __init__(self) -> None:
        self.progress = QuietProgress()
        self.release = asyncio.Event()
        self.given: dict[int, str] = {}  # job id -> "bytes" or "loader"
        self.sent: dict[int, bytes | None] = {}
        self.removed: list[int | None] = []  # the status message ids removed

    async def send_photo(self, job: Job, image: ImageSource) -> DeliveryResult:
        self.given[job.id] = "bytes" if isinstance(image, bytes) else "loader"
        await self.release.wait()
        self.sent[job.id] = image if isinstance(image, bytes) else await image()
        return Delivered()

    async def remove_status(self, job: Job) -> None:
        self.removed.append(job.status_message_id)


async def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


def polling_at_once(jobs: SqliteJobRepository, provider: InstantProvider,
                    delivery: HeldDelivery) -> GenerationService:
    service = GenerationService(
        jobs=jobs, provider=provider,
        delivery=delivery,  # type: ignore[arg-type]  # what the service calls of it
        settings=ServiceSettings(),
    )
    service.timing.extend([0.01] * 20)  # every operation is polled at once
    return service


async def test_fresh_images_go_straight_to_delivery_and_the_rest_are_read_back(
    database: Database, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(service_module, "MAX_IMAGES_HELD", 2)
    jobs = SqliteJobRepository(database)
    delivery = HeldDelivery()
    service = polling_at_once(jobs, InstantProvider(), delivery)
    for number in range(1, 6):
        await queue(jobs, f"k{number}", user_id=number)
    await service.start()
    try:
        # Sends are held: the first two images are kept in memory, the other three are left in
        # SQLite and read back at their turn.
        await wait_until(lambda: len(delivery.given) == 5)
        delivery.release.set()
        await wait_until(lambda: len(delivery.sent) == 5)
    finally:
        await service.stop()
    assert sorted(delivery.given.values()) == ["bytes", "bytes", "loader", "loader", "loader"]
    by_operation = {(await jobs.get(job_id)).operation_id: image  # type: ignore[union-attr]
                    for job_id, image in delivery.sent.items()}
    assert by_operation == {f"op{n}": f"jpeg of op{n}".encode() for n in range(1, 6)}
    await wait_until(lambda: not service._fresh_images)


async def test_a_status_message_stored_while_the_job_draws_is_removed_under_its_photo(
    database: Database,
) -> None:
    jobs = SqliteJobRepository(database)
    delivery = HeldDelivery()
    service = polling_at_once(jobs, InstantProvider(), delivery)
    job = await queue(jobs, "k1", user_id=1)
    await service.start()
    try:
        service.launch(job)  # taken before its acknowledgement was stored
        await wait_until(lambda: len(delivery.given) == 1)
        assert service.is_drawing(job.id)
        assert await jobs.set_status_message(job.id, 77)
        service.status_message_known(replace(job, status_message_id=77))
        delivery.release.set()
        await wait_until(lambda: delivery.removed != [])
    finally:
        await service.stop()
    assert delivery.removed == [77]
    assert not service.is_drawing(job.id)


def test_learned_generation_time() -> None:
    # Ready after a "not yet" at 3.0 s: the middle of the interval.
    assert learned_generation(4.0, 3.0, waited_for_quota=0.0) == 3.5
    assert learned_generation(4.0, 3.0, waited_for_quota=5.0) == 3.5  # still bracketed
    # Ready at the first poll: less than that, so first polls move earlier...
    assert learned_generation(4.0, None, waited_for_quota=0.1) == pytest.approx(2.8)
    # ...unless that poll sat in a backlog for the quota: it says nothing about generation.
    assert learned_generation(9.0, None, waited_for_quota=4.0) is None


class SlowToStopProgress(QuietProgress):
    """Stopping takes a while, as it does when a chat action is on the wire."""

    async def stop(self, job_id: int) -> None:
        await asyncio.sleep(0.3)


class BusyOnceProvider(InstantProvider):
    """The first submit is answered 429; the others are accepted."""

    async def submit(self, request: GenerationRequest) -> Started | Finished:
        self.submits += 1
        if self.submits == 1:
            raise QuotaExceeded("rate quota limit exceed", status=429)
        return Started(operation_id=f"op{self.submits}")


async def test_a_quick_retry_while_the_last_attempt_tidies_up_is_not_lost(
    database: Database,
) -> None:
    jobs = SqliteJobRepository(database)
    delivery = HeldDelivery()
    delivery.progress = SlowToStopProgress()
    delivery.release.set()
    service = GenerationService(
        jobs=jobs, provider=BusyOnceProvider(),
        delivery=delivery,  # type: ignore[arg-type]  # what the service calls of it
        settings=ServiceSettings(backoff_base=0.02, backoff_cap=0.05),  # retry at once
    )
    service.timing.extend([0.01] * 20)
    job = await queue(jobs, "k", user_id=5)
    await service.start()
    try:
        await wait_until(lambda: len(delivery.sent) == 1, seconds=5)
    finally:
        await service.stop()
    assert delivery.sent == {job.id: b"jpeg of op2"}
    assert not service._in_flight  # no slot left claimed


class CountingJobs(SqliteJobRepository):
    """Counts the submitter's reads of the queue and notes the order of the submits."""

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self.queue_reads = 0
        self.ordered_reads: list[int] = []  # the limit of each read in serving order
        self.submitted: list[str] = []

    async def queued_in_order(self, limit: int) -> list[Job]:
        self.queue_reads += 1
        self.ordered_reads.append(limit)
        return await super().queued_in_order(limit)

    async def queued_by_id(self, limit: int) -> list[Job]:
        self.queue_reads += 1
        return await super().queued_by_id(limit)

    async def mark_submitting(self, job_id: int) -> Job | None:
        job = await super().mark_submitting(job_id)
        if job is not None:
            self.submitted.append(job.request_key)
        return job


async def queue(jobs: SqliteJobRepository, key: str, user_id: int) -> Job:
    result = await jobs.create(NewJob(
        request_key=key, chat_id=user_id, thread_id=None, user_id=user_id, message_id=1,
        language="en", prompt=key, options="{}", day="2026-11-25", deadline_at=1e12))
    assert isinstance(result, Created)
    return result.job


def quiet_service(jobs: SqliteJobRepository) -> GenerationService:
    service = GenerationService(
        jobs=jobs, provider=InstantProvider(),
        delivery=HeldDelivery(),  # type: ignore[arg-type]  # what the service calls of it
        settings=ServiceSettings(),
    )
    service.timing.extend([30.0] * 20)  # no poll during the test
    return service


async def test_with_room_in_the_quota_one_read_of_the_queue_starts_many(
    database: Database,
) -> None:
    jobs = CountingJobs(database)
    for number in range(12):
        await queue(jobs, f"k{number}", user_id=100 + number)
    service = quiet_service(jobs)
    await service.start()
    try:
        await wait_until(lambda: len(jobs.submitted) == 12)
    finally:
        await service.stop()
    assert jobs.queue_reads <= 3  # not one (or two) per job
    # All of the queue started at once: read by id (only the sweep, showing places in the
    # queue, read the serving order).
    assert all(limit == QUEUE_SHOWN for limit in jobs.ordered_reads)


async def test_a_queue_longer_than_a_batch_is_taken_in_serving_order(
    database: Database,
) -> None:
    jobs = CountingJobs(database)
    for number in range(5):
        await queue(jobs, f"heavy{number}", user_id=1)
    for number in range(SUBMIT_BATCH):
        await queue(jobs, f"light{number}", user_id=100 + number)
    service = quiet_service(jobs)
    await service.start()
    try:
        await wait_until(lambda: len(jobs.submitted) == 5 + SUBMIT_BATCH)
    finally:
        await service.stop()
    assert any(limit <= SUBMIT_BATCH for limit in jobs.ordered_reads)
    # Everyone's first job before anyone's second: one heavy job in the first batch.
    assert sum(key.startswith("heavy") for key in jobs.submitted[:SUBMIT_BATCH]) == 1


async def test_the_sweep_reads_the_serving_order_only_when_someone_waits(
    database: Database,
) -> None:
    jobs = CountingJobs(database)
    service = quiet_service(jobs)  # not started: nothing takes the queue
    await service._sweep_queue()
    assert jobs.ordered_reads == []
    await queue(jobs, "waiting", user_id=1)
    await service._sweep_queue()
    assert service._positions is not None
    await service._positions
    assert jobs.ordered_reads == [QUEUE_SHOWN]


async def test_after_waiting_for_the_quota_the_queue_is_read_again(database: Database) -> None:
    jobs = CountingJobs(database)
    for number in range(4):
        await queue(jobs, f"heavy{number}", user_id=1)
    service = quiet_service(jobs)
    service._submits = RollingWindowLimiter(2, 0.5)  # two submits per half second
    await service.start()
    try:
        await wait_until(lambda: len(jobs.submitted) == 2)
        await queue(jobs, "light", user_id=2)  # arrives while the submitter waits
        service.launch(await jobs.get(5))  # type: ignore[arg-type]
        await wait_until(lambda: len(jobs.submitted) == 5)
    finally:
        await service.stop()
    # The light user's job was queued last but goes first once the quota has room again.
    assert jobs.submitted[:3] == ["heavy0", "heavy1", "light"]
    assert any(limit < QUEUE_SHOWN for limit in jobs.ordered_reads)  # more waited than
    # the quota let through


class SlowStoreJobs(SqliteJobRepository):
    """Each image is written to SQLite only once `written` is set."""

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self.written = asyncio.Event()
        self.storing = 0

    async def store_image(self, job_id: int, image: bytes) -> Job | None:
        self.storing += 1
        await self.written.wait()
        return await super().store_image(job_id, image)


class CountingPolls(InstantProvider):
    def __init__(self) -> None:
        super().__init__()
        self.polls = 0

    async def poll(self, operation_id: str) -> bytes | None:
        self.polls += 1
        return await super().poll(operation_id)


async def test_an_image_is_in_sqlite_before_its_poll_gives_up_its_place(
    database: Database, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With one poll at once, the second job is polled only once the first one's image is
    # stored: decoded images waiting for SQLite are bounded like the polls themselves.
    monkeypatch.setattr(service_module, "MAX_POLLS_AT_ONCE", 1)
    jobs = SlowStoreJobs(database)
    provider = CountingPolls()
    delivery = HeldDelivery()
    delivery.release.set()
    service = polling_at_once(jobs, provider, delivery)
    await queue(jobs, "first", user_id=1)
    await queue(jobs, "second", user_id=2)
    await service.start()
    try:
        await wait_until(lambda: jobs.storing == 1)
        await asyncio.sleep(0.3)
        assert provider.polls == 1  # the other poll waits for the write
        jobs.written.set()
        await wait_until(lambda: len(delivery.sent) == 2)
    finally:
        await service.stop()
    assert provider.polls == 2
