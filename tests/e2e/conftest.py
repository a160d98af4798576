"""Fixtures shared by the end-to-end tests (the emulators are in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where the bot's database goes: in a folder the bot has to create."""
    return tmp_path / "data" / "bot.sqlite3"
