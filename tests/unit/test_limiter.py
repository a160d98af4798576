"""bot.generation.limiter: a rolling-window rate limiter.

Timing asserts are lower bounds only: a loaded machine can only make things slower.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.generation import limiter
from bot.generation.limiter import ChatLimits, ChatPacer, RollingWindowLimiter

LIMIT = 5
WINDOW = 0.2


class SleepSpy:
    """Wraps asyncio.sleep: records every positive delay the limiter asks for."""

    def __init__(self) -> None:
        self.real = asyncio.sleep
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        if delay > 0:
            self.delays.append(delay)
        await self.real(delay)


@pytest.fixture
def sleep_spy(monkeypatch: pytest.MonkeyPatch) -> SleepSpy:
    spy = SleepSpy()
    monkeypatch.setattr(asyncio, "sleep", spy)
    return spy


async def test_never_more_than_limit_in_any_window(sleep_spy: SleepSpy) -> None:
    limiter = RollingWindowLimiter(LIMIT, WINDOW)
    stamps: list[float] = []
    sleeps_before: list[int] = []

    async def one() -> None:
        await limiter.acquire()
        stamps.append(time.monotonic())
        sleeps_before.append(len(sleep_spy.delays))

    start = time.monotonic()
    await asyncio.gather(*(one() for _ in range(3 * LIMIT)))

    assert len(stamps) == 3 * LIMIT
    assert stamps == sorted(stamps)
    # Any LIMIT + 1 consecutive stamps span at least the window.
    for index in range(len(stamps) - LIMIT):
        assert stamps[index + LIMIT] - stamps[index] >= WINDOW
    # The first LIMIT acquisitions did not wait at all, the later ones did.
    assert sleeps_before[:LIMIT] == [0] * LIMIT
    assert sleeps_before[-1] > 0
    assert stamps[-1] - start >= 2 * WINDOW


async def test_sequential_acquisitions(sleep_spy: SleepSpy) -> None:
    limiter = RollingWindowLimiter(LIMIT, WINDOW)
    stamps: list[float] = []
    for _ in range(LIMIT):
        await limiter.acquire()
        stamps.append(time.monotonic())
    assert sleep_spy.delays == []
    await limiter.acquire()
    stamps.append(time.monotonic())
    assert len(sleep_spy.delays) == 1
    assert sleep_spy.delays[0] > 0
    assert stamps[-1] - stamps[0] >= WINDOW


async def test_hold_off_delays_the_next_acquire() -> None:
    limiter = RollingWindowLimiter(LIMIT, WINDOW)
    await limiter.acquire()
    start = time.monotonic()
    limiter.hold_off(0.3)
    await limiter.acquire()
    assert time.monotonic() - start >= 0.29


async def test_hold_off_on_a_fresh_limiter(sleep_spy: SleepSpy) -> None:
    limiter = RollingWindowLimiter(3, 0.05)
    start = time.monotonic()
    limiter.hold_off(0.25)
    await limiter.acquire()
    assert time.monotonic() - start >= 0.24
    assert len(sleep_spy.delays) == 1


async def test_fake_clock_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a clock we control, the computed waits are exact (window = 1.0 + 0.005 s)."""
    now = [0.0]
    delays: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(delay: float) -> None:
        delays.append(delay)
        now[0] += delay
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    limiter = RollingWindowLimiter(2, 1.0, clock=lambda: now[0])
    granted: list[float] = []
    for _ in range(5):
        await limiter.acquire()
        granted.append(now[0])
    # Two at 0, then two at 1.005 (the first one waits for the oldest stamp), then 2.01.
    assert granted == pytest.approx([0.0, 0.0, 1.005, 1.005, 2.01])
    assert delays == pytest.approx([1.005, 1.005])


@pytest.mark.parametrize(("limit", "window"), [(0, 1.0), (-1, 1.0), (1, 0.0), (1, -1.0)])
def test_invalid_arguments(limit: int, window: float) -> None:
    with pytest.raises(ValueError):
        RollingWindowLimiter(limit, window)


