"""Shared fixtures: the two API emulators and a bot running in-process against them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.telegram import TelegramEmulator
from tests.fakes.yandexart import YandexArtEmulator


@pytest.fixture
async def telegram() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def yandex() -> AsyncIterator[YandexArtEmulator]:
    emulator = YandexArtEmulator(generation_seconds=0.3)
    await emulator.start()
    yield emulator
    await emulator.stop()
