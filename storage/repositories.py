"""The narrow interfaces the rest of the bot uses; `storage.jobs`, `storage.limits` and
`storage.admin` implement them on SQLite."""

from __future__ import annotations

from typing import Protocol

from storage.models import (
    NO_LIMITS,
    AccessFacts,
    CreateResult,
    Job,
    JobState,
    LimitPolicy,
    LimitRules,
    NewJob,
    OverrideScope,
    PeriodStats,
    PolicyRule,
    QueueStats,
    Usage,
)


class JobRepository(Protocol):
    async def create(self, new: NewJob,
                     policy: LimitPolicy | PolicyRule = NO_LIMITS) -> CreateResult:
        """Insert the job unless its request key exists (`Duplicate`, nothing charged) or one of
        the policy's limits is used up (`LimitReached` naming the first one hit: user, chat,
        global, then active). A `PolicyRule` is applied to the admins' rules, read just
        before: every check and the insert are one atomic step."""

    async def get(self, job_id: int) -> Job | None: ...

    async def unfinished(self) -> list[Job]: ...

    async def queued_count(self) -> int: ...

    async def overdue(self, now: float) -> list[Job]:
        """Queued jobs whose deadline has passed."""

    async def used_on(self, user_id: int, day: str) -> int:
        """Jobs that count against the user's limit on that day (refunded ones do not)."""

    async def usage(self, user_id: int, chat_id: int, day: str) -> Usage:
        """The user's, the chat's and the whole bot's counted jobs of the day, and the user's
        unfinished jobs."""

    async def unfinished_of(self, user_id: int, chat_id: int | None = None) -> list[Job]:
        """The user's unfinished jobs by id, in one chat or (None) in all chats."""

    async def queued_in_order(self, limit: int) -> list[Job]:
        """The next `limit` queued jobs in serving order: round-robin across users and chats,
        by (max(rank among the user's queued jobs, rank among the chat's), id)."""

    async def queued_by_id(self, limit: int) -> list[Job]:
        """The first `limit` queued jobs, oldest first: far cheaper than the serving order, for
        a caller that takes the whole queue at once (the order then cannot matter)."""

    async def queue_position(self, job_id: int) -> int | None:
        """1-based position of the job in the serving order; None if it is not queued."""

    async def queue_positions(self, job_ids: list[int]) -> dict[int, int]:
        """`queue_position` for several jobs at once; jobs not queued are left out."""

    async def mark_submitting(self, job_id: int) -> Job | None:
        """queued -> submitting, attempts + 1. None if the job was not queued."""

    async def requeue(self, job_id: int) -> bool:
        """submitting -> queued, for a submit the server surely did not accept."""

    async def mark_submitted(self, job_id: int, operation_id: str) -> Job | None:
        """The submitted job; None if it had left `submitting` meanwhile."""
        ...

    async def store_image(self, job_id: int, image: bytes) -> Job | None:
        """submitted (or submitting, for an API that answers with the image) -> generated,
        with the image kept until it is delivered. Returns the job as it now is; None (and
        nothing stored) if it was in neither state."""

    async def image(self, job_id: int) -> bytes | None: ...

    async def mark_delivered(self, job_id: int) -> bool:
        """generated -> delivered; the image is dropped, unless the repository keeps delivered
        images (for the 📄 Original button) until `prune_images`."""

    async def prune_images(self, delivered_before: float) -> int:
        """Drop the kept images of jobs delivered before that time; returns how many."""

    async def finish(self, job_id: int, state: JobState, reason: str) -> bool:
        """Any unfinished state -> a final one (refused, failed, expired, cancelled,
        undeliverable); the image, if any, is dropped."""

    async def set_status_message(self, job_id: int, message_id: int | None) -> bool:
        """False if the job had already finished: nothing is stored."""
        ...

    async def move_chat(self, old_chat_id: int, new_chat_id: int) -> int:
        """A group became a supergroup: its jobs follow it. Returns how many moved."""

    async def recent_generation_seconds(self, count: int) -> list[float]:
        """Submit-to-image durations of the most recent generated jobs."""


class LimitsRepository(Protocol):
    """What admins decide about limits: overrides of the daily limits and per-day grants."""

    async def rules_for(self, user_id: int, chat_id: int, day: str) -> LimitRules:
        """The overrides that apply to this user in this chat (their own, the chat's and the
        run-time defaults) and the extra images granted to the user for `day`."""

    async def set_override(self, scope: OverrideScope, subject_id: int, daily_limit: int | None,
                           *, by: int | None) -> None:
        """Set a daily limit (None = unlimited); subject_id is 0 for the default scopes."""

    async def clear_override(self, scope: OverrideScope, subject_id: int) -> bool:
        """Back to the default; False if there was no override."""

    async def grant(self, user_id: int, day: str, extra: int) -> int:
        """Add extra images for the user on `day`; returns the day's total extra."""

    async def move_chat(self, old_chat_id: int, new_chat_id: int) -> bool:
        """A group became a supergroup: its own daily limit follows it (unless the new id
        already has one). True if one moved."""


class AccessRepository(Protocol):
    """Bans, the allow-list, and who was already told they are not on it."""

    async def facts(self, user_id: int, chat_id: int) -> AccessFacts: ...

    async def ban(self, user_id: int, *, by: int | None) -> bool:
        """False if the user was already banned."""

    async def unban(self, user_id: int) -> bool:
        """False if the user was not banned."""

    async def allow(self, subject_id: int, *, by: int | None) -> bool:
        """Allow a user (positive id) or chat (negative id); False if already allowed. The
        subject will be told again if it is later disallowed."""

    async def disallow(self, subject_id: int) -> bool:
        """False if the subject was not on the list."""

    async def note_refusal(self, subject_id: int) -> bool:
        """Remember that the subject was told it is not allowed: True the first time only."""

    async def move_chat(self, old_chat_id: int, new_chat_id: int) -> bool:
        """A group became a supergroup: its place on the allow-list follows it. True if it
        was on the list."""


class StatsRepository(Protocol):
    async def period(self, first_day: str, last_day: str, *, top: int = 5) -> PeriodStats: ...

    async def queue(self) -> QueueStats: ...
