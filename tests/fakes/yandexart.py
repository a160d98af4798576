"""A local emulator of the YandexArt REST API, served over real HTTP by aiohttp.

Used by end-to-end tests and the benchmark. It follows /work/shared/reference/yandexart-api.md.
Where the reference is silent, the emulator chooses (and these choices are part of its contract):

* Order of checks for every call: injected fault (``fail_next``/``drop_next``/``delay_next``)
  -> auth (401) -> quota (429) -> body validation (400/403) -> refusal (400) -> accept.
* A model that is in neither ``allowed_models`` nor ``denied_models`` -> 400, code 3,
  ``Model not found: art://<folder>/<model>/<version>``. The model sets may hold a bare model name
  (``yandex-art``) or ``model/version`` (``yandex-art/latest``).
* Quota windows count every call that got past auth and was not itself answered 429.
* ``seed`` 0 or absent means a random seed (as the real service), so the image differs per call;
  a given non-zero seed and prompt always give the same bytes. ``prompt`` is the message texts
  joined with one space. Field names are accepted in lowerCamel or proto snake_case form.
* ``drop_next``/``delay_next`` with ``accept=True`` process the call at once (a submit is created
  and billed) and then drop the connection / answer late; with ``accept=False`` a dropped call is
  never processed, and a delayed one is processed after the delay only if the client is still
  connected. A dropped call is logged in ``requests`` with status 0 and an empty response.
* Besides the async API, the synchronous Images API (``POST /v1/images/generations``, endpoint name
  ``"images"``) is served: it answers after the generation time, errors use the flat shape, and
  its generations count in ``accepted_images`` (not ``accepted_submits``) and the submit quota.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import math
import re
import secrets
import string
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from aiohttp import web

REFUSAL_MESSAGE = (
    "it is not possible to generate an image from this request"
    " because it may violate the terms of use"
)
RESPONSE_TYPE = (
    "type.googleapis.com/yandex.cloud.ai.foundation_models.v1.image_generation."
    "ImageGenerationResponse"
)
SUBMIT_PATH = "/foundationModels/v1/imageGenerationAsync"
OPERATION_PATH = "/operations/{operation_id}"
IMAGES_PATH = "/v1/images/generations"
MAX_PROMPT_CHARS = 500
INT64_MAX = 2**63 - 1
INTERNAL_ERROR: dict[str, Any] = {"code": 13, "message": "Internal error", "details": []}

_PROTO = "yandex.cloud.ai.foundation_models.v1.image_generation."
_ENDPOINTS = ("submit", "poll", "images")
_SHAPES = ("flat", "nested", "plain")
_ID_ALPHABET = string.ascii_lowercase + string.digits
_MODEL_URI = re.compile(r"art://([^/\s]+)/([^/\s]+)(?:/([^/\s]+))?")
_INT_STRING = re.compile(r"-?\d+")
_SIZE = re.compile(r"(\d+)x(\d+)")
_Handler = Callable[["web.Request", bytes], Awaitable[tuple[int, dict[str, Any]]]]


@dataclass
class Operation:
    id: str
    prompt: str
    body: dict[str, Any]
    created_at: float
    ready_at: float
    error: dict[str, Any] | None = None
    image: bytes = b""
    polls: int = 0
    first_done_poll_at: float | None = None


@dataclass
class Request:
    endpoint: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    status: int
    response: dict[str, Any]
    at: float


@dataclass
class _Fault:
    kind: str  # "fail" | "drop" | "delay"
    times: int = 1
    status: int = 0
    body: dict[str, Any] | None = None
    accept: bool = False
    seconds: float = 0.0


class ApiError(Exception):
    """An error answer: HTTP status and JSON body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


# ---------------------------------------------------------------- helpers (pure)


def error_body(shape: str, status: int, code: int, message: str) -> dict[str, Any]:
    """An error body in one of the three shapes the gateway is known to produce."""
    if shape == "flat":
        return {"error": message, "code": code, "message": message, "details": []}
    if shape == "nested":
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown"
        return {
            "error": {
                "grpcCode": code,
                "httpCode": status,
                "message": message,
                "httpStatus": phrase,
                "details": [],
            }
        }
    if shape == "plain":
        info = {"@type": "type.googleapis.com/google.rpc.RequestInfo", "requestId": _uuid()}
        return {"code": code, "message": message, "details": [info]}
    raise ValueError(f"unknown error shape {shape!r}; expected one of {_SHAPES}")


