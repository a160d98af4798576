"""bot.generation.quotas: which limits apply (configuration, overrides, grants, admins)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.generation.quotas import Allowance, LimitSettings, Quotas
from storage.database import Database
from storage.jobs import SqliteJobRepository
from storage.limits import SqliteLimitsRepository
from storage.models import Created, JobState, LimitPolicy, NewJob, OverrideScope

ALICE, BOB, ADMIN = 1001, 1002, 42
GROUP = -100500



def quotas_for(database: Database, **overrides: object) -> Quotas:
    values: dict[str, object] = {
        "daily_limit": 10, "admin_ids": frozenset({ADMIN}), "timezone": ZoneInfo("UTC"),
        "deadline_seconds": 600.0, "chat_daily_limit": 0, "global_daily_limit": 0,
        "max_active_per_user": 2,
    }
    values.update(overrides)
    return Quotas(settings=LimitSettings(**values),  # type: ignore[arg-type]
                  jobs=SqliteJobRepository(database), rules=SqliteLimitsRepository(database))


async def policy(quotas: Quotas, user_id: int, chat_id: int, day: str) -> LimitPolicy:
    """What a job would be checked against now (the insert applies the rule to the rules it
    reads in its own transaction)."""
    rule = quotas.policy_rule(user_id, chat_id)
    if isinstance(rule, LimitPolicy):
        return rule
    return rule(await quotas.rules.rules_for(user_id, chat_id, day))


async def test_configured_defaults(database: Database) -> None:
    quotas = quotas_for(database, chat_daily_limit=30, global_daily_limit=100)
    day = quotas.today()
    assert await policy(quotas, ALICE, ALICE, day) == LimitPolicy(
        user_daily=10, chat_daily=None, global_daily=100, max_active=2)
    assert await policy(quotas, ALICE, GROUP, day) == LimitPolicy(
        user_daily=10, chat_daily=30, global_daily=100, max_active=2)
    assert await policy(quotas, ADMIN, GROUP, day) == LimitPolicy(exempt=True)


async def test_zero_in_the_configuration_means_unlimited(database: Database) -> None:
    quotas = quotas_for(database, daily_limit=0, max_active_per_user=0)
    assert await policy(quotas, ALICE, GROUP, quotas.today()) == LimitPolicy()


async def test_overrides_win_over_defaults(database: Database) -> None:
    quotas = quotas_for(database, chat_daily_limit=30)
    day = quotas.today()
    await quotas.set_limit(OverrideScope.USER_DEFAULT, 0, 3, by=ADMIN)
    await quotas.set_limit(OverrideScope.CHAT_DEFAULT, 0, None, by=ADMIN)
    await quotas.set_limit(OverrideScope.GLOBAL, 0, 50, by=ADMIN)
    assert await policy(quotas, BOB, GROUP, day) == LimitPolicy(
        user_daily=3, chat_daily=None, global_daily=50, max_active=2)
    await quotas.set_limit(OverrideScope.USER, ALICE, 0, by=ADMIN)  # 0 = none, set by an admin
    await quotas.set_limit(OverrideScope.CHAT, GROUP, 7, by=ADMIN)
    assert await policy(quotas, ALICE, GROUP, day) == LimitPolicy(
        user_daily=0, chat_daily=7, global_daily=50, max_active=2)
    await quotas.set_limit(OverrideScope.USER, BOB, None, by=ADMIN)
    assert (await policy(quotas, BOB, BOB, day)).user_daily is None
    assert await quotas.reset_limit(OverrideScope.USER, ALICE)
    assert (await policy(quotas, ALICE, ALICE, day)).user_daily == 3
    assert await quotas.reset_limit(OverrideScope.USER_DEFAULT, 0)
    assert (await policy(quotas, ALICE, ALICE, day)).user_daily == 10
    defaults = await quotas.defaults()
    assert (defaults.user_daily, defaults.chat_daily, defaults.global_daily) == (10, None, 50)


async def test_grants_add_to_todays_limit(database: Database) -> None:
    quotas = quotas_for(database)
    assert await quotas.grant(ALICE, 3) == 3
    assert await quotas.grant(ALICE, 2) == 5
    assert (await policy(quotas, ALICE, ALICE, quotas.today())).user_daily == 15
    assert (await policy(quotas, ALICE, ALICE, "2000-01-01")).user_daily == 10  # today only
    await quotas.set_limit(OverrideScope.USER, ALICE, None, by=ADMIN)
    assert (await policy(quotas, ALICE, ALICE, quotas.today())).user_daily is None


async def test_status(database: Database) -> None:
    quotas = quotas_for(database, daily_limit=3, chat_daily_limit=5, global_daily_limit=4)
    jobs = SqliteJobRepository(database)
    for index, user in enumerate([ALICE, ALICE, BOB]):
        result = await jobs.create(NewJob(
            request_key=f"k{index}", chat_id=GROUP, thread_id=None, user_id=user,
            message_id=index, language="en", prompt="p", options="{}", day=quotas.today(),
            deadline_at=1e12))
        assert isinstance(result, Created)
    await jobs.mark_submitting(1)
    await quotas.grant(ALICE, 1)
    status = await quotas.status(ALICE, GROUP)
    assert not status.exempt
    assert status.user == Allowance(limit=4, used=2) and status.user.left == 2
    assert status.granted == 1
    assert status.chat == Allowance(limit=5, used=3)
    assert status.everyone == Allowance(limit=4, used=3)
    assert (status.active, status.max_active) == (2, 2)
    assert status.reset > status.now
    progress = await quotas.progress(ALICE, None)
    assert [(item.job.id, item.job.state, item.position) for item in progress] == [
        (1, JobState.SUBMITTING, None), (2, JobState.QUEUED, 1)]
    private = await quotas.status(ALICE, ALICE)
    assert private.chat is None
    admin = await quotas.status(ADMIN, GROUP)
    assert admin.exempt and admin.user.limit is None and admin.chat is None
    assert Allowance(limit=None, used=5).left is None
    assert Allowance(limit=2, used=5).left == 0


def test_the_day_and_its_reset_follow_the_time_zone(tmp_path: Path) -> None:
    quotas = Quotas(
        settings=LimitSettings(daily_limit=1, admin_ids=frozenset(),
                               timezone=ZoneInfo("Asia/Tokyo"), deadline_seconds=1.0),
        jobs=None, rules=None,  # type: ignore[arg-type]
    )
    now = quotas.now()
    reset = quotas.next_reset()
    assert quotas.today() == now.date().isoformat()
    assert (reset.hour, reset.minute, reset.tzname()) == (0, 0, "JST")
    assert timedelta(0) < reset - now <= timedelta(days=1)
