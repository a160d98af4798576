"""Keeps aiogram's per-call answer models alive, so they are built once, not once per call.

aiogram parses every Bot API answer with `Response[<the method's result type>]`, a pydantic
generic model created on the spot. pydantic caches those only weakly: as soon as the garbage
collector frees the class, the next call builds it again, schema and validators (~6 ms of CPU
on two cores, a large share of a send). The benchmark's profile found it among the top frames.
Holding one reference per result type turns it back into a cache lookup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods.base import Response, TelegramType

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.methods import TelegramMethod


class PinResponseTypes(BaseRequestMiddleware):
    def __init__(self) -> None:
        self.pinned: dict[Any, type[Any]] = {}

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        returning = method.__returning__
        try:
            if returning not in self.pinned:
                self.pinned[returning] = Response[returning]  # type: ignore[valid-type]
        except TypeError:  # an unhashable result type: nothing to pin
            pass
        return await make_request(bot, method)
