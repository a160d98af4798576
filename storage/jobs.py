"""Jobs on SQLite. Each state change is one guarded UPDATE in one transaction."""

from __future__ import annotations

import time
from typing import Any

import aiosqlite

from storage.database import Database
from storage.limits import read_rules
from storage.models import (
    NO_LIMITS,
    REFUNDED_STATES,
    UNFINISHED_STATES,
    Created,
    CreateResult,
    Duplicate,
    Job,
    JobState,
    LimitKind,
    LimitPolicy,
    LimitReached,
    NewJob,
    PolicyRule,
    Usage,
)
from storage.sql import Params, fetch_int, fetch_row, fetch_rows

_UNFINISHED = ", ".join(f"'{state}'" for state in sorted(UNFINISHED_STATES))
_REFUNDED = ", ".join(f"'{state}'" for state in sorted(REFUNDED_STATES))
# The states a job's image may arrive in.
_AWAITING = ", ".join(f"'{state}'" for state in (JobState.SUBMITTED, JobState.SUBMITTING))

# The new job, inserted only if its request is new and it breaks no limit (`_guards`): the check
# and the insert are one statement.
_INSERT = """
INSERT INTO jobs (request_key, chat_id, thread_id, user_id, message_id, language, prompt,
                  options, state, day, created_at, updated_at, deadline_at)
SELECT :request_key, :chat_id, :thread_id, :user_id, :message_id, :language, :prompt,
       :options, 'queued', :day, :now, :now, :deadline_at
WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE request_key = :request_key)
"""
# What counts against each limit, with a job's fields as the parameters.
_USED = {
    LimitKind.USER: "SELECT count(*) FROM jobs WHERE user_id = :user_id AND day = :day "
                    f"AND state NOT IN ({_REFUNDED})",
    LimitKind.CHAT: "SELECT count(*) FROM jobs WHERE chat_id = :chat_id AND day = :day "
                    f"AND state NOT IN ({_REFUNDED})",
    LimitKind.GLOBAL: f"SELECT count(*) FROM jobs WHERE day = :day AND state NOT IN ({_REFUNDED})",
    LimitKind.ACTIVE: "SELECT count(*) FROM jobs WHERE user_id = :user_id "
                      f"AND state IN ({_UNFINISHED})",
}

# Fair serving order of the queued jobs: round-robin across users and chats rather than FIFO.
# A job's turn is max(its rank among its user's unfinished jobs, its rank among its chat's),
# ties broken by id: everyone's first job comes before anyone's second one. Jobs already being
# drawn rank first, so a user whose job was just sent yields the next turn to one who waits.
_QUEUE = f"""
WITH ranked AS (
    SELECT id, state,
           ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY state = 'queued', id) AS user_rank,
           ROW_NUMBER() OVER (PARTITION BY chat_id ORDER BY state = 'queued', id) AS chat_rank
    FROM jobs WHERE state IN ({_UNFINISHED})
), ordered AS (
    SELECT id, ROW_NUMBER() OVER (ORDER BY max(user_rank, chat_rank), id) AS position
    FROM ranked WHERE state = 'queued'
)
"""


