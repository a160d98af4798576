"""bench/scenarios.py: the ideal schedule, and the best makespan a run's own submits allow."""

from __future__ import annotations

import pytest

from bench.scenarios import ideal_schedule, standard, submit_bound_makespan

GENERATION = (3.0, 6.0)


def test_submits_at_the_arrivals_allow_the_ideal_itself() -> None:
    light = standard(generation=GENERATION)["light"]
    arrivals = [light.arrival_of(i) for i in range(light.draws)]
    generation = light.generation_times(seed=1)
    ideal = max(draw.photo for draw in ideal_schedule(light, arrivals, generation))
    assert submit_bound_makespan(light, arrivals, generation) == pytest.approx(ideal)


def test_late_submits_push_the_bound_back_by_as_much() -> None:
    light = standard(generation=GENERATION)["light"]  # 20 draws over 10 s: no limit binds
    arrivals = [light.arrival_of(i) for i in range(light.draws)]
    generation = light.generation_times(seed=1)
    ideal = max(draw.photo for draw in ideal_schedule(light, arrivals, generation))
    late = [at + 0.5 for at in arrivals]
    assert submit_bound_makespan(light, late, generation) == pytest.approx(ideal + 0.5)


def test_the_times_given_are_taken_as_the_submits_the_quota_let_through() -> None:
    burst = standard(burst_scale=0.2, generation=GENERATION)["burst"]  # 100 submits/min, 10 polls/s
    generation = [4.0] * burst.draws
    everything_at_once = [0.0] * burst.draws
    bound = submit_bound_makespan(burst, everything_at_once, generation)
    # All 200 ready at 4 s, then found ten at a time, a second apart (the poll quota): the
    # last ten at 23 s.
    assert bound == pytest.approx(4.0 + burst.draws / 10 - 1)
    # Not spread over the submit quota again, which would hold half of them for a minute.
    requoted = max(draw.photo for draw in ideal_schedule(burst, everything_at_once, generation))
    assert requoted > 60.0
