"""Who may draw how much: the configured limits, admins' run-time overrides and grants, and the
limits day (in LIMITS_TIMEZONE). Counting and enforcing happen in storage, atomically."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from storage.models import Job, JobState, LimitPolicy, LimitRules, OverrideScope, PolicyRule
from storage.repositories import JobRepository, LimitsRepository


@dataclass(frozen=True, slots=True)
class LimitSettings:
    """The configured defaults; 0 means unlimited (or off) for every limit."""

    daily_limit: int
    admin_ids: frozenset[int]
    timezone: ZoneInfo
    deadline_seconds: float
    chat_daily_limit: int = 0
    global_daily_limit: int = 0
    max_active_per_user: int = 0


@dataclass(frozen=True, slots=True)
class Allowance:
    limit: int | None  # None = unlimited
    used: int

    @property
    def left(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)


@dataclass(frozen=True, slots=True)
class QuotaStatus:
    """What /limits shows."""

    exempt: bool
    user: Allowance  # the limit includes today's grants
    granted: int
    chat: Allowance | None  # None in private chats or when the chat has no limit
    everyone: Allowance | None  # None when the bot has no global limit
    active: int
    max_active: int | None
    now: datetime
    reset: datetime


@dataclass(frozen=True, slots=True)
class Progress:
    job: Job
    position: int | None  # in the serving queue; None once it is being generated


def is_group_chat(chat_id: int) -> bool:
    """Groups and supergroups have negative ids; a private chat's id is the user's id."""
    return chat_id < 0


def _limit(value: int) -> int | None:
    return value or None


class Quotas:
    def __init__(self, *, settings: LimitSettings, jobs: JobRepository,
                 rules: LimitsRepository) -> None:
        self.settings = settings
        self.jobs = jobs
        self.rules = rules

    # the limits day

    def now(self) -> datetime:
        return datetime.now(self.settings.timezone)

    def today(self) -> str:
        return self.now().date().isoformat()

    def next_reset(self) -> datetime:
        """The start of the next limits day."""
        now = self.now()
        tomorrow = (now + timedelta(days=1)).date()
        return datetime.combine(tomorrow, datetime.min.time(), tzinfo=self.settings.timezone)

    # limits

    def is_admin(self, user_id: int) -> bool:
        return user_id in self.settings.admin_ids

    def policy_rule(self, user_id: int, chat_id: int) -> LimitPolicy | PolicyRule:
        """What a new job of this user in this chat is checked against: admins are exempt;
        everyone else's limits follow from the admins' rules, read in the job's insert."""
        if self.is_admin(user_id):
            return LimitPolicy(exempt=True)
        return functools.partial(self._policy, group=is_group_chat(chat_id))

    def _policy(self, rules: LimitRules, *, group: bool) -> LimitPolicy:
        overrides = rules.overrides
        user = self._resolve(overrides, OverrideScope.USER, OverrideScope.USER_DEFAULT,
                             self.settings.daily_limit)
        chat = None
        if group:
            chat = self._resolve(overrides, OverrideScope.CHAT, OverrideScope.CHAT_DEFAULT,
                                 self.settings.chat_daily_limit)
        if OverrideScope.GLOBAL in overrides:
            everyone = overrides[OverrideScope.GLOBAL]
        else:
            everyone = _limit(self.settings.global_daily_limit)
        return LimitPolicy(
            user_daily=None if user is None else user + rules.granted,
            chat_daily=chat,
            global_daily=everyone,
            max_active=_limit(self.settings.max_active_per_user),
        )

    @staticmethod
    def _resolve(overrides: dict[OverrideScope, int | None], own: OverrideScope,
                 default: OverrideScope, configured: int) -> int | None:
        """Its own override wins, then the run-time default, then the configured default."""
        if own in overrides:
            return overrides[own]
        if default in overrides:
            return overrides[default]
        return _limit(configured)

    async def defaults(self) -> LimitPolicy:
        """The limits in force for users and group chats without overrides of their own."""
        rules = await self.rules.rules_for(0, 0, self.today())  # no user or chat has id 0
        return self._policy(LimitRules(overrides=rules.overrides), group=True)

    async def status(self, user_id: int, chat_id: int) -> QuotaStatus:
        day = self.today()
        rules = await self.rules.rules_for(user_id, chat_id, day)
        usage = await self.jobs.usage(user_id, chat_id, day)
        policy = self._policy(rules, group=is_group_chat(chat_id))
        exempt = self.is_admin(user_id)
        chat = None
        if policy.chat_daily is not None and not exempt:
            chat = Allowance(policy.chat_daily, usage.chat_today)
        everyone = None
        if policy.global_daily is not None and not exempt:
            everyone = Allowance(policy.global_daily, usage.global_today)
        return QuotaStatus(
            exempt=exempt,
            user=Allowance(None if exempt else policy.user_daily, usage.user_today),
            granted=rules.granted,
            chat=chat,
            everyone=everyone,
            active=usage.user_active,
            max_active=None if exempt else policy.max_active,
            now=self.now(),
            reset=self.next_reset(),
        )

    async def progress(self, user_id: int, chat_id: int | None) -> list[Progress]:
        """The user's unfinished jobs (in one chat, or all) with their queue positions."""
        jobs = await self.jobs.unfinished_of(user_id, chat_id)
        positions = await self.jobs.queue_positions(
            [job.id for job in jobs if job.state is JobState.QUEUED])
        return [Progress(job, positions.get(job.id)) for job in jobs]

    async def unfinished(self, user_id: int, chat_id: int | None) -> list[Job]:
        return await self.jobs.unfinished_of(user_id, chat_id)

    # admins' decisions

    async def set_limit(self, scope: OverrideScope, subject_id: int, daily_limit: int | None,
                        *, by: int | None) -> None:
        await self.rules.set_override(scope, subject_id, daily_limit, by=by)

    async def reset_limit(self, scope: OverrideScope, subject_id: int) -> bool:
        return await self.rules.clear_override(scope, subject_id)

    async def grant(self, user_id: int, extra: int) -> int:
        """Extra images for the user today; returns today's total extra."""
        return await self.rules.grant(user_id, self.today(), extra)