def make_jpeg(prompt: str, seed: int, size: int) -> bytes:
    """Deterministic bytes that look like a JPEG: SOI, JFIF APP0, COM filler segments, EOI.

    Exactly ``size`` bytes (at least 22); the same (prompt, seed) always gives the same bytes.
    """
    head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    tail = b"\xff\xd9"
    remaining = max(size - len(head) - len(tail), 0)
    stream = _keystream(f"{seed}\x00{prompt}".encode(), remaining)
    segments = bytearray()
    while remaining >= 4:
        length = min(remaining - 4, 65533)
        chunk, stream = stream[:length], stream[length:]
        segments += b"\xff\xfe" + (length + 2).to_bytes(2, "big") + chunk
        remaining -= length + 4
    segments += b"\x00" * remaining  # 0-3 padding bytes before EOI
    return head + bytes(segments) + tail


def _keystream(seed: bytes, length: int) -> bytes:
    """A 4 KiB hash-chained block repeated, with 0xFF replaced so no JPEG marker appears."""
    block = bytearray()
    digest = hashlib.sha256(seed).digest()
    while len(block) < min(length, 4096):
        block += digest
        digest = hashlib.sha256(digest).digest()
    repeats = -(-length // len(block)) if block else 0
    return (bytes(block) * repeats)[:length].replace(b"\xff", b"\xfe")


def _uuid() -> str:
    return str(uuid.uuid4())


def _new_operation_id() -> str:
    return "fbv" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(17))


def _rfc3339(monotonic_at: float) -> str:
    wall = time.time() - (time.monotonic() - monotonic_at)
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _invalid(message: str) -> ApiError:
    return ApiError(400, error_body("flat", 400, 3, message))


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", r"_\1", name).lower()


def _contains_any(text: str, words: Iterable[str]) -> bool:
    lowered = text.lower()
    return any(word.lower() in lowered for word in words if word)


def _load_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8")) if raw.strip() else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise _invalid(f"Error in parsing request: {exc}") from None
    if not isinstance(value, dict):
        raise _invalid("Error in parsing request: expected a JSON object")
    return value


def _lenient_object(raw: bytes) -> dict[str, Any] | None:
    try:
        return _load_object(raw)
    except ApiError:
        return None


def _fields(value: Any, names: tuple[str, ...], proto: str) -> dict[str, Any]:
    """Check a JSON object against a message's fields; return its non-null fields, camelCased."""
    if not isinstance(value, dict):
        raise _invalid(f"Error in parsing request: {proto} must be a JSON object")
    known = {alias: name for name in names for alias in (name, _snake(name))}
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key not in known:
            raise _invalid(f'Error in parsing request: unknown field "{key}" in {_PROTO}{proto}')
        if item is not None:
            out[known[key]] = item
    return out


def _int64(value: Any, name: str, *, minimum: int) -> int:
    integral_float = isinstance(value, float) and value.is_integer()
    int_string = isinstance(value, str) and _INT_STRING.fullmatch(value) is not None
    if (isinstance(value, int) and not isinstance(value, bool)) or integral_float or int_string:
        number = int(value)
    else:
        raise _invalid(f"Error in parsing request: invalid value for int64 field {name}: {value!r}")
    if not minimum <= number <= INT64_MAX:
        raise _invalid(f"{name} must be between {minimum} and {INT64_MAX}, got {number}")
    return number


