"""Admins' decisions about limits on SQLite: overrides of the daily limits, per-day grants."""

from __future__ import annotations

import time

import aiosqlite

from storage.database import Database
from storage.models import DEFAULT_SCOPES, LimitRules, OverrideScope
from storage.sql import fetch_int, fetch_rows

_GRANTED = "granted"  # (read_rules: the grant's row among the overrides')


class SqliteLimitsRepository:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def rules_for(self, user_id: int, chat_id: int, day: str) -> LimitRules:
        async with self._db.reading() as connection:
            return await read_rules(connection, user_id, chat_id, day)

    async def set_override(self, scope: OverrideScope, subject_id: int, daily_limit: int | None,
                           *, by: int | None) -> None:
        _check_subject(scope, subject_id)
        if daily_limit is not None and daily_limit < 0:
            raise ValueError("a daily limit cannot be negative")
        async with self._db.transaction() as connection:
            await connection.execute(
                "INSERT INTO limit_overrides (scope, subject_id, daily_limit, updated_at, "
                "updated_by) VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, subject_id) DO UPDATE "
                "SET daily_limit = excluded.daily_limit, updated_at = excluded.updated_at, "
                "updated_by = excluded.updated_by",
                (scope.value, subject_id, daily_limit, time.time(), by),
            )

    async def clear_override(self, scope: OverrideScope, subject_id: int) -> bool:
        _check_subject(scope, subject_id)
        async with self._db.transaction() as connection:
            cursor = await connection.execute(
                "DELETE FROM limit_overrides WHERE scope = ? AND subject_id = ?",
                (scope.value, subject_id),
            )
            return cursor.rowcount == 1

    async def move_chat(self, old_chat_id: int, new_chat_id: int) -> bool:
        async with self._db.single_statement() as connection:
            # OR IGNORE: an override the new id already has wins, and the old one stays.
            cursor = await connection.execute(
                "UPDATE OR IGNORE limit_overrides SET subject_id = ?, updated_at = ? "
                "WHERE scope = 'chat' AND subject_id = ?",
                (new_chat_id, time.time(), old_chat_id),
            )
            return cursor.rowcount == 1

    async def grant(self, user_id: int, day: str, extra: int) -> int:
        if extra < 0:
            raise ValueError("a grant cannot be negative")
        async with self._db.transaction() as connection:
            await connection.execute(
                "INSERT INTO limit_grants (user_id, day, extra, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (user_id, day) DO UPDATE SET extra = extra + excluded.extra, "
                "updated_at = excluded.updated_at",
                (user_id, day, extra, time.time()),
            )
            return await fetch_int(
                connection, "SELECT extra FROM limit_grants WHERE user_id = ? AND day = ?",
                (user_id, day),
            )


def _check_subject(scope: OverrideScope, subject_id: int) -> None:
    if (scope in DEFAULT_SCOPES) != (subject_id == 0):
        raise ValueError(f"scope {scope} with subject {subject_id}")


async def read_rules(connection: aiosqlite.Connection, user_id: int, chat_id: int,
                     day: str) -> LimitRules:
    """The overrides that apply to this user in this chat, and the user's grant for `day`
    (also read just before a job's guarded insert: `storage.jobs`)."""
    rows = await fetch_rows(  # one statement: each is a trip to aiosqlite's thread
        connection,
        "SELECT scope, daily_limit FROM limit_overrides "
        "WHERE (scope = 'user' AND subject_id = :user) "
        "OR (scope = 'chat' AND subject_id = :chat) "
        "OR scope IN ('user_default', 'chat_default', 'global') "
        f"UNION ALL SELECT '{_GRANTED}', extra FROM limit_grants "
        "WHERE user_id = :user AND day = :day",
        {"user": user_id, "chat": chat_id, "day": day},
    )
    granted = sum(int(row[1]) for row in rows if row[0] == _GRANTED)
    overrides = {OverrideScope(row[0]): None if row[1] is None else int(row[1])
                 for row in rows if row[0] != _GRANTED}
    return LimitRules(overrides=overrides, granted=granted)
