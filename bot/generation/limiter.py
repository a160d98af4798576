"""Pacing for the YandexArt quotas.

Hand-written because the quotas count requests in a rolling window: a leaky bucket (aiolimiter)
lets a full bucket plus a window's refill through in one window, i.e. up to twice the quota.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable


class RollingWindowLimiter:
    """At most `limit` acquisitions in any `window` seconds, served first come first served."""

    def __init__(self, limit: int, window: float, *, margin: float = 0.02,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self.limit = limit
        # The server sees a request a little after we stamp it: keep a small safety margin.
        self.window = window * (1 + margin) + 0.005
        self._stamps: deque[float] = deque(maxlen=limit)
        self._paused_until = 0.0
        self._lock = asyncio.Lock()
        self._clock = clock

    async def acquire(self) -> None:
        async with self._lock:
            # A loop, not one sleep: a hold_off() may arrive while we wait.
            while (wait := self._wait()) > 0:  # noqa: ASYNC110
                await asyncio.sleep(wait)
            self._stamps.append(self._clock())

    def _wait(self) -> float:
        now = self._clock()
        wait = self._paused_until - now
        if len(self._stamps) == self.limit:
            wait = max(wait, self._stamps[0] + self.window - now)
        return wait

    def hold_off(self, seconds: float) -> None:
        """After a 429 anyway: nothing passes for `seconds`; the window's count still holds."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)