async def test_short_hold_off_never_relaxes_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    real_sleep = asyncio.sleep

    async def fake_sleep(delay: float) -> None:
        now[0] += max(delay, 0.0)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    limiter = RollingWindowLimiter(LIMIT, 10.0, clock=lambda: now[0])
    granted: list[float] = []
    for _ in range(LIMIT):  # the window is now full until t = 10.005
        await limiter.acquire()
        granted.append(now[0])
    limiter.hold_off(1.0)  # a 429 arrived: wait at least one more second
    for _ in range(LIMIT):
        await limiter.acquire()
        granted.append(now[0])
    assert granted[LIMIT] >= 1.0  # delayed by the hold-off, as documented
    for index in range(len(granted) - LIMIT):
        assert granted[index + LIMIT] - granted[index] >= 10.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def send(pacer: ChatPacer, chat_id: int) -> None:
    async with pacer.slot(chat_id):
        pass


async def test_chat_pacer_knows_private_and_group_limits() -> None:
    clock = FakeClock()
    pacer = ChatPacer(ChatLimits(private=(1, 1.0), group=(3, 60.0)), clock=clock)
    assert pacer.delay(42) == 0.0 and pacer.delay(-100) == 0.0  # never seen: free
    await send(pacer, 42)
    assert 1.0 < pacer.delay(42) < 1.1  # one a second (plus the safety margin)
    for _ in range(3):
        await send(pacer, -100)
    assert 60.0 < pacer.delay(-100) < 62.0  # three a minute: the fourth waits for the first
    clock.now += 1.1
    assert pacer.delay(42) == 0.0 and pacer.delay(-100) > 58.0


async def test_chat_pacer_honours_a_flood_wait() -> None:
    clock = FakeClock()
    pacer = ChatPacer(ChatLimits(), clock=clock)
    pacer.flood_wait(-100, 7)
    assert pacer.delay(-100) == pytest.approx(7.0)


async def test_chat_pacer_forgets_chats_whose_windows_ran_out() -> None:
    clock = FakeClock()
    pacer = ChatPacer(ChatLimits(private=(1, 1.0), group=(20, 60.0)), clock=clock)
    await send(pacer, 1)
    await send(pacer, -1)
    clock.now += 61.5  # the private window ran out long ago, the group's just now
    await send(pacer, 2)  # a new chat: the map is pruned (at most once a minute)
    assert len(pacer) == 1
    clock.now += 30
    await send(pacer, 3)  # too soon for another prune
    assert len(pacer) == 2


def test_chat_pacer_reads_the_module_limits_when_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limiter, "GROUP_CHAT_LIMIT", (5, 2.0))
    assert ChatPacer().limits.group == (5, 2.0)


async def test_a_request_counts_from_its_answer_when_the_answer_is_reported() -> None:
    """The server counts a request when it arrives: a slow answer pushes the next one back."""
    clock = FakeClock()
    limiter = RollingWindowLimiter(1, 1.0, clock=clock)
    async with limiter.slot():
        clock.now += 0.4  # the request took 0.4 s
    assert limiter.delay() == pytest.approx(1.005)  # from the answer, not from the send
    clock.now += 1.0
    assert limiter.delay() == pytest.approx(0.005)


async def test_room_agrees_with_acquire_when_answers_come_out_of_order() -> None:
    clock = FakeClock()
    limiter = RollingWindowLimiter(2, 1.0, clock=clock)
    first = await limiter.acquire()
    await limiter.acquire()  # answered at once
    clock.now += 0.9
    limiter.done(first)  # the older request answered last
    clock.now += 0.2  # the second has left the window, the first still counts
    assert limiter.delay() > 0
    assert limiter.room() == 0  # as acquire() would: the oldest has not left yet


async def test_answers_out_of_order_count_the_latest() -> None:
    clock = FakeClock()
    limiter = RollingWindowLimiter(2, 1.0, clock=clock)
    first, second = await limiter.acquire(), await limiter.acquire()
    clock.now += 0.1
    limiter.done(second)
    clock.now += 0.5
    limiter.done(first)  # the older request answered last
    assert limiter.delay() == pytest.approx(1.005)  # a third waits a window from that answer


async def test_room_counts_what_the_window_still_holds() -> None:
    clock = FakeClock()
    limiter = RollingWindowLimiter(3, 1.0, clock=clock)
    assert limiter.room() == 3
    await limiter.acquire()
    clock.now += 0.5
    await limiter.acquire()
    assert limiter.room() == 1
    clock.now += 0.6  # the first one has left the window
    assert limiter.room() == 2
    limiter.hold_off(1.0)
    assert limiter.room() == 0  # nothing passes while held off
    clock.now += 1.0
    limiter.penalize(hold=0.0)  # a 429: the rate is halved
    assert limiter.room() == 1
