"""What the storage layer hands out: plain data, no SQL."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class JobState(StrEnum):
    QUEUED = "queued"
    SUBMITTING = "submitting"  # a submit request may be on the wire: never send it again
    SUBMITTED = "submitted"
    GENERATED = "generated"
    DELIVERED = "delivered"
    REFUSED = "refused"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    UNDELIVERABLE = "undeliverable"


UNFINISHED_STATES = frozenset(
    {JobState.QUEUED, JobState.SUBMITTING, JobState.SUBMITTED, JobState.GENERATED}
)
# Final states that give the image back to the user's quota: none of them is the user's fault.
REFUNDED_STATES = frozenset(
    {JobState.REFUSED, JobState.FAILED, JobState.EXPIRED, JobState.CANCELLED}
)


@dataclass(frozen=True, slots=True)
class NewJob:
    request_key: str  # unique per request: "<chat_id>:<message_id>" for a command
    chat_id: int
    thread_id: int | None
    user_id: int
    message_id: int
    language: str | None
    prompt: str
    options: str  # JSON, see bot.prompt.DrawOptions
    day: str  # the limits day the job counts against, YYYY-MM-DD
    deadline_at: float


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    request_key: str
    chat_id: int
    thread_id: int | None
    user_id: int
    message_id: int
    language: str | None
    prompt: str
    options: str
    state: JobState
    reason: str | None
    operation_id: str | None
    attempts: int
    status_message_id: int | None
    day: str
    created_at: float
    updated_at: float
    deadline_at: float
    submitted_at: float | None
    generated_at: float | None
    finished_at: float | None


@dataclass(frozen=True, slots=True)
class Created:
    job: Job


@dataclass(frozen=True, slots=True)
class Duplicate:
    job: Job


@dataclass(frozen=True, slots=True)
class LimitReached:
    used: int
    limit: int


CreateResult = Created | Duplicate | LimitReached