class SqliteJobRepository:
    def __init__(self, database: Database, *, keep_delivered_images: bool = False) -> None:
        self._db = database
        # Kept for the 📄 Original button until `prune_images`; otherwise dropped on delivery.
        self._keep_delivered_images = keep_delivered_images

    async def create(self, new: NewJob,
                     policy: LimitPolicy | PolicyRule = NO_LIMITS) -> CreateResult:
        # The checks and the insert are one statement, atomic on its own: no BEGIN and COMMIT,
        # two trips to aiosqlite's thread fewer (with 200 /draws at once they queue up on the
        # one connection). The admins' rules are read just before, in the same turn (or the
        # inserts of a burst would wait behind all of its rules reads); a rule changed in
        # between applies from the next job on.
        async with self._db.single_statement() as connection:
            if not isinstance(policy, LimitPolicy):
                policy = policy(await read_rules(connection, new.user_id, new.chat_id, new.day))
            limits = _applied(policy)
            params = {**_fields(new), "now": time.time(),
                      **{f"limit_{kind.value}": limit for kind, limit in limits}}
            insert = _INSERT + _guards(limits) + " RETURNING *"
            job = await _one(connection, insert, params)
        if job is not None:
            return Created(job)
        # Refused (rare): a duplicate or a limit, told apart and the refusal recorded in one
        # transaction, which tries the insert once more: a job may have ended meanwhile.
        async with self._db.transaction() as connection:
            job = await _one(connection, insert, params)
            if job is not None:
                return Created(job)
            existing = await _one(connection, "SELECT * FROM jobs WHERE request_key = ?",
                                  (new.request_key,))
            if existing is not None:
                return Duplicate(existing)
            reached = await _check(connection, params, limits)
            await connection.execute(
                "INSERT INTO limit_refusals (day, user_id, chat_id, kind, at) "
                "VALUES (?, ?, ?, ?, ?)",
                (new.day, new.user_id, new.chat_id, reached.kind.value, time.time()),
            )
            return reached

    async def get(self, job_id: int) -> Job | None:
        async with self._db.reading() as connection:
            return await _one(connection, "SELECT * FROM jobs WHERE id = ?", (job_id,))

    async def unfinished(self) -> list[Job]:
        async with self._db.reading() as connection:
            return await _all(
                connection, f"SELECT * FROM jobs WHERE state IN ({_UNFINISHED}) ORDER BY id", ()
            )

    async def queued_count(self) -> int:
        async with self._db.reading() as connection:
            return await fetch_int(connection, "SELECT count(*) FROM jobs WHERE state = 'queued'")

    async def overdue(self, now: float) -> list[Job]:
        async with self._db.reading() as connection:
            return await _all(
                connection, "SELECT * FROM jobs WHERE state = 'queued' AND deadline_at <= ?",
                (now,))

    async def used_on(self, user_id: int, day: str) -> int:
        async with self._db.reading() as connection:
            return await fetch_int(connection, _USED[LimitKind.USER],
                                   {"user_id": user_id, "day": day})

    async def usage(self, user_id: int, chat_id: int, day: str) -> Usage:
        params = {"user_id": user_id, "chat_id": chat_id, "day": day}
        async with self._db.reading() as connection:
            user, chat, everyone, active = await _counts(
                connection, [LimitKind.USER, LimitKind.CHAT, LimitKind.GLOBAL, LimitKind.ACTIVE],
                params)
        return Usage(user_today=user, chat_today=chat, global_today=everyone,
                     user_active=active)

    async def unfinished_of(self, user_id: int, chat_id: int | None = None) -> list[Job]:
        chat_filter = "" if chat_id is None else " AND chat_id = :chat"
        async with self._db.reading() as connection:
            return await _all(
                connection,
                f"SELECT * FROM jobs WHERE user_id = :user AND state IN ({_UNFINISHED})"
                f"{chat_filter} ORDER BY id",
                {"user": user_id, "chat": chat_id},
            )

    async def queued_in_order(self, limit: int) -> list[Job]:
        async with self._db.reading(urgent=True) as connection:  # the submitter's next job
            return await _all(
                connection,
                f"{_QUEUE} SELECT jobs.* FROM ordered JOIN jobs USING (id) "
                "ORDER BY ordered.position LIMIT ?",
                (limit,),
            )

    async def queued_by_id(self, limit: int) -> list[Job]:
        async with self._db.reading(urgent=True) as connection:  # the submitter's next jobs
            return await _all(connection,
                              "SELECT * FROM jobs WHERE state = 'queued' ORDER BY id LIMIT ?",
                              (limit,))

    async def queue_position(self, job_id: int) -> int | None:
        async with self._db.reading() as connection:
            row = await fetch_row(connection, f"{_QUEUE} SELECT position FROM ordered WHERE id = ?",
                             (job_id,))
        return int(row[0]) if row else None

    async def queue_positions(self, job_ids: list[int]) -> dict[int, int]:
        if not job_ids:
            return {}
        marks = ", ".join("?" for _ in job_ids)
        async with self._db.reading() as connection:
            rows = await fetch_rows(
                connection, f"{_QUEUE} SELECT id, position FROM ordered WHERE id IN ({marks})",
                tuple(job_ids),
            )
        return {int(row[0]): int(row[1]) for row in rows}

    async def mark_submitting(self, job_id: int) -> Job | None:
        async with self._db.single_statement(urgent=True) as connection:
            return await _moved(connection, job_id, JobState.QUEUED, JobState.SUBMITTING,
                                "attempts = attempts + 1")

    async def requeue(self, job_id: int) -> bool:
        async with self._db.single_statement() as connection:
            return await _move(connection, job_id, JobState.SUBMITTING, JobState.QUEUED)

    async def mark_submitted(self, job_id: int, operation_id: str) -> Job | None:
        async with self._db.single_statement(urgent=True) as connection:
            return await _moved(connection, job_id, JobState.SUBMITTING, JobState.SUBMITTED,
                                "operation_id = :operation_id, submitted_at = :now",
                                operation_id=operation_id)

    async def store_image(self, job_id: int, image: bytes) -> Job | None:
        # Two statements in one turn, each atomic on its own (two trips to aiosqlite's thread
        # instead of five with BEGIN, COMMIT and a read of the job): the image first, and only
        # for a job still waiting for it, then the state. A crash in between leaves a submitted
        # job with its image stored, which the next poll after the restart stores again.
        params = {"id": job_id, "image": image, "now": time.time()}
        async with self._db.single_statement() as connection:
            await connection.execute(
                "INSERT OR REPLACE INTO job_images (job_id, image) SELECT :id, :image "
                f"WHERE EXISTS (SELECT 1 FROM jobs WHERE id = :id AND state IN ({_AWAITING}))",
                params,
            )
            # From submitting too: the synchronous Images API answers with the image itself.
            return await _one(
                connection,
                "UPDATE jobs SET state = 'generated', updated_at = :now, generated_at = :now, "
                "submitted_at = CASE WHEN state = 'submitting' THEN :now ELSE submitted_at END "
                f"WHERE id = :id AND state IN ({_AWAITING}) RETURNING *",
                params,
            )

    async def image(self, job_id: int) -> bytes | None:
        async with self._db.reading() as connection:
            row = await fetch_row(connection, "SELECT image FROM job_images WHERE job_id = ?",
                             (job_id,))
        return bytes(row[0]) if row else None

    async def mark_delivered(self, job_id: int) -> bool:
        # Two statements in one turn, each atomic on its own (two trips to aiosqlite's thread
        # instead of four with BEGIN and COMMIT): the state first, so a crash in between leaves
        # only an image of a delivered job behind, which `prune_images` drops (at start:
        # Originals).
        async with self._db.single_statement() as connection:
            if not await _move(connection, job_id, JobState.GENERATED, JobState.DELIVERED,
                               "finished_at = :now"):
                return False
            if not self._keep_delivered_images:
                await connection.execute("DELETE FROM job_images WHERE job_id = ?", (job_id,))
            return True

    async def prune_images(self, delivered_before: float) -> int:
        async with self._db.transaction() as connection:
            # Walks job_images (a retention window's worth), not the whole jobs table.
            cursor = await connection.execute(
                "DELETE FROM job_images WHERE job_id IN (SELECT i.job_id FROM job_images i "
                "JOIN jobs j ON j.id = i.job_id WHERE j.state = ? AND j.finished_at < ?)",
                (JobState.DELIVERED.value, delivered_before),
            )
            return cursor.rowcount

    async def finish(self, job_id: int, state: JobState, reason: str) -> bool:
        if state in UNFINISHED_STATES or state is JobState.DELIVERED:
            raise ValueError(f"{state} is not a failure state")
        async with self._db.transaction() as connection:
            cursor = await connection.execute(
                f"UPDATE jobs SET state = ?, reason = ?, updated_at = ?, finished_at = ? "
                f"WHERE id = ? AND state IN ({_UNFINISHED})",
                (state.value, reason, time.time(), time.time(), job_id),
            )
            if cursor.rowcount != 1:
                return False
            await connection.execute("DELETE FROM job_images WHERE job_id = ?", (job_id,))
            return True

    async def set_status_message(self, job_id: int, message_id: int | None) -> bool:
        async with self._db.single_statement() as connection:
            cursor = await connection.execute(
                "UPDATE jobs SET status_message_id = ?, updated_at = ? "
                f"WHERE id = ? AND state IN ({_UNFINISHED})",
                (message_id, time.time(), job_id),
            )
            return cursor.rowcount == 1

    async def move_chat(self, old_chat_id: int, new_chat_id: int) -> int:
        async with self._db.single_statement() as connection:
            cursor = await connection.execute(
                "UPDATE jobs SET chat_id = ?, thread_id = NULL, updated_at = ? WHERE chat_id = ?",
                (new_chat_id, time.time(), old_chat_id),
            )
            return cursor.rowcount

    async def recent_generation_seconds(self, count: int) -> list[float]:
        async with self._db.reading() as connection:
            rows = await fetch_rows(
                connection,
                "SELECT generated_at - submitted_at FROM jobs WHERE generated_at IS NOT NULL "
                "AND submitted_at IS NOT NULL ORDER BY generated_at DESC LIMIT ?",
                (count,),
            )
        return [float(row[0]) for row in rows]


