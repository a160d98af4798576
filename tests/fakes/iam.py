"""A local emulator of Yandex Cloud IAM's token exchange, served over real HTTP by aiohttp.

``POST /iam/v1/tokens {"jwt": "..."}`` answers ``{"iamToken", "expiresAt"}`` like the real
service, after checking the JWT the way the real one does: PS256, signed by a key this emulator
knows (header ``kid``), ``iss`` = that key's service account, ``aud`` = the tokens URL,
``exp - iat`` at most an hour, not expired. Choices of the emulator (its contract):

* Malformed body or JWT -> 400, code 3; unknown key, bad signature, wrong ``iss``/``aud``,
  expired or too long-lived JWT -> 401, code 16. Error bodies are the plain shape
  ``{"code", "message", "details"}``.
* Issued tokens are ``t1.`` + random, valid ``token_lifetime`` seconds; while valid they are
  in ``accept_into`` (give it ``YandexArtEmulator.iam_tokens``) and removed from it when they
  expire, so an expired token really gets a 401 there.
* ``fail_next(status, times=...)`` answers the next calls with an error; ``drop_next()`` closes
  the connection without an answer.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

TOKENS_PATH = "/iam/v1/tokens"
AUDIENCE = "https://iam.api.cloud.yandex.net/iam/v1/tokens"
KEY_FILE_HEADER = "PLEASE DO NOT REMOVE THIS LINE! Yandex.Cloud SA Key ID <{key_id}>\n"


@dataclass
class RegisteredKey:
    key_id: str
    service_account_id: str
    public_key: rsa.RSAPublicKey
    key_json: dict[str, str]
    revoked: bool = False


@dataclass
class IssuedToken:
    value: str
    key_id: str
    issued_at: float  # time.time()
    expires_at: float  # time.time()


@dataclass
class IamRequest:
    status: int
    claims: dict[str, Any] | None
    header: dict[str, Any] | None
    response: dict[str, Any]
    at: float  # time.monotonic()


class IamEmulator:
    def __init__(self, *, token_lifetime: float = 12 * 3600.0,
                 accept_into: set[str] | None = None, audience: str = AUDIENCE) -> None:
        self.token_lifetime = token_lifetime
        self.accept_into = accept_into
        self.audience = audience
        self.keys: dict[str, RegisteredKey] = {}
        self.issued: list[IssuedToken] = []
        self.requests: list[IamRequest] = []
        self.base_url = ""
        self._faults: list[tuple[int, str]] = []  # in order; status 0 = drop the connection
        self._expiries: list[asyncio.TimerHandle] = []
        self._runner: web.AppRunner | None = None

    @property
    def tokens_url(self) -> str:
        return self.base_url + TOKENS_PATH

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(TOKENS_PATH, self._on_tokens)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        for handle in self._expiries:
            handle.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------ keys

    def create_key(self, service_account_id: str | None = None) -> dict[str, str]:
        """A new authorized key, registered here; returns its key.json content."""
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_id = "aje" + secrets.token_hex(8)
        account = service_account_id or "ajs" + secrets.token_hex(8)
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")
        public_pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo,
        ).decode("ascii")
        key_json = {
            "id": key_id,
            "service_account_id": account,
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "key_algorithm": "RSA_2048",
            "public_key": public_pem,
            "private_key": KEY_FILE_HEADER.format(key_id=key_id) + pem,
        }
        self.keys[key_id] = RegisteredKey(key_id, account, private.public_key(), key_json)
        return key_json

    def write_key(self, path: Path, service_account_id: str | None = None) -> dict[str, str]:
        key_json = self.create_key(service_account_id)
        path.write_text(json.dumps(key_json, indent=2), encoding="utf-8")
        return key_json

    def revoke(self, key_id: str) -> None:
        self.keys[key_id].revoked = True

    def fail_next(self, status: int = 503, message: str = "Service unavailable",
                  times: int = 1) -> None:
        self._faults.extend([(status, message)] * times)

    def drop_next(self, times: int = 1) -> None:
        self._faults.extend([(0, "")] * times)

    @property
    def ok_requests(self) -> list[IamRequest]:
        return [r for r in self.requests if r.status == 200]

    # ------------------------------------------------------------ HTTP

    async def _on_tokens(self, request: web.Request) -> web.StreamResponse:
        at = time.monotonic()
        raw = await request.read()
        claims: dict[str, Any] | None = None
        header: dict[str, Any] | None = None
        if self._faults and self._faults[0][0] == 0:
            self._faults.pop(0)
            if request.transport is not None:
                request.transport.close()
            self.requests.append(IamRequest(0, None, None, {}, at))
            return web.Response(status=204)
        if self._faults:
            status, message = self._faults.pop(0)
            body = _error(14 if status >= 500 else 3, message)
        else:
            try:
                header, claims = self._verify(raw)
                status, body = 200, self._issue(header["kid"])
            except _Refusal as refusal:
                status, body = refusal.status, refusal.body
        self.requests.append(IamRequest(status, claims, header, body, at))
        return web.json_response(body, status=status)

    def _verify(self, raw: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            data = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise _Refusal(400, 3, "Error in parsing request") from None
        token = data.get("jwt") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise _Refusal(400, 3, "jwt is required")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise _Refusal(400, 3, "Invalid JWT: malformed") from None
        if header.get("alg") != "PS256":
            raise _Refusal(401, 16, f"Invalid JWT: unsupported algorithm {header.get('alg')}")
        key = self.keys.get(str(header.get("kid")))
        if key is None or key.revoked:
            raise _Refusal(401, 16, "Invalid JWT: unknown key id")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key.public_key, algorithms=["PS256"], audience=self.audience,
                issuer=key.service_account_id, options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except jwt.InvalidTokenError as error:
            raise _Refusal(401, 16, f"Invalid JWT: {error}") from None
        if int(claims["exp"]) - int(claims["iat"]) > 3600:
            raise _Refusal(401, 16, "Invalid JWT: lifetime exceeds 1 hour")
        return header, claims

    def _issue(self, key_id: str) -> dict[str, Any]:
        now = time.time()
        value = "t1." + secrets.token_urlsafe(32)
        token = IssuedToken(value, key_id, now, now + self.token_lifetime)
        self.issued.append(token)
        if self.accept_into is not None:
            self.accept_into.add(value)
            loop = asyncio.get_running_loop()
            self._expiries.append(
                loop.call_later(self.token_lifetime, self.accept_into.discard, value))
        moment = datetime.fromtimestamp(token.expires_at, UTC)
        # The real service writes nanoseconds.
        expires = moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"
        return {"iamToken": value, "expiresAt": expires}


class _Refusal(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = _error(code, message)


def _error(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "details": []}
