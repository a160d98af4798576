"""Small key/value settings the bot keeps for itself, on SQLite (table `kv_settings`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from storage.database import Database


class KeyValueStore(Protocol):
    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str) -> None: ...

    async def get_or_create(self, key: str, make: Callable[[], str]) -> str:
        """The stored value, or `make()` stored and returned if there is none. Two processes
        racing both get the value that was stored first."""


class SqliteKeyValueStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def get(self, key: str) -> str | None:
        async with self._db.reading() as connection, connection.execute(
            "SELECT value FROM kv_settings WHERE key = ?", (key,)
        ) as cursor:
            row = await cursor.fetchone()
        return str(row[0]) if row is not None else None

    async def set(self, key: str, value: str) -> None:
        async with self._db.transaction() as connection:
            await connection.execute(
                "INSERT INTO kv_settings (key, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                "updated_at = excluded.updated_at",
                (key, value, time.time()),
            )

    async def get_or_create(self, key: str, make: Callable[[], str]) -> str:
        async with self._db.transaction() as connection:
            await connection.execute(
                "INSERT INTO kv_settings (key, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO NOTHING",
                (key, make(), time.time()),
            )
            async with connection.execute(
                "SELECT value FROM kv_settings WHERE key = ?", (key,)
            ) as cursor:
                row = await cursor.fetchone()
        assert row is not None
        return str(row[0])
