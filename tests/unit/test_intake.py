"""Accepting a /draw: the acknowledgement, its status message stored, then the launch."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from bot.generation.intake import Intake
from storage.models import Job, JobState


def make_job() -> Job:
    return Job(
        id=7, request_key="1:1", chat_id=1, thread_id=None, user_id=1, message_id=1,
        language="en", prompt="p", options="{}", state=JobState.QUEUED, reason=None,
        operation_id=None, attempts=0, status_message_id=None, day="2026-11-26",
        created_at=0.0, updated_at=0.0, deadline_at=600.0, submitted_at=None,
        generated_at=None, finished_at=None,
    )


class Recorder:
    def __init__(self, *, stored: bool) -> None:
        self.stored = stored
        self.launched: list[Job] = []
        self.removed: list[Job] = []

    async def acknowledge(self, job: Job) -> int:
        return 55

    async def set_status_message(self, job_id: int, message_id: int | None) -> bool:
        return self.stored

    async def remove_status(self, job: Job) -> None:
        self.removed.append(job)

    def launch(self, job: Job) -> None:
        self.launched.append(job)


def intake(recorder: Recorder) -> Intake:
    fake = cast(Any, recorder)
    return Intake(jobs=fake, service=fake, delivery=fake,
                  quotas=cast(Any, SimpleNamespace(settings=None)))


async def test_the_job_is_launched_with_its_status_message() -> None:
    recorder = Recorder(stored=True)
    await intake(recorder).begin(make_job())
    assert [job.status_message_id for job in recorder.launched] == [55]
    assert recorder.removed == []


async def test_a_job_that_ended_before_its_status_was_stored_loses_the_status() -> None:
    recorder = Recorder(stored=False)  # the submitter took it and it was refused meanwhile
    await intake(recorder).begin(make_job())
    assert recorder.launched == []
    assert [job.status_message_id for job in recorder.removed] == [55]
