"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.database import Database


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh, migrated database in a folder it had to create."""
    db = await Database.open(tmp_path / "sub" / "bot.sqlite3")
    try:
        yield db
    finally:
        await db.close()
