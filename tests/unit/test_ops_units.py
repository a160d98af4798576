"""Metrics, health, JSON logs, the key/value store, the operations settings, the process."""

from __future__ import annotations

import gc
import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot import logging_setup
from bot.__main__ import freeze_startup_objects
from bot.config import Settings, describe_error
from bot.logging_setup import REDACTED, JsonFormatter, RedactingFormatter, add_secret
from bot.metrics import Metrics
from bot.web import Health
from storage.database import Database
from storage.kv import SqliteKeyValueStore
from tests.fakes.iam import IamEmulator

TOKEN = "123456789:AAE-secret_bot_token"
API_KEY = "AQVN-secret-api-key-value"



# ------------------------------------------------------------------ metrics


def test_metrics_have_their_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.job_finished("delivered")
    first.job_finished("delivered")
    first.job_finished("refused")
    first.set_queue_length(3)
    first.set_in_flight(2)
    first.observe_generation(4.2)
    first.observe_ready_to_photo(0.3)
    first.yandex_call("submit", "ok")
    first.yandex_call("poll", "429")
    first.telegram_error("retry_after")
    first.refund()
    first.limit_refusal("user_daily")
    first.iam_exchange("ok")
    first.update_received()
    text = first.render().decode()
    for line in (
        'drawbot_jobs_finished_total{state="delivered"} 2.0',
        'drawbot_jobs_finished_total{state="refused"} 1.0',
        "drawbot_queue_length 3.0",
        "drawbot_jobs_in_flight 2.0",
        "drawbot_generation_seconds_count 1.0",
        'drawbot_generation_seconds_bucket{le="5.0"} 1.0',
        "drawbot_ready_to_photo_seconds_sum 0.3",
        'drawbot_yandex_calls_total{endpoint="poll",outcome="429"} 1.0',
        'drawbot_telegram_errors_total{kind="retry_after"} 1.0',
        "drawbot_refunds_total 1.0",
        'drawbot_limit_refusals_total{kind="user_daily"} 1.0',
        'drawbot_iam_token_exchanges_total{outcome="ok"} 1.0',
        "drawbot_telegram_updates_total 1.0",
    ):
        assert line in text, line
    assert "drawbot_refunds_total 0.0" in second.render().decode()
    assert first.content_type.startswith("text/plain")


# ------------------------------------------------------------------ health


async def test_health_follows_the_database_and_the_update_loop(database: Database) -> None:
    health = Health(database, stale_after=60.0)
    healthy, body = await health.report()
    assert not healthy and body["updates"] == "stopped"  # not started yet
    health.started("polling")
    healthy, body = await health.report()
    assert healthy and body == {"status": "ok", "database": "ok", "updates": "ok",
                                "mode": "polling", "last_poll_seconds_ago": 0.0}
    health.stale_after = 0.0
    healthy, body = await health.report()
    assert not healthy and body["updates"] == "stale"
    health.stale_after = 60.0
    health.polled()
    assert (await health.report())[0]
    health.stopped()
    assert not (await health.report())[0]
    health.started("webhook")
    health.stale_after = 0.0  # no polling in webhook mode: serving is enough
    assert (await health.report())[0]


async def test_health_reports_a_database_that_does_not_answer(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "bot.sqlite3")
    health = Health(db)
    health.started("webhook")
    await db.close()
    healthy, body = await health.report()
    assert not healthy and body["database"] == "failing" and body["status"] == "unavailable"


# ------------------------------------------------------------------ key/value store


async def test_kv_store(database: Database) -> None:
    store = SqliteKeyValueStore(database)
    assert await store.get("a") is None
    assert await store.get_or_create("a", lambda: "first") == "first"
    assert await store.get_or_create("a", lambda: "second") == "first"
    await store.set("a", "third")
    assert await store.get("a") == "third"
    await store.set("b", "x")
    assert await store.get("b") == "x"


# ------------------------------------------------------------------ logs


