"""One run: fresh emulators, the bot as its own process, N draws, raw figures.

Everything is timed in this process with `time.monotonic()`, the clock both emulators stamp
their records with: an operation's `ready_at`, a request's `at`, an update's delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import resource
import shutil
import signal
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.botproc import BotProcess
from bench.scenarios import (
    Scenario,
    ideal_schedule,
    steady_rate_makespan,
    submit_bound_makespan,
)
from tests.e2e.harness import bot_environment
from tests.fakes.telegram import ApiCall, TelegramEmulator
from tests.fakes.yandexart import YandexArtEmulator

STRATEGIES = ("ours", "baseline")
NAIVE_POLL_INTERVAL = 1.0
PHOTO_METHODS = frozenset({"sendphoto", "senddocument"})
_TOKEN = re.compile(r"#(\d{5})\b")
_WARMUP = re.compile(r"warm-up (\d+):")
WARMUP_FIRST_CHAT = 9_000_001
PROMPTS = (
    "a lighthouse in a storm, oil painting", "a red fox in the snow", "a tram in old Lisbon",
    "a cup of coffee on a rainy window sill", "a dragon made of autumn leaves",
)


class BenchError(Exception):
    """The benchmark itself could not run (the bot did not start, or crashed)."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    image_bytes: int = 1024 * 1024
    latency: float = 0.02  # network round trip, seconds, to each emulator
    launch: str = "fork"
    seed: int = 1
    log_level: str = "INFO"
    warmup: int = 3  # draws before the measured ones (not counted), as a running bot has had
    smoke: bool = False
    profile_dir: Path | None = None
    logs_dir: Path | None = None


@dataclass
class RunFigures:
    """Raw figures of one run (times in seconds, relative to the first /draw where absolute)."""

    scenario: str
    strategy: str
    draws: int
    delivered: int = 0
    duplicate_photos: int = 0
    billed: int = 0
    timed_out: bool = False
    bot_exit_code: int | None = None
    makespan: float | None = None
    ideal_makespan: float = 0.0
    # The best makespan this run's own submit times allow (bench.scenarios.submit_bound_makespan)
    submit_bound_makespan: float | None = None
    steady_rate_makespan: float = 0.0
    ready_to_photo: list[float] = field(default_factory=list)
    ideal_ready_to_photo: list[float] = field(default_factory=list)
    ack: list[float] = field(default_factory=list)
    unacknowledged: int = 0
    submits: int = 0
    polls: int = 0
    yandex_429_submit: int = 0
    yandex_429_poll: int = 0
    telegram_429: int = 0
    telegram_calls: dict[str, int] = field(default_factory=dict)
    cpu_seconds: float = 0.0
    main_thread_cpu_seconds: float = 0.0
    rss_before_mb: float = 0.0
    peak_rss_mb: float = 0.0
    wall_seconds: float = 0.0
    bench_cpu_seconds: float = 0.0
    bench_loop_lag_max: float = 0.0
    profile: str | None = None
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Command:
    index: int
    chat_id: int
    message_id: int
    posted_at: float


def prompt_of(scenario: Scenario, index: int) -> str:
    """Unique per draw: the token `#NNNNN` finds the draw in the caption and the operation."""
    return f"bench {scenario.name} #{index:05d}: {PROMPTS[index % len(PROMPTS)]}"


def token_of(text: Any) -> int | None:
    match = _TOKEN.search(text) if isinstance(text, str) else None
    return int(match[1]) if match else None


def answered_command(call: ApiCall) -> int | None:
    """The message a call answers: a reply's target, or the message a reaction was put on."""
    if call.method in PHOTO_METHODS | {"sendmessage"}:
        reply = call.params.get("reply_parameters")
        target = reply.get("message_id") if isinstance(reply, dict) else None
    elif call.method == "setmessagereaction":
        target = call.params.get("message_id")
    else:
        return None
    return target if isinstance(target, int) else None


