"""The bot under test as a process of its own, and its CPU time and memory from /proc.

Two ways to start it:
- "fork" (default): from a multiprocessing fork server that has already imported the bot (and
  so aiogram, ~6 s of CPU on two cores). The child sets its environment and calls the very
  `main()` that `python -m bot` (or `python -m bench.naive_bot`) runs.
- "exec": `python -m bot` / `python -m bench.naive_bot` as a fresh interpreter.
Either way the bot is alone in its process, so /proc/<pid> gives its CPU time and peak RSS.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import sys
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path

from bench.naive_bot import ENV_INTERVAL

PROJECT_ROOT = Path(__file__).resolve().parents[1]
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PRELOAD = ["bot.app", "bot.__main__", "bench.naive_bot", "bench.botproc"]
_context: multiprocessing.context.ForkServerContext | None = None


@dataclass(frozen=True, slots=True)
class ProcessFigures:
    cpu_seconds: float  # user + system, all threads, since the process started
    main_thread_cpu_seconds: float  # the event loop's thread alone
    rss_mb: float
    peak_rss_mb: float  # VmHWM


def _cpu(stat_path: str) -> float:
    with open(stat_path, encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # After "pid (comm)": state is field 3, utime 14, stime 15 (proc(5)).
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def read_figures(pid: int) -> ProcessFigures:
    cpu = _cpu(f"/proc/{pid}/stat")
    main_thread = _cpu(f"/proc/{pid}/task/{pid}/stat")
    memory: dict[str, float] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                memory[key] = int(value.split()[0]) / 1024  # kB -> MB
    return ProcessFigures(cpu, main_thread, memory.get("VmRSS", 0.0), memory.get("VmHWM", 0.0))


def _child(env: dict[str, str], naive: bool, run_dir: str, log_path: str) -> None:
    """Runs in the forked child: become `python -m bot` (or the naive bot)."""
    os.chdir(run_dir)
    os.environ.clear()
    os.environ.update(env)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    sys.argv = ["bot"]  # the fork inherits the benchmark's own arguments
    if naive:
        from bench.naive_bot import main
    else:
        from bot.__main__ import main
    main()


def _fork_context() -> multiprocessing.context.ForkServerContext:
    global _context
    if _context is None:
        context = multiprocessing.get_context("forkserver")
        assert isinstance(context, multiprocessing.context.ForkServerContext)
        context.set_forkserver_preload(_PRELOAD)
        _context = context
    return _context


class BotProcess:
    """One running bot; `stop()` sends SIGTERM as an operator would, SIGKILL if it hangs."""

    def __init__(self, pid: int, log_path: Path, *, forked: BaseProcess | None = None,
                 executed: asyncio.subprocess.Process | None = None) -> None:
        self.pid = pid
        self.log_path = log_path
        self._forked = forked
        self._executed = executed
        self._final_code: int | None = None

    @classmethod
    async def start(cls, env: dict[str, str], *, naive_interval: float | None, run_dir: Path,
                    launch: str = "fork") -> BotProcess:
        log_path = run_dir / "bot.log"
        full_env = {"PATH": os.environ.get("PATH", ""), "PYTHONUNBUFFERED": "1", **env}
        if naive_interval is not None:
            full_env[ENV_INTERVAL] = str(naive_interval)
        if launch == "fork":
            process = _fork_context().Process(
                target=_child, name="bot-under-test",
                args=(full_env, naive_interval is not None, str(run_dir), str(log_path)),
            )
            await asyncio.to_thread(process.start)  # the first start boots the fork server
            assert process.pid is not None
            return cls(process.pid, log_path, forked=process)
        if launch != "exec":
            raise ValueError(f"unknown launch mode {launch!r}")
        full_env["PYTHONPATH"] = str(PROJECT_ROOT)  # bench/ is not an installed package
        module = "bench.naive_bot" if naive_interval is not None else "bot"
        with log_path.open("ab") as log_file:
            executed = await asyncio.create_subprocess_exec(
                sys.executable, "-m", module, cwd=str(run_dir), env=full_env,
                stdout=log_file, stderr=log_file, stdin=asyncio.subprocess.DEVNULL,
            )
        return cls(executed.pid, log_path, executed=executed)

    @property
    def exit_code(self) -> int | None:
        if self._final_code is not None:
            return self._final_code
        if self._forked is not None:
            return self._forked.exitcode
        assert self._executed is not None
        return self._executed.returncode

    def figures(self) -> ProcessFigures:
        return read_figures(self.pid)

    async def stop(self, timeout: float = 15.0) -> int | None:  # noqa: ASYNC109
        """SIGTERM, wait for the exit; SIGKILL after `timeout`. Returns the exit code."""
        if self.exit_code is None:
            self._signal(signal.SIGTERM)
            if not await self._wait(timeout):
                self._signal(signal.SIGKILL)
                await self._wait(5.0)
        code = self.exit_code
        if self._forked is not None and code is not None:
            self._final_code = code
            self._forked.close()
        return code

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)

    async def _wait(self, seconds: float) -> bool:
        if self._executed is not None:
            try:
                await asyncio.wait_for(self._executed.wait(), seconds)
            except TimeoutError:
                return False
            return True
        assert self._forked is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while self._forked.exitcode is None:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
