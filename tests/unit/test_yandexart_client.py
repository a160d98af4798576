"""bot.yandexart.client against httpx.MockTransport: request shape and error mapping."""

from __future__ import annotations

import base64
import gc
import json
import uuid
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest

from bot.yandexart.auth import StaticCredentials, api_key_credentials, iam_token_credentials
from bot.yandexart.client import (
    GenerationRequest,
    YandexArtClient,
    parse_error_body,
)
from bot.yandexart.errors import (
    AuthError,
    ContentRefused,
    InvalidRequest,
    ModelDenied,
    OperationFailed,
    OperationNotFound,
    QuotaExceeded,
    TransientError,
    YandexArtError,
)

API_KEY = "AQVN-super-secret-api-key-0123456789"
IAM_TOKEN = "t1.super-secret-iam-token-0123456789"
MODEL_URI = "art://b1gfolder/yandex-art/latest"
ART_URL = "https://art.test"
OPS_URL = "https://ops.test/"
SUBMIT_URL = "https://art.test/foundationModels/v1/imageGenerationAsync"
REFUSAL = ("it is not possible to generate an image from this request because it may violate "
           "the terms of use")

Handler = Callable[[httpx.Request], httpx.Response]


@asynccontextmanager
async def art_client(
    handler: Handler,
    *,
    api_key: str | None = API_KEY,
    iam_token: str | None = None,
    credential_setting: str = "YANDEX_API_KEY",
) -> AsyncIterator[YandexArtClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        yield YandexArtClient(
            http,
            credentials=StaticCredentials(
                f"Api-Key {api_key}" if api_key else f"Bearer {iam_token}", credential_setting),
            model_uri=MODEL_URI,
            art_url=ART_URL,
            operations_url=OPS_URL,
        )


class Recorder:
    """A handler that records requests and answers with a fixed response."""

    def __init__(self, status: int = 200, body: Any = None, *, text: str | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.status = status
        self.body = body if body is not None else {"id": "op-1", "done": False}
        self.text = text

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.text is not None:
            return httpx.Response(self.status, text=self.text)
        return httpx.Response(self.status, json=self.body)

    def body_of(self, index: int = 0) -> dict[str, Any]:
        data = json.loads(self.requests[index].content)
        assert isinstance(data, dict)
        return data


def assert_no_secret(error: BaseException) -> None:
    for secret in (API_KEY, IAM_TOKEN):
        assert secret not in str(error)
        assert secret not in repr(error)
        assert secret not in repr(error.args)
        if isinstance(error, YandexArtError):
            assert secret not in error.message
        hint = getattr(error, "setting_hint", None)
        if hint is not None:
            assert secret not in hint


# --- the request -----------------------------------------------------------------------------


async def test_submit_body_shape_minimal() -> None:
    recorder = Recorder(body={"id": "fbveu1sntj0000000000", "done": False})
    async with art_client(recorder) as client:
        operation_id = await client.submit(GenerationRequest(prompt="a red cat"))
    assert operation_id == "fbveu1sntj0000000000"
    assert len(recorder.requests) == 1
    request = recorder.requests[0]
    assert request.method == "POST"
    assert str(request.url) == SUBMIT_URL
    assert recorder.body_of() == {
        "modelUri": MODEL_URI,
        "messages": [{"text": "a red cat", "weight": 1}],
        "generationOptions": {"mimeType": "image/jpeg"},
    }


async def test_submit_body_with_seed_and_aspect() -> None:
    recorder = Recorder()
    seed = 2**63 - 1
    async with art_client(recorder) as client:
        await client.submit(GenerationRequest(prompt="a fox", seed=seed, aspect=(16, 9)))
    options = recorder.body_of()["generationOptions"]
    assert options["mimeType"] == "image/jpeg"
    assert int(options["seed"]) == seed  # exact, even beyond 2**53
    assert set(options["aspectRatio"]) == {"widthRatio", "heightRatio"}
    assert int(options["aspectRatio"]["widthRatio"]) == 16
    assert int(options["aspectRatio"]["heightRatio"]) == 9
    assert set(options) == {"mimeType", "seed", "aspectRatio"}


async def test_seed_zero_is_sent() -> None:
    recorder = Recorder()
    async with art_client(recorder) as client:
        await client.submit(GenerationRequest(prompt="a fox", seed=0))
    assert int(recorder.body_of()["generationOptions"]["seed"]) == 0


async def test_api_key_header_and_client_request_id() -> None:
    recorder = Recorder()
    async with art_client(recorder) as client:
        await client.submit(GenerationRequest(prompt="a"))
        await client.submit(GenerationRequest(prompt="b"))
    first, second = recorder.requests
    assert first.headers["Authorization"] == f"Api-Key {API_KEY}"
    ids = [request.headers["x-client-request-id"] for request in recorder.requests]
    assert all(uuid.UUID(value) for value in ids)
    assert ids[0] != ids[1]
    assert second.headers["content-type"] == "application/json"


async def test_bearer_header_for_iam_token() -> None:
    recorder = Recorder()
    async with art_client(recorder, api_key=None, iam_token=IAM_TOKEN) as client:
        await client.submit(GenerationRequest(prompt="a"))
    assert recorder.requests[0].headers["Authorization"] == f"Bearer {IAM_TOKEN}"


async def test_static_credentials_headers() -> None:
    assert await api_key_credentials("k").authorization() == "Api-Key k"
    assert api_key_credentials("k").setting == "YANDEX_API_KEY"
    assert await iam_token_credentials("t").authorization() == "Bearer t"
    assert iam_token_credentials("t").setting == "YANDEX_IAM_TOKEN"


async def test_poll_request() -> None:
    recorder = Recorder(body={"id": "op-7", "done": False})
    async with art_client(recorder) as client:
        assert await client.poll("op-7") is None
    request = recorder.requests[0]
    assert request.method == "GET"
    assert str(request.url) == "https://ops.test/operations/op-7"
    assert request.headers["Authorization"] == f"Api-Key {API_KEY}"


@pytest.mark.parametrize("body", [{"done": False}, {"id": ""}, {"id": 5}])
async def test_submit_answer_without_operation_id(body: dict[str, Any]) -> None:
    async with art_client(Recorder(body=body)) as client:
        with pytest.raises(TransientError) as caught:
            await client.submit(GenerationRequest(prompt="a"))
    assert caught.value.maybe_accepted is True


async def test_submit_answer_not_json() -> None:
    async with art_client(Recorder(text="<html>oops</html>")) as client:
        with pytest.raises(TransientError):
            await client.submit(GenerationRequest(prompt="a"))


# --- error mapping ---------------------------------------------------------------------------


def flat(code: int, message: str) -> dict[str, Any]:
    return {"error": message, "code": code, "message": message, "details": []}


def nested(code: int, http: int, message: str) -> dict[str, Any]:
    return {"error": {"grpcCode": code, "httpCode": http, "message": message,
                      "httpStatus": "x", "details": []}}


def plain(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "details": []}


def shapes(code: int, http: int, message: str) -> list[dict[str, Any]]:
    return [flat(code, message), nested(code, http, message), plain(code, message)]


SUBMIT_ERRORS: list[tuple[int, dict[str, Any], type[YandexArtError]]] = [
    *((400, body, ContentRefused) for body in shapes(3, 400, REFUSAL)),
    *((400, body, ContentRefused) for body in shapes(3, 400, "May VIOLATE The Terms Of Use.")),
    *((400, body, InvalidRequest) for body in shapes(3, 400, "invalid model uri")),
    *((401, body, AuthError) for body in shapes(16, 401, "Unknown api key")),
    *((403, body, ModelDenied)
      for body in shapes(7, 403, f"Access to model {MODEL_URI} denied")),
    *((403, body, AuthError) for body in shapes(7, 403, "Permission denied")),
    *((404, body, InvalidRequest) for body in shapes(5, 404, "Not found")),
    *((429, body, QuotaExceeded)
      for body in shapes(8, 429, "ai.imageGenerationRequests.rate rate quota limit exceed")),
    *((500, body, TransientError) for body in shapes(13, 500, "Internal")),
    *((503, body, TransientError) for body in shapes(14, 503, "Unavailable")),
    *((504, body, TransientError) for body in shapes(4, 504, "Deadline exceeded")),
]


@pytest.mark.parametrize(("status", "body", "expected"), SUBMIT_ERRORS)
async def test_submit_error_mapping(
    status: int, body: dict[str, Any], expected: type[YandexArtError]
) -> None:
    async with art_client(Recorder(status, body)) as client:
        with pytest.raises(YandexArtError) as caught:
            await client.submit(GenerationRequest(prompt="a"))
    error = caught.value
    assert type(error) is expected
    assert error.status == status
    assert isinstance(error.grpc_code, int)
    assert_no_secret(error)
    if isinstance(error, TransientError):
        assert error.maybe_accepted is False


@pytest.mark.parametrize(
    ("shape", "code", "message"),
    [
        (flat(3, "bad thing"), 3, "bad thing"),
        (nested(8, 429, "quota"), 8, "quota"),
        (plain(16, "Unknown api key"), 16, "Unknown api key"),
        ({"error": "only error"}, None, "only error"),
    ],
)
def test_parse_error_body_shapes(shape: dict[str, Any], code: int | None, message: str) -> None:
    response = httpx.Response(400, json=shape)
    assert parse_error_body(response) == (code, message)


def test_parse_error_body_not_json() -> None:
    assert parse_error_body(httpx.Response(502, text="Bad gateway")) == (None, "Bad gateway")
    assert parse_error_body(httpx.Response(502, text="")) == (None, "Bad Gateway")


async def test_error_message_carries_the_server_message() -> None:
    async with art_client(Recorder(400, nested(3, 400, "invalid model uri"))) as client:
        with pytest.raises(InvalidRequest) as caught:
            await client.submit(GenerationRequest(prompt="a"))
    assert "invalid model uri" in str(caught.value)
    assert caught.value.grpc_code == 3
    assert caught.value.setting_hint is not None
    assert "YANDEX_ART_MODEL" in caught.value.setting_hint


@pytest.mark.parametrize("setting", ["YANDEX_API_KEY", "YANDEX_IAM_TOKEN"])
async def test_401_hint_names_the_credential(setting: str) -> None:
    async with art_client(Recorder(401, plain(16, "The apikey has expired")),
                          credential_setting=setting) as client:
        with pytest.raises(AuthError) as caught:
            await client.submit(GenerationRequest(prompt="a"))
    assert type(caught.value) is AuthError
    assert setting in caught.value.setting_hint
    assert_no_secret(caught.value)


async def test_403_model_denied_hint_names_the_model() -> None:
    body = nested(7, 403, f"Access to model {MODEL_URI} denied")
    async with art_client(Recorder(403, body)) as client:
        with pytest.raises(ModelDenied) as caught:
            await client.submit(GenerationRequest(prompt="a"))
    assert "YANDEX_ART_MODEL" in caught.value.setting_hint
    assert MODEL_URI in caught.value.setting_hint
    assert isinstance(caught.value, AuthError)


async def test_other_403_hint_names_the_role() -> None:
    async with art_client(Recorder(403, plain(7, "Permission denied"))) as client:
        with pytest.raises(AuthError) as caught:
            await client.submit(GenerationRequest(prompt="a"))
    assert not isinstance(caught.value, ModelDenied)
    assert "ai.imageGeneration.user" in caught.value.setting_hint


POLL_ERRORS: list[tuple[int, dict[str, Any], type[YandexArtError]]] = [
    *((404, body, OperationNotFound) for body in shapes(5, 404, "Operation not found")),
    *((401, body, AuthError) for body in shapes(16, 401, "Unknown api key")),
    *((429, body, QuotaExceeded) for body in shapes(8, 429, "quota limit exceed")),
    *((500, body, TransientError) for body in shapes(13, 500, "Internal")),
    *((503, body, TransientError) for body in shapes(14, 503, "Unavailable")),
    *((504, body, TransientError) for body in shapes(4, 504, "Deadline exceeded")),
]


@pytest.mark.parametrize(("status", "body", "expected"), POLL_ERRORS)
async def test_poll_error_mapping(
    status: int, body: dict[str, Any], expected: type[YandexArtError]
) -> None:
    async with art_client(Recorder(status, body)) as client:
        with pytest.raises(YandexArtError) as caught:
            await client.poll("op-1")
    assert type(caught.value) is expected
    assert caught.value.status == status
    assert_no_secret(caught.value)
    if isinstance(caught.value, TransientError):
        assert caught.value.maybe_accepted is False


async def test_5xx_with_html_body_is_transient() -> None:
    async with art_client(Recorder(502, text="<html>Bad Gateway</html>")) as client:
        with pytest.raises(TransientError) as caught:
            await client.submit(GenerationRequest(prompt="a"))
    assert caught.value.maybe_accepted is False
    assert caught.value.status == 502


# --- transport errors ------------------------------------------------------------------------


def raising(exception: type[httpx.TransportError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exception(f"failed with {API_KEY}", request=request)

    return handler


@pytest.mark.parametrize(
    ("exception", "maybe_accepted"),
    [
        (httpx.ConnectError, False),
        (httpx.ConnectTimeout, False),
        (httpx.PoolTimeout, False),
        (httpx.ReadTimeout, True),
        (httpx.WriteTimeout, True),
        (httpx.RemoteProtocolError, True),
        (httpx.ReadError, True),
    ],
)
async def test_submit_transport_errors(
    exception: type[httpx.TransportError], maybe_accepted: bool
) -> None:
    async with art_client(raising(exception)) as client:
        with pytest.raises(TransientError) as caught:
            await client.submit(GenerationRequest(prompt="a"))
    assert caught.value.maybe_accepted is maybe_accepted
    assert caught.value.status is None
    assert_no_secret(caught.value)


@pytest.mark.parametrize("exception", [httpx.ConnectError, httpx.ReadTimeout,
                                       httpx.RemoteProtocolError])
async def test_poll_transport_errors(exception: type[httpx.TransportError]) -> None:
    async with art_client(raising(exception)) as client:
        with pytest.raises(TransientError) as caught:
            await client.poll("op-1")
    assert_no_secret(caught.value)


# --- poll results ----------------------------------------------------------------------------

IMAGE = b"\xff\xd8\xff\xe0 a tiny jpeg \x00\x01\xff\xd9"
RESPONSE_TYPE = ("type.googleapis.com/yandex.cloud.ai.foundation_models.v1.image_generation."
                 "ImageGenerationResponse")


def done(image: Any) -> dict[str, Any]:
    return {"id": "op-1", "done": True,
            "response": {"@type": RESPONSE_TYPE, "image": image, "modelVersion": ""}}


@pytest.mark.parametrize(
    "body",
    [
        {"id": "op-1", "description": "", "createdAt": None, "done": False, "metadata": None},
        {"id": "op-1"},
    ],
)
async def test_poll_pending(body: dict[str, Any]) -> None:
    async with art_client(Recorder(body=body)) as client:
        assert await client.poll("op-1") is None


async def test_poll_done_decodes_image() -> None:
    body = done(base64.b64encode(IMAGE).decode())
    async with art_client(Recorder(body=body)) as client:
        assert await client.poll("op-1") == IMAGE


BIG_IMAGE = bytes(range(256)) * 4096  # 1 MB: base64 with "/" and "+" in it


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(done(base64.b64encode(BIG_IMAGE).decode())),  # "key": "value" (aiohttp's)
        json.dumps(done(base64.b64encode(BIG_IMAGE).decode()), separators=(",", ":")),
        json.dumps(done(base64.b64encode(BIG_IMAGE).decode()), indent=2),
        # "/" escaped as "\/", which JSON allows: not base64 as it stands
        json.dumps(done(base64.b64encode(BIG_IMAGE).decode())).replace("/", "\\/"),
        # another "image" first: a value, then a key of another object
        json.dumps({"metadata": {"kind": "image", "image": "not this one"},
                    **done(base64.b64encode(BIG_IMAGE).decode())}),
    ],
    ids=["blanks", "compact", "indented", "escaped", "other-image-first"],
)
async def test_poll_done_decodes_a_large_image_whatever_the_json_layout(text: str) -> None:
    async with art_client(Recorder(text=text)) as client:
        assert await client.poll("op-1") == BIG_IMAGE


async def test_poll_done_parses_no_json_the_size_of_the_image(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parsed: list[int] = []
    loads = orjson.loads

    def measured(content: bytes | str) -> Any:
        parsed.append(len(content))
        return loads(content)

    monkeypatch.setattr(orjson, "loads", measured)
    body = done(base64.b64encode(BIG_IMAGE).decode())
    async with art_client(Recorder(body=body)) as client:
        assert await client.poll("op-1") == BIG_IMAGE
    assert parsed and max(parsed) < 1000  # the base64 text went to the decoder as bytes


@pytest.mark.parametrize("is_done", [True, False])
async def test_poll_error_is_final(is_done: bool) -> None:
    body = {"id": "op-1", "done": is_done,
            "error": {"code": 13, "message": "generation crashed", "details": []}}
    async with art_client(Recorder(body=body)) as client:
        with pytest.raises(OperationFailed) as caught:
            await client.poll("op-1")
    assert caught.value.grpc_code == 13
    assert "generation crashed" in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        {"id": "op-1", "done": True},
        {"id": "op-1", "done": True, "response": {}},
        {"id": "op-1", "done": True, "response": None},
        done(""),
        done(None),
        done(123),
    ],
)
async def test_poll_done_without_image(body: dict[str, Any]) -> None:
    async with art_client(Recorder(body=body)) as client:
        with pytest.raises(OperationFailed):
            await client.poll("op-1")


@pytest.mark.parametrize("encoded", ["not base64!!", "abc", "####", "aGVsbG8=garbage"])
async def test_poll_bad_base64(encoded: str) -> None:
    async with art_client(Recorder(body=done(encoded))) as client:
        with pytest.raises(OperationFailed):
            await client.poll("op-1")


async def test_poll_answer_not_json() -> None:
    async with art_client(Recorder(text="not json")) as client:
        with pytest.raises(TransientError):
            await client.poll("op-1")


async def test_no_exception_ever_contains_the_key() -> None:
    """Every failure path, with both credential kinds."""
    handlers: list[Handler] = [
        Recorder(400, flat(3, REFUSAL)),
        Recorder(401, plain(16, "Unknown api key")),
        Recorder(403, nested(7, 403, "Access to model x denied")),
        Recorder(500, text="boom"),
        Recorder(body={"done": True, "error": {"code": 3, "message": "bad"}}),
        Recorder(body={"done": True, "response": {"image": "!!"}}),  # no id either
        raising(httpx.ConnectError),
        raising(httpx.ReadTimeout),
    ]
    seen = 0
    for key, token in ((API_KEY, None), (None, IAM_TOKEN)):
        for handler in handlers:
            async with art_client(handler, api_key=key, iam_token=token) as client:
                for call in (client.submit(GenerationRequest(prompt="a")), client.poll("op")):
                    try:
                        await call
                    except YandexArtError as error:
                        seen += 1
                        assert_no_secret(error)
                        assert error.__cause__ is None or API_KEY not in str(error.__cause__)
    assert seen == 2 * len(handlers) * 2


async def test_an_answer_is_freed_without_the_cyclic_garbage_collector() -> None:
    # httpx links a response and its stream wrapper both ways; left so, each 1.4 MB image
    # answer would wait for the cyclic collector (it piled up ~40 MB with 200 in flight).
    answers: list[weakref.ref[httpx.Response]] = []
    recorder = Recorder(body=done(base64.b64encode(b"\xff\xd8 jpeg").decode()))

    async def remember(response: httpx.Response) -> None:
        answers.append(weakref.ref(response))

    async with art_client(recorder) as client:
        client.http.event_hooks["response"] = [remember]
        gc.disable()
        try:
            assert await client.poll("op-1") == b"\xff\xd8 jpeg"  # the body is still read
            assert answers and answers[0]() is None  # freed by reference counting alone
        finally:
            gc.enable()
