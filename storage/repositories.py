"""The narrow interface the rest of the bot uses; `storage.jobs` implements it on SQLite."""

from __future__ import annotations

from typing import Protocol

from storage.models import CreateResult, Job, JobState, NewJob


class JobRepository(Protocol):
    async def create(self, new: NewJob, *, daily_limit: int | None) -> CreateResult:
        """Insert the job unless its request key exists or the user's limit for `new.day` is
        used up; the check and the insert are one atomic step. `None` means no limit."""

    async def get(self, job_id: int) -> Job | None: ...

    async def find_by_message(self, chat_id: int, message_id: int) -> Job | None: ...

    async def unfinished(self) -> list[Job]: ...

    async def used_on(self, user_id: int, day: str) -> int:
        """Jobs that count against the user's limit on that day (refunded ones do not)."""

    async def mark_submitting(self, job_id: int) -> Job | None:
        """queued -> submitting, attempts + 1. None if the job was not queued."""

    async def requeue(self, job_id: int) -> bool:
        """submitting -> queued, for a submit the server surely did not accept."""

    async def mark_submitted(self, job_id: int, operation_id: str) -> bool: ...

    async def store_image(self, job_id: int, image: bytes) -> bool:
        """submitted -> generated, with the image kept until it is delivered."""

    async def image(self, job_id: int) -> bytes | None: ...

    async def mark_delivered(self, job_id: int) -> bool:
        """generated -> delivered; the image is dropped, unless the repository keeps delivered
        images (for the 📄 Original button) until `prune_images`."""

    async def prune_images(self, delivered_before: float) -> int:
        """Drop the kept images of jobs delivered before that time; returns how many."""

    async def finish(self, job_id: int, state: JobState, reason: str) -> bool:
        """Any unfinished state -> a final one (refused, failed, expired, cancelled,
        undeliverable); the image, if any, is dropped."""

    async def set_status_message(self, job_id: int, message_id: int | None) -> None: ...

    async def move_chat(self, old_chat_id: int, new_chat_id: int) -> int:
        """A group became a supergroup: its jobs follow it. Returns how many moved."""

    async def recent_generation_seconds(self, count: int) -> list[float]:
        """Submit-to-image durations of the most recent generated jobs."""
