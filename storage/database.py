"""SQLite connection: WAL, busy timeout, versioned migrations, serialized transactions."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from importlib import resources
from pathlib import Path

import aiosqlite

from storage.turns import Turns

log = logging.getLogger(__name__)

PAGE_SIZE = 16384
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class Database:
    """One aiosqlite connection shared by the whole process.

    Coroutines sharing a connection would interleave their transactions, so every transaction
    holds a turn (`_turns`); BEGIN IMMEDIATE also keeps a second process from slipping in
    between a limit check and the insert it guards. `urgent=True` goes before the waiting
    others (the submit path: the submit quota is the scarcest thing the bot has; the access
    check every command waits on).
    """

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection
        self._turns = Turns()

    @classmethod
    async def open(cls, path: Path | str) -> Database:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(path, isolation_level=None)
        connection.row_factory = aiosqlite.Row
        # Images are ~1 MB blobs stored until delivered: 16 KB pages store, read and free one
        # in ~2 ms of CPU instead of ~4 (a new database only: an existing one keeps its size),
        # and FAST secure-delete frees its pages without first overwriting 1 MB with zeros
        # (Debian's SQLite turns secure_delete on; ~3 ms per image).
        await connection.execute(f"PRAGMA page_size={PAGE_SIZE:d}")
        await connection.execute("PRAGMA secure_delete=FAST")
        await connection.execute("PRAGMA journal_mode=WAL")
        await connection.execute("PRAGMA busy_timeout=5000")
        await connection.execute("PRAGMA foreign_keys=ON")
        await connection.execute("PRAGMA synchronous=NORMAL")
        database = cls(connection)
        await database.migrate()
        return database

    async def close(self) -> None:
        async with self._turns.hold():
            await self._connection.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._turns.hold():
            try:
                await self._connection.execute("BEGIN IMMEDIATE")
                yield self._connection
                await self._connection.execute("COMMIT")
            except BaseException:
                # Shielded: a cancelled task must not leave the shared connection inside an
                # open transaction (aiosqlite still runs a BEGIN whose caller was cancelled).
                await asyncio.shield(self._rollback())
                raise

    async def _rollback(self) -> None:
        with suppress(sqlite3.OperationalError):  # no transaction open: BEGIN itself failed
            await self._connection.execute("ROLLBACK")

    @asynccontextmanager
    async def single_statement(self, *, urgent: bool = False
                               ) -> AsyncIterator[aiosqlite.Connection]:
        """For a change that is one statement: SQLite commits it on its own (autocommit), so
        it needs no BEGIN/COMMIT around it, one trip to aiosqlite's thread instead of three.
        It still waits for a running transaction, so it never lands inside another's. A few
        such statements in one block keep their turn (nothing else runs between them), each
        committed on its own."""
        async with self._turns.hold(urgent=urgent):
            yield self._connection

    @asynccontextmanager
    async def reading(self, *, urgent: bool = False) -> AsyncIterator[aiosqlite.Connection]:
        """Reads wait for a running transaction, so they never see half of one."""
        async with self._turns.hold(urgent=urgent):
            yield self._connection

    async def ping(self) -> None:
        """`SELECT 1`: raises if the database does not answer (for the health check)."""
        async with self.reading() as connection, connection.execute("SELECT 1") as cursor:
            await cursor.fetchone()

    async def schema_version(self) -> int:
        async with self.reading() as connection, connection.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self) -> None:
        for version, script in _migrations():
            async with self.transaction() as connection:
                # Checked inside the write transaction: two processes never both apply it.
                async with connection.execute("PRAGMA user_version") as cursor:
                    row = await cursor.fetchone()
                if row is not None and int(row[0]) >= version:
                    continue
                log.info("applying database migration %04d", version)
                for statement in _statements(script):
                    await connection.execute(statement)
                await connection.execute(f"PRAGMA user_version={version:d}")


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("storage") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    return sorted(found)


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT on its own; running statements one by one keeps the
    # migration and its version bump in one transaction. Migrations hold no ';' in literals.
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]
