"""When to poll: learned from how long recent generations took.

The first poll goes out when the fastest tenth of recent jobs was done, then polls follow at a
step that splits the usual spread (10th to 90th percentile) in four, so an image waits a fraction
of a second for its poll while a job costs only a few polls. Jobs running long are polled less
and less often. When the poll budget is short, the jobs expected to be done soonest go first.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

DEFAULT_FAST = 2.5  # seconds: before any job was measured
DEFAULT_SLOW = 6.5
MIN_STEP = 0.25
MAX_STEP = 0.6


class GenerationTiming:
    size = 50

    def __init__(self) -> None:
        self._recent: deque[float] = deque(maxlen=self.size)

    def add(self, seconds: float) -> None:
        if seconds > 0:
            self._recent.append(seconds)

    def extend(self, newest_first: Iterable[float]) -> None:
        """Seed from the database's submit-to-image times (an upper bound of the true ones)."""
        for seconds in reversed(list(newest_first)):
            self.add(seconds)

    def quantiles(self) -> tuple[float, float]:
        """(10th, 90th) percentile of recent generation times."""
        if not self._recent:
            return DEFAULT_FAST, DEFAULT_SLOW
        ordered = sorted(self._recent)
        last = len(ordered) - 1
        return ordered[round(last * 0.1)], ordered[round(last * 0.9)]

    def first_poll_after(self) -> float:
        fast, _ = self.quantiles()
        return max(0.1, fast - self.step() / 2)

    def step(self) -> float:
        fast, slow = self.quantiles()
        return min(MAX_STEP, max(MIN_STEP, (slow - fast) / 4))

    def expected_generation(self, still_running_at: float = 0.0) -> float:
        """Expected generation time of a job last seen still running `still_running_at` seconds
        after its submit: the mean of the recent times longer than that. A job that just
        answered "not yet" thus ranks behind one not polled yet, which is likelier done."""
        longer = [seconds for seconds in self._recent if seconds > still_running_at]
        if not self._recent:
            longer = [seconds for seconds in (DEFAULT_FAST, DEFAULT_SLOW)
                      if seconds > still_running_at]
        if not longer:  # running longer than any recent job
            return still_running_at + self.step()
        return sum(longer) / len(longer)

    def next_poll_in(self, elapsed: float) -> float:
        _, slow = self.quantiles()
        if elapsed < slow * 1.5 + 1:
            return self.step()
        if elapsed < 60:
            return 1.0
        return 3.0
