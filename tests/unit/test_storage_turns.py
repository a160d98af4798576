"""Turns on the shared connection: exclusive, first come first served, urgent lane first."""

from __future__ import annotations

import asyncio

from storage.turns import Turns


async def take(turns: Turns, name: str, order: list[str], *, urgent: bool = False,
               hold_for: float = 0.0) -> None:
    async with turns.hold(urgent=urgent):
        order.append(name)
        await asyncio.sleep(hold_for)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_one_holder_at_a_time_in_arrival_order() -> None:
    turns, order = Turns(), list[str]()
    holding = 0
    most = 0

    async def worker(name: str) -> None:
        nonlocal holding, most
        async with turns.hold():
            holding += 1
            most = max(most, holding)
            order.append(name)
            await asyncio.sleep(0.001)
            holding -= 1

    await asyncio.gather(*(worker(f"w{i}") for i in range(5)))
    assert most == 1
    assert order == ["w0", "w1", "w2", "w3", "w4"]
    assert not turns.held


async def test_urgent_waiters_go_before_earlier_normal_ones() -> None:
    turns, order = Turns(), list[str]()
    first = asyncio.create_task(take(turns, "holder", order, hold_for=0.02))
    await settle()
    waiting = [asyncio.create_task(take(turns, "normal-1", order)),
               asyncio.create_task(take(turns, "normal-2", order))]
    await settle()
    waiting += [asyncio.create_task(take(turns, "urgent-1", order, urgent=True)),
                asyncio.create_task(take(turns, "urgent-2", order, urgent=True))]
    await asyncio.gather(first, *waiting)
    assert order == ["holder", "urgent-1", "urgent-2", "normal-1", "normal-2"]


async def test_a_cancelled_waiter_is_skipped() -> None:
    turns, order = Turns(), list[str]()
    holder = asyncio.create_task(take(turns, "holder", order, hold_for=0.02))
    await settle()
    gone = asyncio.create_task(take(turns, "gone", order, urgent=True))
    after = asyncio.create_task(take(turns, "after", order))
    await settle()
    gone.cancel()
    await asyncio.gather(holder, after, gone, return_exceptions=True)
    assert gone.cancelled()
    assert order == ["holder", "after"]
    assert not turns.held


async def test_a_waiter_cancelled_after_being_handed_the_turn_passes_it_on() -> None:
    turns, order = Turns(), list[str]()
    async with turns.hold():
        handed = asyncio.create_task(take(turns, "handed", order))
        after = asyncio.create_task(take(turns, "after", order))
        await settle()
    # Released: the turn was handed to `handed`, which is cancelled before it runs.
    handed.cancel()
    await asyncio.gather(handed, after, return_exceptions=True)
    assert order == ["after"]
    assert not turns.held
