"""Originals for the 📄 Original button.

Design: a delivered image stays in SQLite (`job_images`) for `ORIGINALS_RETENTION_HOURS`, then
a pruning pass deletes it. Telegram recompresses photos and a photo's file_id only ever gives
back that recompressed copy, so the untouched bytes must stay on our side; a bounded window
keeps "nothing lost" for the paid image while the disk holds about one window of images
(SQLite reuses the freed pages).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import suppress

from storage.models import Job, JobState
from storage.repositories import JobRepository

log = logging.getLogger(__name__)

PRUNE_EVERY = 600.0  # seconds between pruning passes
RESEND_AFTER = 60.0  # the same original is sent to a chat at most once a minute


class Originals:
    def __init__(self, jobs: JobRepository, retention_hours: float, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.jobs = jobs
        self.retention_hours = retention_hours
        self.clock = clock
        self._sent: dict[tuple[int, int], float] = {}
        self._pruner: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.retention_hours > 0

    @property
    def retention_seconds(self) -> float:
        return self.retention_hours * 3600

    async def image(self, job: Job) -> bytes | None:
        """The original JPEG, while it is kept."""
        if not self.enabled:
            return None
        if (job.state is JobState.DELIVERED and job.finished_at is not None
                and job.finished_at < self.clock() - self.retention_seconds):
            return None  # past the window, even if the next pruning pass has not run yet
        return await self.jobs.image(job.id)

    def claim(self, chat_id: int, job_id: int) -> bool:
        """True if this original may be sent to this chat now (not sent in the last minute);
        guards a group against a burst of presses."""
        now = time.monotonic()
        self._sent = {key: at for key, at in self._sent.items() if now - at < RESEND_AFTER}
        if (chat_id, job_id) in self._sent:
            return False
        self._sent[(chat_id, job_id)] = now
        return True

    def release(self, chat_id: int, job_id: int) -> None:
        """The send failed: allow another try at once."""
        self._sent.pop((chat_id, job_id), None)

    async def prune(self) -> int:
        pruned = await self.jobs.prune_images(self.clock() - self.retention_seconds)
        if pruned and self.enabled:
            log.info("pruned %d original image(s) older than %g h", pruned, self.retention_hours)
        elif pruned:
            log.info("dropped %d delivered image(s) left behind by a crash", pruned)
        return pruned

    async def start(self) -> None:
        if self._pruner is not None:
            return
        # Kept or not, delivered images past the window go: without originals, one a crash left
        # between a delivery's two statements (`mark_delivered`).
        await self.prune()
        if self.enabled:
            self._pruner = asyncio.create_task(self._prune_forever(), name="originals-pruner")

    async def stop(self) -> None:
        if self._pruner is not None:
            self._pruner.cancel()
            with suppress(asyncio.CancelledError):
                await self._pruner
            self._pruner = None

    async def _prune_forever(self) -> None:
        while True:
            await asyncio.sleep(PRUNE_EVERY)
            try:
                await self.prune()
            except Exception:  # a locked or full disk: try again next time
                log.exception("pruning original images failed")