class LagMonitor:
    """How late this process's event loop wakes up: if the emulators are starved of CPU, the
    times they record are late too."""

    def __init__(self, period: float = 0.01) -> None:
        self.period = period
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(self.period)
            self.worst = max(self.worst, time.monotonic() - started - self.period)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class PhotoWatch:
    """Follows the Telegram emulator's calls as they settle: which draws have their photo."""

    def __init__(self, telegram: TelegramEmulator) -> None:
        self.telegram = telegram
        self.delivered: set[int] = set()
        self.last_activity = time.monotonic()
        self._next = 0

    def scan(self) -> None:
        calls = self.telegram.calls
        while self._next < len(calls):
            call = calls[self._next]
            if call.method == "getupdates":
                self._next += 1
                continue
            if call.status == 0:
                break  # still being answered: look again next time
            self.last_activity = max(self.last_activity, call.at)
            if call.method in PHOTO_METHODS and call.status == 200:
                token = token_of(call.params.get("caption"))
                if token is not None:
                    self.delivered.add(token)
            self._next += 1


async def wait_until(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_once(scenario: Scenario, strategy: str, options: RunOptions) -> RunFigures:
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}")
    generation = scenario.generation_times(options.seed)
    warmup_generation = scenario.generation_times(options.seed + 1_000_003)

    def generation_seconds(body: dict[str, Any]) -> float:
        messages = body.get("messages") or [{}]
        text = str(messages[0].get("text", ""))
        token = token_of(text)
        if token is not None and token < len(generation):
            return generation[token]
        warmup = _WARMUP.search(text)
        if warmup is not None:
            return warmup_generation[int(warmup[1]) % len(warmup_generation)]
        return 1.0

    telegram = TelegramEmulator()
    telegram.private_flood_limit = scenario.private_flood
    telegram.group_flood_limit = scenario.group_flood
    telegram.latency = options.latency
    yandex = YandexArtEmulator(generation_seconds=generation_seconds,
                               image_size=options.image_bytes)
    yandex.submits_per_minute = scenario.submits_per_minute
    yandex.polls_per_second = scenario.polls_per_second
    yandex.latency = options.latency
    figures = RunFigures(scenario=scenario.name, strategy=strategy, draws=scenario.draws)
    await telegram.start()
    await yandex.start()
    run_dir = Path(tempfile.mkdtemp(prefix=f"bench-{scenario.name}-{strategy}-"))
    env = bot_environment(
        telegram, yandex, run_dir / "data" / "bot.sqlite3", log_level=options.log_level,
        daily_limit=0, yandex_submits_per_minute=scenario.bot_submits_per_minute,
        yandex_polls_per_second=scenario.bot_polls_per_second,
    )
    naive = NAIVE_POLL_INTERVAL if strategy == "baseline" else None
    bot = await BotProcess.start(env, naive_interval=naive, run_dir=run_dir, launch=options.launch)
    lag = LagMonitor()
    profiler: asyncio.subprocess.Process | None = None
    commands: list[Command] = []
    try:
        started = await wait_until(
            lambda: bot.exit_code is not None
            or any(call.method == "getupdates" for call in telegram.calls), 90.0)
        if not started or bot.exit_code is not None:
            raise BenchError(f"the bot did not start (exit code {bot.exit_code}):\n"
                             f"{bot.log_tail()}")
        if options.warmup > 0:
            await warm_up(telegram, yandex, options.warmup, bot)
            await let_submit_window_clear(scenario, yandex, options.warmup)
        before = bot.figures()
        figures.rss_before_mb = before.rss_mb
        if options.profile_dir is not None and strategy == "ours":
            profiler, figures.profile = await start_profiler(bot.pid, options.profile_dir,
                                                             scenario.name)
        bench_cpu = _cpu_self()
        lag.start()
        commands = await post_draws(scenario, telegram)
        first = commands[0].posted_at
        prior = [r.at - first for r in yandex.submits() if r.status == 200 and r.at < first]
        ideal = ideal_schedule(scenario, [c.posted_at - first for c in commands], generation,
                               prior)
        figures.ideal_makespan = max(draw.photo for draw in ideal)
        figures.ideal_ready_to_photo = [draw.ready_to_photo for draw in ideal]
        figures.steady_rate_makespan = steady_rate_makespan(scenario, generation)
        limit = (figures.ideal_makespan + 30.0 if options.smoke
                 else max(3.0 * figures.ideal_makespan + 60.0, 120.0))
        watch = PhotoWatch(telegram)

        def all_delivered() -> bool:
            watch.scan()
            return len(watch.delivered) == scenario.draws or bot.exit_code is not None

        figures.timed_out = not await wait_until(all_delivered, limit)
        if bot.exit_code is not None:
            raise BenchError(f"the bot exited during the run (exit code {bot.exit_code}):\n"
                             f"{bot.log_tail()}")
        await wait_quiet(telegram, yandex, watch)
        after = bot.figures()
        figures.wall_seconds = time.monotonic() - first
        figures.cpu_seconds = after.cpu_seconds - before.cpu_seconds
        figures.main_thread_cpu_seconds = (after.main_thread_cpu_seconds
                                           - before.main_thread_cpu_seconds)
        figures.peak_rss_mb = after.peak_rss_mb
        figures.bench_cpu_seconds = _cpu_self() - bench_cpu
    finally:
        await lag.stop()
        if profiler is not None:
            await stop_profiler(profiler)
        figures.bot_exit_code = await bot.stop()
        await yandex.stop()
        await telegram.stop()
        if options.logs_dir is not None:
            options.logs_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy(bot.log_path, options.logs_dir / f"{scenario.name}-{strategy}.log")
        shutil.rmtree(run_dir, ignore_errors=True)
    figures.bench_loop_lag_max = lag.worst
    measure(figures, scenario, commands, telegram, yandex)
    return figures


