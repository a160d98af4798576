"""Pacing for the YandexArt quotas and Telegram's flood limits.

Hand-written because the quotas count requests in a rolling window: a leaky bucket (aiolimiter)
lets a full bucket plus a window's refill through in one window, i.e. up to twice the quota. It
also serves waiters by priority, so a scarce poll budget goes to the jobs most likely done, and
counts each request from its answer (see `RollingWindowLimiter`).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass


class Stamp:
    """When a request passed the limiter; `RollingWindowLimiter.done` moves it to when its
    answer came (the server has surely counted it by then)."""

    __slots__ = ("at",)

    def __init__(self, at: float) -> None:
        self.at = at


class RollingWindowLimiter:
    """At most `limit` acquisitions in any `window` seconds; waiters with the lowest priority
    value go first (then first come, first served). After a 429 (`penalize`) it halves its rate
    and wins it back step by step, one window at a time.

    The server counts a request when it arrives, some time after it passed here: a caller that
    reports the answer (`done`) has its request counted from then on, so network delays and a
    busy event loop can never squeeze more than `limit` into the server's window.
    """

    def __init__(self, limit: int, window: float, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self.limit = limit
        # A few milliseconds of slack for the server's own rounding.
        self.window = window + 0.005
        self.effective_limit = limit
        self._stamps: deque[Stamp] = deque(maxlen=limit)
        self._paused_until = 0.0
        self._last_change = 0.0
        self._clock = clock
        self._waiters: list[tuple[float, int, asyncio.Future[Stamp]]] = []
        self._order = itertools.count()
        self._pump: asyncio.Task[None] | None = None

    async def acquire(self, priority: float = 0.0) -> Stamp:
        if not self._waiters and self._wait() <= 0:
            return self._stamp()
        future: asyncio.Future[Stamp] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._order), future))
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._serve_waiters())
        return await future

    @contextlib.asynccontextmanager
    async def slot(self, priority: float = 0.0) -> AsyncIterator[None]:
        """Acquire, make the request inside, and have it counted until its answer came."""
        stamp = await self.acquire(priority)
        try:
            yield
        finally:
            self.done(stamp)

    def done(self, stamp: Stamp) -> None:
        """The request's answer arrived: count it from now."""
        stamp.at = max(stamp.at, self._clock())

    def _stamp(self) -> Stamp:
        stamp = Stamp(self._clock())
        self._stamps.append(stamp)
        return stamp

    def delay(self) -> float:
        """About how long an acquire() now would wait (0: it would pass at once)."""
        if self._waiters:
            return max(self._wait(), 0.0) + len(self._waiters) * self.window / self.limit
        return max(self._wait(), 0.0)

    def room(self) -> int:
        """How many acquisitions would pass at once now."""
        now = self._clock()
        self._recover(now)
        if self._waiters or now < self._paused_until:
            return 0
        # The rule of `_wait`: the oldest requests must all have left the window before the
        # ones behind them stop counting (answers may come back out of order).
        left = next((index for index, stamp in enumerate(self._stamps)
                     if stamp.at + self.window > now), len(self._stamps))
        return max(0, self.effective_limit - (len(self._stamps) - left))

    def idle(self) -> bool:
        """Nobody waits and nothing it remembers still counts: it can be dropped."""
        now = self._clock()
        return (not self._waiters and now >= self._paused_until
                and all(stamp.at + self.window <= now for stamp in self._stamps))

    async def _serve_waiters(self) -> None:
        while self._waiters:
            # A loop, not one sleep: a hold_off() or penalize() may arrive while we wait.
            while (wait := self._wait()) > 0:  # noqa: ASYNC110
                await asyncio.sleep(wait)
            while self._waiters:
                _, _, future = heapq.heappop(self._waiters)
                if not future.done():  # skip waiters that were cancelled
                    future.set_result(self._stamp())
                    break

    def _wait(self) -> float:
        now = self._clock()
        self._recover(now)
        wait = self._paused_until - now
        if len(self._stamps) >= self.effective_limit:
            # Answers may come back out of order: the latest of the requests that must have
            # left the window, not only the one `effective_limit` back.
            leaving = len(self._stamps) - self.effective_limit + 1
            latest = max(stamp.at for stamp in itertools.islice(self._stamps, leaving))
            wait = max(wait, latest + self.window - now)
        return wait

    def _recover(self, now: float) -> None:
        if self.effective_limit < self.limit and now - self._last_change >= self.window:
            self.effective_limit = min(self.limit, self.effective_limit + max(1, self.limit // 10))
            self._last_change = now

    def hold_off(self, seconds: float) -> None:
        """Nothing passes for `seconds`; the window's count still holds."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def penalize(self, hold: float) -> None:
        """The server said 429 anyway (a lower quota, or another client on the folder): halve
        the rate, and let nothing through for `hold` seconds."""
        self.effective_limit = max(1, self.effective_limit // 2)
        self._last_change = self._clock()
        self.hold_off(hold)


PRIVATE_CHAT_LIMIT = (1, 1.0)  # messages, seconds
GROUP_CHAT_LIMIT = (20, 60.0)


@dataclass(frozen=True, slots=True)
class ChatLimits:
    """Telegram's flood limits for the messages a bot sends: about one a second in a private
    chat, twenty a minute in a group. Chat actions, edits, deletions and reactions are not
    counted."""

    private: tuple[int, float] = PRIVATE_CHAT_LIMIT
    group: tuple[int, float] = GROUP_CHAT_LIMIT


class ChatPacer:
    """One rolling window per chat, so a burst of photos never draws a flood wait."""

    def __init__(self, limits: ChatLimits | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        # Read when built, so a test can set the module's constants first.
        self.limits = limits or ChatLimits(private=PRIVATE_CHAT_LIMIT, group=GROUP_CHAT_LIMIT)
        self._clock = clock
        self._chats: dict[int, RollingWindowLimiter] = {}
        self._next_prune = 0.0

    def _limiter(self, chat_id: int) -> RollingWindowLimiter:
        limiter = self._chats.get(chat_id)
        if limiter is None:
            self._prune()
            count, window = self.limits.private if chat_id > 0 else self.limits.group
            limiter = self._chats[chat_id] = RollingWindowLimiter(count, window,
                                                                  clock=self._clock)
        return limiter

    def delay(self, chat_id: int) -> float:
        """About how long a message to this chat would have to wait."""
        limiter = self._chats.get(chat_id)
        return 0.0 if limiter is None else limiter.delay()

    def slot(self, chat_id: int) -> contextlib.AbstractAsyncContextManager[None]:
        """A message to this chat may be sent inside."""
        return self._limiter(chat_id).slot()

    def flood_wait(self, chat_id: int, seconds: float) -> None:
        """Telegram asked for a pause anyway (someone else's messages count too)."""
        self._limiter(chat_id).hold_off(seconds)

    def _prune(self) -> None:
        """Forget chats whose windows have run out, at most once a minute."""
        now = self._clock()
        if now < self._next_prune:
            return
        self._next_prune = now + 60.0
        for chat_id in [chat_id for chat_id, limiter in self._chats.items() if limiter.idle()]:
            del self._chats[chat_id]

    def __len__(self) -> int:
        return len(self._chats)