def record(message: str, *args: object, **extra: Any) -> logging.LogRecord:
    entry = logging.LogRecord("bot.test", logging.WARNING, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(entry, key, value)
    return entry


def test_json_lines_are_objects_with_extras_and_no_secrets() -> None:
    formatter = JsonFormatter([API_KEY])
    line = formatter.format(record("job %s: key %s", 7, API_KEY, job_id=7, chat="c"))
    assert "\n" not in line
    data = json.loads(line)
    assert data["level"] == "WARNING" and data["logger"] == "bot.test"
    assert data["message"] == f"job 7: key {REDACTED}"
    assert data["job_id"] == 7 and data["chat"] == "c"
    assert data["time"].endswith("+00:00")


def test_json_exception_is_one_line_and_redacted() -> None:
    formatter = JsonFormatter([API_KEY])
    try:
        raise RuntimeError(f"boom {API_KEY}")
    except RuntimeError:
        import sys

        entry = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None,
                                  sys.exc_info())
    line = formatter.format(entry)
    assert "\n" not in line and API_KEY not in line
    assert "RuntimeError: boom ***" in json.loads(line)["exception"]


def test_secrets_learnt_at_run_time_are_masked_in_both_formats(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logging_setup, "_runtime_secrets", set())
    text, structured = RedactingFormatter([API_KEY]), JsonFormatter([])
    assert "t1.fresh-token" in text.format(record("token %s", "t1.fresh-token"))
    add_secret("t1.fresh-token")
    add_secret("abc")  # too short to mask safely: ignored
    assert text.format(record("token %s abc", "t1.fresh-token")) == f"token {REDACTED} abc"
    assert "t1.fresh-token" not in structured.format(record("token %s", "t1.fresh-token"))


