"""Small query helpers shared by the repositories."""

from __future__ import annotations

from typing import Any

import aiosqlite

Params = tuple[Any, ...] | dict[str, Any]


async def fetch_row(connection: aiosqlite.Connection, sql: str,
                    params: Params = ()) -> aiosqlite.Row | None:
    async with connection.execute(sql, params) as cursor:
        return await cursor.fetchone()


async def fetch_rows(connection: aiosqlite.Connection, sql: str,
                     params: Params = ()) -> list[aiosqlite.Row]:
    async with connection.execute(sql, params) as cursor:
        return list(await cursor.fetchall())


async def fetch_int(connection: aiosqlite.Connection, sql: str, params: Params = ()) -> int:
    row = await fetch_row(connection, sql, params)
    return int(row[0]) if row and row[0] is not None else 0
