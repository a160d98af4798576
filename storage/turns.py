"""Turns on the shared SQLite connection, with a lane for urgent work.

Hand-written: asyncio.Lock serves strictly first come, first served, so the submitter's few
statements would queue behind every /draw of a burst (about ten trips to aiosqlite's thread
each) and the first submits would leave a second late, which shifts every later quota window.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Turns:
    """A lock whose urgent waiters are served before the others (first come, first served
    within each lane). The holder is never interrupted."""

    def __init__(self) -> None:
        self._held = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._normal: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def hold(self, *, urgent: bool = False) -> AsyncIterator[None]:
        await self._acquire(urgent)
        try:
            yield
        finally:
            self._release()

    @property
    def held(self) -> bool:
        return self._held

    async def _acquire(self, urgent: bool) -> None:
        if not self._held:
            self._held = True
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._normal).append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # handed the turn, then cancelled
                self._release()
            raise  # (a cancelled turn left in its lane is skipped by _release)

    def _release(self) -> None:
        for lane in (self._urgent, self._normal):
            while lane:
                turn = lane.popleft()
                if not turn.done():
                    turn.set_result(None)  # handed over: still held
                    return
        self._held = False
