"""The generation service's submitter, with the database and YandexArt faked out."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.generation.delivery import Delivery
from bot.generation.service import GenerationService, ServiceSettings, call_outcome
from bot.yandexart.client import GenerationRequest
from bot.yandexart.errors import (
    AuthError,
    ContentRefused,
    OperationNotFound,
    QuotaExceeded,
    TransientError,
)
from bot.yandexart.provider import Finished, Started


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

    async def queued_in_order(self, limit: int) -> list[Any]:
        self.queue_reads += 1
        if self.queue_reads == 1:
            raise RuntimeError("database is locked")
        return []


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
