"""Accepting a /draw: the acknowledgement, its status message stored, then the launch."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from types import SimpleNamespace
from typing import Any, cast

import pytest

from bot.generation import intake as intake_module
from bot.generation.intake import DrawRequest, Intake
from bot.prompt import parse_prompt
from storage.models import Created, Job, JobState


def make_job(job_id: int = 7, chat_id: int = 1) -> Job:
    return Job(
        id=job_id, request_key=f"{chat_id}:1", chat_id=chat_id, thread_id=None, user_id=1,
        message_id=1,
        language="en", prompt="p", options="{}", state=JobState.QUEUED, reason=None,
        operation_id=None, attempts=0, status_message_id=None, day="2026-11-26",
        created_at=0.0, updated_at=0.0, deadline_at=600.0, submitted_at=None,
        generated_at=None, finished_at=None,
    )


class Recorder:
    """The jobs, service and delivery an intake talks to, recording what it asks of them."""

    def __init__(self, *, stored: bool) -> None:
        self.stored = stored
        self.events: list[str] = []
        self.launched: list[Job] = []
        self.removed: list[Job] = []
        self.known: list[Job] = []
        self.actions: list[tuple[int, int | None]] = []
        self.acknowledged: list[int] = []  # job ids
        self.drawing: set[int] = set()
        self.state = JobState.QUEUED

    async def chat_action_in(self, chat_id: int, thread_id: int | None) -> None:
        self.actions.append((chat_id, thread_id))

    async def acknowledge(self, job: Job) -> int:
        self.events.append("acknowledge")
        self.acknowledged.append(job.id)
        return 55

    async def get(self, job_id: int) -> Job:
        return replace(make_job(job_id), state=self.state)

    def is_drawing(self, job_id: int) -> bool:
        return job_id in self.drawing

    def status_message_known(self, job: Job) -> None:
        self.known.append(job)

    async def set_status_message(self, job_id: int, message_id: int | None) -> bool:
        return self.stored

    async def remove_status(self, job: Job) -> None:
        self.removed.append(job)

    def launch(self, job: Job) -> None:
        self.events.append("launch")
        self.launched.append(job)


def draw_request(chat_id: int) -> DrawRequest:
    return DrawRequest(chat_id=chat_id, thread_id=None, user_id=chat_id, message_id=1,
                       language="en", prompt=parse_prompt("a cat"))


def intake(recorder: Recorder) -> Intake:
    fake = cast(Any, recorder)
    return Intake(jobs=fake, service=fake, delivery=fake,
                  quotas=cast(Any, SimpleNamespace(settings=None)))


async def test_the_job_is_acknowledged_then_launched() -> None:
    recorder = Recorder(stored=True)
    await intake(recorder).begin(make_job())
    assert recorder.events == ["acknowledge", "launch"]  # a quick refusal edits the status
    assert [job.status_message_id for job in recorder.known] == [55]
    assert recorder.removed == []


async def test_a_job_that_ended_before_its_status_was_stored_loses_the_status() -> None:
    recorder = Recorder(stored=False)  # the submitter took it and it was refused meanwhile
    await intake(recorder).begin(make_job())
    assert recorder.launched == [] and recorder.known == []
    assert [job.status_message_id for job in recorder.removed] == [55]


async def test_in_a_burst_the_job_is_launched_before_anything_is_sent() -> None:
    recorder = Recorder(stored=True)
    await intake(recorder).begin(make_job(3, chat_id=-100), acknowledged=True)
    assert recorder.events == ["launch", "acknowledge"]  # (a group's reaction)


async def test_in_a_burst_only_a_job_still_waiting_gets_a_status_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(intake_module, "WAITING_STATUS_AFTER", 0.05)
    recorder = Recorder(stored=True)
    taker = intake(recorder)
    recorder.drawing.add(1)  # taken by the submitter at once: its chat action is enough
    await taker.begin(make_job(1), acknowledged=True)
    await taker.begin(make_job(2), acknowledged=True)  # still queued 0.05 s later
    await taker.begin(make_job(3, chat_id=-100), acknowledged=True)  # a group: its reaction
    assert recorder.acknowledged == [3]
    await asyncio.sleep(0.2)
    assert recorder.acknowledged == [3, 2]
    assert [job.id for job in recorder.known] == [3, 2]
    recorder.state = JobState.DELIVERED  # done before its wait was over: nothing to say
    await taker.begin(make_job(4), acknowledged=True)
    await asyncio.sleep(0.2)
    assert recorder.acknowledged == [3, 2]
    assert [job.id for job in recorder.launched] == [1, 2, 3, 4]


async def test_in_a_burst_each_draw_is_acknowledged_before_its_turn_on_the_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(intake_module, "BUSY_INTAKE", 2)
    recorder = Recorder(stored=True)
    taker = intake(recorder)
    turn = asyncio.Event()

    async def register(request: DrawRequest) -> Created:  # waits for the database
        await turn.wait()
        return Created(make_job(request.chat_id, chat_id=request.chat_id))

    taker.register = register  # type: ignore[method-assign]
    draws = [asyncio.create_task(taker.accept(draw_request(chat_id))) for chat_id in (1, 2, 3)]
    for _ in range(50):
        await asyncio.sleep(0.01)
    assert recorder.actions == [(3, None)]  # two were being taken in already
    recorder.drawing.update({1, 2, 3})  # (each taken by the submitter at once)
    turn.set()
    await asyncio.gather(*draws)
    assert recorder.acknowledged == [1, 2]  # the third has its chat action: no status message
    await taker.accept(draw_request(4))  # quiet again: the status message is enough
    assert recorder.actions == [(3, None)]
    assert recorder.acknowledged == [1, 2, 4]
    assert [job.id for job in recorder.launched] == [1, 2, 3, 4]


async def test_stop_cancels_the_status_messages_still_to_come(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(intake_module, "WAITING_STATUS_AFTER", 0.05)
    recorder = Recorder(stored=True)
    taker = intake(recorder)
    await taker.begin(make_job(2), acknowledged=True)  # would get its status in 0.05 s
    await taker.stop()
    await asyncio.sleep(0.2)
    assert recorder.acknowledged == []