def _applied(policy: LimitPolicy) -> list[tuple[LimitKind, int]]:
    """The limits a new job is checked against (none for the exempt)."""
    if policy.exempt:
        return []
    limits = ((LimitKind.USER, policy.user_daily), (LimitKind.CHAT, policy.chat_daily),
              (LimitKind.GLOBAL, policy.global_daily), (LimitKind.ACTIVE, policy.max_active))
    return [(kind, limit) for kind, limit in limits if limit is not None]


def _guards(limits: list[tuple[LimitKind, int]]) -> str:
    """The insert's conditions: each limit still has room."""
    return "".join(f" AND ({_USED[kind]}) < :limit_{kind.value}" for kind, _ in limits)


async def _check(connection: aiosqlite.Connection, params: Params,
                 limits: list[tuple[LimitKind, int]]) -> LimitReached:
    """The first limit a job the guarded insert refused breaks (in the same transaction)."""
    if limits:
        counts = await _counts(connection, [kind for kind, _ in limits], params)
        for (kind, limit), used in zip(limits, counts, strict=True):
            if used >= limit:
                return LimitReached(used=used, limit=limit, kind=kind)
    raise AssertionError("the insert was refused, yet no limit is reached")


async def _counts(connection: aiosqlite.Connection, kinds: list[LimitKind],
                  params: Params) -> list[int]:
    """What counts against each of these limits, in one statement."""
    row = await fetch_row(connection, "SELECT " + ", ".join(f"({_USED[kind]})" for kind in kinds),
                          params)
    assert row is not None
    return [int(value) for value in row]


