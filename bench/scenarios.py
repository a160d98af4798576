"""The benchmark's scenarios, and the quota-bound ideal schedule each one is measured against."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

GROUP_CHAT_ID = -1_001_000_000_001
FIRST_USER_ID = 10_001
NO_QUOTA_SUBMITS = 1_000_000  # what the bot is told when the emulator enforces no quota
NO_QUOTA_POLLS = 100_000

#: Real Telegram: about 1 message a second in a private chat, 20 a minute in a group.
PRIVATE_FLOOD = (1, 1.0)
GROUP_FLOOD = (20, 60.0)
# Telegram's guideline for messages to many chats, which the bot paces itself to (not enforced by
# the emulator): the ideal keeps it too.
OVERALL_SENDS = (30, 1.0)

# Target names (see bench.report.TARGETS): which of them a scenario is judged on.
LATENCY_TARGETS = ("ready_p50", "ready_p95", "polls_per_image", "ack_p95")
COMMON_TARGETS = ("makespan_ratio", "yandex_429", "telegram_429", "billed_per_delivered")
RESOURCE_TARGETS = ("cpu_ms_per_image", "peak_rss_mb")


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    title: str
    draws: int
    users: int  # draw i comes from user i % users
    group: bool  # all users in one supergroup (else each user in their own private chat)
    arrival_seconds: float  # draws posted evenly over this long; 0 = all at once
    generation: tuple[float, float]  # generation time, uniform in [low, high] seconds
    submits_per_minute: int | None  # enforced by the YandexArt emulator; None = no quota
    polls_per_second: int | None
    judged: tuple[str, ...]  # the targets this scenario is judged on
    private_flood: tuple[int, float] | None = PRIVATE_FLOOD
    group_flood: tuple[int, float] | None = GROUP_FLOOD
    notes: tuple[str, ...] = field(default=())

    @property
    def bot_submits_per_minute(self) -> int:
        """What the bot is configured with: the enforced quota, or practically none."""
        return self.submits_per_minute or NO_QUOTA_SUBMITS

    @property
    def bot_polls_per_second(self) -> int:
        return self.polls_per_second or NO_QUOTA_POLLS

    def chat_of(self, index: int) -> int:
        return GROUP_CHAT_ID if self.group else self.user_of(index)

    def user_of(self, index: int) -> int:
        return FIRST_USER_ID + index % self.users

    def arrival_of(self, index: int) -> float:
        if self.draws <= 1 or self.arrival_seconds <= 0:
            return 0.0
        return self.arrival_seconds * index / (self.draws - 1)

    def generation_times(self, seed: int) -> list[float]:
        """Each draw's generation time: fixed per (seed, draw), the same for every strategy."""
        low, high = self.generation
        rng = random.Random(f"{seed}:{self.name}")
        return [rng.uniform(low, high) for _ in range(self.draws)]


def standard(*, burst_scale: float = 0.2, generation: tuple[float, float] = (3.0, 6.0),
             ) -> dict[str, Scenario]:
    """The four scenarios of issue 5. The 1,000-draw burst is scaled by `burst_scale`: draws,
    submit quota and poll quota all shrink together, which keeps its shape (twice as many draws
    as one quota minute admits, ten seconds of poll quota per window of submits)."""
    burst_draws = max(2, round(1000 * burst_scale))
    burst_submits = max(1, round(500 * burst_scale))
    burst_polls = max(1, round(50 * burst_scale))
    return {
        "light": Scenario(
            name="light", title="light load: 20 draws from 20 users over 10 s, default quotas",
            draws=20, users=20, group=False, arrival_seconds=10.0, generation=generation,
            submits_per_minute=500, polls_per_second=50,
            judged=COMMON_TARGETS + LATENCY_TARGETS,
        ),
        "burst": Scenario(
            name="burst",
            title=(f"burst: {burst_draws} draws at once from {burst_draws} users, quotas "
                   f"enforced: {burst_submits} submits/min, {burst_polls} polls/s"),
            draws=burst_draws, users=burst_draws, group=False, arrival_seconds=0.0,
            generation=generation, submits_per_minute=burst_submits,
            polls_per_second=burst_polls, judged=COMMON_TARGETS + LATENCY_TARGETS,
            notes=(f"the issue's 1,000 draws at 500 submits/min and 50 polls/s, scaled by "
                   f"{burst_scale:g} (--burst-scale 1 runs it full size)",),
        ),
        "inflight": Scenario(
            name="inflight",
            title="200 in flight: 200 draws at once from 200 users, no quotas",
            draws=200, users=200, group=False, arrival_seconds=0.0, generation=generation,
            submits_per_minute=None, polls_per_second=None,
            judged=COMMON_TARGETS + LATENCY_TARGETS + RESOURCE_TARGETS,
            notes=(f"the bot is told {NO_QUOTA_SUBMITS} submits/min and {NO_QUOTA_POLLS} "
                   f"polls/s; the emulator enforces nothing",),
        ),
        "group": Scenario(
            name="group",
            title=("one busy group: 50 people in one supergroup, one draw each over 10 s, "
                   "default quotas, Telegram's 20 messages/min group limit"),
            draws=50, users=50, group=True, arrival_seconds=10.0, generation=generation,
            submits_per_minute=500, polls_per_second=50,
            judged=COMMON_TARGETS + LATENCY_TARGETS,
        ),
    }


