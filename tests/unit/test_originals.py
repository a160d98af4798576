"""Delivered images kept for the 📄 Original button, and pruned after the retention window."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from bot.generation.originals import Originals
from storage.database import Database
from storage.jobs import SqliteJobRepository
from storage.models import Created, Job, JobState
from tests.unit.test_storage_jobs import advance, count_rows, new_job


@pytest.fixture
def keeping(database: Database) -> SqliteJobRepository:
    return SqliteJobRepository(database, keep_delivered_images=True)


async def delivered(jobs: SqliteJobRepository, key: str) -> Job:
    result = await jobs.create(new_job(key))
    assert isinstance(result, Created)
    await advance(jobs, result.job, JobState.GENERATED)
    assert await jobs.mark_delivered(result.job.id)
    job = await jobs.get(result.job.id)
    assert job is not None
    return job


async def test_delivered_image_is_kept_then_pruned(keeping: SqliteJobRepository,
                                                   database: Database) -> None:
    old, new = await delivered(keeping, "old"), await delivered(keeping, "new")
    assert await keeping.image(old.id) == b"img"
    assert new.finished_at is not None
    assert await keeping.prune_images(delivered_before=new.finished_at - 3600) == 0
    assert await keeping.prune_images(delivered_before=time.time() + 1) == 2
    assert await count_rows(database, "job_images") == 0
    assert await keeping.image(old.id) is None


async def test_prune_leaves_undelivered_images(keeping: SqliteJobRepository) -> None:
    result = await keeping.create(new_job("waiting"))
    assert isinstance(result, Created)
    await advance(keeping, result.job, JobState.GENERATED)  # not yet sent: must never go
    assert await keeping.prune_images(delivered_before=time.time() + 10) == 0
    assert await keeping.image(result.job.id) == b"img"


async def test_failed_jobs_drop_their_image_even_when_keeping(
        keeping: SqliteJobRepository, database: Database) -> None:
    result = await keeping.create(new_job("x"))
    assert isinstance(result, Created)
    await advance(keeping, result.job, JobState.GENERATED)
    assert await keeping.finish(result.job.id, JobState.UNDELIVERABLE, "blocked")
    assert await count_rows(database, "job_images") == 0


async def test_originals_window_and_pruning(keeping: SqliteJobRepository) -> None:
    job = await delivered(keeping, "a")
    assert job.finished_at is not None
    now = [job.finished_at + 60]
    originals = Originals(keeping, retention_hours=1, clock=lambda: now[0])
    assert await originals.image(job) == b"img"
    now[0] = job.finished_at + 3601  # past the window, not pruned yet: already unavailable
    assert await originals.image(job) is None
    assert await originals.prune() == 1
    await originals.start()  # prunes, then keeps a pruner running
    await originals.stop()


async def test_originals_disabled(keeping: SqliteJobRepository) -> None:
    job = await delivered(keeping, "a")
    originals = Originals(keeping, retention_hours=0)
    assert not originals.enabled
    assert await originals.image(job) is None
    await originals.start()
    await originals.stop()


async def test_without_originals_start_drops_an_image_a_crash_left(
        database: Database, caplog: pytest.LogCaptureFixture) -> None:
    # A crash between mark_delivered's two statements leaves the image of a delivered job
    # behind: as a repository keeping delivered images does.
    await delivered(SqliteJobRepository(database, keep_delivered_images=True), "crashed")
    jobs = SqliteJobRepository(database)
    waiting = await jobs.create(new_job("waiting"))
    assert isinstance(waiting, Created)
    await advance(jobs, waiting.job, JobState.GENERATED)
    with caplog.at_level("INFO"):
        await Originals(jobs, retention_hours=0).start()
    assert await count_rows(database, "job_images") == 1
    assert await jobs.image(waiting.job.id) == b"img"  # not delivered yet: kept
    assert "dropped 1 delivered image(s) left behind by a crash" in caplog.text


async def test_generated_job_image_is_available(keeping: SqliteJobRepository) -> None:
    result = await keeping.create(new_job("g"))
    assert isinstance(result, Created)
    await advance(keeping, result.job, JobState.GENERATED)
    job = replace(result.job, state=JobState.GENERATED)
    assert await Originals(keeping, retention_hours=24).image(job) == b"img"


def test_claim_allows_one_send_a_minute_per_chat(keeping: SqliteJobRepository) -> None:
    originals = Originals(keeping, retention_hours=24)
    assert originals.claim(1, 7)
    assert not originals.claim(1, 7)
    assert originals.claim(2, 7) and originals.claim(1, 8)
    originals.release(1, 7)
    assert originals.claim(1, 7)
