"""What the storage layer hands out: plain data, no SQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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


class LimitKind(StrEnum):
    """Which limit turned a request away."""

    USER = "user"  # the user's images per day
    CHAT = "chat"  # the group chat's images per day, all members together
    GLOBAL = "global"  # the whole bot's images per day: the owner's budget
    ACTIVE = "active"  # the user's jobs queued or generating at once


@dataclass(frozen=True, slots=True)
class LimitPolicy:
    """The limits one request is checked against; `None` means no limit."""

    user_daily: int | None = None
    chat_daily: int | None = None
    global_daily: int | None = None
    max_active: int | None = None
    exempt: bool = False  # admins: nothing is checked


NO_LIMITS = LimitPolicy()
#: How a policy follows from what admins set: applied inside the job's insert transaction, so
#: an admin's change and a /draw at the same instant cannot slip past each other.
PolicyRule = Callable[["LimitRules"], LimitPolicy]


@dataclass(frozen=True, slots=True)
class LimitReached:
    used: int
    limit: int
    kind: LimitKind = LimitKind.USER


CreateResult = Created | Duplicate | LimitReached


@dataclass(frozen=True, slots=True)
class Usage:
    """What counts against the limits right now (refunded jobs do not count)."""

    user_today: int
    chat_today: int
    global_today: int
    user_active: int


class OverrideScope(StrEnum):
    USER = "user"  # one user's daily limit
    CHAT = "chat"  # one group chat's daily limit
    USER_DEFAULT = "user_default"  # replaces DAILY_LIMIT
    CHAT_DEFAULT = "chat_default"  # replaces CHAT_DAILY_LIMIT
    GLOBAL = "global"  # replaces GLOBAL_DAILY_LIMIT


DEFAULT_SCOPES = frozenset(
    {OverrideScope.USER_DEFAULT, OverrideScope.CHAT_DEFAULT, OverrideScope.GLOBAL}
)


@dataclass(frozen=True, slots=True)
class LimitRules:
    """What admins set that applies to one user in one chat on one day.

    `overrides` holds only the scopes that have a row: a value of `None` there means an admin
    made it unlimited, a missing scope means "use the configured default"."""

    overrides: dict[OverrideScope, int | None] = field(default_factory=dict)
    granted: int = 0


@dataclass(frozen=True, slots=True)
class AccessFacts:
    banned: bool
    user_allowed: bool
    chat_allowed: bool


@dataclass(frozen=True, slots=True)
class Count:
    subject_id: int
    count: int


@dataclass(frozen=True, slots=True)
class PeriodStats:
    """Jobs of the limits days `first_day`..`last_day`, for /stats."""

    first_day: str
    last_day: str
    delivered: int
    refused: int  # by YandexArt's content filter
    failed: int  # failed or expired
    cancelled: int
    undeliverable: int
    refunded: int  # refused + failed + expired + cancelled
    turned_away: dict[LimitKind, int]  # requests refused by a limit, by limit
    unique_users: int
    top_users: list[Count]
    top_chats: list[Count]
    median_generation_seconds: float | None


@dataclass(frozen=True, slots=True)
class QueueStats:
    queued: int
    in_flight: int  # submitting, submitted or generated
