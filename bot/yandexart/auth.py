"""Credentials for YandexArt: a static API key or IAM token, or a service-account key that is
exchanged for IAM tokens (cached, refreshed well before they expire, with retries).

The client asks `Credentials.authorization()` for the `Authorization` header before every
request, and calls `Credentials.rejected(header)` when the server answers 401 to it: a provider
that can get a fresh token does so (once per rejected token) and says the request is worth
repeating.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from bot.yandexart.errors import AuthError, TransientError

log = logging.getLogger(__name__)

IAM_TOKENS_URL = "https://iam.api.cloud.yandex.net/iam/v1/tokens"
#: The JWT audience Yandex IAM expects, whatever URL the exchange is sent to.
JWT_AUDIENCE = IAM_TOKENS_URL
JWT_LIFETIME_SECONDS = 3600  # the most Yandex accepts (exp - iat <= 3600)
#: Refresh an IAM token at least this often (they live up to 12 h; Yandex says "about hourly")...
REFRESH_EVERY_SECONDS = 3600.0
#: ...and in any case once half of its lifetime has passed.
REFRESH_AT_FRACTION = 0.5
EXCHANGE_ATTEMPTS = 4
EXCHANGE_BACKOFF_SECONDS = 0.5


class Credentials(Protocol):
    """Where the `Authorization` header comes from."""

    @property
    def setting(self) -> str:
        """The configuration variable an operator changes when this credential is rejected."""

    async def authorization(self) -> str:
        """The header value: `Api-Key …` or `Bearer …`. May raise AuthError/TransientError."""

    async def rejected(self, authorization: str) -> bool:
        """The server answered 401 to `authorization`. True if a fresh header is now ready
        (so repeating the request once makes sense)."""


@dataclass(frozen=True, slots=True)
class StaticCredentials:
    """An API key or an IAM token from the configuration: nothing to refresh."""

    header: str
    setting: str

    async def authorization(self) -> str:
        return self.header

    async def rejected(self, authorization: str) -> bool:
        return False


def api_key_credentials(api_key: str) -> StaticCredentials:
    return StaticCredentials(f"Api-Key {api_key}", "YANDEX_API_KEY")


def iam_token_credentials(iam_token: str) -> StaticCredentials:
    return StaticCredentials(f"Bearer {iam_token}", "YANDEX_IAM_TOKEN")


class KeyFileError(ValueError):
    """The authorized key file cannot be used; the message names no secret."""


@dataclass(frozen=True, slots=True)
class ServiceAccountKey:
    """An authorized key as `yc iam key create --output key.json` writes it."""

    key_id: str
    service_account_id: str
    private_key: RSAPrivateKey
    private_key_pem: str

    @classmethod
    def load(cls, path: Path) -> ServiceAccountKey:
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise KeyFileError(f"cannot read {path}: no such file") from None
        except IsADirectoryError:
            raise KeyFileError(f"cannot read {path}: it is a directory") from None
        except PermissionError:
            raise KeyFileError(f"cannot read {path}: permission denied") from None
        except (OSError, UnicodeDecodeError) as error:
            raise KeyFileError(f"cannot read {path}: {type(error).__name__}") from None
        return cls.parse(raw, str(path))

    @classmethod
    def parse(cls, raw: str, source: str = "the key file") -> ServiceAccountKey:
        try:
            data = json.loads(raw)
        except ValueError:
            raise KeyFileError(f"{source} is not JSON (expected the key.json of "
                               "`yc iam key create`)") from None
        if not isinstance(data, dict):
            raise KeyFileError(f"{source} is not a JSON object")
        missing = [name for name in ("id", "service_account_id", "private_key")
                   if not isinstance(data.get(name), str) or not data[name].strip()]
        if missing:
            raise KeyFileError(f"{source} lacks {', '.join(missing)} (expected the key.json "
                               "of `yc iam key create`)")
        pem = _pem_of(data["private_key"])
        try:
            key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
        except (ValueError, TypeError, UnicodeEncodeError):
            raise KeyFileError(f"{source}: private_key is not a PEM private key") from None
        if not isinstance(key, RSAPrivateKey):
            raise KeyFileError(f"{source}: private_key is not an RSA key")
        return cls(data["id"].strip(), data["service_account_id"].strip(), key, pem)

    def jwt(self, now: float | None = None, audience: str = JWT_AUDIENCE) -> str:
        """A PS256 JWT to exchange for an IAM token."""
        issued = int(time.time() if now is None else now)
        payload = {"iss": self.service_account_id, "aud": audience, "iat": issued,
                   "exp": issued + JWT_LIFETIME_SECONDS}
        return jwt.encode(payload, self.private_key, algorithm="PS256",
                          headers={"kid": self.key_id})


def _pem_of(private_key: str) -> str:
    # The CLI puts "PLEASE DO NOT REMOVE THIS LINE! Yandex.Cloud SA Key ID <id>" before the PEM.
    start = private_key.find("-----BEGIN")
    return private_key[start:] if start >= 0 else private_key


@dataclass(slots=True)
class _Token:
    value: str
    obtained_at: float  # time.monotonic()
    refresh_at: float  # time.monotonic()
    expires_at: float  # time.monotonic()


class ServiceAccountCredentials:
    """IAM tokens from a service-account key: one exchange at a time, the token cached and
    refreshed well before it expires. If IAM is unreachable while the current token is still
    valid, the current one keeps being used (and the refresh is retried on later calls)."""

    setting = "YANDEX_SA_KEY_FILE"

    def __init__(
        self,
        key: ServiceAccountKey,
        http: httpx.AsyncClient,
        *,
        iam_url: str = IAM_TOKENS_URL,
        refresh_every: float = REFRESH_EVERY_SECONDS,
        attempts: int = EXCHANGE_ATTEMPTS,
        backoff: float = EXCHANGE_BACKOFF_SECONDS,
        on_exchange: Callable[[str], None] | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> None:
        self.key = key
        self._http = http
        self._iam_url = iam_url
        self._refresh_every = refresh_every
        self._attempts = attempts
        self._backoff = backoff
        self._on_exchange = on_exchange
        self._on_token = on_token
        self._token: _Token | None = None
        self._lock = asyncio.Lock()
        self._retry_after = 0.0  # monotonic; no background refresh attempt before it
        self.exchanges = 0

    async def authorization(self) -> str:
        token = self._token
        if token is None or time.monotonic() >= token.refresh_at:
            token = await self._refresh(force=False, stale=token)
        return f"Bearer {token.value}"

    async def rejected(self, authorization: str) -> bool:
        token = self._token
        if token is None or authorization != f"Bearer {token.value}":
            return token is not None  # someone refreshed meanwhile: retry with the new one
        log.warning("YandexArt rejected the IAM token; getting a new one")
        await self._refresh(force=True, stale=token)
        return True

    async def _refresh(self, *, force: bool, stale: _Token | None) -> _Token:
        async with self._lock:
            current = self._token
            now = time.monotonic()
            if current is not None and current is not stale and now < current.refresh_at:
                return current  # another caller refreshed while this one waited
            still_valid = current is not None and not force and now < current.expires_at - min(
                30.0, (current.expires_at - current.obtained_at) * 0.1)
            if still_valid and now < self._retry_after:
                assert current is not None
                return current
            try:
                # A valid token in hand: one quick attempt, no waiting for IAM to recover.
                fresh = await self._exchange(attempts=1 if still_valid else self._attempts)
            except (TransientError, AuthError) as error:
                if still_valid:
                    assert current is not None
                    self._retry_after = now + 30
                    log.warning("IAM token refresh failed (%s); the current token is valid "
                                "for %.0f s more", error, current.expires_at - now)
                    return current
                raise
            self._token = fresh
            self._retry_after = 0.0
            return fresh

    async def _exchange(self, *, attempts: int) -> _Token:
        for attempt in range(1, attempts + 1):
            try:
                token = await self._exchange_once()
            except TransientError as error:
                self._count("error")
                if attempt == attempts:
                    raise
                delay = random.uniform(0.5, 1.0) * self._backoff * 2 ** (attempt - 1)
                log.info("IAM token exchange failed (%s); retrying in %.1f s", error, delay)
                await asyncio.sleep(delay)
                continue
            except AuthError:
                self._count("rejected")
                raise
            self._count("ok")
            return token
        raise AssertionError("unreachable")

    def _count(self, outcome: str) -> None:
        if self._on_exchange is not None:
            self._on_exchange(outcome)

    async def _exchange_once(self) -> _Token:
        self.exchanges += 1
        started = time.monotonic()
        try:
            response = await self._http.post(self._iam_url, json={"jwt": self.key.jwt()})
        except httpx.TransportError as error:
            raise TransientError(
                f"IAM token exchange: no answer from YANDEX_IAM_URL ({type(error).__name__})"
            ) from None
        if response.status_code in (429,) or response.status_code >= 500:
            raise TransientError(f"IAM token exchange: HTTP {response.status_code}",
                                 status=response.status_code)
        if response.status_code != 200:
            message = _error_message(response)
            raise AuthError(
                f"IAM token exchange: HTTP {response.status_code}: {message}",
                status=response.status_code,
                setting_hint="YANDEX_SA_KEY_FILE (the key may be deleted, or the service "
                "account removed)",
            )
        data = _object(response)
        value = data.get("iamToken")
        if not isinstance(value, str) or not value:
            raise TransientError("IAM token exchange: answer without iamToken")
        if self._on_token is not None:
            self._on_token(value)  # e.g. for log redaction
        lifetime = _lifetime(data.get("expiresAt"))
        refresh_in = min(self._refresh_every, lifetime * REFRESH_AT_FRACTION)
        log.info("got an IAM token for service account %s (valid %.0f s, refreshing in %.0f s)",
                 self.key.service_account_id, lifetime, refresh_in)
        return _Token(value, started, started + refresh_in, started + lifetime)


def _lifetime(expires_at: Any) -> float:
    """Seconds until `expiresAt` (RFC 3339) by the local clock; 11 h if it is absent. A token
    that looks expired on arrival means the local clock is wrong: assume an hour rather than
    refreshing on every call."""
    default = 11 * 3600.0
    if not isinstance(expires_at, str):
        return default
    try:
        moment = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    except ValueError:
        return default
    if moment.tzinfo is None:
        return default
    seconds = moment.timestamp() - time.time()
    if seconds <= 0:
        log.warning("IAM token expiresAt %s is already past by the local clock: is the clock "
                    "right? Assuming it lasts an hour", expires_at)
        return 3600.0
    return seconds


def _object(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        raise TransientError("IAM token exchange: answer is not JSON") from None
    if not isinstance(data, dict):
        raise TransientError("IAM token exchange: answer is not a JSON object")
    return data


def _error_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])[:200]
    return str(data)[:200]