def test_setup_logging_json(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logging_setup.setup_logging("INFO", [API_KEY], "json")
        logging.getLogger("bot.x").info("hello %s", API_KEY)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    assert json.loads(stream.getvalue()) | {"time": ""} == {
        "time": "", "level": "INFO", "logger": "bot.x", "message": f"hello {REDACTED}"}


# ------------------------------------------------------------------ settings


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def settings(**values: Any) -> Settings:
    base: dict[str, Any] = {"bot_token": TOKEN, "yandex_folder_id": "b1g"}
    base.update(values)
    return Settings(_env_file=None, **{k: v for k, v in base.items() if v is not None})


def problem(**values: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        settings(**values)
    return describe_error(caught.value)


@pytest.mark.usefixtures("clean_environment")
def test_operations_defaults() -> None:
    s = settings(yandex_api_key=API_KEY)
    assert s.yandex_sa_key_file is None
    assert s.yandex_iam_url == "https://iam.api.cloud.yandex.net/iam/v1/tokens"
    assert s.webhook_url is None and s.webhook_secret is None
    assert (s.webhook_host, s.webhook_port) == ("0.0.0.0", 8080)
    assert s.metrics_port is None and s.metrics_host == "0.0.0.0"
    assert s.log_format == "text"


@pytest.mark.usefixtures("clean_environment")
def test_a_key_file_is_a_credential(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    path.write_text(json.dumps(IamEmulator().create_key()))
    s = settings(yandex_sa_key_file=str(path))
    assert s.credential_setting == "YANDEX_SA_KEY_FILE"
    assert s.yandex_sa_key_file == path


@pytest.mark.usefixtures("clean_environment")
def test_exactly_one_credential(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    path.write_text(json.dumps(IamEmulator().create_key()))
    line = problem(yandex_api_key=API_KEY, yandex_sa_key_file=str(path))
    assert line == ("configuration error: set exactly one of YANDEX_API_KEY, YANDEX_IAM_TOKEN "
                    "or YANDEX_SA_KEY_FILE (YANDEX_API_KEY and YANDEX_SA_KEY_FILE are set)")
    assert API_KEY not in line
    assert "(none is set)" in problem()


@pytest.mark.usefixtures("clean_environment")
def test_blank_optional_settings_are_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"BOT_TOKEN": TOKEN, "YANDEX_FOLDER_ID": "b1g", "YANDEX_API_KEY": API_KEY,
                        "YANDEX_SA_KEY_FILE": "", "WEBHOOK_URL": " ", "WEBHOOK_SECRET": "",
                        "METRICS_PORT": "", "LOG_FORMAT": "JSON"}.items():
        monkeypatch.setenv(name, value)
    s = Settings(_env_file=None)
    assert s.yandex_sa_key_file is None and s.webhook_url is None
    assert s.webhook_secret is None and s.metrics_port is None
    assert s.log_format == "json"


@pytest.mark.usefixtures("clean_environment")
@pytest.mark.parametrize(
    ("values", "variable"),
    [
        ({"webhook_url": "example.org/hook"}, "WEBHOOK_URL"),
        ({"webhook_url": "https://example.org/hook?x=1"}, "WEBHOOK_URL"),
        ({"webhook_secret": "has space"}, "WEBHOOK_SECRET"),
        ({"webhook_secret": "x" * 257}, "WEBHOOK_SECRET"),
        ({"webhook_port": 0}, "WEBHOOK_PORT"),
        ({"metrics_port": 70000}, "METRICS_PORT"),
        ({"log_format": "xml"}, "LOG_FORMAT"),
        ({"yandex_iam_url": "iam.example.org"}, "YANDEX_IAM_URL"),
    ],
)
def test_bad_operations_settings(values: dict[str, Any], variable: str) -> None:
    line = problem(yandex_api_key=API_KEY, **values)
    assert line.startswith(f"configuration error: {variable} ")
    assert "has space" not in line


@pytest.mark.usefixtures("clean_environment")
def test_webhook_path_and_secrets() -> None:
    s = settings(yandex_api_key=API_KEY, webhook_url="https://bot.example.org/tg/hook",
                 webhook_secret="s3cret-value")
    assert s.webhook_path == "/tg/hook"
    assert settings(yandex_api_key=API_KEY, webhook_url="https://b.example.org").webhook_path == "/"
    assert set(s.static_secrets) == {TOKEN, API_KEY, "s3cret-value"}


# ------------------------------------------------------------------ documentation


PROJECT = Path(__file__).resolve().parents[2]


def test_every_setting_is_documented() -> None:
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    example = (PROJECT / ".env.example").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        variable = name.upper()
        assert f"| `{variable}` |" in readme, f"{variable} missing from README's table"
        assert f"\n{variable}=" in example or f"\n# {variable}=" in example, variable


@pytest.mark.usefixtures("clean_environment")
def test_env_example_filled_in_is_a_valid_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("YANDEX_FOLDER_ID", "b1g")
    monkeypatch.setenv("YANDEX_API_KEY", API_KEY)
    s = Settings(_env_file=PROJECT / ".env.example")
    assert s.credential_setting == "YANDEX_API_KEY"
    example = (PROJECT / ".env.example").read_text(encoding="utf-8")
    # The commented values are the defaults (where a default is written out).
    for line in example.splitlines():
        if not line.startswith("# ") or "=" not in line or " " in line[2:].split("=")[0]:
            continue
        name, _, value = line[2:].partition("=")
        field = Settings.model_fields.get(name.lower())
        if field is None or not value or name in ("YANDEX_SA_KEY_FILE", "WEBHOOK_URL",
                                                  "METRICS_PORT"):
            continue
        written = Settings.model_validate({**s.model_dump(), name.lower(): value})
        assert getattr(written, name.lower()) == getattr(s, name.lower()), name


@pytest.mark.parametrize(("level", "chatter"), [("INFO", logging.WARNING),
                                                ("WARNING", logging.WARNING),
                                                ("DEBUG", logging.INFO)])
def test_per_request_chatter_only_at_debug(level: str, chatter: int) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logging_setup.setup_logging(level, [API_KEY])
        assert logging.getLogger("httpx").level == chatter
        assert logging.getLogger("aiogram.event").level == chatter
    finally:
        root.handlers[:], saved_level = saved
        root.setLevel(saved_level)
        for noisy in ("httpx", "httpcore", "aiogram.event", "aiohttp.access", "aiosqlite"):
            logging.getLogger(noisy).setLevel(logging.NOTSET)


def test_startup_objects_are_moved_out_of_the_collectors_way() -> None:
    gc.unfreeze()
    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() > 10_000  # every module, model and setting loaded so far
    finally:
        gc.unfreeze()  # (the other tests' objects are collected as usual)
