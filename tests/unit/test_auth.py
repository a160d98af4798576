"""bot.yandexart.auth: key files, the JWT, and IAM tokens cached and refreshed
(against httpx.MockTransport)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bot.yandexart.auth import (
    JWT_AUDIENCE,
    KeyFileError,
    ServiceAccountCredentials,
    ServiceAccountKey,
    StaticCredentials,
    api_key_credentials,
    iam_token_credentials,
)
from bot.yandexart.client import GenerationRequest, YandexArtClient
from bot.yandexart.errors import AuthError, TransientError
from tests.fakes.iam import IamEmulator

IAM_URL = "https://iam.test/iam/v1/tokens"


@pytest.fixture(scope="module")
def key_json() -> dict[str, str]:
    return IamEmulator().create_key("ajsaccount")


@pytest.fixture(scope="module")
def key(key_json: dict[str, str]) -> ServiceAccountKey:
    return ServiceAccountKey.parse(json.dumps(key_json))


def iso_in(seconds: float) -> str:
    moment = datetime.fromtimestamp(datetime.now(UTC).timestamp() + seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "001Z"


class FakeIam:
    """Answers the token exchange from a script of (status, lifetime) steps; then 200s."""

    def __init__(self, *steps: tuple[int, float]) -> None:
        self.steps = list(steps)
        self.count = 0
        self.jwts: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        self.jwts.append(json.loads(request.content)["jwt"])
        status, lifetime = self.steps.pop(0) if self.steps else (200, 3600.0)
        if status == 0:
            raise httpx.ConnectError("refused", request=request)
        if status != 200:
            return httpx.Response(status, json={"code": 16, "message": "no", "details": []})
        return httpx.Response(200, json={"iamToken": f"t1.token-{self.count}",
                                         "expiresAt": iso_in(lifetime)})


def credentials(key: ServiceAccountKey, handler: Callable[[httpx.Request], httpx.Response], *,
                refresh_every: float = 3600.0, attempts: int = 4,
                ) -> tuple[ServiceAccountCredentials, httpx.AsyncClient]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    provider = ServiceAccountCredentials(key, http, iam_url=IAM_URL, backoff=0.01,
                                         refresh_every=refresh_every, attempts=attempts)
    return provider, http


# ------------------------------------------------------------------ the key file and the JWT


def test_key_file_with_the_cli_header_line(key_json: dict[str, str], tmp_path: Path) -> None:
    assert key_json["private_key"].startswith("PLEASE DO NOT REMOVE THIS LINE!")
    path = tmp_path / "key.json"
    path.write_text(json.dumps(key_json))
    loaded = ServiceAccountKey.load(path)
    assert loaded.key_id == key_json["id"]
    assert loaded.service_account_id == "ajsaccount"


def test_jwt_is_ps256_with_kid_iss_aud_and_one_hour(
    key: ServiceAccountKey, key_json: dict[str, str]
) -> None:
    token = key.jwt(now=1_700_000_000)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "PS256" and header["kid"] == key_json["id"]
    public = serialization.load_pem_public_key(key_json["public_key"].encode())
    claims = jwt.decode(token, public, algorithms=["PS256"],  # type: ignore[arg-type]
                        audience=JWT_AUDIENCE, options={"verify_exp": False})
    assert claims == {"iss": "ajsaccount", "aud": "https://iam.api.cloud.yandex.net/iam/v1/tokens",
                      "iat": 1_700_000_000, "exp": 1_700_003_600}


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ("", "is not JSON"),
        ("[]", "is not a JSON object"),
        ('{"id": "a", "service_account_id": "b"}', "lacks private_key"),
        ('{"id": " ", "service_account_id": "b", "private_key": "x"}', "lacks id"),
        ('{"id": "a", "service_account_id": "b", "private_key": "-----BEGIN SECRET"}',
         "not a PEM private key"),
    ],
)
def test_bad_key_files(raw: str, needle: str) -> None:
    with pytest.raises(KeyFileError) as caught:
        ServiceAccountKey.parse(raw)
    assert needle in str(caught.value)
    assert "SECRET" not in str(caught.value)


def test_a_non_rsa_key_is_refused() -> None:
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    raw = json.dumps({"id": "a", "service_account_id": "b", "private_key": pem})
    with pytest.raises(KeyFileError, match="not an RSA key"):
        ServiceAccountKey.parse(raw)


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="no such file"):
        ServiceAccountKey.load(tmp_path / "absent.json")


# ------------------------------------------------------------------ static credentials


async def test_static_credentials() -> None:
    key = api_key_credentials("AQVN-key")
    assert await key.authorization() == "Api-Key AQVN-key"
    assert key.setting == "YANDEX_API_KEY"
    assert not await key.rejected("Api-Key AQVN-key")
    token = iam_token_credentials("t1.token")
    assert await token.authorization() == "Bearer t1.token"
    assert token.setting == "YANDEX_IAM_TOKEN"


# ------------------------------------------------------------------ IAM tokens


async def test_token_is_cached_and_exchanged_once_for_concurrent_callers(
    key: ServiceAccountKey
) -> None:
    iam = FakeIam()
    seen: list[str] = []
    provider, http = credentials(key, iam)
    provider._on_token = seen.append
    async with http:
        headers = await asyncio.gather(*(provider.authorization() for _ in range(10)))
        assert set(headers) == {"Bearer t1.token-1"}
        assert await provider.authorization() == "Bearer t1.token-1"
    assert iam.count == 1
    assert seen == ["t1.token-1"]
    claims = jwt.decode(iam.jwts[0], options={"verify_signature": False})
    assert claims["iss"] == "ajsaccount"


async def test_refreshed_at_half_its_life(key: ServiceAccountKey) -> None:
    iam = FakeIam((200, 1.0), (200, 3600))
    provider, http = credentials(key, iam)
    async with http:
        assert await provider.authorization() == "Bearer t1.token-1"
        await asyncio.sleep(0.6)  # past half of 1 s, not yet expired
        assert await provider.authorization() == "Bearer t1.token-2"
        assert await provider.authorization() == "Bearer t1.token-2"
    assert iam.count == 2


async def test_refreshed_at_least_hourly(key: ServiceAccountKey) -> None:
    iam = FakeIam((200, 12 * 3600), (200, 12 * 3600))
    provider, http = credentials(key, iam, refresh_every=0.2)
    async with http:
        assert await provider.authorization() == "Bearer t1.token-1"
        await asyncio.sleep(0.25)
        assert await provider.authorization() == "Bearer t1.token-2"


async def test_exchange_retries_server_errors_and_connection_failures(
    key: ServiceAccountKey
) -> None:
    iam = FakeIam((503, 0), (0, 0), (429, 0))
    outcomes: list[str] = []
    provider, http = credentials(key, iam)
    provider._on_exchange = outcomes.append
    async with http:
        assert await provider.authorization() == "Bearer t1.token-4"
    assert outcomes == ["error", "error", "error", "ok"]


async def test_exchange_gives_up_after_its_attempts(key: ServiceAccountKey) -> None:
    iam = FakeIam(*[(500, 0)] * 10)
    provider, http = credentials(key, iam, attempts=3)
    async with http:
        with pytest.raises(TransientError, match="HTTP 500"):
            await provider.authorization()
    assert iam.count == 3


async def test_a_rejected_key_is_an_auth_error_naming_the_setting(
    key: ServiceAccountKey
) -> None:
    iam = FakeIam((401, 0))
    provider, http = credentials(key, iam)
    async with http:
        with pytest.raises(AuthError) as caught:
            await provider.authorization()
    assert caught.value.setting_hint.startswith("YANDEX_SA_KEY_FILE")
    assert iam.count == 1  # not retried


async def test_a_valid_token_is_kept_while_iam_is_down(key: ServiceAccountKey) -> None:
    iam = FakeIam((200, 2.0), *[(503, 0)] * 10)
    provider, http = credentials(key, iam)
    async with http:
        assert await provider.authorization() == "Bearer t1.token-1"
        await asyncio.sleep(1.1)  # due for a refresh, still valid
        assert await provider.authorization() == "Bearer t1.token-1"
        assert iam.count == 2  # one quick attempt, no waiting
        assert await provider.authorization() == "Bearer t1.token-1"
        assert iam.count == 2  # and not one per call


async def test_rejected_forces_one_refresh(key: ServiceAccountKey) -> None:
    iam = FakeIam()
    provider, http = credentials(key, iam)
    async with http:
        first = await provider.authorization()
        assert await provider.rejected(first)
        second = await provider.authorization()
        assert second == "Bearer t1.token-2"
        # A caller still holding the old header retries with the new one: no new exchange.
        assert await provider.rejected(first)
        assert await provider.authorization() == second
    assert iam.count == 2


# ------------------------------------------------------------------ the client on a 401


async def test_client_repeats_a_request_once_with_a_fresh_token() -> None:
    class Rotating:
        setting = "YANDEX_SA_KEY_FILE"

        def __init__(self) -> None:
            self.token = "old"

        async def authorization(self) -> str:
            return f"Bearer {self.token}"

        async def rejected(self, authorization: str) -> bool:
            self.token = "new"
            return True

    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        if request.headers["Authorization"] != "Bearer new":
            return httpx.Response(401, json={"code": 16, "message": "The token is invalid"})
        return httpx.Response(200, json={"id": "op1", "done": False})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = YandexArtClient(http, credentials=Rotating(), model_uri="art://f/yandex-art",
                                 art_url="https://art.test", operations_url="https://art.test")
        assert await client.submit(GenerationRequest(prompt="cat")) == "op1"
        assert seen == ["Bearer old", "Bearer new"]


async def test_client_does_not_repeat_with_a_static_credential() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(401, json={"code": 16, "message": "Unknown api key"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = YandexArtClient(
            http, credentials=StaticCredentials("Api-Key k", "YANDEX_API_KEY"),
            model_uri="art://f/yandex-art", art_url="https://a.test", operations_url="https://a.test")
        with pytest.raises(AuthError) as caught:
            await client.poll("op1")
    assert calls == 1
    assert caught.value.setting_hint.startswith("YANDEX_API_KEY")
