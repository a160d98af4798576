"""Self-tests of the YandexArt emulator, driven over real HTTP with httpx."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tests.fakes.yandexart import (
    OPERATION_PATH,
    REFUSAL_MESSAGE,
    RESPONSE_TYPE,
    SUBMIT_PATH,
    YandexArtEmulator,
    make_jpeg,
)

AUTH = {"Authorization": "Api-Key test-api-key"}
MODEL = "art://b1gtestfolder/yandex-art/latest"
GEN_SECONDS = 0.15


def submit_body(text: str = "a red cat", **options: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"modelUri": MODEL, "messages": [{"text": text, "weight": 1}]}
    body["generationOptions"] = {"mimeType": "image/jpeg", **options}
    return body


def op_path(op_id: str) -> str:
    return OPERATION_PATH.format(operation_id=op_id)


@pytest.fixture
async def emulator() -> AsyncIterator[YandexArtEmulator]:
    emu = YandexArtEmulator(generation_seconds=GEN_SECONDS, image_size=4096)
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


@pytest.fixture
async def client(emulator: YandexArtEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emulator.base_url, headers=AUTH, timeout=5) as c:
        yield c


async def submit(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await client.post(SUBMIT_PATH, json=body)


async def submit_ok(client: httpx.AsyncClient, text: str = "a red cat", **options: Any) -> str:
    response = await submit(client, submit_body(text, **options))
    assert response.status_code == 200, response.text
    op_id: str = response.json()["id"]
    return op_id


async def wait_done(client: httpx.AsyncClient, op_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        response = await client.get(op_path(op_id))
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        if data["done"]:
            return data
        await asyncio.sleep(0.02)
    raise AssertionError("operation never finished")


# ---------------------------------------------------------------- happy path


async def test_submit_poll_pending_then_done(
    emulator: YandexArtEmulator, client: httpx.AsyncClient
) -> None:
    ratio = {"widthRatio": 16, "heightRatio": "9"}
    response = await submit(client, submit_body(seed=1863, aspectRatio=ratio))
    assert response.status_code == 200
    assert response.headers["x-request-id"]
    created = response.json()
    assert created == {
        "id": created["id"],
        "description": "",
        "createdAt": None,
        "createdBy": "",
        "modifiedAt": None,
        "done": False,
        "metadata": None,
    }
    op_id = created["id"]
    assert len(op_id) == 20 and op_id.isalnum() and op_id == op_id.lower()

    pending = (await client.get(op_path(op_id))).json()
    assert pending["done"] is False and "response" not in pending and "error" not in pending
    assert pending["createdAt"].endswith("Z")

    done = await wait_done(client, op_id)
    assert done["response"]["@type"] == RESPONSE_TYPE
    assert done["response"]["modelVersion"] == ""
    image = base64.b64decode(done["response"]["image"])
    assert image.startswith(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00") and image.endswith(b"\xff\xd9")
    assert len(image) == 4096

    op = emulator.operations[op_id]
    assert op.image == image and op.prompt == "a red cat"
    assert op.polls >= 2 and op.first_done_poll_at is not None
    assert op.first_done_poll_at >= op.ready_at
    assert emulator.accepted_submits == 1 and len(emulator.submits()) == 1
    assert len(emulator.polls()) == op.polls


async def test_images_are_deterministic_per_prompt_and_seed(
    emulator: YandexArtEmulator, client: httpx.AsyncClient
) -> None:
    first = await submit_ok(client, "a red cat", seed="42")
    second = await submit_ok(client, "a red cat", seed=42)
    other = await submit_ok(client, "a blue dog", seed=42)
    ops = emulator.operations
    assert ops[first].image == ops[second].image != ops[other].image
    assert ops[first].image == make_jpeg("a red cat", 42, 4096)


async def test_bearer_token_and_callable_generation_time() -> None:
    emu = YandexArtEmulator(generation_seconds=lambda body: 0.0 if "fast" in str(body) else 60.0)
    await emu.start()
    try:
        headers = {"Authorization": "Bearer test-iam-token"}
        async with httpx.AsyncClient(base_url=emu.base_url, headers=headers) as client:
            fast = await submit_ok(client, "fast cat")
            slow = await submit_ok(client, "slow cat")
            assert (await client.get(op_path(fast))).json()["done"] is True
            assert (await client.get(op_path(slow))).json()["done"] is False
    finally:
        await emu.stop()


async def test_latency_delays_requests(
    emulator: YandexArtEmulator, client: httpx.AsyncClient
) -> None:
    emulator.latency = 0.2
    started = time.monotonic()
    op_id = await submit_ok(client)
    assert time.monotonic() - started >= 0.2
    assert emulator.submits()[0].at - started >= 0.1
    assert emulator.operations[op_id].created_at - started >= 0.1


# ---------------------------------------------------------------- refusals and failures


async def test_refusal_is_400_flat_and_not_billed(
    emulator: YandexArtEmulator, client: httpx.AsyncClient
) -> None:
    response = await submit(client, submit_body("something FORBIDDEN here"))
    assert response.status_code == 400
    assert response.json() == {
        "error": REFUSAL_MESSAGE,
        "code": 3,
        "message": REFUSAL_MESSAGE,
        "details": [],
    }
    assert emulator.accepted_submits == 0 and not emulator.operations
    assert emulator.submits()[0].status == 400


async def test_failing_word_ends_with_internal_error(
    emulator: YandexArtEmulator, client: httpx.AsyncClient
) -> None:
    op_id = await submit_ok(client, "please explode")
    done = await wait_done(client, op_id)
    assert done["error"] == {"code": 13, "message": "Internal error", "details": []}
    assert "response" not in done
    assert emulator.accepted_submits == 1


# ---------------------------------------------------------------- auth


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "The request is missing an Authorization header"),
        ({"Authorization": "Api-Key wrong-secret"}, "Unknown api key"),
        ({"Authorization": "Bearer wrong-token"}, "The token is invalid"),
    ],
)
async def test_unauthenticated(
    emulator: YandexArtEmulator, headers: dict[str, str], message: str
) -> None:
    async with httpx.AsyncClient(base_url=emulator.base_url, headers=headers) as client:
        for response in (
            await client.post(SUBMIT_PATH, json=submit_body()),
            await client.get(op_path("fbveu1sntj0000000000")),
        ):
            assert response.status_code == 401
            body = response.json()
            assert body["code"] == 16 and body["message"] == message
            assert isinstance(body["details"], list) and "error" not in body
            assert "wrong" not in response.text
    assert emulator.accepted_submits == 0


async def test_denied_model_is_403() -> None:
    emu = YandexArtEmulator(denied_models={"yandex-art"}, allowed_models={"yandex-art-2.0"})
    await emu.start()
    try:
        async with httpx.AsyncClient(base_url=emu.base_url, headers=AUTH) as client:
            body = submit_body()
            body["modelUri"] = "art://b1gtestfolder/yandex-art"
            response = await submit(client, body)
            assert response.status_code == 403
            expected = "Access to model art://b1gtestfolder/yandex-art/latest denied"
            assert response.json()["code"] == 7 and response.json()["message"] == expected
            body["modelUri"] = "art://b1gtestfolder/yandex-art-2.0/latest"
            assert (await submit(client, body)).status_code == 200
    finally:
        await emu.stop()


async def test_unknown_operation_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get(op_path("fbvnosuchop000000000"))
    assert response.status_code == 404
    assert response.json() == {"code": 5, "message": "Operation not found", "details": []}


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda b: b.update(xyz=1), 'unknown field "xyz"'),
        (lambda b: b["messages"][0].update(lang="en"), 'unknown field "lang"'),
        (lambda b: b["generationOptions"].update(width=5), 'unknown field "width"'),
        (lambda b: b.update(modelUri="gpt://b1gtestfolder/yandex-art"), "Invalid model URI"),
        (lambda b: b.update(modelUri="art://elsewhere/yandex-art"), "'elsewhere' does not match"),
        (lambda b: b.update(modelUri="art://b1gtestfolder/no-such-model"), "Model not found"),
        (lambda b: b.update(messages=[]), "at least one message"),
        (lambda b: b.update(messages=[{"text": "x" * 300}, {"text": "y" * 201}]), "500 characters"),
        (lambda b: b["generationOptions"].update(mimeType="image/png"), "mime type"),
        (lambda b: b["generationOptions"].update(seed=-1), "seed"),
        (lambda b: b["generationOptions"].update(seed="abc"), "seed"),
        (lambda b: b["generationOptions"].update(seed=2**63), "seed"),
        (lambda b: b["generationOptions"].update(aspectRatio={"widthRatio": 0}), "widthRatio"),
        (lambda b: b["generationOptions"].update(aspectRatio={"widthRatio": 1}), "heightRatio"),
    ],
)
async def test_invalid_submit_is_400_code_3(
    emulator: YandexArtEmulator,
    client: httpx.AsyncClient,
    mutate: Callable[[dict[str, Any]], None],
    fragment: str,
) -> None:
    body = submit_body()
    mutate(body)
    response = await submit(client, body)
    assert response.status_code == 400, response.text
    data = response.json()
    assert data["code"] == 3 and fragment in data["message"] and data["error"] == data["message"]
    assert emulator.accepted_submits == 0


async def test_invalid_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(SUBMIT_PATH, content=b"{not json")
    assert response.status_code == 400 and response.json()["code"] == 3


async def test_exactly_500_chars_is_accepted(client: httpx.AsyncClient) -> None:
    await submit_ok(client, "x" * 500)


# ---------------------------------------------------------------- injected faults


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("flat", {"error": "boom", "code": 14, "message": "boom", "details": []}),
        (
            "nested",
            {
                "error": {
                    "grpcCode": 14,
                    "httpCode": 503,
                    "message": "boom",
                    "httpStatus": "Service Unavailable",
                    "details": [],
                }
            },
        ),
        ("plain", {"code": 14, "message": "boom"}),
    ],
)
@pytest.mark.parametrize("endpoint", ["submit", "poll"])
async def test_fail_next_shapes(
    emulator: YandexArtEmulator,
    client: httpx.AsyncClient,
    endpoint: str,
    shape: str,
    expected: dict[str, Any],
) -> None:
    op_id = await submit_ok(client) if endpoint == "poll" else ""
    emulator.fail_next(endpoint, status=503, grpc_code=14, message="boom", shape=shape, times=2)

    async def call() -> httpx.Response:
        if endpoint == "poll":
            return await client.get(op_path(op_id))
        return await submit(client, submit_body())

    for _ in range(2):
        response = await call()
        assert response.status_code == 503
        assert expected.items() <= response.json().items()
    assert (await call()).status_code == 200
    assert emulator.accepted_submits == 1
    assert len(emulator.operations) == 1


async def test_drop_next_submit(emulator: YandexArtEmulator, client: httpx.AsyncClient) -> None:
    emulator.drop_next("submit", accept=False)
    with pytest.raises(httpx.TransportError):
        await submit(client, submit_body())
    assert emulator.accepted_submits == 0

    emulator.drop_next("submit", accept=True)
    with pytest.raises(httpx.TransportError):
        await submit(client, submit_body())
    assert emulator.accepted_submits == 1 and len(emulator.operations) == 1
    assert [r.status for r in emulator.submits()] == [0, 0]
    await submit_ok(client)  # the server is still healthy afterwards


async def test_drop_next_poll(emulator: YandexArtEmulator, client: httpx.AsyncClient) -> None:
    op_id = await submit_ok(client)
    emulator.drop_next("poll", accept=False)
    with pytest.raises(httpx.TransportError):
        await client.get(op_path(op_id))
    assert emulator.operations[op_id].polls == 0
    assert (await client.get(op_path(op_id))).status_code == 200


@pytest.mark.parametrize("accept", [True, False])
async def test_delay_next_submit_triggers_read_timeout(
    emulator: YandexArtEmulator, client: httpx.AsyncClient, accept: bool
) -> None:
    emulator.delay_next("submit", 0.5, accept=accept)
    with pytest.raises(httpx.ReadTimeout):
        await client.post(SUBMIT_PATH, json=submit_body(), timeout=0.2)
    assert emulator.accepted_submits == int(accept)
    if not accept:
        await asyncio.sleep(0.5)  # the server finds the client gone and does not bill
        assert emulator.accepted_submits == 0


async def test_delay_next_answers_late(
    emulator: YandexArtEmulator, client: httpx.AsyncClient
) -> None:
    emulator.delay_next("submit", 0.3)
    started = time.monotonic()
    await submit_ok(client)
    assert time.monotonic() - started >= 0.3


# ---------------------------------------------------------------- quotas and pause


async def test_submit_quota_429(emulator: YandexArtEmulator, client: httpx.AsyncClient) -> None:
    emulator.submits_per_minute = 2
    await submit_ok(client)
    assert (await submit(client, submit_body("forbidden thing"))).status_code == 400
    response = await submit(client, submit_body())
    assert response.status_code == 429
    message = "ai.imageGenerationRequests.rate rate quota limit exceed: allowed 2 requests"
    assert response.json() == {"error": message, "code": 8, "message": message, "details": []}
    assert emulator.quota_429s == 1 and emulator.accepted_submits == 1


async def test_poll_quota_429_recovers(
    emulator: YandexArtEmulator, client: httpx.AsyncClient
) -> None:
    op_id = await submit_ok(client)
    emulator.polls_per_second = 3
    statuses = [(await client.get(op_path(op_id))).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    last = (await client.get(op_path(op_id))).json()
    message = "ai.operationRequests.rate rate quota limit exceed: allowed 3 requests"
    assert last == {"error": message, "code": 8, "message": message, "details": []}
    assert emulator.quota_429s == 3
    await asyncio.sleep(1.05)
    assert (await client.get(op_path(op_id))).status_code == 200


async def test_paused_operations_do_not_finish(
    emulator: YandexArtEmulator, client: httpx.AsyncClient
) -> None:
    before = await submit_ok(client)
    emulator.paused = True
    during = await submit_ok(client)
    await asyncio.sleep(GEN_SECONDS * 2)
    for op_id in (before, during):
        assert (await client.get(op_path(op_id))).json()["done"] is False
    emulator.paused = False
    unpaused_at = time.monotonic()
    for op_id in (before, during):
        await wait_done(client, op_id)
        first_done = emulator.operations[op_id].first_done_poll_at
        assert first_done is not None and first_done >= unpaused_at + GEN_SECONDS - 0.01


# ---------------------------------------------------------------- sync Images API


async def test_images_endpoint() -> None:
    emu = YandexArtEmulator(allowed_models={"aliceai-image-art-3.0"}, generation_seconds=0.05)
    await emu.start()
    try:
        async with httpx.AsyncClient(base_url=emu.base_url, headers=AUTH) as client:
            body = {"model": "art://b1gtestfolder/aliceai-image-art-3.0", "prompt": "a cat"}
            response = await client.post("/v1/images/generations", json={**body, "size": "16x9"})
            assert response.status_code == 200, response.text
            image = base64.b64decode(response.json()["data"][0]["b64_json"])
            assert image.startswith(b"\xff\xd8\xff") and image.endswith(b"\xff\xd9")
            refused_body = {**body, "prompt": "forbidden"}
            refused = await client.post("/v1/images/generations", json=refused_body)
            assert refused.status_code == 400 and refused.json()["message"] == REFUSAL_MESSAGE
            assert emu.accepted_images == 1 and emu.accepted_submits == 0
    finally:
        await emu.stop()