async def _move(connection: aiosqlite.Connection, job_id: int, current: JobState,
                target: JobState, extra_sets: str = "", **extra: Any) -> bool:
    cursor = await connection.execute(_move_sql(extra_sets),
                                      _move_params(job_id, current, target, **extra))
    return cursor.rowcount == 1


async def _moved(connection: aiosqlite.Connection, job_id: int, current: JobState,
                 target: JobState, extra_sets: str = "", **extra: Any) -> Job | None:
    """`_move`, returning the job as it now is (None if it was not in `current`)."""
    return await _one(connection, _move_sql(extra_sets) + " RETURNING *",
                      _move_params(job_id, current, target, **extra))


def _move_sql(extra_sets: str = "") -> str:
    """A guarded state change: it happens only if the job is still in the expected state."""
    sets = "state = :target, updated_at = :now" + (f", {extra_sets}" if extra_sets else "")
    return f"UPDATE jobs SET {sets} WHERE id = :id AND state = :current"


def _move_params(job_id: int, current: JobState, target: JobState,
                 **extra: Any) -> dict[str, Any]:
    return {"target": target.value, "current": current.value, "now": time.time(), "id": job_id,
            **extra}


def _fields(new: NewJob) -> dict[str, Any]:
    return {name: getattr(new, name) for name in NewJob.__slots__}


def _job(row: aiosqlite.Row) -> Job:
    data = dict(row)
    data["state"] = JobState(data["state"])
    return Job(**data)


async def _one(connection: aiosqlite.Connection, sql: str, params: Params) -> Job | None:
    row = await fetch_row(connection, sql, params)
    return _job(row) if row else None


async def _all(connection: aiosqlite.Connection, sql: str, params: Params) -> list[Job]:
    return [_job(row) for row in await fetch_rows(connection, sql, params)]
