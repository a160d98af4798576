"""Building the YandexArt side from settings: credentials, API clients, the provider.

Free of aiogram, so the operator commands (`python -m bot check|draw`) start quickly.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from bot.config import Settings
from bot.logging_setup import add_secret
from bot.yandexart.auth import (
    Credentials,
    ServiceAccountCredentials,
    ServiceAccountKey,
    api_key_credentials,
    iam_token_credentials,
)
from bot.yandexart.client import YandexArtClient
from bot.yandexart.images import ImagesApiClient
from bot.yandexart.provider import (
    ImageProvider,
    ImagesProvider,
    OperationsProvider,
    uses_images_api,
)


def build_credentials(settings: Settings, http: httpx.AsyncClient, *,
                      on_exchange: Callable[[str], None] | None = None) -> Credentials:
    """The one configured credential. A key file is read again here (it was checked when the
    settings were loaded): KeyFileError if it has become unreadable since."""
    if settings.yandex_api_key is not None:
        return api_key_credentials(settings.yandex_api_key.get_secret_value())
    if settings.yandex_iam_token is not None:
        return iam_token_credentials(settings.yandex_iam_token.get_secret_value())
    assert settings.yandex_sa_key_file is not None  # Settings insists on exactly one
    key = ServiceAccountKey.load(settings.yandex_sa_key_file)
    return ServiceAccountCredentials(key, http, iam_url=settings.yandex_iam_url,
                                     on_exchange=on_exchange, on_token=add_secret)


def build_client(settings: Settings, http: httpx.AsyncClient,
                 credentials: Credentials) -> YandexArtClient:
    return YandexArtClient(
        http,
        credentials=credentials,
        model_uri=settings.model_uri,
        art_url=settings.yandex_art_url,
        operations_url=settings.yandex_operations_url,
    )


def build_provider(settings: Settings, http: httpx.AsyncClient,
                   credentials: Credentials) -> ImageProvider:
    """The async operations API, or the Images API for `aliceai-image-art…` models."""
    if not uses_images_api(settings.yandex_art_model):
        return OperationsProvider(build_client(settings, http, credentials))
    return ImagesProvider(ImagesApiClient(
        http, credentials=credentials, model_uri=settings.model_uri,
        images_url=settings.yandex_images_url,
        timeout=max(settings.yandex_request_timeout, 120.0),
    ))
