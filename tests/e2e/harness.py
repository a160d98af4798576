"""Run the real bot against the emulators: in-process, or as a `python -m bot` subprocess."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from bot.app import Application, create_application
from bot.config import Settings
from storage.database import Database
from storage.jobs import SqliteJobRepository
from storage.models import Job
from tests.fakes.telegram import TelegramEmulator
from tests.fakes.yandexart import YandexArtEmulator

API_KEY = "test-api-key"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def bot_environment(telegram: TelegramEmulator, yandex: YandexArtEmulator, database: Path,
                    **overrides: Any) -> dict[str, str]:
    """The bot's configuration, exactly as an operator would set it."""
    env = {
        "BOT_TOKEN": telegram.token,
        "TELEGRAM_API_URL": telegram.base_url,
        "YANDEX_API_KEY": API_KEY,
        "YANDEX_FOLDER_ID": yandex.folder_id,
        "YANDEX_ART_URL": yandex.base_url,
        "YANDEX_OPERATIONS_URL": yandex.base_url,
        "DATABASE_PATH": str(database),
        "LOG_LEVEL": "DEBUG",
    }
    env.update({key.upper(): str(value) for key, value in overrides.items()})
    return env


def make_settings(telegram: TelegramEmulator, yandex: YandexArtEmulator, database: Path,
                  **overrides: Any) -> Settings:
    env = bot_environment(telegram, yandex, database, **overrides)
    if "YANDEX_IAM_TOKEN" in env or "YANDEX_SA_KEY_FILE" in env:
        env.pop("YANDEX_API_KEY")
    return Settings.model_validate({key.lower(): value for key, value in env.items()})


@asynccontextmanager
async def running_bot(settings: Settings, telegram: TelegramEmulator) -> AsyncIterator[Application]:
    """The bot polling the emulator; stopped (as on SIGTERM) when the block ends."""
    application = await create_application(settings)
    started = asyncio.Event()

    async def mark_started() -> None:  # runs after the bot's own startup hooks
        started.set()

    application.dispatcher.startup.register(mark_started)
    task = asyncio.create_task(application.run_polling(handle_signals=False))
    try:
        await telegram.wait_for(lambda: started.is_set() or task.done(), what="the bot to start")
        if task.done():
            task.result()
        yield application
    finally:
        await application.stop()
        await asyncio.wait_for(task, timeout=15)


@asynccontextmanager
async def running_webhook_bot(settings: Settings,
                              telegram: TelegramEmulator) -> AsyncIterator[Application]:
    """The bot serving a webhook (WEBHOOK_URL set); stopped (as on SIGTERM) when the block
    ends. Ready once it has registered the webhook with the emulator."""
    application = await create_application(settings)
    task = asyncio.create_task(application.run(handle_signals=False))
    try:
        await telegram.wait_for(lambda: telegram.webhook is not None or task.done(),
                                what="the bot to register its webhook")
        if task.done():
            task.result()
        yield application
    finally:
        await application.stop()
        await asyncio.wait_for(task, timeout=15)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def post_update(url: str, update: dict[str, Any], secret: str | None) -> int:
    """POST one update to the bot's webhook as Telegram does; returns the HTTP status."""
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    async with aiohttp.ClientSession() as session, session.post(
        url, json=update, headers=headers
    ) as response:
        await response.read()
        return response.status


async def http_get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


def texts_sent(telegram: TelegramEmulator, chat_id: int) -> list[str]:
    """Texts of the bot's messages to a chat."""
    return [str(call.params.get("text", "")) for call in telegram.ok_calls("sendMessage", chat_id)]


def reactions(telegram: TelegramEmulator, chat_id: int) -> list[int]:
    """The messages the bot put its ✍ acknowledgement on, in a chat."""
    return [int(call.params["message_id"])
            for call in telegram.ok_calls("setMessageReaction", chat_id)
            if call.params.get("reaction") == [{"type": "emoji", "emoji": "✍"}]]


def acknowledgements(telegram: TelegramEmulator, chat_id: int) -> int:
    """Commands acknowledged in a chat: by a status message or by a reaction."""
    status = [text for text in texts_sent(telegram, chat_id) if text.startswith("🎨")]
    return len(status) + len(reactions(telegram, chat_id))


def replies_with(telegram: TelegramEmulator, chat_id: int, needle: str) -> list[str]:
    return [text for text in texts_sent(telegram, chat_id) if needle in text]


async def jobs_in(database: Path) -> list[Job]:
    """Every job row, read through the repository with a connection of the test's own."""
    db = await Database.open(database)
    try:
        async with db.reading() as connection, connection.execute(
            "SELECT id FROM jobs ORDER BY id"
        ) as cursor:
            ids = [int(row[0]) for row in await cursor.fetchall()]
        repository = SqliteJobRepository(db)
        return [job for job in [await repository.get(job_id) for job_id in ids] if job]
    finally:
        await db.close()


async def start_bot_process(env: dict[str, str], log_path: Path) -> asyncio.subprocess.Process:
    full_env = {"PATH": os.environ.get("PATH", ""), "PYTHONUNBUFFERED": "1", **env}
    log_file = log_path.open("ab")
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=str(log_path.parent), env=full_env,
            stdout=log_file, stderr=log_file,
        )
    finally:
        log_file.close()
