"""One interface over both YandexArt APIs, for the generation service.

`submit` either starts an operation to poll (the async API) or returns the image at once (the
synchronous Images API).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.yandexart.client import GenerationRequest, YandexArtClient
from bot.yandexart.images import ImagesApiClient


@dataclass(frozen=True, slots=True)
class Started:
    operation_id: str


@dataclass(frozen=True, slots=True)
class Finished:
    image: bytes


class ImageProvider(Protocol):
    supports_seed: bool
    # May a submit cut off mid-way be sent again? Only where nothing else would ever deliver
    # the image (the synchronous API); it may then be billed twice.
    retries_interrupted_submit: bool

    async def submit(self, request: GenerationRequest) -> Started | Finished: ...

    async def poll(self, operation_id: str) -> bytes | None: ...


class OperationsProvider:
    """The async API: submit, then poll `/operations/<id>`."""

    supports_seed = True
    retries_interrupted_submit = False

    def __init__(self, client: YandexArtClient) -> None:
        self.client = client

    async def submit(self, request: GenerationRequest) -> Started | Finished:
        return Started(await self.client.submit(request))

    async def poll(self, operation_id: str) -> bytes | None:
        return await self.client.poll(operation_id)


class ImagesProvider:
    """The synchronous Images API: the image comes with the answer."""

    supports_seed = False
    retries_interrupted_submit = True

    def __init__(self, client: ImagesApiClient) -> None:
        self.client = client

    async def submit(self, request: GenerationRequest) -> Started | Finished:
        return Finished(await self.client.generate(request))

    async def poll(self, operation_id: str) -> bytes | None:
        raise NotImplementedError("the Images API has no operations to poll")


def uses_images_api(model: str) -> bool:
    """`aliceai-image-art…` models are served by the Images API."""
    name = model.removeprefix("art://").split("/")
    return any(part.startswith("aliceai-image-art") for part in name)
