"""Small query helpers shared by the repositories."""

from __future__ import annotations

from typing import Any

import aiosqlite

Params = tuple[Any, ...] | dict[str, Any]


# `execute_fetchall` is one trip to aiosqlite's thread; execute + fetchone + closing the cursor
# are three, and under load each trip waits for the event loop.


async def fetch_row(connection: aiosqlite.Connection, sql: str,
                    params: Params = ()) -> aiosqlite.Row | None:
    """The first row (for queries that select at most one)."""
    rows = await connection.execute_fetchall(sql, params)
    return next(iter(rows), None)


async def fetch_rows(connection: aiosqlite.Connection, sql: str,
                     params: Params = ()) -> list[aiosqlite.Row]:
    return list(await connection.execute_fetchall(sql, params))


async def fetch_int(connection: aiosqlite.Connection, sql: str, params: Params = ()) -> int:
    row = await fetch_row(connection, sql, params)
    return int(row[0]) if row and row[0] is not None else 0