async def warm_up(telegram: TelegramEmulator, yandex: YandexArtEmulator, count: int,
                  bot: BotProcess) -> None:
    """A few draws in chats of their own before the measured ones, so that one-time costs
    (imports, pydantic schemas built on first use, first connections) are not counted, and the
    bot has seen some generation times, as a bot that has been running would have."""
    for number in range(count):
        chat_id = WARMUP_FIRST_CHAT + number
        telegram.user_message(chat_id=chat_id, user_id=chat_id,
                              text=f"/draw warm-up {number}: a quiet lake at dawn")

    def done() -> bool:
        photos = [call for call in telegram.calls if call.method in PHOTO_METHODS
                  and call.status == 200 and "warm-up" in str(call.params.get("caption"))]
        return len(photos) >= count or bot.exit_code is not None

    if not await wait_until(done, 90.0) or bot.exit_code is not None:
        raise BenchError(f"the warm-up draws were not delivered (exit code {bot.exit_code}):\n"
                         f"{bot.log_tail()}")
    await wait_quiet(telegram, yandex, PhotoWatch(telegram), quiet=1.1)


async def let_submit_window_clear(scenario: Scenario, yandex: YandexArtEmulator,
                                  warmup: int) -> None:
    """Where the submit quota binds, the warm-up's submits would take part of the first quota
    minute from the measured draws (and add a window): wait until they have left it."""
    quota = scenario.submits_per_minute
    if quota is None or scenario.draws + warmup <= quota:
        return
    accepted = [r.at for r in yandex.submits() if r.status == 200]
    if accepted:
        await asyncio.sleep(max(0.0, max(accepted) + 60.5 - time.monotonic()))


async def post_draws(scenario: Scenario, telegram: TelegramEmulator) -> list[Command]:
    """Post every /draw at its arrival time (all in one go for a burst)."""
    commands: list[Command] = []
    start = time.monotonic()
    for index in range(scenario.draws):
        delay = start + scenario.arrival_of(index) - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        chat_id, user_id = scenario.chat_of(index), scenario.user_of(index)
        command = "/draw@ourbot" if scenario.group else "/draw"
        posted_at = time.monotonic()
        message_id = telegram.user_message(
            chat_id=chat_id, user_id=user_id, text=f"{command} {prompt_of(scenario, index)}",
            chat_type="supergroup" if scenario.group else "private",
            first_name=f"User{user_id}",
        )
        commands.append(Command(index, chat_id, message_id, posted_at))
    return commands


async def wait_quiet(telegram: TelegramEmulator, yandex: YandexArtEmulator,
                     watch: PhotoWatch, quiet: float = 0.5, most: float = 5.0) -> None:
    """After the last photo, let the bot finish (status messages removed, ...): until neither
    emulator has seen a request for `quiet` seconds."""

    def is_quiet() -> bool:
        watch.scan()
        last = max(watch.last_activity, yandex.requests[-1].at if yandex.requests else 0.0)
        return time.monotonic() - last >= quiet

    await wait_until(is_quiet, most)


# ---------------------------------------------------------------- figures from the records


