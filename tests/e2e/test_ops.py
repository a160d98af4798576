"""Running it for real: service-account keys, webhook mode, metrics and health (in-process)."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import pytest
from aiogram.fsm.middleware import FSMContextMiddleware

from bot.app import StartupError, create_application
from storage.database import Database
from storage.kv import SqliteKeyValueStore
from storage.models import JobState
from tests.e2e.harness import (
    bot_environment,
    free_port,
    http_get,
    jobs_in,
    make_settings,
    post_update,
    running_bot,
    running_webhook_bot,
    start_bot_process,
)
from tests.e2e.test_process import kill, wait_for_state
from tests.fakes.iam import IamEmulator
from tests.fakes.telegram import TelegramEmulator
from tests.fakes.yandexart import YandexArtEmulator

ALICE = 1001
BOB = 1002


def bearer_tokens(yandex: YandexArtEmulator) -> list[str]:
    return [r.headers.get("Authorization", "").removeprefix("Bearer ") for r in yandex.requests]


# ------------------------------------------------------------------ service-account key


async def test_sa_key_tokens_are_used_and_refreshed_while_a_job_runs(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, iam: IamEmulator, tmp_path: Path
) -> None:
    iam.token_lifetime = 2.0  # refreshed after 1 s; a generation takes longer than a token lives
    yandex.generation_seconds = 3.0
    yandex.iam_tokens.clear()  # only what IAM issues is accepted
    key = iam.write_key(tmp_path / "key.json")
    settings = make_settings(telegram, yandex, tmp_path / "bot.sqlite3",
                             yandex_sa_key_file=tmp_path / "key.json",
                             yandex_iam_url=iam.tokens_url)
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw a slow lighthouse")
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, timeout=20,
                                what="the photo")
    assert [r.status for r in yandex.requests if r.status != 200] == []  # never a 401
    issued = {token.value for token in iam.issued}
    used = bearer_tokens(yandex)
    assert used and set(used) <= issued
    assert len(set(used)) >= 2  # the job outlived its first token
    assert len(iam.issued) >= 2
    for request in iam.ok_requests:
        assert request.header is not None and request.claims is not None
        assert request.header["kid"] == key["id"] and request.header["alg"] == "PS256"
        assert request.claims["iss"] == key["service_account_id"]
        assert request.claims["aud"] == "https://iam.api.cloud.yandex.net/iam/v1/tokens"
        assert request.claims["exp"] - request.claims["iat"] <= 3600
    [job] = await jobs_in(tmp_path / "bot.sqlite3")
    assert job.state is JobState.DELIVERED


async def test_iam_outage_at_start_is_retried(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, iam: IamEmulator, tmp_path: Path
) -> None:
    yandex.iam_tokens.clear()
    iam.write_key(tmp_path / "key.json")
    iam.fail_next(503, times=2)
    iam.drop_next()
    settings = make_settings(telegram, yandex, tmp_path / "bot.sqlite3",
                             yandex_sa_key_file=tmp_path / "key.json",
                             yandex_iam_url=iam.tokens_url)
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw despite IAM")
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, timeout=20,
                                what="the photo")
    assert [r.status for r in iam.requests][:3] == [503, 503, 0]
    assert len(iam.ok_requests) >= 1
    assert yandex.accepted_submits == 1


async def test_a_rejected_token_is_replaced_once(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, iam: IamEmulator, tmp_path: Path
) -> None:
    yandex.iam_tokens.clear()
    iam.write_key(tmp_path / "key.json")
    settings = make_settings(telegram, yandex, tmp_path / "bot.sqlite3",
                             yandex_sa_key_file=tmp_path / "key.json",
                             yandex_iam_url=iam.tokens_url)
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw first")
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, what="photo 1")
        yandex.iam_tokens.clear()  # the token is revoked long before it expires
        telegram.user_message(chat_id=BOB, user_id=BOB, text="/draw second")
        await telegram.wait_for(lambda: len(telegram.photos(BOB)) == 1, what="photo 2")
    assert [r.status for r in yandex.requests].count(401) == 1
    assert len(iam.ok_requests) == 2
    assert yandex.accepted_submits == 2


async def test_revoked_key_fails_the_job_with_a_refund_and_names_the_setting(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, iam: IamEmulator, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = iam.write_key(tmp_path / "key.json")
    iam.revoke(key["id"])
    settings = make_settings(telegram, yandex, tmp_path / "bot.sqlite3",
                             yandex_sa_key_file=tmp_path / "key.json",
                             yandex_iam_url=iam.tokens_url)
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw never")
        await wait_for_state(tmp_path / "bot.sqlite3", JobState.FAILED)
    assert yandex.accepted_submits == 0
    assert "YANDEX_SA_KEY_FILE" in caplog.text


# ------------------------------------------------------------------ webhook


def webhook_settings(port: int, **overrides: object) -> tuple[str, dict[str, object]]:
    url = f"http://127.0.0.1:{port}/telegram/hook"
    values: dict[str, object] = {"webhook_url": url, "webhook_host": "127.0.0.1",
                                 "webhook_port": port, **overrides}
    return url, values


async def test_webhook_mode_checks_the_secret_and_delivers(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, tmp_path: Path
) -> None:
    database = tmp_path / "bot.sqlite3"
    port = free_port()
    url, values = webhook_settings(port, metrics_port=port)
    settings = make_settings(telegram, yandex, database, **values)
    async with running_webhook_bot(settings, telegram) as application:
        registered = telegram.webhook
        assert registered is not None and registered["url"] == url
        secret = registered["secret_token"]
        assert secret == application.webhook_secret and len(secret) >= 32
        assert "message" in registered["allowed_updates"]

        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw over a webhook")
        [update] = telegram.take_updates()
        assert await post_update(url, update, None) == 401
        assert await post_update(url, update, "wrong-secret") == 401
        assert await jobs_in(database) == []
        assert await post_update(url, update, secret) == 200
        assert len(await jobs_in(database)) == 1  # stored before Telegram got its 200
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, what="the photo")
        assert await post_update(url, update, secret) == 200  # Telegram re-sends: harmless

        status, body = await http_get(f"http://127.0.0.1:{port}/healthz")
        assert status == 200 and json.loads(body)["mode"] == "webhook"
        status, text = await http_get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        assert "drawbot_telegram_updates_total 2.0" in text
    assert not telegram.ok_calls("getUpdates")
    assert not telegram.ok_calls("deleteWebhook")  # kept: Telegram holds updates meanwhile
    assert len(telegram.photos(ALICE)) == 1
    assert yandex.accepted_submits == 1

    # The generated secret is kept in the database: a restart registers the same one.
    db = await Database.open(database)
    try:
        assert await SqliteKeyValueStore(db).get("webhook_secret") == secret
    finally:
        await db.close()
    telegram.webhook = None
    async with running_webhook_bot(settings, telegram):
        assert telegram.webhook is not None and telegram.webhook["secret_token"] == secret


async def test_webhook_secret_from_the_configuration(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, tmp_path: Path
) -> None:
    port = free_port()
    url, values = webhook_settings(port, webhook_secret="operator-chosen_secret-123")
    settings = make_settings(telegram, yandex, tmp_path / "bot.sqlite3", **values)
    async with running_webhook_bot(settings, telegram):
        assert telegram.webhook is not None
        assert telegram.webhook["secret_token"] == "operator-chosen_secret-123"
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw configured")
        [update] = telegram.take_updates()
        assert await post_update(url, update, "operator-chosen_secret-123") == 200
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, what="the photo")


async def test_webhook_process_exits_zero_on_sigterm_and_logs_json(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, tmp_path: Path
) -> None:
    database = tmp_path / "bot.sqlite3"
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    env = bot_environment(telegram, yandex, database, webhook_url=url,
                          webhook_host="127.0.0.1", webhook_port=port, log_format="json")
    log_path = tmp_path / "bot.log"
    yandex.paused = True
    process = await start_bot_process(env, log_path)
    try:
        await telegram.wait_for(lambda: telegram.webhook is not None, timeout=40,
                                what="the webhook")
        assert telegram.webhook is not None
        secret = str(telegram.webhook["secret_token"])
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw in a process")
        [update] = telegram.take_updates()
        assert await post_update(url, update, secret) == 200
        await wait_for_state(database, JobState.SUBMITTED)
    finally:
        started = time.monotonic()
        code = await kill(process, signal.SIGTERM)
    assert code == 0
    assert time.monotonic() - started < 10
    lines = log_path.read_text().strip().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert any("webhook registered" in record["message"] for record in records)
    assert {"time", "level", "logger", "message"} <= set(records[0])
    text = log_path.read_text()
    for secret_value in (telegram.token, env["YANDEX_API_KEY"], secret):
        assert secret_value not in text


# ------------------------------------------------------------------ metrics and health


async def test_metrics_and_health_in_polling_mode(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, tmp_path: Path
) -> None:
    port = free_port()
    settings = make_settings(telegram, yandex, tmp_path / "bot.sqlite3", metrics_port=port,
                             metrics_host="127.0.0.1")
    base = f"http://127.0.0.1:{port}"
    async with running_bot(settings, telegram) as application:
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw counted")
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, what="the photo")
        status, body = await http_get(f"{base}/healthz")
        assert status == 200
        report = json.loads(body)
        assert report["status"] == "ok" and report["database"] == "ok"
        assert report["mode"] == "polling" and report["last_poll_seconds_ago"] < 15

        status, text = await http_get(f"{base}/metrics")
        assert status == 200
        assert "drawbot_telegram_updates_total 1.0" in text
        for name in ("drawbot_jobs_finished_total", "drawbot_queue_length",
                     "drawbot_jobs_in_flight", "drawbot_generation_seconds",
                     "drawbot_ready_to_photo_seconds", "drawbot_yandex_calls_total",
                     "drawbot_telegram_errors_total", "drawbot_refunds_total",
                     "drawbot_limit_refusals_total"):
            assert f"# TYPE {name.removesuffix('_total')}" in text, name
        # The real job, counted by the service itself.
        await telegram.wait_for(lambda: bool(telegram.ok_calls("deleteMessage", ALICE)),
                                what="the delivery to be recorded")
        _, text = await http_get(f"{base}/metrics")
        assert 'drawbot_jobs_finished_total{state="delivered"} 1.0' in text
        assert 'drawbot_yandex_calls_total{endpoint="submit",outcome="ok"} 1.0' in text
        assert "drawbot_generation_seconds_count 1.0" in text
        assert "drawbot_ready_to_photo_seconds_count 1.0" in text

        application.deps.health.stale_after = 0.0  # as if getUpdates had stopped answering
        status, body = await http_get(f"{base}/healthz")
        assert status == 503 and json.loads(body)["updates"] == "stale"
        application.deps.health.stale_after = 60.0
    with pytest.raises(OSError):
        await http_get(f"{base}/healthz")  # the server is gone with the bot


async def test_metrics_port_in_use_is_a_startup_error(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, tmp_path: Path
) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        settings = make_settings(telegram, yandex, tmp_path / "bot.sqlite3", metrics_port=port,
                                 metrics_host="127.0.0.1")
        application = await create_application(settings)
        with pytest.raises(StartupError, match=f"METRICS_PORT={port}"):
            await application.run_polling(handle_signals=False)
    finally:
        server.close()
        await server.wait_closed()


async def test_updates_pass_no_conversation_state_machine(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, tmp_path: Path
) -> None:
    settings = make_settings(telegram, yandex, tmp_path / "bot.sqlite3")
    async with running_bot(settings, telegram) as application:
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw a quiet harbour")
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, what="the photo")
        outer = list(application.dispatcher.update.outer_middleware)
    assert not any(isinstance(middleware, FSMContextMiddleware) for middleware in outer)
