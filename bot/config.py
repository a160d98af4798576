"""Configuration from environment variables and an optional `.env` file.

The variable names are a public contract (see the README's configuration table).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.yandexart.auth import ServiceAccountKey

_TOKEN_SHAPE = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")
_MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9._-]+)?$")
_MODEL_URI = re.compile(r"^art://[^/\s]+/[a-z0-9][a-z0-9._-]*(/[a-z0-9._-]+)?$")

LogLevel = Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"]
AccessMode = Literal["open", "allowlist"]
LogFormat = Literal["text", "json"]
CREDENTIAL_SETTINGS = ("YANDEX_API_KEY", "YANDEX_IAM_TOKEN", "YANDEX_SA_KEY_FILE")
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # Telegram
    bot_token: SecretStr
    telegram_api_url: str = "https://api.telegram.org"

    # YandexArt
    yandex_api_key: SecretStr | None = None
    yandex_iam_token: SecretStr | None = None
    yandex_folder_id: str
    yandex_art_model: str = "yandex-art/latest"
    yandex_art_url: str = "https://llm.api.cloud.yandex.net"
    yandex_operations_url: str = "https://llm.api.cloud.yandex.net"
    yandex_request_timeout: float = Field(default=30.0, gt=0)
    yandex_submits_per_minute: int = Field(default=500, ge=1)
    yandex_polls_per_second: int = Field(default=50, ge=1)
    yandex_max_in_flight: int = Field(default=200, ge=1)
    yandex_images_url: str = "https://ai.api.cloud.yandex.net"

    # Jobs
    job_deadline_seconds: float = Field(default=600.0, gt=0)

    # Storage
    database_path: Path = Path("data/bot.sqlite3")

    # Limits (0 = unlimited / off) and access
    daily_limit: int = Field(default=10, ge=0)
    chat_daily_limit: int = Field(default=0, ge=0)
    global_daily_limit: int = Field(default=0, ge=0)
    max_active_per_user: int = Field(default=2, ge=0)
    limits_timezone: str = "UTC"
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    access_mode: AccessMode = "open"

    # Chat experience
    originals_retention_hours: float = Field(default=24.0, ge=0, le=24 * 366)

    # Logging
    log_level: LogLevel = "INFO"

    # Operations: service-account key, webhook, metrics, log format
    yandex_sa_key_file: Path | None = None
    yandex_iam_url: str = "https://iam.api.cloud.yandex.net/iam/v1/tokens"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_host: str = "0.0.0.0"
    webhook_port: int = Field(default=8080, ge=1, le=65535)
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "0.0.0.0"
    log_format: LogFormat = "text"

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value().strip()
        if not _TOKEN_SHAPE.fullmatch(token):
            # Never echo the value: it is a secret.
            raise ValueError("must look like 123456789:AAE... (the token @BotFather gave you)")
        return SecretStr(token)

    @field_validator("yandex_api_key", "yandex_iam_token")
    @classmethod
    def _credential_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value().strip()
        if not secret or any(char.isspace() for char in secret):
            raise ValueError("must be a single word without spaces (the key or token itself)")
        return SecretStr(secret)

    @field_validator("yandex_folder_id")
    @classmethod
    def _folder_shape(cls, value: str) -> str:
        value = value.strip()
        if not value or "/" in value or " " in value:
            raise ValueError("must be a Yandex Cloud folder id such as b1g...")
        return value

    @field_validator("yandex_art_model")
    @classmethod
    def _model_shape(cls, value: str) -> str:
        value = value.strip()
        if not (_MODEL_NAME.match(value) or _MODEL_URI.match(value)):
            raise ValueError(
                "must be a model name (yandex-art), name/version (yandex-art/latest) "
                "or URI (art://<folder>/yandex-art/latest)"
            )
        return value

    @field_validator("telegram_api_url", "yandex_art_url", "yandex_operations_url",
                     "yandex_images_url")
    @classmethod
    def _url_shape(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(int(part) for part in value.replace(" ", "").split(",") if part)
        return value

    @field_validator("limits_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone such as UTC or Europe/Moscow") from None
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("access_mode", mode="before")
    @classmethod
    def _lower_mode(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    # Operations

    @field_validator("yandex_api_key", "yandex_iam_token", "yandex_sa_key_file", "webhook_url",
                     "webhook_secret", "metrics_port", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("yandex_sa_key_file")
    @classmethod
    def _readable_key(cls, value: Path | None) -> Path | None:
        if value is not None:
            value = value.expanduser()
            ServiceAccountKey.load(value)  # KeyFileError is a ValueError naming no secret
        return value

    @field_validator("yandex_iam_url")
    @classmethod
    def _iam_url_shape(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url_shape(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be the public https:// URL Telegram sends updates to")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _WEBHOOK_SECRET.fullmatch(value.get_secret_value()):
            raise ValueError("must be 1-256 characters A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_credential(self) -> Settings:
        given = [name for name, value in zip(
            CREDENTIAL_SETTINGS,
            (self.yandex_api_key, self.yandex_iam_token, self.yandex_sa_key_file), strict=True,
        ) if value is not None]
        if len(given) != 1:
            found = f"{' and '.join(given)} are set" if given else "none is set"
            raise ValueError(
                f"set exactly one of YANDEX_API_KEY, YANDEX_IAM_TOKEN or YANDEX_SA_KEY_FILE "
                f"({found})")
        return self

    @property
    def model_uri(self) -> str:
        """The full `art://<folder>/<model>[/<version>]` URI from any of the three forms."""
        if self.yandex_art_model.startswith("art://"):
            return self.yandex_art_model
        return f"art://{self.yandex_folder_id}/{self.yandex_art_model}"

    @property
    def credential_setting(self) -> str:
        if self.yandex_api_key is not None:
            return "YANDEX_API_KEY"
        if self.yandex_iam_token is not None:
            return "YANDEX_IAM_TOKEN"
        return "YANDEX_SA_KEY_FILE"

    @property
    def webhook_path(self) -> str:
        """The path of WEBHOOK_URL, where the bot's web server takes updates."""
        return urlsplit(self.webhook_url or "").path or "/"

    @property
    def static_secrets(self) -> list[str]:
        """Every configured secret value, for log redaction."""
        values = [self.bot_token, self.yandex_api_key, self.yandex_iam_token, self.webhook_secret]
        return [value.get_secret_value() for value in values if value is not None]


def describe_error(error: ValidationError) -> str:
    """One line naming each bad variable, without echoing any value."""
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        name = "_".join(str(part) for part in item["loc"]).upper()
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "missing":
            message = "is required but not set"
        problems.append(f"{name} {message}" if name else message)
    return "configuration error: " + "; ".join(problems)
