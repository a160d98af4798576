"""Configuration from environment variables and an optional `.env` file.

The variable names are a public contract (see the README's configuration table).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_TOKEN_SHAPE = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")
_MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9._-]+)?$")
_MODEL_URI = re.compile(r"^art://[^/\s]+/[a-z0-9][a-z0-9._-]*(/[a-z0-9._-]+)?$")

LogLevel = Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"]
AccessMode = Literal["open", "allowlist"]


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

    @model_validator(mode="after")
    def _one_credential(self) -> Settings:
        if (self.yandex_api_key is None) == (self.yandex_iam_token is None):
            raise ValueError("set exactly one of YANDEX_API_KEY or YANDEX_IAM_TOKEN")
        return self

    @property
    def model_uri(self) -> str:
        """The full `art://<folder>/<model>[/<version>]` URI from any of the three forms."""
        if self.yandex_art_model.startswith("art://"):
            return self.yandex_art_model
        return f"art://{self.yandex_folder_id}/{self.yandex_art_model}"

    @property
    def credential_setting(self) -> str:
        return "YANDEX_API_KEY" if self.yandex_api_key is not None else "YANDEX_IAM_TOKEN"


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
