"""Async REST client for YandexArt: submit a generation, poll its operation.

One call, one HTTP request: retry and pacing policy belongs to the caller, which knows whether a
job already has an operation id (see `TransientError.maybe_accepted`).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from bot.yandexart import codec
from bot.yandexart.auth import Credentials
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

log = logging.getLogger(__name__)

SUBMIT_PATH = "/foundationModels/v1/imageGenerationAsync"
OPERATIONS_PATH = "/operations/"
REFUSAL_MARKER = "violate the terms of use"
MODEL_SUGGESTION = (
    "try YANDEX_ART_MODEL=aliceai-image-art-3.0 (the newer Images API) or yandex-art/latest"
)


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    prompt: str
    seed: int | None = None
    aspect: tuple[int, int] | None = None


class YandexArtClient:
    """`credentials` give the Authorization header for each request (a static key or token, or
    IAM tokens from a service-account key)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        credentials: Credentials,
        model_uri: str,
        art_url: str,
        operations_url: str,
    ) -> None:
        self.http = http
        self.credentials = credentials
        self.model_uri = model_uri
        self._submit_url = art_url.rstrip("/") + SUBMIT_PATH
        self._operations_url = operations_url.rstrip("/") + OPERATIONS_PATH
        self._credential_setting = credentials.setting

    def request_body(self, request: GenerationRequest) -> dict[str, Any]:
        options: dict[str, Any] = {"mimeType": "image/jpeg"}
        if request.seed is not None:
            options["seed"] = str(request.seed)  # int64 as a string: exact in any JSON parser
        if request.aspect is not None:
            width, height = request.aspect
            options["aspectRatio"] = {"widthRatio": str(width), "heightRatio": str(height)}
        return {
            "modelUri": self.model_uri,
            "messages": [{"text": request.prompt, "weight": 1}],
            "generationOptions": options,
        }

    async def submit(self, request: GenerationRequest) -> str:
        """Start a generation; returns the operation id. Each success is billed."""
        client_request_id = str(uuid.uuid4())
        body = self.request_body(request)
        try:
            response = await self._send("POST", self._submit_url, body, client_request_id)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientError(f"submit: cannot connect ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            # The request may have reached the server: it may have created a billed operation.
            raise TransientError(
                f"submit: no answer ({type(exc).__name__})", maybe_accepted=True
            ) from None
        log.debug(
            "submit answered %s (x-client-request-id=%s, x-request-id=%s)",
            response.status_code, client_request_id, response.headers.get("x-request-id", "-"),
        )
        if response.status_code != 200:
            raise self._error("submit", response)
        operation_id = _json(response).get("id")
        if not isinstance(operation_id, str) or not operation_id:
            # Accepted (200) but unreadable: treat as possibly billed, never resubmit.
            raise TransientError("submit: answer without an operation id", maybe_accepted=True)
        return operation_id

    async def poll(self, operation_id: str) -> bytes | None:
        """The image if the operation is done, None while it is still running."""
        try:
            response = await self._send("GET", self._operations_url + operation_id, None, None)
        except httpx.TransportError as exc:
            raise TransientError(f"poll: no answer ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise self._error("poll", response)
        return _image_of_done(response) or _image_of(_json(response))

    async def _send(self, method: str, url: str, body: dict[str, Any] | None,
                    client_request_id: str | None) -> httpx.Response:
        return await send_authorized(self.http, self.credentials, method, url, body,
                                     client_request_id=client_request_id)

    def _error(self, call: str, response: httpx.Response) -> YandexArtError:
        return error_from_response(call, response, model_uri=self.model_uri,
                                   credential_setting=self._credential_setting)


def error_from_response(call: str, response: httpx.Response, *, model_uri: str,
                        credential_setting: str) -> YandexArtError:
    """The typed error for a non-200 answer of either YandexArt API."""
    status = response.status_code
    grpc_code, message = parse_error_body(response)
    log.debug("%s failed: HTTP %s, body %s", call, status, response.text[:500])
    text = f"{call}: HTTP {status}: {message}"
    if status == 400 and REFUSAL_MARKER in message.lower():
        return ContentRefused(text, status=status, grpc_code=grpc_code)
    if status == 429:
        return QuotaExceeded(text, status=status, grpc_code=grpc_code)
    if status == 401:
        return AuthError(text, status=status, grpc_code=grpc_code,
                         setting_hint=f"{credential_setting} (unknown or expired)")
    if status == 403 and "access to model" in message.lower():
        return ModelDenied(
            text, status=status, grpc_code=grpc_code,
            setting_hint=f"YANDEX_ART_MODEL: this folder has no access to {model_uri}; "
            + MODEL_SUGGESTION,
        )
    if status == 403:
        return AuthError(
            text, status=status, grpc_code=grpc_code,
            setting_hint="the service account's role ai.imageGeneration.user on "
            "YANDEX_FOLDER_ID, and the key's scope yc.ai.imageGeneration.execute",
        )
    if status == 404 and call == "poll":
        return OperationNotFound(text, status=status, grpc_code=grpc_code)
    if status >= 500:
        return TransientError(text, status=status, grpc_code=grpc_code)
    hint = "YANDEX_ART_MODEL and YANDEX_FOLDER_ID" if status in (400, 404) else None
    return InvalidRequest(text, status=status, grpc_code=grpc_code, setting_hint=hint)


async def send_authorized(http: httpx.AsyncClient, credentials: Credentials, method: str,
                          url: str, body: dict[str, Any] | None, *,
                          client_request_id: str | None = None,
                          request_timeout: float | None = None) -> httpx.Response:
    """One request; a 401 to a token that can be refreshed is repeated once with a fresh one (a
    401 is an answer that nothing was done, so nothing is billed twice). Errors of the
    credentials themselves (an IAM exchange) are YandexArtErrors, raised before any request."""
    extra: dict[str, Any] = {} if request_timeout is None else {"timeout": request_timeout}
    authorization = await credentials.authorization()
    response = await http.request(
        method, url, json=body, headers=_headers(authorization, client_request_id), **extra)
    if response.status_code == 401 and await credentials.rejected(authorization):
        authorization = await credentials.authorization()
        response = await http.request(
            method, url, json=body, headers=_headers(authorization, client_request_id), **extra)
    return unlinked(response)


def unlinked(response: httpx.Response) -> httpx.Response:
    """The answer, read, without its link to httpx's stream wrapper, which links back to it
    (encode/httpx#3733): a cycle only the cyclic garbage collector frees, and it seldom gets to
    them; with 200 images in flight ~40 MB of dead 1.4 MB image answers piled up. Without the
    cycle an answer is freed as soon as it is no longer used; its body stays readable."""
    response.read()  # (already read: a no-op, unless another transport streams it)
    response.stream = httpx.ByteStream(b"")
    return response


def _headers(authorization: str, client_request_id: str | None) -> dict[str, str]:
    headers = {"Authorization": authorization}
    if client_request_id:
        headers["x-client-request-id"] = client_request_id
    return headers


def parse_error_body(response: httpx.Response) -> tuple[int | None, str]:
    """(gRPC code, message) from any of the error shapes YandexArt uses."""
    try:
        data = response.json()
    except ValueError:
        return None, response.text[:200] or response.reason_phrase
    if not isinstance(data, dict):
        return None, str(data)[:200]
    error = data.get("error")
    if isinstance(error, dict):  # nested: {"error": {"grpcCode": 8, "message": ...}}
        data = error
    code = data.get("grpcCode", data.get("code"))
    message = data.get("message") or (error if isinstance(error, str) else "")
    return (code if isinstance(code, int) else None), str(message or response.reason_phrase)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = codec.loads(response.content)
    except ValueError:
        raise TransientError("answer is not JSON", status=response.status_code) from None
    if not isinstance(data, dict):
        raise TransientError("answer is not a JSON object", status=response.status_code)
    return data


def _image_of_done(response: httpx.Response) -> bytes | None:
    """The image of a done operation, its base64 never made a str (`codec.cut_image`); None
    for any other answer, or one shaped otherwise: `_image_of` reads those whole."""
    cut = codec.cut_image(response.content)
    if cut is None:
        return None
    operation, encoded = cut
    answer = operation.get("response") if isinstance(operation, dict) else None
    if not (isinstance(answer, dict) and answer.get("image") == "" and len(encoded)
            and operation.get("done") and not operation.get("error")):
        return None
    try:
        return codec.decode_image(encoded)
    except ValueError:
        return None


def _image_of(operation: dict[str, Any]) -> bytes | None:
    error = operation.get("error")
    if error:  # final even if `done` is false
        code = error.get("code") if isinstance(error, dict) else None
        message = error.get("message", "") if isinstance(error, dict) else str(error)
        raise OperationFailed(f"operation failed: {message}",
                              grpc_code=code if isinstance(code, int) else None)
    if not operation.get("done"):
        return None
    response = operation.get("response")
    encoded = response.get("image") if isinstance(response, dict) else None
    if not isinstance(encoded, str) or not encoded:
        raise OperationFailed("operation finished without an image")
    try:
        return codec.decode_image(encoded)
    except ValueError:
        raise OperationFailed("operation returned an undecodable image") from None
