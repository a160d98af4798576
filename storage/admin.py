"""Admin control on SQLite: bans, the allow-list, and the numbers behind /stats."""

from __future__ import annotations

import time

import aiosqlite

from storage.database import Database
from storage.models import (
    REFUNDED_STATES,
    UNFINISHED_STATES,
    AccessFacts,
    Count,
    LimitKind,
    PeriodStats,
    QueueStats,
)
from storage.sql import fetch_int, fetch_row, fetch_rows

_REFUNDED = ", ".join(f"'{state}'" for state in sorted(REFUNDED_STATES))
_UNFINISHED = ", ".join(f"'{state}'" for state in sorted(UNFINISHED_STATES))


class SqliteAccessRepository:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def facts(self, user_id: int, chat_id: int) -> AccessFacts:
        # Urgent: every command waits on it, a burst's acknowledgements too (in a burst of 200
        # /draws the second hundred waited ~0.3 s behind the first hundred's inserts).
        async with self._db.reading(urgent=True) as connection:
            row = await fetch_row(
                connection,
                "SELECT EXISTS (SELECT 1 FROM bans WHERE user_id = :user), "
                "EXISTS (SELECT 1 FROM allowlist WHERE subject_id = :user), "
                "EXISTS (SELECT 1 FROM allowlist WHERE subject_id = :chat)",
                {"user": user_id, "chat": chat_id},
            )
        assert row is not None
        return AccessFacts(banned=bool(row[0]), user_allowed=bool(row[1]),
                           chat_allowed=bool(row[2]))

    async def ban(self, user_id: int, *, by: int | None) -> bool:
        async with self._db.transaction() as connection:
            cursor = await connection.execute(
                "INSERT OR IGNORE INTO bans (user_id, banned_at, banned_by) VALUES (?, ?, ?)",
                (user_id, time.time(), by),
            )
            return cursor.rowcount == 1

    async def unban(self, user_id: int) -> bool:
        async with self._db.transaction() as connection:
            cursor = await connection.execute("DELETE FROM bans WHERE user_id = ?", (user_id,))
            return cursor.rowcount == 1

    async def allow(self, subject_id: int, *, by: int | None) -> bool:
        async with self._db.transaction() as connection:
            cursor = await connection.execute(
                "INSERT OR IGNORE INTO allowlist (subject_id, added_at, added_by) "
                "VALUES (?, ?, ?)",
                (subject_id, time.time(), by),
            )
            # Told before, allowed now: if it is disallowed again, it deserves a new notice.
            await connection.execute("DELETE FROM access_refusals WHERE subject_id = ?",
                                     (subject_id,))
            return cursor.rowcount == 1

    async def disallow(self, subject_id: int) -> bool:
        async with self._db.transaction() as connection:
            cursor = await connection.execute("DELETE FROM allowlist WHERE subject_id = ?",
                                              (subject_id,))
            return cursor.rowcount == 1

    async def move_chat(self, old_chat_id: int, new_chat_id: int) -> bool:
        async with self._db.single_statement() as connection:
            cursor = await connection.execute(
                "UPDATE OR IGNORE allowlist SET subject_id = ? WHERE subject_id = ?",
                (new_chat_id, old_chat_id),
            )
            return cursor.rowcount == 1

    async def note_refusal(self, subject_id: int) -> bool:
        async with self._db.transaction() as connection:
            cursor = await connection.execute(
                "INSERT OR IGNORE INTO access_refusals (subject_id, refused_at) VALUES (?, ?)",
                (subject_id, time.time()),
            )
            return cursor.rowcount == 1


class SqliteStatsRepository:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def period(self, first_day: str, last_day: str, *, top: int = 5) -> PeriodStats:
        days = {"first": first_day, "last": last_day, "top": top}
        in_period = "day BETWEEN :first AND :last"
        async with self._db.reading() as connection:
            totals = await fetch_row(
                connection,
                "SELECT count(*), "
                "coalesce(sum(state = 'delivered'), 0), coalesce(sum(state = 'refused'), 0), "
                "coalesce(sum(state IN ('failed', 'expired')), 0), "
                "coalesce(sum(state = 'cancelled'), 0), "
                "coalesce(sum(state = 'undeliverable'), 0), "
                f"coalesce(sum(state IN ({_REFUNDED})), 0) "
                f"FROM jobs WHERE {in_period}",
                days,
            )
            assert totals is not None
            turned_away = {
                LimitKind(row[0]): int(row[1])
                for row in await fetch_rows(
                    connection,
                    f"SELECT kind, count(*) FROM limit_refusals WHERE {in_period} GROUP BY kind",
                    days,
                )
            }
            unique_users = await fetch_int(
                connection,
                f"SELECT count(*) FROM (SELECT user_id FROM jobs WHERE {in_period} "
                f"UNION SELECT user_id FROM limit_refusals WHERE {in_period})",
                days,
            )
            top_users = _counts(await fetch_rows(
                connection,
                f"SELECT user_id, count(*) AS n FROM jobs WHERE {in_period} "
                f"AND state NOT IN ({_REFUNDED}) GROUP BY user_id ORDER BY n DESC, user_id "
                "LIMIT :top",
                days,
            ))
            top_chats = _counts(await fetch_rows(
                connection,
                f"SELECT chat_id, count(*) AS n FROM jobs WHERE {in_period} AND chat_id < 0 "
                f"AND state NOT IN ({_REFUNDED}) GROUP BY chat_id ORDER BY n DESC, chat_id "
                "LIMIT :top",
                days,
            ))
            timed = (f"FROM jobs WHERE {in_period} AND submitted_at IS NOT NULL "
                     "AND generated_at IS NOT NULL")
            timed_count = await fetch_int(connection, f"SELECT count(*) {timed}", days)
            median: float | None = None
            if timed_count:
                # The middle one, or the mean of the middle two.
                row = await fetch_row(
                    connection,
                    "SELECT avg(seconds) FROM (SELECT generated_at - submitted_at AS seconds "
                    f"{timed} ORDER BY seconds LIMIT :take OFFSET :skip)",
                    {**days, "take": 2 - timed_count % 2, "skip": (timed_count - 1) // 2},
                )
                median = float(row[0]) if row and row[0] is not None else None
        return PeriodStats(
            first_day=first_day, last_day=last_day,
            delivered=int(totals[1]), refused=int(totals[2]), failed=int(totals[3]),
            cancelled=int(totals[4]), undeliverable=int(totals[5]), refunded=int(totals[6]),
            turned_away=turned_away, unique_users=unique_users, top_users=top_users,
            top_chats=top_chats, median_generation_seconds=median,
        )

    async def queue(self) -> QueueStats:
        async with self._db.reading() as connection:
            row = await fetch_row(
                connection,
                "SELECT coalesce(sum(state = 'queued'), 0), coalesce(sum(state != 'queued'), 0) "
                f"FROM jobs WHERE state IN ({_UNFINISHED})",
            )
        assert row is not None
        return QueueStats(queued=int(row[0]), in_flight=int(row[1]))


def _counts(rows: list[aiosqlite.Row]) -> list[Count]:
    return [Count(subject_id=int(row[0]), count=int(row[1])) for row in rows]
