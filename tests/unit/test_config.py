"""bot.config: Settings from the environment, and the one-line error report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot.config import Settings, describe_error

TOKEN = "123456789:AAE-secret_bot_token"
API_KEY = "AQVN-secret-api-key-value"
IAM_TOKEN = "t1.secret-iam-token-value"
FOLDER = "b1gtestfolder"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No variable of the real environment may leak into these tests."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "bot_token": TOKEN, "yandex_api_key": API_KEY, "yandex_folder_id": FOLDER,
    }
    values.update(overrides)
    values = {key: value for key, value in values.items() if value is not None}
    return Settings(_env_file=None, **values)


def validation_error(**overrides: Any) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        settings(**overrides)
    return caught.value


def test_defaults() -> None:
    s = settings()
    assert s.telegram_api_url == "https://api.telegram.org"
    assert s.yandex_art_model == "yandex-art/latest"
    assert s.yandex_art_url == "https://llm.api.cloud.yandex.net"
    assert s.yandex_operations_url == "https://llm.api.cloud.yandex.net"
    assert s.yandex_request_timeout == 30.0
    assert s.yandex_submits_per_minute == 500
    assert s.yandex_polls_per_second == 50
    assert s.job_deadline_seconds == 600.0
    assert s.database_path == Path("data/bot.sqlite3")
    assert s.daily_limit == 10
    assert s.limits_timezone == "UTC"
    assert s.admin_ids == frozenset()
    assert s.log_level == "INFO"
    assert s.yandex_iam_token is None
    assert s.credential_setting == "YANDEX_API_KEY"


def test_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("YANDEX_IAM_TOKEN", IAM_TOKEN)
    monkeypatch.setenv("YANDEX_FOLDER_ID", FOLDER)
    monkeypatch.setenv("DAILY_LIMIT", "3")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("DATABASE_PATH", "/tmp/x/bot.db")
    monkeypatch.setenv("LIMITS_TIMEZONE", "Europe/Moscow")
    s = Settings(_env_file=None)
    assert s.bot_token.get_secret_value() == TOKEN
    assert s.yandex_iam_token is not None
    assert s.yandex_iam_token.get_secret_value() == IAM_TOKEN
    assert s.yandex_api_key is None
    assert s.credential_setting == "YANDEX_IAM_TOKEN"
    assert s.daily_limit == 3
    assert s.log_level == "DEBUG"
    assert s.database_path == Path("/tmp/x/bot.db")
    assert s.limits_timezone == "Europe/Moscow"


def test_secrets_are_hidden_in_repr() -> None:
    s = settings()
    assert TOKEN not in repr(s)
    assert API_KEY not in repr(s)
    assert TOKEN not in str(s)


@pytest.mark.parametrize(
    ("model", "uri"),
    [
        ("yandex-art", f"art://{FOLDER}/yandex-art"),
        ("yandex-art/latest", f"art://{FOLDER}/yandex-art/latest"),
        ("art://f/yandex-art/latest", "art://f/yandex-art/latest"),
        ("  yandex-art-2.0  ", f"art://{FOLDER}/yandex-art-2.0"),
    ],
)
def test_model_uri(model: str, uri: str) -> None:
    assert settings(yandex_art_model=model).model_uri == uri


def test_model_uri_default() -> None:
    assert settings().model_uri == f"art://{FOLDER}/yandex-art/latest"


@pytest.mark.parametrize("model", ["", "Yandex Art", "art://", "art:///yandex-art", "a/b/c",
                                   "http://x/yandex-art"])
def test_bad_model(model: str) -> None:
    error = validation_error(yandex_art_model=model)
    assert "YANDEX_ART_MODEL" in describe_error(error)


def test_both_credentials_is_an_error() -> None:
    error = validation_error(yandex_iam_token=IAM_TOKEN)
    line = describe_error(error)
    assert "YANDEX_API_KEY" in line
    assert "YANDEX_IAM_TOKEN" in line
    assert API_KEY not in line
    assert IAM_TOKEN not in line


def test_no_credential_is_an_error() -> None:
    error = validation_error(yandex_api_key=None)
    line = describe_error(error)
    assert "YANDEX_API_KEY" in line
    assert "YANDEX_IAM_TOKEN" in line


def test_both_credentials_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("YANDEX_API_KEY", API_KEY)
    monkeypatch.setenv("YANDEX_IAM_TOKEN", IAM_TOKEN)
    monkeypatch.setenv("YANDEX_FOLDER_ID", FOLDER)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)


def test_iam_token_alone() -> None:
    s = settings(yandex_api_key=None, yandex_iam_token=IAM_TOKEN)
    assert s.credential_setting == "YANDEX_IAM_TOKEN"


@pytest.mark.parametrize(("raw", "ids"), [("1, 2,3", {1, 2, 3}), ("42", {42}), ("", set()),
                                          (" 7 , 7 ,", {7})])
def test_admin_ids_from_environment(
    monkeypatch: pytest.MonkeyPatch, raw: str, ids: set[int]
) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("YANDEX_API_KEY", API_KEY)
    monkeypatch.setenv("YANDEX_FOLDER_ID", FOLDER)
    monkeypatch.setenv("ADMIN_IDS", raw)
    assert Settings(_env_file=None).admin_ids == frozenset(ids)


def test_admin_ids_from_keyword() -> None:
    assert settings(admin_ids="1, 2,3").admin_ids == frozenset({1, 2, 3})


def test_admin_ids_not_numbers() -> None:
    assert "ADMIN_IDS" in describe_error(validation_error(admin_ids="1, bob"))


@pytest.mark.parametrize(
    "token",
    ["not-a-token-SECRET", "987654321", ":AAEsecret", "123:AAE secret", "abc:AAEsecret",
     "123456789:AAE/secret", ""],
)
def test_malformed_bot_token(token: str) -> None:
    error = validation_error(bot_token=token)
    line = describe_error(error)
    assert line.startswith("configuration error: ")
    assert "BOT_TOKEN" in line
    if token:
        assert token not in line
    assert "\n" not in line


def test_missing_variables_are_named() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None)
    line = describe_error(caught.value)
    assert "BOT_TOKEN is required but not set" in line
    assert "YANDEX_FOLDER_ID is required but not set" in line
    assert "\n" not in line


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("telegram_api_url", "https://example.org/"),
        ("yandex_art_url", "https://art.example.org/base//"),
        ("yandex_operations_url", " http://ops.example.org/ "),
    ],
)
def test_trailing_slash_stripped(field: str, value: str) -> None:
    s = settings(**{field: value})
    result = getattr(s, field)
    assert isinstance(result, str)
    assert result == value.strip().rstrip("/")
    assert not result.endswith("/")


@pytest.mark.parametrize("url", ["api.telegram.org", "ftp://x.org", ""])
def test_url_needs_a_scheme(url: str) -> None:
    assert "TELEGRAM_API_URL" in describe_error(validation_error(telegram_api_url=url))


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"daily_limit": -1}, "DAILY_LIMIT"),
        ({"daily_limit": "many"}, "DAILY_LIMIT"),
        ({"log_level": "verbose"}, "LOG_LEVEL"),
        ({"limits_timezone": "Mars/Olympus"}, "LIMITS_TIMEZONE"),
        ({"yandex_folder_id": "b1g/x"}, "YANDEX_FOLDER_ID"),
        ({"yandex_request_timeout": 0}, "YANDEX_REQUEST_TIMEOUT"),
        ({"yandex_submits_per_minute": 0}, "YANDEX_SUBMITS_PER_MINUTE"),
        ({"job_deadline_seconds": -5}, "JOB_DEADLINE_SECONDS"),
    ],
)
def test_describe_error_names_the_variable(overrides: dict[str, Any], variable: str) -> None:
    line = describe_error(validation_error(**overrides))
    assert line.startswith("configuration error: ")
    assert variable in line
    assert "\n" not in line
    for secret in (TOKEN, API_KEY):
        assert secret not in line


def test_describe_error_several_problems_one_line() -> None:
    secret_token = "not-a-valid-token-SECRET"
    error = validation_error(
        bot_token=secret_token, yandex_iam_token=IAM_TOKEN, daily_limit=-3
    )
    line = describe_error(error)
    assert "\n" not in line
    assert "BOT_TOKEN" in line
    assert "DAILY_LIMIT" in line
    for secret in (secret_token, API_KEY, IAM_TOKEN):
        assert secret not in line


def test_daily_limit_zero_allowed() -> None:
    assert settings(daily_limit=0).daily_limit == 0


def test_bot_token_with_trailing_newline_is_not_accepted_as_is() -> None:
    try:
        s = settings(bot_token=TOKEN + "\n")
    except ValidationError as error:
        assert "BOT_TOKEN" in describe_error(error)
    else:
        assert s.bot_token.get_secret_value() == TOKEN  # stripping it would be fine too


def test_limit_and_access_defaults() -> None:
    s = settings()
    assert (s.chat_daily_limit, s.global_daily_limit, s.max_active_per_user) == (0, 0, 2)
    assert s.access_mode == "open"


def test_limits_and_access_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"BOT_TOKEN": TOKEN, "YANDEX_API_KEY": API_KEY,
                        "YANDEX_FOLDER_ID": FOLDER, "CHAT_DAILY_LIMIT": "30",
                        "GLOBAL_DAILY_LIMIT": "500", "MAX_ACTIVE_PER_USER": "0",
                        "ACCESS_MODE": " AllowList "}.items():
        monkeypatch.setenv(name, value)
    s = Settings(_env_file=None)
    assert (s.chat_daily_limit, s.global_daily_limit, s.max_active_per_user) == (30, 500, 0)
    assert s.access_mode == "allowlist"


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"chat_daily_limit": -1}, "CHAT_DAILY_LIMIT"),
        ({"global_daily_limit": "lots"}, "GLOBAL_DAILY_LIMIT"),
        ({"max_active_per_user": -2}, "MAX_ACTIVE_PER_USER"),
        ({"access_mode": "closed"}, "ACCESS_MODE"),
    ],
)
def test_bad_limit_or_access_setting_is_named(overrides: dict[str, Any], variable: str) -> None:
    line = describe_error(validation_error(**overrides))
    assert variable in line and "\n" not in line
