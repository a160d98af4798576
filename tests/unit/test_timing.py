"""When to poll, learned from recent generation times (bot/generation/timing.py)."""

from __future__ import annotations

import pytest

from bot.generation.timing import DEFAULT_FAST, DEFAULT_SLOW, MAX_STEP, MIN_STEP, GenerationTiming


def learned(*seconds: float) -> GenerationTiming:
    timing = GenerationTiming()
    for value in seconds:
        timing.add(value)
    return timing


SPREAD_3_TO_6 = [3 + 3 * i / 49 for i in range(50)]


def test_before_any_job_the_defaults_apply() -> None:
    timing = GenerationTiming()
    assert timing.quantiles() == (DEFAULT_FAST, DEFAULT_SLOW)
    assert timing.expected_generation() == pytest.approx((DEFAULT_FAST + DEFAULT_SLOW) / 2)


def test_first_poll_comes_half_a_step_before_the_fastest_tenth() -> None:
    timing = learned(*SPREAD_3_TO_6)
    fast, slow = timing.quantiles()
    assert fast == pytest.approx(3.3, abs=0.05) and slow == pytest.approx(5.7, abs=0.05)
    assert timing.step() == pytest.approx((slow - fast) / 4)
    assert timing.first_poll_after() == pytest.approx(fast - timing.step() / 2)


def test_the_step_stays_within_its_bounds() -> None:
    assert learned(*[4.0] * 10).step() == MIN_STEP
    assert learned(*[1.0] * 5, *[20.0] * 5).step() == MAX_STEP


def test_jobs_running_long_are_polled_less_often() -> None:
    timing = learned(*SPREAD_3_TO_6)
    assert timing.next_poll_in(4.0) == timing.step()
    assert timing.next_poll_in(30.0) == 1.0
    assert timing.next_poll_in(90.0) == 3.0


def test_only_the_most_recent_jobs_count_and_nonsense_is_ignored() -> None:
    timing = learned(*[10.0] * 50, *[2.0] * 50, 0.0, -1.0)
    assert timing.quantiles() == (2.0, 2.0)


def test_extend_seeds_oldest_first_so_the_newest_survive() -> None:
    timing = GenerationTiming()
    timing.extend([1.0] * 50 + [9.0] * 10)  # newest first, as the database lists them
    assert timing.quantiles() == (1.0, 1.0)


def test_a_job_that_just_said_not_yet_ranks_behind_one_never_polled() -> None:
    timing = learned(*SPREAD_3_TO_6)
    never_polled = timing.expected_generation()
    assert never_polled == pytest.approx(4.5)
    # Still running at 4 s: only the jobs that took longer than 4 s say when it may be done.
    assert timing.expected_generation(4.0) == pytest.approx(5.0, abs=0.05)
    assert timing.expected_generation(4.0) > never_polled
    # Submitted 0.4 s later but not polled yet: expected done sooner, so polled first.
    assert 0.4 + never_polled < timing.expected_generation(4.0)


def test_a_job_running_longer_than_any_recent_one_is_expected_a_step_later() -> None:
    timing = learned(*SPREAD_3_TO_6)
    assert timing.expected_generation(7.0) == pytest.approx(7.0 + timing.step())
    assert GenerationTiming().expected_generation(DEFAULT_SLOW + 1) == pytest.approx(
        DEFAULT_SLOW + 1 + GenerationTiming().step())
