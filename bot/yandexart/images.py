"""The synchronous, OpenAI-compatible Images API (`POST /v1/images/generations`).

Yandex documents it for the newer models (`aliceai-image-art-3.0`): one request answers with the
image, so there is no operation to poll, and no seed.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from bot.yandexart import codec
from bot.yandexart.auth import Credentials
from bot.yandexart.client import GenerationRequest, error_from_response, send_authorized
from bot.yandexart.errors import OperationFailed, TransientError

log = logging.getLogger(__name__)

IMAGES_PATH = "/v1/images/generations"


class ImagesApiClient:
    def __init__(self, http: httpx.AsyncClient, *, credentials: Credentials, model_uri: str,
                 images_url: str, timeout: float = 120.0) -> None:
        self._http = http
        self.credentials = credentials
        self.model_uri = model_uri
        self._url = images_url.rstrip("/") + IMAGES_PATH
        self._timeout = timeout

    def request_body(self, request: GenerationRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model_uri, "prompt": request.prompt}
        if request.aspect is not None:
            body["size"] = f"{request.aspect[0]}x{request.aspect[1]}"
        return body

    async def generate(self, request: GenerationRequest) -> bytes:
        """One billed generation. Raises the same typed errors as the async client."""
        try:
            response = await send_authorized(self._http, self.credentials, "POST", self._url,
                                             self.request_body(request),
                                             request_timeout=self._timeout)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientError(f"images: cannot connect ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise TransientError(f"images: no answer ({type(exc).__name__})",
                                 maybe_accepted=True) from None
        if response.status_code != 200:
            raise error_from_response("images", response, model_uri=self.model_uri,
                                      credential_setting=self.credentials.setting)
        try:
            data = codec.loads(response.content)["data"][0]["b64_json"]
            return codec.decode_image(data)
        except (ValueError, KeyError, IndexError, TypeError):
            raise OperationFailed("images: answer without a decodable image") from None
