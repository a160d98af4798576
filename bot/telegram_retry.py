"""Honour Telegram's `retry_after` for every request (aiogram has no built-in retry)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods.base import TelegramType

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.methods import Response, TelegramMethod

log = logging.getLogger(__name__)

_max_wait: ContextVar[float] = ContextVar("telegram_max_retry_wait", default=30.0)


@contextmanager
def flood_wait_at_most(seconds: float) -> Iterator[None]:
    """Within the block, a 429 asking to wait longer than `seconds` is raised, not slept."""
    token = _max_wait.set(seconds)
    try:
        yield
    finally:
        _max_wait.reset(token)


class RetryAfterMiddleware(BaseRequestMiddleware):
    """Sleeps `retry_after` and repeats the request, `attempts` times at most.

    Only 429s are retried: it is an answer that the request was not performed. Network errors
    are not, since a photo that did reach Telegram would be posted twice.
    """

    def __init__(self, attempts: int = 5) -> None:
        self.attempts = attempts

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        for attempt in range(1, self.attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as error:
                if attempt == self.attempts or error.retry_after > _max_wait.get():
                    raise
                log.info("Telegram flood limit on %s: waiting %s s",
                         type(method).__name__, error.retry_after)
                await asyncio.sleep(error.retry_after)
        raise AssertionError("unreachable")
