"""storage: the SQLite database, migrations and the job repository."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

import aiosqlite
import pytest

from storage.database import PAGE_SIZE, Database
from storage.jobs import SqliteJobRepository
from storage.models import (
    REFUNDED_STATES,
    UNFINISHED_STATES,
    Created,
    Duplicate,
    Job,
    JobState,
    LimitPolicy,
    LimitReached,
    NewJob,
)

DAY = "2026-11-25"
ONE_A_DAY = LimitPolicy(user_daily=1)
USER = 1001
CHAT = -100500


def migration_count() -> int:
    """The highest migration number (numbers may skip while branches are merged)."""
    folder = resources.files("storage") / "migrations"
    return max(int(match.group(1)) for entry in folder.iterdir()
               if (match := re.match(r"^(\d{4})_[a-z0-9_]+\.sql$", entry.name)))


def new_job(key: str, *, user: int = USER, chat: int = CHAT, day: str = DAY,
            thread: int | None = None, message_id: int = 1) -> NewJob:
    return NewJob(
        request_key=key, chat_id=chat, thread_id=thread, user_id=user, message_id=message_id,
        language="en", prompt=f"prompt {key}", options='{"aspect": null, "seed": null}', day=day,
        deadline_at=1e12,
    )



@pytest.fixture
def jobs(database: Database) -> SqliteJobRepository:
    return SqliteJobRepository(database)


async def created(jobs: SqliteJobRepository, key: str, *, chat: int = CHAT,
                  thread: int | None = None) -> Job:
    result = await jobs.create(new_job(key, chat=chat, thread=thread))
    assert isinstance(result, Created)
    return result.job


async def pragma(database: Database, name: str) -> object:
    async with database.reading() as connection, connection.execute(f"PRAGMA {name}") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return row[0]


@contextlib.asynccontextmanager
async def traced(database: Database) -> AsyncIterator[list[str]]:
    """The statements run inside, each a trip to aiosqlite's thread."""
    statements: list[str] = []
    await database._connection.set_trace_callback(statements.append)
    try:
        yield statements
    finally:
        await database._connection.set_trace_callback(None)  # type: ignore[arg-type]  # (removes it)


async def count_rows(database: Database, table: str) -> int:
    async with database.reading() as connection, \
            connection.execute(f"SELECT count(*) FROM {table}") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


# --- the database ----------------------------------------------------------------------------


async def test_open_creates_folder_wal_and_migrations(tmp_path: Path, database: Database) -> None:
    assert (tmp_path / "sub" / "bot.sqlite3").exists()
    assert str(await pragma(database, "journal_mode")).lower() == "wal"
    assert migration_count() >= 1
    assert await pragma(database, "user_version") == migration_count()
    assert await database.schema_version() == migration_count()
    assert await pragma(database, "foreign_keys") == 1
    assert await pragma(database, "page_size") == PAGE_SIZE
    assert await pragma(database, "secure_delete") == 2  # FAST
    assert await count_rows(database, "jobs") == 0