def _double(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _invalid(f"Error in parsing request: invalid value for double field {name}")
    try:
        float(value)
    except ValueError:
        raise _invalid(f"Error in parsing request: invalid value for double field {name}") from None


def _check_prompt_length(texts: list[str]) -> None:
    if sum(len(text) for text in texts) > MAX_PROMPT_CHARS:
        raise _invalid(f"Request text length exceeds the limit of {MAX_PROMPT_CHARS} characters")
    if not "".join(texts).strip():
        raise _invalid("Request text must not be empty")


def _parse_messages(value: Any) -> str:
    if not isinstance(value, list) or not value:
        raise _invalid("messages: at least one message is required")
    texts: list[str] = []
    for item in value:
        message = _fields(item, ("text", "weight"), "Message")
        text = message.get("text", "")
        if not isinstance(text, str):
            raise _invalid("Error in parsing request: invalid value for string field text")
        if "weight" in message:
            _double(message["weight"], "weight")
        texts.append(text)
    _check_prompt_length(texts)
    return " ".join(text for text in texts if text)


def _parse_options(value: Any) -> int:
    """Validate generationOptions; return the seed (0 = random)."""
    if value is None:
        return 0
    options = _fields(value, ("mimeType", "seed", "aspectRatio"), "ImageGenerationOptions")
    mime = options.get("mimeType", "image/jpeg")
    if mime != "image/jpeg":
        raise _invalid(f"Unsupported mime type: {mime!r}; only image/jpeg is supported")
    if "aspectRatio" in options:
        names = ("widthRatio", "heightRatio")
        ratio = _fields(options["aspectRatio"], names, "ImageGenerationOptions.AspectRatio")
        for name in names:
            _int64(ratio.get(name, 0), name, minimum=1)
    return _int64(options.get("seed", 0), "seed", minimum=0)


def _parse_size(value: Any) -> None:
    match = _SIZE.fullmatch(value) if isinstance(value, str) else None
    if match is None or int(match[1]) < 1 or int(match[2]) < 1:
        raise _invalid(f"Invalid size {value!r}: expected two positive integers like '16x9'")


# ---------------------------------------------------------------- the emulator


class YandexArtEmulator:
    """The async YandexArt API (submit + poll) plus the sync Images API, on 127.0.0.1."""

    def __init__(
        self,
        *,
        folder_id: str = "b1gtestfolder",
        api_keys: set[str] | None = None,
        iam_tokens: set[str] | None = None,
        allowed_models: set[str] | None = None,
        denied_models: set[str] | None = None,
        generation_seconds: float | Callable[[dict[str, Any]], float] = 0.2,
        image_size: int = 2048,
    ) -> None:
        self.folder_id = folder_id
        self.api_keys = {"test-api-key"} if api_keys is None else api_keys
        self.iam_tokens = {"test-iam-token"} if iam_tokens is None else iam_tokens
        self.allowed_models = {"yandex-art"} if allowed_models is None else allowed_models
        self.denied_models: set[str] = set() if denied_models is None else denied_models
        self.generation_seconds = generation_seconds
        self.image_size = image_size
        self.base_url = ""
        self.requests: list[Request] = []
        self.operations: dict[str, Operation] = {}
        self.refusal_words: set[str] = {"forbidden"}
        self.failing_words: set[str] = {"explode"}
        self.submits_per_minute: int | None = None
        self.polls_per_second: int | None = None
        self.quota_429s = 0
        #: simulated network round trip in seconds: half before a request is seen (and
        #: recorded, and counted by the quotas), half before its answer leaves
        self.latency = 0.0
        self._paused = False
        self._billed = {"submit": 0, "images": 0}
        self._faults: dict[str, deque[_Fault]] = {name: deque() for name in _ENDPOINTS}
        self._submit_window: deque[float] = deque()
        self._poll_window: deque[float] = deque()
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post(SUBMIT_PATH, self._on_submit)
        app.router.add_get(OPERATION_PATH, self._on_poll)
        app.router.add_post(IMAGES_PATH, self._on_images)
        self._stopping.clear()
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self._stopping.set()  # wakes delayed and waiting handlers
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------ inspection

    @property
    def accepted_submits(self) -> int:
        """Billed async generations: submits that created an operation."""
        return self._billed["submit"]

    @property
    def accepted_images(self) -> int:
        """Billed generations on the sync Images API."""
        return self._billed["images"]

    def submits(self) -> list[Request]:
        return [r for r in self.requests if r.endpoint == "submit"]

    def polls(self) -> list[Request]:
        return [r for r in self.requests if r.endpoint == "poll"]

    @property
    def paused(self) -> bool:
        return self._paused

    @paused.setter
    def paused(self, value: bool) -> None:
        now = time.monotonic()
        if value and not self._paused:
            for op in self.operations.values():
                if op.ready_at > now:
                    op.ready_at = math.inf
        elif not value and self._paused:
            for op in self.operations.values():
                if math.isinf(op.ready_at):
                    op.ready_at = now + self._generation_time(op.body)
        self._paused = value

    # ------------------------------------------------------------ fault injection

    def fail_next(
        self,
        endpoint: str,
        *,
        status: int,
        grpc_code: int,
        message: str,
        shape: str = "flat",
        times: int = 1,
    ) -> None:
        body = error_body(shape, status, grpc_code, message)
        self._add_fault(endpoint, _Fault("fail", times=times, status=status, body=body))

    def drop_next(self, endpoint: str, *, accept: bool) -> None:
        self._add_fault(endpoint, _Fault("drop", accept=accept))

    def delay_next(self, endpoint: str, seconds: float, *, accept: bool = True) -> None:
        self._add_fault(endpoint, _Fault("delay", accept=accept, seconds=seconds))

    def _add_fault(self, endpoint: str, fault: _Fault) -> None:
        if endpoint not in self._faults:
            raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {_ENDPOINTS}")
        if fault.times < 1:
            raise ValueError("times must be at least 1")
        self._faults[endpoint].append(fault)

    def _take_fault(self, endpoint: str) -> _Fault | None:
        queue = self._faults[endpoint]
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.popleft()
        return fault

    # ------------------------------------------------------------ HTTP plumbing

    async def _on_submit(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "submit", self._submit)

    async def _on_poll(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "poll", self._poll)

    async def _on_images(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "images", self._images)

    async def _serve(
        self,
        request: web.Request,
        endpoint: str,
        process: _Handler,
    ) -> web.StreamResponse:
        if self.latency > 0:
            await self._sleep(self.latency / 2)
        at = time.monotonic()
        raw = await request.read()
        body = _lenient_object(raw) if endpoint != "poll" else None

        def log(status: int, payload: dict[str, Any]) -> None:
            headers = dict(request.headers)
            self.requests.append(Request(endpoint, headers, body, status, payload, at))

        fault = self._take_fault(endpoint)
        if fault is not None and fault.kind == "fail":
            assert fault.body is not None
            log(fault.status, fault.body)
            return _json(fault.status, fault.body)
        if fault is not None and fault.kind == "drop":
            if fault.accept:
                await self._run(process, request, raw)
            log(0, {})
            return _drop(request)
        if fault is not None and fault.accept:  # delay, processed at once
            status, payload = await self._run(process, request, raw)
            await self._sleep(fault.seconds)
        else:
            if fault is not None:  # delay, processed only if the client waited
                await self._sleep(fault.seconds)
                if request.transport is None or request.transport.is_closing():
                    log(0, {})
                    return _drop(request)
            status, payload = await self._run(process, request, raw)
        log(status, payload)
        if self.latency > 0:
            await self._sleep(self.latency / 2)
        return _json(status, payload)

    @staticmethod
    async def _run(
        process: _Handler, request: web.Request, raw: bytes
    ) -> tuple[int, dict[str, Any]]:
        try:
            return await process(request, raw)
        except ApiError as exc:
            return exc.status, exc.body

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up at once when the emulator stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), max(seconds, 0.0))

    # ------------------------------------------------------------ endpoints

    async def _submit(self, request: web.Request, raw: bytes) -> tuple[int, dict[str, Any]]:
        self._authenticate(request)
        self._check_submit_quota()
        body = _load_object(raw)
        names = ("modelUri", "messages", "generationOptions")
        fields = _fields(body, names, "ImageGenerationRequest")
        self._check_model(fields.get("modelUri"))
        prompt = _parse_messages(fields.get("messages"))
        seed = _parse_options(fields.get("generationOptions"))
        op = self._accept(body, prompt, seed, "submit")
        return 200, _operation_json(op, done=False, created=None)

    async def _poll(self, request: web.Request, raw: bytes) -> tuple[int, dict[str, Any]]:
        self._authenticate(request)
        self._check_quota(self._poll_window, self.polls_per_second, 1.0, "ai.operationRequests")
        op = self.operations.get(request.match_info["operation_id"])
        if op is None:
            raise ApiError(404, {"code": 5, "message": "Operation not found", "details": []})
        now = time.monotonic()
        op.polls += 1
        done = now >= op.ready_at
        if done and op.first_done_poll_at is None:
            op.first_done_poll_at = now
        return 200, _operation_json(op, done=done, created=_rfc3339(op.created_at))

    async def _images(self, request: web.Request, raw: bytes) -> tuple[int, dict[str, Any]]:
        self._authenticate(request)
        self._check_submit_quota()
        body = _load_object(raw)
        names = ("model", "prompt", "size", "n", "quality", "responseFormat", "style")
        fields = _fields(body, names, "ImagesGenerationRequest")
        self._check_model(fields.get("model"))
        prompt = fields.get("prompt")
        if not isinstance(prompt, str):
            raise _invalid("prompt is required and must be a string")
        _check_prompt_length([prompt])
        if "size" in fields:
            _parse_size(fields["size"])
        op = self._accept(body, prompt, 0, "images")
        while time.monotonic() < op.ready_at and not self._stopping.is_set():
            await self._sleep(min(op.ready_at - time.monotonic(), 0.05))
        op.polls += 1
        op.first_done_poll_at = time.monotonic()
        if op.error is not None:
            raise ApiError(500, error_body("flat", 500, op.error["code"], op.error["message"]))
        image = base64.b64encode(op.image).decode("ascii")
        return 200, {"created": int(time.time()), "data": [{"b64_json": image}]}

    # ------------------------------------------------------------ checks

    def _authenticate(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "").strip()
        scheme, _, secret = header.partition(" ")
        secret = secret.strip()
        if not header:
            message = "The request is missing an Authorization header"
        elif scheme.lower() == "api-key":
            message = "" if secret in self.api_keys else "Unknown api key"
        elif scheme.lower() == "bearer":
            message = "" if secret in self.iam_tokens else "The token is invalid"
        else:
            message = "Unsupported Authorization scheme: use 'Api-Key' or 'Bearer'"
        if message:
            raise ApiError(401, error_body("plain", 401, 16, message))

    def _check_submit_quota(self) -> None:
        self._check_quota(
            self._submit_window, self.submits_per_minute, 60.0, "ai.imageGenerationRequests"
        )

    def _check_quota(
        self, window: deque[float], limit: int | None, span: float, metric: str
    ) -> None:
        now = time.monotonic()
        while window and window[0] <= now - span:
            window.popleft()
        if limit is not None and len(window) >= limit:
            self.quota_429s += 1
            message = f"{metric}.rate rate quota limit exceed: allowed {limit} requests"
            raise ApiError(429, error_body("flat", 429, 8, message))
        window.append(now)

    def _check_model(self, uri: Any) -> None:
        if uri is None:
            raise _invalid("Model URI is required")
        match = _MODEL_URI.fullmatch(uri) if isinstance(uri, str) else None
        if match is None:
            raise _invalid(f"Invalid model URI {uri!r}: expected art://<folder>/<model>[/<version>]")
        folder, model, version = match[1], match[2], match[3] or "latest"
        if folder != self.folder_id:
            raise _invalid(
                f"Specified folder ID '{folder}' does not match with service account "
                f"folder ID '{self.folder_id}'"
            )
        full = f"art://{folder}/{model}/{version}"
        names = {model, f"{model}/{version}"}
        if names & self.denied_models:
            raise ApiError(403, error_body("flat", 403, 7, f"Access to model {full} denied"))
        if not names & self.allowed_models:
            raise _invalid(f"Model not found: {full}")

    # ------------------------------------------------------------ operations

    def _accept(self, body: dict[str, Any], prompt: str, seed: int, kind: str) -> Operation:
        """Refuse the prompt (400, not billed) or create and bill an operation."""
        if _contains_any(prompt, self.refusal_words):
            raise ApiError(400, error_body("flat", 400, 3, REFUSAL_MESSAGE))
        now = time.monotonic()
        op = Operation(
            id=_new_operation_id(),
            prompt=prompt,
            body=body,
            created_at=now,
            ready_at=math.inf if self._paused else now + self._generation_time(body),
            error=dict(INTERNAL_ERROR) if _contains_any(prompt, self.failing_words) else None,
            image=make_jpeg(prompt, seed or 1 + secrets.randbelow(INT64_MAX), self.image_size),
        )
        self.operations[op.id] = op
        self._billed[kind] += 1
        return op

    def _generation_time(self, body: dict[str, Any]) -> float:
        if callable(self.generation_seconds):
            return float(self.generation_seconds(body))
        return float(self.generation_seconds)


def _operation_json(op: Operation, *, done: bool, created: str | None) -> dict[str, Any]:
    modified = _rfc3339(op.ready_at) if done else created
    out: dict[str, Any] = {
        "id": op.id,
        "description": "",
        "createdAt": created,
        "createdBy": "",
        "modifiedAt": modified,
        "done": done,
        "metadata": None,
    }
    if done and op.error is not None:
        out["error"] = dict(op.error)
    elif done:
        image = base64.b64encode(op.image).decode("ascii")
        out["response"] = {"@type": RESPONSE_TYPE, "image": image, "modelVersion": ""}
    return out


def _json(status: int, payload: dict[str, Any]) -> web.Response:
    return web.json_response(payload, status=status, headers={"x-request-id": _uuid()})


def _drop(request: web.Request) -> web.Response:
    """Close the connection without an answer (aiohttp ignores the unsendable response)."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=204)
