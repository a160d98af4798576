"""`python -m bot` as a real process: configuration errors, kill -9, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from storage.models import JobState
from tests.e2e.harness import (
    bot_environment,
    jobs_in,
    make_settings,
    running_bot,
    start_bot_process,
)
from tests.fakes.telegram import TelegramEmulator
from tests.fakes.yandexart import YandexArtEmulator

ALICE = 1001


async def wait_for_state(database: Path, state: JobState, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        exists = await asyncio.to_thread(database.exists)
        if exists and any(job.state is state for job in await jobs_in(database)):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no job reached {state} in {within} s")


async def kill(process: asyncio.subprocess.Process, signum: int) -> int:
    process.send_signal(signum)
    return await asyncio.wait_for(process.wait(), timeout=15)


async def test_missing_setting_is_one_clear_line(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "BOT_TOKEN": "123:abc", "YANDEX_API_KEY": "k"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    lines = stderr.decode().strip().splitlines()
    assert process.returncode == 2
    assert lines == ["configuration error: YANDEX_FOLDER_ID is required but not set"]


async def test_malformed_setting_names_the_variable_without_its_value(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "BOT_TOKEN": "not-a-token-SECRET",
           "YANDEX_API_KEY": "k", "YANDEX_FOLDER_ID": "b1g", "DAILY_LIMIT": "-1"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    text = stderr.decode()
    assert process.returncode == 2
    assert len(text.strip().splitlines()) == 1
    assert "BOT_TOKEN" in text and "DAILY_LIMIT" in text
    assert "SECRET" not in text and "Traceback" not in text


async def test_kill_9_mid_generation_delivers_once_and_bills_once(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, tmp_path: Path
) -> None:
    database = tmp_path / "bot.sqlite3"
    env = bot_environment(telegram, yandex, database, daily_limit=1)
    yandex.paused = True
    process = await start_bot_process(env, tmp_path / "bot.log")
    try:
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw survive a crash")
        await wait_for_state(database, JobState.SUBMITTED)
    finally:
        assert await kill(process, signal.SIGKILL) == -signal.SIGKILL
    yandex.paused = False
    restarted = await start_bot_process(env, tmp_path / "bot.log")
    try:
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, timeout=40,
                                what="the photo after the restart")
        await wait_for_state(database, JobState.DELIVERED)
        await asyncio.sleep(1.0)  # a second delivery would show up here
    finally:
        await kill(restarted, signal.SIGTERM)
    assert len(telegram.photos(ALICE)) == 1
    assert yandex.accepted_submits == 1
    [job] = await jobs_in(database)
    assert job.state is JobState.DELIVERED and job.attempts == 1


async def test_kill_9_before_delivery_sends_the_stored_image(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, tmp_path: Path
) -> None:
    database = tmp_path / "bot.sqlite3"
    env = bot_environment(telegram, yandex, database)
    # Telegram asks the bot to wait; the bot dies while waiting with a paid image.
    telegram.fail_next("sendPhoto", status=429, description="Too Many Requests: retry after 25",
                       retry_after=25)
    process = await start_bot_process(env, tmp_path / "bot.log")
    try:
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw paid already")
        await wait_for_state(database, JobState.GENERATED)
        await telegram.wait_for(lambda: any(c.method == "sendphoto" for c in telegram.calls),
                                what="the first sendPhoto")
    finally:
        await kill(process, signal.SIGKILL)
    restarted = await start_bot_process(env, tmp_path / "bot.log")
    try:
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, timeout=40,
                                what="the photo after the restart")
        await wait_for_state(database, JobState.DELIVERED)
    finally:
        await kill(restarted, signal.SIGTERM)
    assert yandex.accepted_submits == 1
    assert len(telegram.photos(ALICE)) == 1


async def test_sigterm_exits_cleanly_and_the_job_resumes(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, tmp_path: Path
) -> None:
    database = tmp_path / "bot.sqlite3"
    log_path = tmp_path / "bot.log"
    env = bot_environment(telegram, yandex, database)
    yandex.paused = True
    process = await start_bot_process(env, log_path)
    telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw after a restart")
    await wait_for_state(database, JobState.SUBMITTED)
    started = time.monotonic()
    assert await kill(process, signal.SIGTERM) == 0
    assert time.monotonic() - started < 10
    yandex.paused = False
    async with running_bot(make_settings(telegram, yandex, database), telegram):
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, what="the photo")
    assert yandex.accepted_submits == 1
    log = log_path.read_text()
    assert "DEBUG" in log  # the secrets check below means something
    for secret in (telegram.token, telegram.token.split(":")[1], env["YANDEX_API_KEY"]):
        assert secret not in log


@pytest.mark.parametrize("signum", [signal.SIGINT])
async def test_sigint_also_exits_zero(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, tmp_path: Path, signum: int
) -> None:
    env = bot_environment(telegram, yandex, tmp_path / "bot.sqlite3")
    process = await start_bot_process(env, tmp_path / "bot.log")
    await telegram.wait_for(lambda: len(telegram.ok_calls("deleteWebhook")) == 1, timeout=30,
                            what="the bot to start")
    assert await kill(process, signum) == 0


async def test_rejected_bot_token_is_one_clear_line(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, tmp_path: Path
) -> None:
    env = bot_environment(telegram, yandex, tmp_path / "bot.sqlite3",
                          bot_token="999:WRONG-token-value", log_level="WARNING")
    env["PATH"] = os.environ.get("PATH", "")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    text = stderr.decode()
    assert process.returncode == 1
    assert text.strip().splitlines()[-1].startswith("cannot start: Telegram rejected BOT_TOKEN")
    assert "WRONG-token-value" not in text and "Traceback" not in text