async def test_an_existing_database_keeps_its_page_size(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as old:
        old.execute("PRAGMA page_size=4096")
        old.execute("PRAGMA journal_mode=WAL")
        old.execute("CREATE TABLE leftover (x)")
    database = await Database.open(path)
    try:
        assert await pragma(database, "page_size") == 4096
        assert await database.schema_version() == migration_count()
    finally:
        await database.close()


async def test_reopening_does_not_rerun_migrations(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "bot.sqlite3"
    with caplog.at_level(logging.INFO, logger="storage.database"):
        first = await Database.open(path)
    assert any("migration" in record.getMessage() for record in caplog.records)
    await created(SqliteJobRepository(first), "1:1")
    await first.close()

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="storage.database"):
        second = await Database.open(path)
    try:
        assert not any("migration" in record.getMessage() for record in caplog.records)
        assert await second.schema_version() == migration_count()
        assert await count_rows(second, "jobs") == 1  # data kept: nothing was recreated
    finally:
        await second.close()


async def test_transaction_rolls_back_on_error(database: Database) -> None:
    with pytest.raises(RuntimeError):
        async with database.transaction() as connection:
            await connection.execute(
                "INSERT INTO jobs (request_key, chat_id, user_id, message_id, prompt, state, day,"
                " created_at, updated_at, deadline_at) VALUES ('k', 1, 1, 1, 'p', 'queued', 'd',"
                " 0, 0, 0)"
            )
            raise RuntimeError("abort")
    assert await count_rows(database, "jobs") == 0


async def test_a_single_statement_waits_for_a_running_transaction(database: Database) -> None:
    """A one-statement change (no BEGIN of its own) must not land inside another coroutine's
    open transaction, or that transaction's rollback would undo it."""
    jobs = SqliteJobRepository(database)
    job = await created(jobs, "1:1")
    inside, abort = asyncio.Event(), asyncio.Event()

    async def failing_transaction() -> None:
        with pytest.raises(RuntimeError):
            async with database.transaction() as connection:
                await connection.execute("UPDATE jobs SET prompt = 'changed' WHERE id = ?",
                                         (job.id,))
                inside.set()
                await abort.wait()
                raise RuntimeError("abort")

    transaction = asyncio.create_task(failing_transaction())
    await inside.wait()
    status = asyncio.create_task(jobs.set_status_message(job.id, 42))
    await asyncio.sleep(0.05)
    assert not status.done()
    abort.set()
    await transaction
    await status
    stored = await jobs.get(job.id)
    assert stored is not None
    assert stored.status_message_id == 42 and stored.prompt == job.prompt


async def test_the_submitters_read_goes_before_waiting_draws(database: Database) -> None:
    jobs = SqliteJobRepository(database)
    await created(jobs, "1:1")
    inside, release = asyncio.Event(), asyncio.Event()

    async def long_transaction() -> None:
        async with database.transaction():
            inside.set()
            await release.wait()

    holder = asyncio.create_task(long_transaction())
    await inside.wait()
    draws = [asyncio.create_task(jobs.create(new_job(f"2:{i}"))) for i in range(3)]
    await asyncio.sleep(0.01)
    read = asyncio.create_task(jobs.queued_in_order(10))
    await asyncio.sleep(0.01)
    release.set()
    assert [job.request_key for job in await read] == ["1:1"]  # before the waiting inserts
    await asyncio.gather(holder, *draws)
    assert len(await jobs.queued_in_order(10)) == 4


async def test_a_single_statement_is_committed_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    database = await Database.open(path)
    try:
        jobs = SqliteJobRepository(database)
        job = await created(jobs, "1:1")
        assert await jobs.mark_submitting(job.id) is not None
        assert await jobs.mark_submitted(job.id, "op-1")
        with contextlib.closing(sqlite3.connect(path)) as other:  # another process's view
            row = other.execute("SELECT state, operation_id FROM jobs WHERE id = ?",
                                (job.id,)).fetchone()
        assert row == ("submitted", "op-1")
    finally:
        await database.close()


# --- create, duplicates, limits --------------------------------------------------------------


async def test_create_returns_created_job(jobs: SqliteJobRepository) -> None:
    result = await jobs.create(new_job("c:1", thread=7, message_id=42), LimitPolicy(user_daily=5))
    assert isinstance(result, Created)
    job = result.job
    assert job.state is JobState.QUEUED
    assert job.request_key == "c:1"
    assert (job.chat_id, job.thread_id, job.user_id, job.message_id) == (CHAT, 7, USER, 42)
    assert job.prompt == "prompt c:1"
    assert job.day == DAY
    assert job.attempts == 0
    assert job.operation_id is None
    assert job.submitted_at is None and job.finished_at is None
    assert job.created_at > 0
    assert await jobs.get(job.id) == job
    assert await jobs.get(job.id + 1000) is None


async def test_same_request_key_is_duplicate(
    jobs: SqliteJobRepository, database: Database
) -> None:
    first = await created(jobs, "c:1")
    again = await jobs.create(new_job("c:1"))
    assert isinstance(again, Duplicate)
    assert again.job == first
    assert await count_rows(database, "jobs") == 1


async def test_duplicate_wins_over_a_used_up_limit(jobs: SqliteJobRepository) -> None:
    assert isinstance(await jobs.create(new_job("c:1"), ONE_A_DAY), Created)
    assert isinstance(await jobs.create(new_job("c:1"), ONE_A_DAY), Duplicate)
    assert isinstance(await jobs.create(new_job("c:2"), ONE_A_DAY), LimitReached)


async def test_a_job_ended_after_the_refused_insert_makes_room(
    database: Database, jobs: SqliteJobRepository, monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = await jobs.create(new_job("a"), ONE_A_DAY)
    assert isinstance(first, Created)
    original = database.transaction

    @contextlib.asynccontextmanager
    async def transaction_after_a_refund() -> AsyncIterator[aiosqlite.Connection]:
        # Between the refused insert and the transaction telling why, the first job fails.
        monkeypatch.setattr(database, "transaction", original)
        assert await jobs.finish(first.job.id, JobState.FAILED, "test")
        async with original() as connection:
            yield connection

    monkeypatch.setattr(database, "transaction", transaction_after_a_refund)
    result = await jobs.create(new_job("b"), ONE_A_DAY)
    assert database.transaction == original  # the refused insert went on to the transaction
    assert isinstance(result, Created)  # not LimitReached: the failed job was refunded


async def test_limit_is_atomic_under_concurrency(
    jobs: SqliteJobRepository, database: Database
) -> None:
    results = await asyncio.gather(
        *(jobs.create(new_job(f"c:{index}"), ONE_A_DAY) for index in range(6))
    )
    assert sum(isinstance(result, Created) for result in results) == 1
    reached = [result for result in results if isinstance(result, LimitReached)]
    assert len(reached) == 5
    assert all(result == LimitReached(used=1, limit=1) for result in reached)
    assert await count_rows(database, "jobs") == 1


async def test_limit_is_per_user_and_per_day(jobs: SqliteJobRepository) -> None:
    assert isinstance(await jobs.create(new_job("a"), ONE_A_DAY), Created)
    assert isinstance(await jobs.create(new_job("b", user=USER + 1), ONE_A_DAY), Created)
    assert isinstance(await jobs.create(new_job("c", day="2026-11-26"), ONE_A_DAY), Created)
    assert isinstance(await jobs.create(new_job("d"), ONE_A_DAY), LimitReached)
    assert await jobs.used_on(USER, DAY) == 1
    assert await jobs.used_on(USER, "2026-11-26") == 1
    assert await jobs.used_on(USER + 1, DAY) == 1
    assert await jobs.used_on(USER + 2, DAY) == 0


async def test_zero_limit_allows_nothing(jobs: SqliteJobRepository) -> None:
    result = await jobs.create(new_job("a"), LimitPolicy(user_daily=0))
    assert result == LimitReached(used=0, limit=0)


async def test_no_limit_is_unlimited(jobs: SqliteJobRepository) -> None:
    for index in range(25):
        assert isinstance(await jobs.create(new_job(f"k{index}")), Created)
    assert await jobs.used_on(USER, DAY) == 25


async def to_delivered(jobs: SqliteJobRepository, job: Job) -> None:
    assert await jobs.mark_submitting(job.id) is not None
    assert await jobs.mark_submitted(job.id, f"op-{job.id}")
    assert await jobs.store_image(job.id, b"jpeg")
    assert await jobs.mark_delivered(job.id)


@pytest.mark.parametrize("state", sorted(REFUNDED_STATES))
async def test_refunded_states_do_not_count(jobs: SqliteJobRepository, state: JobState) -> None:
    job = await created(jobs, "a")
    assert await jobs.used_on(USER, DAY) == 1
    assert await jobs.finish(job.id, state, "test")
    assert await jobs.used_on(USER, DAY) == 0
    assert isinstance(await jobs.create(new_job("b"), ONE_A_DAY), Created)


@pytest.mark.parametrize("state", [JobState.UNDELIVERABLE, JobState.DELIVERED,
                                   *sorted(UNFINISHED_STATES)])
async def test_counted_states(jobs: SqliteJobRepository, state: JobState) -> None:
    job = await created(jobs, "a")
    if state is JobState.DELIVERED:
        await to_delivered(jobs, job)
    elif state is JobState.UNDELIVERABLE:
        assert await jobs.finish(job.id, state, "blocked")
    else:
        await advance(jobs, job, state)
    stored = await jobs.get(job.id)
    assert stored is not None and stored.state is state
    assert await jobs.used_on(USER, DAY) == 1
    assert isinstance(await jobs.create(new_job("b"), ONE_A_DAY), LimitReached)


async def advance(jobs: SqliteJobRepository, job: Job, state: JobState) -> None:
    """Move a queued job forward to an unfinished `state`."""
    path = [JobState.QUEUED, JobState.SUBMITTING, JobState.SUBMITTED, JobState.GENERATED]
    for step in path[1 : path.index(state) + 1]:
        if step is JobState.SUBMITTING:
            assert await jobs.mark_submitting(job.id) is not None
        elif step is JobState.SUBMITTED:
            assert await jobs.mark_submitted(job.id, "op")
        else:
            assert await jobs.store_image(job.id, b"img")


async def test_queued_by_id_lists_only_queued_jobs_oldest_first(
    jobs: SqliteJobRepository,
) -> None:
    first, taken, second, third = [await created(jobs, key) for key in "abcd"]
    await advance(jobs, taken, JobState.SUBMITTED)
    assert [job.id for job in await jobs.queued_by_id(10)] == [first.id, second.id, third.id]
    assert [job.id for job in await jobs.queued_by_id(2)] == [first.id, second.id]


# --- transitions -----------------------------------------------------------------------------


async def test_mark_submitting_only_from_queued(jobs: SqliteJobRepository) -> None:
    job = await created(jobs, "a")
    moved = await jobs.mark_submitting(job.id)
    assert moved is not None
    assert moved.state is JobState.SUBMITTING
    assert moved.attempts == 1
    assert await jobs.mark_submitting(job.id) is None  # already submitting
    stored = await jobs.get(job.id)
    assert stored is not None and stored.attempts == 1


async def test_requeue_and_attempts(jobs: SqliteJobRepository) -> None:
    job = await created(jobs, "a")
    assert not await jobs.requeue(job.id)  # queued, not submitting
    assert await jobs.mark_submitting(job.id) is not None
    assert await jobs.requeue(job.id)
    stored = await jobs.get(job.id)
    assert stored is not None and stored.state is JobState.QUEUED
    again = await jobs.mark_submitting(job.id)
    assert again is not None and again.attempts == 2
    assert not await jobs.mark_submitting(job.id + 99)


async def test_mark_submitted_only_from_submitting(jobs: SqliteJobRepository) -> None:
    job = await created(jobs, "a")
    assert not await jobs.mark_submitted(job.id, "op-early")
    stored = await jobs.get(job.id)
    assert stored is not None and stored.operation_id is None
    assert stored.state is JobState.QUEUED

    await jobs.mark_submitting(job.id)
    returned = await jobs.mark_submitted(job.id, "op-1")
    stored = await jobs.get(job.id)
    assert stored is not None
    assert returned == stored  # the row as stored, with no second read
    assert stored.state is JobState.SUBMITTED
    assert stored.operation_id == "op-1"
    assert stored.submitted_at is not None
    assert not await jobs.mark_submitted(job.id, "op-2")  # never overwritten
    stored = await jobs.get(job.id)
    assert stored is not None and stored.operation_id == "op-1"


async def test_store_image_from_submitting_for_the_images_api(
    jobs: SqliteJobRepository,
) -> None:
    job = await created(jobs, "a")
    await jobs.mark_submitting(job.id)
    assert await jobs.store_image(job.id, b"synchronous")
    stored = await jobs.get(job.id)
    assert stored is not None and stored.state is JobState.GENERATED
    assert stored.submitted_at is not None and stored.operation_id is None
    assert await jobs.image(job.id) == b"synchronous"


async def test_store_image_only_after_a_submit(jobs: SqliteJobRepository) -> None:
    job = await created(jobs, "a")
    assert not await jobs.store_image(job.id, b"early")
    assert await jobs.image(job.id) is None
    await jobs.mark_submitting(job.id)
    await jobs.mark_submitted(job.id, "op")
    image = bytes(range(256)) * 10
    assert await jobs.store_image(job.id, image)
    assert await jobs.image(job.id) == image
    stored = await jobs.get(job.id)
    assert stored is not None
    assert stored.state is JobState.GENERATED
    assert stored.generated_at is not None
    assert not await jobs.store_image(job.id, b"second")
    assert await jobs.image(job.id) == image


async def test_store_image_returns_the_generated_job_in_two_statements(
    jobs: SqliteJobRepository, database: Database,
) -> None:
    job = await created(jobs, "a")
    await advance(jobs, job, JobState.SUBMITTED)
    async with traced(database) as statements:
        stored = await jobs.store_image(job.id, b"img")
    assert stored is not None and stored.state is JobState.GENERATED
    assert stored.generated_at is not None and stored.operation_id == "op"
    # Two trips to aiosqlite's thread: the image, then the state (no BEGIN, COMMIT or read).
    assert [statement.split()[0] for statement in statements] == ["INSERT", "UPDATE"]


async def test_a_finished_job_stores_no_image(jobs: SqliteJobRepository, database: Database,
                                              ) -> None:
    job = await created(jobs, "a")
    await advance(jobs, job, JobState.SUBMITTED)
    assert await jobs.finish(job.id, JobState.CANCELLED, "cancelled by the user")
    assert await jobs.store_image(job.id, b"late") is None
    assert await count_rows(database, "job_images") == 0


async def test_mark_delivered_drops_image(jobs: SqliteJobRepository, database: Database) -> None:
    job = await created(jobs, "a")
    assert not await jobs.mark_delivered(job.id)
    await advance(jobs, job, JobState.GENERATED)
    async with traced(database) as statements:
        assert await jobs.mark_delivered(job.id)
    # Two trips to aiosqlite's thread: the state, then the image (no BEGIN and COMMIT).
    assert [statement.split()[0] for statement in statements] == ["UPDATE", "DELETE"]
    assert await jobs.image(job.id) is None
    assert await count_rows(database, "job_images") == 0
    stored = await jobs.get(job.id)
    assert stored is not None
    assert stored.state is JobState.DELIVERED
    assert stored.finished_at is not None
    assert not await jobs.mark_delivered(job.id)


@pytest.mark.parametrize("start", sorted(UNFINISHED_STATES))
async def test_finish_from_unfinished_drops_image(
    jobs: SqliteJobRepository, database: Database, start: JobState
) -> None:
    job = await created(jobs, "a")
    await advance(jobs, job, start)
    assert await jobs.finish(job.id, JobState.FAILED, "it broke")
    stored = await jobs.get(job.id)
    assert stored is not None
    assert stored.state is JobState.FAILED
    assert stored.reason == "it broke"
    assert stored.finished_at is not None
    assert await jobs.image(job.id) is None
    assert await count_rows(database, "job_images") == 0
    assert not await jobs.finish(job.id, JobState.EXPIRED, "again")
    stored = await jobs.get(job.id)
    assert stored is not None and stored.state is JobState.FAILED
    assert stored.reason == "it broke"


async def test_finish_after_delivery_is_refused(jobs: SqliteJobRepository) -> None:
    job = await created(jobs, "a")
    await to_delivered(jobs, job)
    assert not await jobs.finish(job.id, JobState.UNDELIVERABLE, "late")
    stored = await jobs.get(job.id)
    assert stored is not None and stored.state is JobState.DELIVERED


@pytest.mark.parametrize("state", [*sorted(UNFINISHED_STATES), JobState.DELIVERED])
async def test_finish_rejects_non_final_states(jobs: SqliteJobRepository, state: JobState) -> None:
    job = await created(jobs, "a")
    with pytest.raises(ValueError):
        await jobs.finish(job.id, state, "nope")
    stored = await jobs.get(job.id)
    assert stored is not None and stored.state is JobState.QUEUED


async def test_unfinished_lists_exactly_unfinished_jobs(jobs: SqliteJobRepository) -> None:
    queued = await created(jobs, "q")
    submitting = await created(jobs, "s1")
    await advance(jobs, submitting, JobState.SUBMITTING)
    submitted = await created(jobs, "s2")
    await advance(jobs, submitted, JobState.SUBMITTED)
    generated = await created(jobs, "g")
    await advance(jobs, generated, JobState.GENERATED)
    delivered = await created(jobs, "d")
    await to_delivered(jobs, delivered)
    for state in (*sorted(REFUNDED_STATES), JobState.UNDELIVERABLE):
        job = await created(jobs, f"f-{state}")
        assert await jobs.finish(job.id, state, "x")
    unfinished = await jobs.unfinished()
    assert [job.id for job in unfinished] == [queued.id, submitting.id, submitted.id,
                                              generated.id]
    assert {job.state for job in unfinished} == set(UNFINISHED_STATES)


async def test_set_status_message(jobs: SqliteJobRepository) -> None:
    job = await created(jobs, "a")
    await jobs.set_status_message(job.id, 77)
    stored = await jobs.get(job.id)
    assert stored is not None and stored.status_message_id == 77
    await jobs.set_status_message(job.id, None)
    stored = await jobs.get(job.id)
    assert stored is not None and stored.status_message_id is None


async def test_a_finished_job_takes_no_status_message(jobs: SqliteJobRepository) -> None:
    job = await created(jobs, "a")
    assert await jobs.finish(job.id, JobState.REFUSED, "refused")
    assert not await jobs.set_status_message(job.id, 77)
    stored = await jobs.get(job.id)
    assert stored is not None and stored.status_message_id is None


async def test_move_chat(jobs: SqliteJobRepository) -> None:
    first = await created(jobs, "a", chat=-1, thread=5)
    second = await created(jobs, "b", chat=-1)
    other = await created(jobs, "c", chat=-2, thread=9)
    assert await jobs.move_chat(-1, -1001) == 2
    for job_id in (first.id, second.id):
        moved = await jobs.get(job_id)
        assert moved is not None
        assert moved.chat_id == -1001
        assert moved.thread_id is None
    untouched = await jobs.get(other.id)
    assert untouched == other
    assert await jobs.move_chat(-1, -1001) == 0


async def test_recent_generation_seconds(jobs: SqliteJobRepository, database: Database) -> None:
    assert await jobs.recent_generation_seconds(5) == []
    timings = {"a": (100.0, 104.0), "b": (200.0, 209.5), "c": (300.0, 301.0)}
    for key in timings:
        job = await created(jobs, key)
        await advance(jobs, job, JobState.GENERATED)
    await created(jobs, "pending")  # never generated: not counted
    async with database.transaction() as connection:
        for key, (submitted, generated) in timings.items():
            await connection.execute(
                "UPDATE jobs SET submitted_at = ?, generated_at = ? WHERE request_key = ?",
                (submitted, generated, key),
            )
    assert await jobs.recent_generation_seconds(5) == [1.0, 9.5, 4.0]  # newest first
    assert await jobs.recent_generation_seconds(2) == [1.0, 9.5]


async def test_recent_generation_seconds_real_clock(jobs: SqliteJobRepository) -> None:
    job = await created(jobs, "a")
    await advance(jobs, job, JobState.GENERATED)
    [seconds] = await jobs.recent_generation_seconds(1)
    assert seconds >= 0


async def test_cancelled_transaction_leaves_the_connection_usable(
    database: Database, jobs: SqliteJobRepository,
) -> None:
    async def in_a_transaction() -> None:
        async with database.transaction() as connection:
            await connection.execute("SELECT 1")

    task = asyncio.create_task(in_a_transaction())
    await asyncio.sleep(0)  # the task now waits for its BEGIN IMMEDIATE
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    result = await jobs.create(new_job("b"))
    assert isinstance(result, Created)


async def test_a_new_job_takes_two_statements_with_its_limits_checked(
    database: Database, jobs: SqliteJobRepository,
) -> None:
    # Each statement is a trip to aiosqlite's thread, and with 200 /draws at once the trips
    # queue up on the one connection: the admins' rules, then the guarded insert (no BEGIN and
    # COMMIT: one statement is atomic on its own).
    policy = LimitPolicy(user_daily=5, chat_daily=5, global_daily=50, max_active=2)
    async with traced(database) as statements:
        result = await jobs.create(new_job("k1"), lambda rules: policy)
    assert isinstance(result, Created)
    assert len(statements) == 2, statements
    assert statements[1].startswith("\nINSERT INTO jobs"), statements
