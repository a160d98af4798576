"""storage: the limits in `create`, the fair queue order, overrides, grants, access, stats."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from storage.admin import SqliteAccessRepository, SqliteStatsRepository
from storage.database import Database
from storage.jobs import SqliteJobRepository
from storage.limits import SqliteLimitsRepository
from storage.models import (
    Created,
    Duplicate,
    Job,
    JobState,
    LimitKind,
    LimitPolicy,
    LimitReached,
    LimitRules,
    NewJob,
    OverrideScope,
    QueueStats,
    Usage,
)

DAY = "2026-11-25"
ALICE, BOB, CAROL = 1001, 1002, 1003
GROUP, OTHER_GROUP = -100500, -100600


def new_job(key: str, *, user: int = ALICE, chat: int | None = None, day: str = DAY) -> NewJob:
    return NewJob(
        request_key=key, chat_id=user if chat is None else chat, thread_id=None, user_id=user,
        message_id=1, language="en", prompt=f"prompt {key}", options="{}", day=day,
        deadline_at=1e12,
    )



@pytest.fixture
def jobs(database: Database) -> SqliteJobRepository:
    return SqliteJobRepository(database)


async def make(jobs: SqliteJobRepository, key: str, *, user: int = ALICE, chat: int | None = None,
               policy: LimitPolicy | None = None) -> Job:
    result = await jobs.create(new_job(key, user=user, chat=chat), policy or LimitPolicy())
    assert isinstance(result, Created), result
    return result.job


async def refusals(database: Database) -> list[tuple[int, int, str]]:
    async with database.reading() as connection, connection.execute(
        "SELECT user_id, chat_id, kind FROM limit_refusals ORDER BY id"
    ) as cursor:
        return [(int(row[0]), int(row[1]), str(row[2])) for row in await cursor.fetchall()]


# --- limits in create ------------------------------------------------------------------------


async def test_chat_limit_counts_all_members(jobs: SqliteJobRepository) -> None:
    policy = LimitPolicy(chat_daily=2)
    await make(jobs, "a", user=ALICE, chat=GROUP, policy=policy)
    await make(jobs, "b", user=BOB, chat=GROUP, policy=policy)
    result = await jobs.create(new_job("c", user=CAROL, chat=GROUP), policy)
    assert result == LimitReached(used=2, limit=2, kind=LimitKind.CHAT)
    await make(jobs, "d", user=CAROL, chat=OTHER_GROUP, policy=policy)  # another chat
    await make(jobs, "e", user=CAROL, policy=LimitPolicy())  # private: no chat limit given


async def test_global_limit_counts_everyone(jobs: SqliteJobRepository) -> None:
    policy = LimitPolicy(global_daily=2)
    await make(jobs, "a", user=ALICE, policy=policy)
    await make(jobs, "b", user=BOB, chat=GROUP, policy=policy)
    result = await jobs.create(new_job("c", user=CAROL), policy)
    assert result == LimitReached(used=2, limit=2, kind=LimitKind.GLOBAL)
    other_day = await jobs.create(new_job("d", user=CAROL, day="2026-11-26"), policy)
    assert isinstance(other_day, Created)


async def test_active_limit_counts_unfinished_jobs_in_every_chat(
    jobs: SqliteJobRepository,
) -> None:
    policy = LimitPolicy(max_active=2)
    first = await make(jobs, "a", policy=policy)
    second = await make(jobs, "b", chat=GROUP, policy=policy)
    assert await jobs.mark_submitting(second.id) is not None
    assert await jobs.mark_submitted(second.id, "op")
    result = await jobs.create(new_job("c"), policy)
    assert result == LimitReached(used=2, limit=2, kind=LimitKind.ACTIVE)
    await make(jobs, "d", user=BOB, policy=policy)  # someone else
    assert await jobs.store_image(second.id, b"img")
    assert isinstance(await jobs.create(new_job("e"), policy), LimitReached)  # generated: active
    assert await jobs.mark_delivered(second.id)  # finished: a slot is free
    await make(jobs, "f", policy=policy)
    assert await jobs.finish(first.id, JobState.CANCELLED, "test")
    await make(jobs, "g", policy=policy)


async def test_first_limit_hit_is_named_in_order(jobs: SqliteJobRepository) -> None:
    await make(jobs, "a", chat=GROUP)
    everything = LimitPolicy(user_daily=1, chat_daily=1, global_daily=1, max_active=1)
    assert (await jobs.create(new_job("b", chat=GROUP), everything)) == LimitReached(
        used=1, limit=1, kind=LimitKind.USER)
    cases = [
        (LimitPolicy(chat_daily=1, global_daily=1, max_active=1), GROUP, LimitKind.CHAT),
        (LimitPolicy(global_daily=1, max_active=1), None, LimitKind.GLOBAL),
        (LimitPolicy(max_active=1), None, LimitKind.ACTIVE),
    ]
    for index, (policy, chat, kind) in enumerate(cases):
        result = await jobs.create(new_job(f"n{index}", chat=chat), policy)
        assert isinstance(result, LimitReached) and result.kind is kind


async def test_exempt_skips_every_limit(jobs: SqliteJobRepository) -> None:
    await make(jobs, "a")
    policy = LimitPolicy(user_daily=0, chat_daily=0, global_daily=0, max_active=0, exempt=True)
    await make(jobs, "b", chat=GROUP, policy=policy)


async def test_refunded_jobs_free_chat_and_global_limits(jobs: SqliteJobRepository) -> None:
    policy = LimitPolicy(chat_daily=1, global_daily=1)
    job = await make(jobs, "a", chat=GROUP, policy=policy)
    assert isinstance(await jobs.create(new_job("b", user=BOB, chat=GROUP), policy),
                      LimitReached)
    assert await jobs.finish(job.id, JobState.REFUSED, "content")
    await make(jobs, "c", user=BOB, chat=GROUP, policy=policy)


async def test_duplicate_is_not_refused_nor_recorded(
    jobs: SqliteJobRepository, database: Database
) -> None:
    policy = LimitPolicy(user_daily=1, max_active=1)
    await make(jobs, "a", policy=policy)
    assert isinstance(await jobs.create(new_job("a"), policy), Duplicate)
    assert await refusals(database) == []
    assert isinstance(await jobs.create(new_job("b", chat=GROUP), policy), LimitReached)
    assert await refusals(database) == [(ALICE, GROUP, "user")]


@pytest.mark.parametrize(
    ("policy", "kind", "who"),
    [
        (LimitPolicy(chat_daily=3), LimitKind.CHAT, "members"),
        (LimitPolicy(global_daily=3), LimitKind.GLOBAL, "everyone"),
        (LimitPolicy(user_daily=3), LimitKind.USER, "one"),
        (LimitPolicy(max_active=3), LimitKind.ACTIVE, "one"),
    ],
)
async def test_limits_are_atomic_under_concurrency(
    jobs: SqliteJobRepository, database: Database, policy: LimitPolicy, kind: LimitKind,
    who: str,
) -> None:
    def request(index: int) -> NewJob:
        if who == "members":
            return new_job(f"k{index}", user=2000 + index, chat=GROUP)
        if who == "everyone":
            return new_job(f"k{index}", user=2000 + index)
        return new_job(f"k{index}", chat=GROUP if index % 2 else None)

    results = await asyncio.gather(*(jobs.create(request(index), policy) for index in range(12)))
    assert sum(isinstance(result, Created) for result in results) == 3
    refused = [result for result in results if isinstance(result, LimitReached)]
    assert len(refused) == 9 and {result.kind for result in refused} == {kind}
    assert len(await refusals(database)) == 9


async def test_usage_and_unfinished_of(jobs: SqliteJobRepository) -> None:
    a = await make(jobs, "a", chat=GROUP)
    b = await make(jobs, "b")
    await make(jobs, "c", user=BOB, chat=GROUP)
    done = await make(jobs, "d", user=BOB)
    assert await jobs.finish(done.id, JobState.UNDELIVERABLE, "blocked")  # counted, finished
    refunded = await make(jobs, "e", chat=GROUP)
    assert await jobs.finish(refunded.id, JobState.FAILED, "x")
    assert await jobs.usage(ALICE, GROUP, DAY) == Usage(
        user_today=2, chat_today=2, global_today=4, user_active=2)
    assert await jobs.usage(BOB, BOB, DAY) == Usage(
        user_today=2, chat_today=1, global_today=4, user_active=1)
    assert [job.id for job in await jobs.unfinished_of(ALICE)] == [a.id, b.id]
    assert [job.id for job in await jobs.unfinished_of(ALICE, GROUP)] == [a.id]
    assert await jobs.unfinished_of(CAROL) == []


# --- the fair queue --------------------------------------------------------------------------


async def test_a_light_user_is_not_starved_by_a_heavy_one(jobs: SqliteJobRepository) -> None:
    for index in range(20):
        await make(jobs, f"heavy{index}", user=ALICE)
    light = [await make(jobs, f"light{index}", user=BOB) for index in range(2)]
    order = await jobs.queued_in_order(100)
    assert len(order) == 22
    positions = {job.id: place for place, job in enumerate(order, start=1)}
    assert all(positions[job.id] <= 4 for job in light)
    assert [job.user_id for job in order[:4]] == [ALICE, BOB, ALICE, BOB]
    for job in order:
        assert await jobs.queue_position(job.id) == positions[job.id]
    assert await jobs.queue_positions([job.id for job in light]) == {
        job.id: positions[job.id] for job in light}
    assert [job.id for job in await jobs.queued_in_order(3)] == [job.id for job in order[:3]]


async def test_a_busy_group_does_not_starve_other_chats(jobs: SqliteJobRepository) -> None:
    # Ten members of one group, one job each, then a private user with two jobs.
    group = [await make(jobs, f"g{index}", user=3000 + index, chat=GROUP) for index in range(10)]
    alone = [await make(jobs, f"p{index}", user=CAROL) for index in range(2)]
    order = [job.id for job in await jobs.queued_in_order(100)]
    assert order.index(alone[0].id) == 1  # the group's first job, then Carol's first
    assert order.index(alone[1].id) == 3
    assert order[0] == group[0].id and order[2] == group[1].id
    # The same user in two chats: their rank is counted across chats.
    multi = [await make(jobs, f"m{index}", user=BOB, chat=OTHER_GROUP) for index in range(2)]
    order = [job.id for job in await jobs.queued_in_order(100)]
    assert order.index(multi[0].id) < order.index(group[2].id)


async def test_queue_position_only_for_queued_jobs(jobs: SqliteJobRepository) -> None:
    first = await make(jobs, "a")
    second = await make(jobs, "b", user=BOB)
    assert await jobs.queue_position(first.id) == 1
    assert await jobs.mark_submitting(first.id) is not None
    assert await jobs.queue_position(first.id) is None
    assert await jobs.queue_position(second.id) == 1
    assert await jobs.queue_position(second.id + 100) is None
    assert await jobs.queue_positions([]) == {}
    assert [job.id for job in await jobs.queued_in_order(10)] == [second.id]
    assert await jobs.requeue(first.id)
    assert [job.id for job in await jobs.queued_in_order(10)] == [first.id, second.id]


async def test_queue_order_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    db = await Database.open(path)
    repository = SqliteJobRepository(db)
    for index in range(5):
        await make(repository, f"a{index}", user=ALICE)
    await make(repository, "b", user=BOB)
    before = [job.id for job in await repository.queued_in_order(10)]
    await db.close()
    db = await Database.open(path)
    try:
        after = [job.id for job in await SqliteJobRepository(db).queued_in_order(10)]
    finally:
        await db.close()
    assert after == before and len(after) == 6


# --- overrides and grants --------------------------------------------------------------------


async def test_overrides_and_grants(database: Database) -> None:
    limits = SqliteLimitsRepository(database)
    empty = await limits.rules_for(ALICE, GROUP, DAY)
    assert empty.overrides == {} and empty.granted == 0
    await limits.set_override(OverrideScope.USER, ALICE, 5, by=1)
    await limits.set_override(OverrideScope.USER, BOB, None, by=1)
    await limits.set_override(OverrideScope.CHAT, GROUP, 0, by=1)
    await limits.set_override(OverrideScope.USER_DEFAULT, 0, 3, by=1)
    await limits.set_override(OverrideScope.GLOBAL, 0, 100, by=1)
    await limits.set_override(OverrideScope.USER, ALICE, 6, by=2)  # replaces
    assert await limits.grant(ALICE, DAY, 2) == 2
    assert await limits.grant(ALICE, DAY, 3) == 5
    assert await limits.grant(ALICE, "2026-11-26", 1) == 1
    rules = await limits.rules_for(ALICE, GROUP, DAY)
    assert rules.overrides == {OverrideScope.USER: 6, OverrideScope.CHAT: 0,
                               OverrideScope.USER_DEFAULT: 3, OverrideScope.GLOBAL: 100}
    assert rules.granted == 5
    bob = await limits.rules_for(BOB, OTHER_GROUP, DAY)
    assert bob.overrides == {OverrideScope.USER: None, OverrideScope.USER_DEFAULT: 3,
                             OverrideScope.GLOBAL: 100}
    assert await limits.clear_override(OverrideScope.USER, ALICE)
    assert not await limits.clear_override(OverrideScope.USER, ALICE)
    assert OverrideScope.USER not in (await limits.rules_for(ALICE, GROUP, DAY)).overrides


async def test_override_validation(database: Database) -> None:
    limits = SqliteLimitsRepository(database)
    with pytest.raises(ValueError):
        await limits.set_override(OverrideScope.GLOBAL, 5, 1, by=None)
    with pytest.raises(ValueError):
        await limits.set_override(OverrideScope.USER, 0, 1, by=None)
    with pytest.raises(ValueError):
        await limits.set_override(OverrideScope.USER, ALICE, -1, by=None)
    with pytest.raises(ValueError):
        await limits.grant(ALICE, DAY, -1)


async def test_overrides_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "limits.sqlite3"
    db = await Database.open(path)
    await SqliteLimitsRepository(db).set_override(OverrideScope.USER, ALICE, 1, by=None)
    await SqliteAccessRepository(db).ban(BOB, by=None)
    await db.close()
    db = await Database.open(path)
    try:
        rules = await SqliteLimitsRepository(db).rules_for(ALICE, ALICE, DAY)
        assert rules.overrides == {OverrideScope.USER: 1}
        assert (await SqliteAccessRepository(db).facts(BOB, BOB)).banned
    finally:
        await db.close()


# --- access ----------------------------------------------------------------------------------


async def test_bans_allowlist_and_refusals(database: Database) -> None:
    access = SqliteAccessRepository(database)
    facts = await access.facts(ALICE, GROUP)
    assert not (facts.banned or facts.user_allowed or facts.chat_allowed)
    assert await access.ban(ALICE, by=1)
    assert not await access.ban(ALICE, by=1)
    assert (await access.facts(ALICE, GROUP)).banned
    assert await access.unban(ALICE)
    assert not await access.unban(ALICE)
    assert not (await access.facts(ALICE, GROUP)).banned

    assert await access.allow(GROUP, by=1)
    assert not await access.allow(GROUP, by=1)
    facts = await access.facts(ALICE, GROUP)
    assert facts.chat_allowed and not facts.user_allowed
    assert await access.allow(BOB, by=1)
    assert (await access.facts(BOB, OTHER_GROUP)).user_allowed
    assert await access.disallow(GROUP)
    assert not await access.disallow(GROUP)

    assert await access.note_refusal(CAROL)
    assert not await access.note_refusal(CAROL)  # told once
    await access.allow(CAROL, by=1)
    await access.disallow(CAROL)
    assert await access.note_refusal(CAROL)  # disallowed again: told again, once


# --- stats -----------------------------------------------------------------------------------


async def test_stats(jobs: SqliteJobRepository, database: Database) -> None:
    stats = SqliteStatsRepository(database)
    empty = await stats.period(DAY, DAY)
    assert (empty.delivered, empty.unique_users, empty.median_generation_seconds) == (0, 0, None)
    assert empty.top_users == [] and empty.turned_away == {}

    timings = [2.0, 4.0, 9.0, 3.0]
    for index, seconds in enumerate(timings):
        job = await make(jobs, f"d{index}", user=ALICE if index < 3 else BOB, chat=GROUP)
        assert await jobs.mark_submitting(job.id) is not None
        assert await jobs.mark_submitted(job.id, f"op{index}")
        assert await jobs.store_image(job.id, b"img")
        assert await jobs.mark_delivered(job.id)
        async with database.transaction() as connection:
            await connection.execute(
                "UPDATE jobs SET submitted_at = 100, generated_at = ? WHERE id = ?",
                (100 + seconds, job.id))
    for state in (JobState.REFUSED, JobState.FAILED, JobState.EXPIRED, JobState.CANCELLED,
                  JobState.UNDELIVERABLE):
        job = await make(jobs, f"x-{state}", user=CAROL)
        assert await jobs.finish(job.id, state, "x")
    await make(jobs, "queued", user=CAROL)
    started = await make(jobs, "started", user=CAROL)
    assert await jobs.mark_submitting(started.id) is not None
    await jobs.create(new_job("over", user=ALICE), LimitPolicy(user_daily=1))
    await jobs.create(new_job("busy", user=2000), LimitPolicy(max_active=0))
    await make(jobs, "last-week", user=2001)
    async with database.transaction() as connection:
        await connection.execute("UPDATE jobs SET day = '2026-11-20' WHERE request_key = "
                                 "'last-week'")

    today = await stats.period(DAY, DAY, top=2)
    assert today.delivered == 4
    assert (today.refused, today.failed, today.cancelled, today.undeliverable) == (1, 2, 1, 1)
    assert today.refunded == 4
    assert today.turned_away == {LimitKind.USER: 1, LimitKind.ACTIVE: 1}
    assert today.unique_users == 4  # Alice, Bob, Carol, and 2000 who was only turned away
    assert [(c.subject_id, c.count) for c in today.top_users] == [(ALICE, 3), (CAROL, 3)]
    assert [(c.subject_id, c.count) for c in today.top_chats] == [(GROUP, 4)]
    assert today.median_generation_seconds == pytest.approx(3.5)
    week = await stats.period("2026-11-19", DAY)
    assert week.unique_users == 5
    assert await stats.queue() == QueueStats(queued=2, in_flight=1)  # + last week's


async def test_a_migrated_group_keeps_its_daily_limit_and_allow_list_entry(
    database: Database,
) -> None:
    limits, access = SqliteLimitsRepository(database), SqliteAccessRepository(database)
    old, new, other, taken = -4343, -1004343, -777, -1000777
    await limits.set_override(OverrideScope.CHAT, old, 3, by=None)
    await access.allow(old, by=None)
    assert await limits.move_chat(old, new) is True
    assert await access.move_chat(old, new) is True
    rules = await limits.rules_for(ALICE, new, DAY)
    assert rules.overrides[OverrideScope.CHAT] == 3
    assert OverrideScope.CHAT not in (await limits.rules_for(ALICE, old, DAY)).overrides
    assert (await access.facts(ALICE, new)).chat_allowed
    assert not (await access.facts(ALICE, old)).chat_allowed
    # Nothing to move; and an override the new id already has is kept.
    assert await limits.move_chat(-1, -2) is False
    assert await access.move_chat(-1, -2) is False
    await limits.set_override(OverrideScope.CHAT, other, 5, by=None)
    await limits.set_override(OverrideScope.CHAT, taken, 9, by=None)
    assert await limits.move_chat(other, taken) is False
    assert (await limits.rules_for(ALICE, taken, DAY)).overrides[OverrideScope.CHAT] == 9


async def test_a_policy_rule_sees_the_rules_as_they_are_inside_the_insert(
    database: Database, jobs: SqliteJobRepository,
) -> None:
    limits = SqliteLimitsRepository(database)
    seen: list[LimitRules] = []

    def rule(rules: LimitRules) -> LimitPolicy:
        seen.append(rules)
        return LimitPolicy(user_daily=rules.overrides.get(OverrideScope.USER, 5))

    await limits.set_override(OverrideScope.USER, ALICE, 1, by=None)
    await limits.grant(ALICE, DAY, 2)
    assert isinstance(await jobs.create(new_job("a1"), rule), Created)
    assert seen[-1].overrides == {OverrideScope.USER: 1} and seen[-1].granted == 2
    reached = await jobs.create(new_job("a2"), rule)  # the override (1) applies: used up
    assert isinstance(reached, LimitReached) and reached.limit == 1
    await limits.set_override(OverrideScope.USER, ALICE, 3, by=None)  # raised meanwhile
    assert isinstance(await jobs.create(new_job("a3"), rule), Created)
    assert len(seen) == 3
    # A repeated request is a duplicate, even once its user has no room left.
    await limits.set_override(OverrideScope.USER, ALICE, 1, by=None)
    assert isinstance(await jobs.create(new_job("a3"), rule), Duplicate)
    assert isinstance(await jobs.create(new_job("a4"), rule), LimitReached)
