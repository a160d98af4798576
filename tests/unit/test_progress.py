"""The progress tracker on its own: errors never escape, stop() is prompt and final."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from typing import Any, cast

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.methods import EditMessageText, SendChatAction

from bot.generation import progress
from bot.generation.progress import Progress
from storage.models import Job, JobState


def make_job(job_id: int = 1, *, chat_id: int = 1, status: int | None = 10,
             created_at: float = 0.0) -> Job:
    return Job(
        id=job_id, request_key=f"{chat_id}:{job_id}", chat_id=chat_id, thread_id=None,
        user_id=1, message_id=1, language="en", prompt="p", options="{}",
        state=JobState.SUBMITTED, reason=None, operation_id="op", attempts=1,
        status_message_id=status, day="2026-01-01", created_at=created_at, updated_at=0.0,
        deadline_at=600.0, submitted_at=0.0, generated_at=None, finished_at=None,
    )


class FakeBot:
    """Records calls; `fail` decides what each one raises."""

    def __init__(self) -> None:
        self.actions: list[int] = []
        self.edits: list[str] = []
        self.fail_action: BaseException | None = None
        self.fail_edit: BaseException | None = None
        self.hang = False

    async def send_chat_action(self, chat_id: int, action: str, **_: Any) -> bool:
        self.actions.append(chat_id)
        if self.hang:
            await asyncio.sleep(3600)
        if self.fail_action is not None:
            raise self.fail_action
        return True

    async def edit_message_text(self, text: str, **_: Any) -> None:
        self.edits.append(text)
        if self.fail_edit is not None:
            raise self.fail_edit


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "ACTION_EVERY", 0.05)
    monkeypatch.setattr(progress, "PRIVATE_EDIT_EVERY", 0.05)
    monkeypatch.setattr(progress, "GROUP_EDIT_EVERY", 0.1)
    monkeypatch.setattr(progress, "STOP_WAIT", 0.1)


def tracker(bot: FakeBot, seconds: Iterator[int] | None = None) -> Progress:
    clock = seconds or itertools.count(1)
    return Progress(cast(Bot, bot), wall_clock=lambda: float(next(clock)))


@pytest.mark.usefixtures("fast")
async def test_edits_change_every_time_and_stop_is_final() -> None:
    bot = FakeBot()
    tracking = tracker(bot)
    tracking.start(make_job())
    tracking.start(make_job())  # a second start is ignored
    await asyncio.sleep(0.3)
    await tracking.stop(1)
    count = len(bot.edits)
    await asyncio.sleep(0.15)
    assert len(bot.edits) == count >= 2
    assert len(set(bot.edits)) == len(bot.edits)
    assert bot.actions
    assert tracking.tracked == 0
    await tracking.stop(1)  # stopping twice is harmless


@pytest.mark.usefixtures("fast")
async def test_no_edit_with_the_same_text() -> None:
    bot = FakeBot()
    tracking = tracker(bot, itertools.repeat(5))  # the clock stands still: same text
    tracking.start(make_job())
    await asyncio.sleep(0.3)
    await tracking.stop(1)
    assert bot.edits == ["🎨 Drawing… 5 s"]


@pytest.mark.usefixtures("fast")
async def test_unexpected_errors_are_logged_not_leaked(caplog: pytest.LogCaptureFixture) -> None:
    bot = FakeBot()
    bot.fail_action = RuntimeError("boom")
    tracking = tracker(bot)
    tracking.start(make_job())
    await asyncio.sleep(0.1)
    await tracking.stop(1)
    assert "progress updates stopped" in caplog.text


@pytest.mark.usefixtures("fast")
async def test_flood_limit_pauses_the_chat_and_a_gone_message_ends_edits() -> None:
    bot = FakeBot()
    bot.fail_action = TelegramRetryAfter(
        method=SendChatAction(chat_id=1, action="upload_photo"), message="flood", retry_after=5)
    bot.fail_edit = TelegramBadRequest(method=EditMessageText(text="x"),
                                       message="Bad Request: message to edit not found")
    tracking = tracker(bot)
    tracking.start(make_job())
    await asyncio.sleep(0.3)
    assert tracking.busy(1)
    assert len(bot.actions) == 1  # nothing more while Telegram asks to wait
    assert len(bot.edits) <= 1  # one before the first action met the flood limit; then none
    await tracking.stop(1)
    bot2 = FakeBot()
    bot2.fail_edit = bot.fail_edit
    tracking2 = tracker(bot2)
    tracking2.start(make_job())
    await asyncio.sleep(0.3)
    await tracking2.stop(1)
    assert len(bot2.edits) == 1  # the first failure ended the edits; actions went on
    assert len(bot2.actions) >= 3


@pytest.mark.usefixtures("fast")
async def test_groups_with_two_jobs_are_not_edited_and_share_one_action() -> None:
    bot = FakeBot()
    tracking = tracker(bot)
    tracking.start(make_job(1, chat_id=-5))
    tracking.start(make_job(2, chat_id=-5))
    await asyncio.sleep(0.32)
    assert tracking.drawing_in(-5) == 2
    await tracking.close()
    assert tracking._next_action == {} and tracking._busy_until == {}
    assert bot.edits == []
    assert 3 <= len(bot.actions) <= 8  # one per 0.05 s for the chat, not one per job


@pytest.mark.usefixtures("fast")
async def test_stop_cancels_a_hanging_request() -> None:
    bot = FakeBot()
    bot.hang = True
    tracking = tracker(bot)
    tracking.start(make_job(status=None))
    await asyncio.sleep(0.05)
    await asyncio.wait_for(tracking.stop(1), timeout=1)


@pytest.mark.usefixtures("fast")
async def test_the_first_action_waits_one_interval_after_the_acknowledgement() -> None:
    bot = FakeBot()
    tracking = tracker(bot)
    tracking.start(make_job())
    await asyncio.sleep(0.02)  # less than ACTION_EVERY (0.05)
    assert bot.actions == []
    await asyncio.sleep(0.1)
    await tracking.stop(1)
    assert bot.actions


@pytest.mark.usefixtures("fast")
async def test_a_status_message_stored_after_tracking_began_is_edited_from_then_on() -> None:
    bot = FakeBot()
    tracking = tracker(bot)
    tracking.start(make_job(status=None))  # claimed before its status message was stored
    await asyncio.sleep(0.15)
    assert bot.edits == []
    tracking.status_message_known(make_job(status=10))
    await asyncio.sleep(0.2)
    await tracking.stop(1)
    assert len(bot.edits) >= 1


@pytest.mark.usefixtures("fast")
async def test_a_job_without_a_status_message_does_not_spin(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "ACTION_EVERY", 0.2)
    monkeypatch.setattr(progress, "PRIVATE_EDIT_EVERY", 0.2)
    bot = FakeBot()
    tracking = tracker(bot)
    calls = 0
    latest = tracking._latest

    def counted(job: Job) -> Job:
        nonlocal calls
        calls += 1
        return latest(job)

    tracking._latest = counted  # type: ignore[method-assign]
    tracking.start(make_job(status=None))
    await asyncio.sleep(0.5)
    await tracking.stop(1)
    assert bot.edits == []
    assert calls <= 6  # woken by its action and edit intervals (0.2 s), not every 50 ms