def measure(figures: RunFigures, scenario: Scenario, commands: list[Command],
            telegram: TelegramEmulator, yandex: YandexArtEmulator) -> None:
    if not commands:
        return
    first = commands[0].posted_at
    calls = [call for call in telegram.calls if call.at >= first]
    requests = [request for request in yandex.requests if request.at >= first]
    photos: dict[int, list[ApiCall]] = defaultdict(list)
    replies: dict[tuple[int, int], float] = {}
    actions: dict[int, list[float]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    for call in calls:
        counts[call.method] += 1
        if call.status != 200:
            continue
        chat_id = call.params.get("chat_id")
        token = token_of(call.params.get("caption"))
        if call.method in PHOTO_METHODS and token is not None:
            photos[token].append(call)
        answered = answered_command(call)
        if isinstance(chat_id, int) and answered is not None:
            key = (chat_id, answered)
            replies[key] = min(replies.get(key, call.at), call.at)
        if call.method == "sendchataction" and isinstance(chat_id, int):
            actions[chat_id].append(call.at)
    figures.telegram_calls = dict(sorted(counts.items()))
    figures.telegram_429 = sum(1 for call in calls if call.status == 429)

    ready_at: dict[int, float] = {}
    submitted_at: dict[int, float] = {}
    for operation in yandex.operations.values():
        token = token_of(operation.prompt)
        if token is not None:
            ready_at[token] = min(ready_at.get(token, operation.ready_at), operation.ready_at)
            submitted_at[token] = min(submitted_at.get(token, operation.created_at),
                                      operation.created_at)
    # Billed: every operation created since the first draw (the warm-up's are done by then).
    figures.billed = sum(1 for op in yandex.operations.values() if op.created_at >= first)
    submits = [r for r in requests if r.endpoint in ("submit", "images")]
    polls = [r for r in requests if r.endpoint == "poll"]
    figures.submits, figures.polls = len(submits), len(polls)
    figures.yandex_429_submit = sum(1 for r in submits if r.status == 429)
    figures.yandex_429_poll = sum(1 for r in polls if r.status == 429)

    figures.delivered = sum(1 for command in commands if photos.get(command.index))
    figures.duplicate_photos = sum(max(0, len(calls) - 1) for calls in photos.values())
    if figures.delivered == len(commands):
        figures.makespan = max(photos[c.index][0].at for c in commands) - first
        figures.submit_bound_makespan = submit_bound_makespan(
            scenario, [submitted_at[c.index] - first for c in commands],
            [ready_at[c.index] - submitted_at[c.index] for c in commands])
    for command in commands:
        delivered = photos.get(command.index)
        if delivered and command.index in ready_at:
            figures.ready_to_photo.append(delivered[0].at - ready_at[command.index])

    handed: dict[tuple[int, int], float] = {}
    for delivery in telegram.deliveries.values():
        message = delivery.update.get("message")
        if isinstance(message, dict):
            handed[(int(message["chat"]["id"]), int(message["message_id"]))] = delivery.at
    for command in commands:
        key = (command.chat_id, command.message_id)
        if key not in handed:
            figures.unacknowledged += 1
            continue
        given = handed[key]
        candidates = [at for at in actions.get(command.chat_id, []) if at >= given]
        if key in replies:
            candidates.append(replies[key])
        if candidates:
            figures.ack.append(min(candidates) - given)
        else:
            figures.unacknowledged += 1

    if figures.timed_out:
        figures.problems.append(
            f"{scenario.draws - figures.delivered} of {scenario.draws} draws not delivered "
            f"in time")
    if figures.duplicate_photos:
        figures.problems.append(f"{figures.duplicate_photos} photo(s) sent twice")
    if figures.billed != figures.delivered:
        figures.problems.append(
            f"{figures.billed} generations billed for {figures.delivered} photos")
    if figures.bot_exit_code not in (0, None):
        figures.problems.append(f"the bot exited with code {figures.bot_exit_code} on SIGTERM")


# ---------------------------------------------------------------- profiling (py-spy)


def py_spy_path() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


async def start_profiler(pid: int, directory: Path,
                         name: str) -> tuple[asyncio.subprocess.Process, str]:
    executable = py_spy_path()
    if executable is None:
        raise BenchError("--profile needs py-spy: pip install -e '.[bench]'")
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    output = directory / f"{name}-ours.txt"
    process = await asyncio.create_subprocess_exec(
        executable, "record", "--pid", str(pid), "--rate", "100", "--format", "raw",
        "--output", str(output), "--full-filenames", "--gil",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    await asyncio.sleep(1.0)  # let it attach
    return process, str(output)


async def stop_profiler(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
    try:
        await asyncio.wait_for(process.wait(), 30)
    except TimeoutError:
        process.kill()
        await process.wait()
