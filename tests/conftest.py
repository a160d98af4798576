"""Shared fixtures: the API emulators (Telegram, YandexArt, IAM)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import bot  # noqa: F401  (first: aiogram imported with its model builds deferred, as the bot does)
from tests.fakes.iam import IamEmulator
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


@pytest.fixture
async def iam(yandex: YandexArtEmulator) -> AsyncIterator[IamEmulator]:
    """IAM whose tokens the `yandex` emulator accepts while they are valid."""
    emulator = IamEmulator(accept_into=yandex.iam_tokens)
    await emulator.start()
    yield emulator
    await emulator.stop()