def smoke(generation: tuple[float, float] = (0.2, 0.5)) -> dict[str, Scenario]:
    """A few draws per scenario, fast generations, no quota that binds: checks the plumbing."""
    full = standard(generation=generation)
    return {
        "light": replace(full["light"], title="light (smoke): 3 draws over 0.5 s", draws=3,
                         users=3, arrival_seconds=0.5),
        "burst": replace(full["burst"], title="burst (smoke): 8 draws at once, loose quotas",
                         draws=8, users=8, submits_per_minute=60, polls_per_second=20, notes=()),
        "inflight": replace(full["inflight"], title="in flight (smoke): 10 draws at once",
                            draws=10, users=10),
        "group": replace(full["group"], title="group (smoke): 5 people in one group over 0.5 s",
                         draws=5, users=5, arrival_seconds=0.5),
    }


# ---------------------------------------------------------------- the ideal schedule


@dataclass(frozen=True, slots=True)
class IdealDraw:
    submit: float
    ready: float
    poll: float  # the one poll that finds it done
    photo: float

    @property
    def ready_to_photo(self) -> float:
        return self.photo - self.ready


def _rolling(times: Sequence[float], limit: int | None, window: float,
             prior: Sequence[float] = ()) -> list[float]:
    """Earliest start of each request, in the given order, with at most `limit` in any
    `window` seconds (a rolling window, as the quotas and flood limits are counted), after
    the requests already made at the times in `prior`."""
    if limit is None:
        return list(times)
    stamps = sorted(prior)
    out: list[float] = []
    for earliest in times:
        start = max(earliest, out[-1]) if out else earliest
        if len(stamps) >= limit:
            start = max(start, stamps[-limit] + window)
        stamps.append(start)
        out.append(start)
    return out


def ideal_schedule(scenario: Scenario, arrivals: Sequence[float], generation: Sequence[float],
                   prior_submits: Sequence[float] = ()) -> list[IdealDraw]:
    """The quota-bound ideal for these arrivals: submits in arrival order as early as the
    submit quota allows; each image found by exactly one poll, as soon as it is ready and the
    poll quota allows (ready order); each photo sent as soon as its chat's flood limit and
    Telegram's ~30 messages a second overall allow. Network time and the bot's own work count
    as zero. A lower bound, not a schedule a bot can follow: it polls each image exactly when
    it is ready, which nobody knows in advance (so under a binding poll quota its
    ready-to-photo figures are out of any bot's reach); it does not submit the long
    generations first, which a clairvoyant bot could. `prior_submits`: times of earlier
    submits (the warm-up's) still in the submit window."""
    count = len(arrivals)
    order = sorted(range(count), key=lambda i: arrivals[i])
    submit = [0.0] * count
    submits = _rolling([arrivals[i] for i in order], scenario.submits_per_minute, 60.0,
                       prior_submits)
    for index, start in zip(order, submits, strict=True):
        submit[index] = start
    ready = [submit[i] + generation[i] for i in range(count)]
    by_ready = sorted(range(count), key=lambda i: ready[i])
    poll = [0.0] * count
    for index, start in zip(by_ready, _rolling([ready[i] for i in by_ready],
                                               scenario.polls_per_second, 1.0), strict=True):
        poll[index] = start
    photo = [0.0] * count
    chats: dict[int, list[int]] = defaultdict(list)
    for index in sorted(range(count), key=lambda i: poll[i]):
        chats[scenario.chat_of(index)].append(index)
    for chat_id, members in chats.items():
        flood = scenario.group_flood if chat_id < 0 else scenario.private_flood
        limit, window = flood if flood is not None else (None, 1.0)
        for index, start in zip(members, _rolling([poll[i] for i in members], limit, window),
                                strict=True):
            photo[index] = start
    by_photo = sorted(range(count), key=lambda i: photo[i])
    overall, window = OVERALL_SENDS
    for index, start in zip(by_photo, _rolling([photo[i] for i in by_photo], overall, window),
                            strict=True):
        photo[index] = start
    return [IdealDraw(submit[i], ready[i], poll[i], photo[i]) for i in range(count)]


def submit_bound_makespan(scenario: Scenario, submits: Sequence[float],
                          generation: Sequence[float]) -> float:
    """The best makespan a run's own submit times allow: the ideal above with each draw
    submitted when that run submitted it (the quota already kept by those times), each image
    found the moment it is ready and sent as soon as the limits allow. The gap between the
    ideal and this is the run's intake (how late its submits left); the gap between this and
    the run's makespan is finding and sending the images."""
    unquoted = replace(scenario, submits_per_minute=None)
    return max((draw.photo for draw in ideal_schedule(unquoted, submits, generation)),
               default=0.0)


def steady_rate_makespan(scenario: Scenario, generation: Sequence[float]) -> float:
    """The issue's rule of thumb, N / submit quota + generation time (mean), for comparison."""
    mean = sum(generation) / len(generation) if generation else 0.0
    if scenario.submits_per_minute is None:
        return scenario.arrival_seconds + mean
    return max(scenario.arrival_seconds, 60.0 * scenario.draws / scenario.submits_per_minute) + mean
