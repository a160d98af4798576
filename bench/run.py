"""`python -m bench.run`: the benchmark of issue 5 (see README, "Benchmark").

    python -m bench.run                      # every scenario, ours and the naive baseline
    python -m bench.run --scenario burst --json out.json
    python -m bench.run --smoke              # a few draws per scenario, for CI (< 60 s)

Exit code: 0 when every run completed, whatever the performance; 1 when the benchmark broke
(the bot did not start or crashed, or a draw was not delivered exactly once with exactly one
billed generation: in --smoke for both strategies, otherwise for ours); 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import platform
import signal
import sys
import time
from pathlib import Path
from typing import Any

from bench import report
from bench.profile import summarize
from bench.runner import STRATEGIES, BenchError, RunFigures, RunOptions, run_once
from bench.scenarios import Scenario, smoke, standard


def parse_range(text: str) -> tuple[float, float]:
    try:
        low_text, _, high_text = text.partition("-")
        low, high = float(low_text), float(high_text or low_text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected LOW-HIGH seconds, e.g. 3-6") from None
    if not 0 <= low <= high:
        raise argparse.ArgumentTypeError("expected 0 <= LOW <= HIGH")
    return low, high


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("expected 1 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="all",
                        help="light, burst, inflight, group, or all (default); comma-separated")
    parser.add_argument("--smoke", action="store_true",
                        help="a few draws per scenario with fast generations (CI)")
    parser.add_argument("--strategy", choices=(*STRATEGIES, "both"), default="both")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the raw figures here")
    parser.add_argument("--markdown", action="store_true", help="print tables as Markdown")
    parser.add_argument("--render", type=Path, metavar="FILE",
                        help="print the tables of a run saved with --json, run nothing")
    parser.add_argument("--generation", type=parse_range, metavar="LOW-HIGH",
                        help="generation time, uniform, seconds (default 3-6; smoke 0.2-0.5)")
    parser.add_argument("--burst-scale", type=float, default=0.2, metavar="F",
                        help="the burst's draws and quotas relative to the issue's 1,000 draws "
                             "at 500/min and 50 polls/s (default 0.2)")
    parser.add_argument("--image-kb", type=int, default=None,
                        help="size of each generated image (default 1024; smoke 64)")
    parser.add_argument("--latency-ms", type=float, default=None,
                        help="network round trip to each emulator (default 20; smoke 0)")
    parser.add_argument("--launch", choices=("fork", "exec"), default="fork",
                        help="start the bot from a preloaded fork server (default) or as a "
                             "fresh `python -m bot`")
    parser.add_argument("--warmup", type=int, default=None, metavar="N",
                        help="draws before the measured ones, not counted (default 3; smoke 0)")
    parser.add_argument("--repeat", type=positive, default=1, metavar="N",
                        help="run each scenario and strategy N times and report the medians "
                             "(the machine's noise: CPU and RSS vary ~15%% from run to run)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generation times")
    parser.add_argument("--log-level", default="INFO", help="the bot's LOG_LEVEL")
    parser.add_argument("--logs", type=Path, metavar="DIR", help="keep the bots' logs here")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="record ours with py-spy (collapsed stacks) into DIR")
    return parser


def pick(names: str, available: dict[str, Scenario]) -> list[Scenario]:
    if names == "all":
        return list(available.values())
    chosen = []
    for name in names.split(","):
        if name.strip() not in available:
            raise SystemExit(f"unknown scenario {name!r}; choose from "
                             f"{', '.join(available)} or all")
        chosen.append(available[name.strip()])
    return chosen


async def run(args: argparse.Namespace) -> int:
    main_task = asyncio.current_task()
    if main_task is not None:  # SIGTERM: stop the bot and the emulators, as Ctrl-C does
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    if args.smoke:
        available = smoke(args.generation or (0.2, 0.5))
    else:
        available = standard(burst_scale=args.burst_scale,
                             generation=args.generation or (3.0, 6.0))
    scenarios = pick(args.scenario, available)
    strategies = STRATEGIES if args.strategy == "both" else (args.strategy,)
    options = RunOptions(
        image_bytes=1024 * (args.image_kb if args.image_kb is not None
                            else 64 if args.smoke else 1024),
        latency=(args.latency_ms if args.latency_ms is not None
                 else 0.0 if args.smoke else 20.0) / 1000,
        warmup=args.warmup if args.warmup is not None else 0 if args.smoke else 3,
        launch=args.launch, seed=args.seed, log_level=args.log_level, smoke=args.smoke,
        profile_dir=args.profile, logs_dir=args.logs,
    )
    started = time.monotonic()
    print(f"benchmark: {len(scenarios)} scenario(s) x {len(strategies)} strategies; images "
          f"{options.image_bytes // 1024} KB, round trip {options.latency * 1000:.0f} ms, "
          f"{platform.python_implementation()} {platform.python_version()}, "
          f"bot launched by {options.launch}", flush=True)
    results: dict[str, report.Runs] = {}
    broken = False
    for scenario in scenarios:
        results[scenario.name] = {}
        for number in range(1, args.repeat + 1):
            for strategy in strategies:  # (alternating: a slow spell hits both alike)
                run_name = f" (run {number} of {args.repeat})" if args.repeat > 1 else ""
                print(f"-- {scenario.name} / {strategy}{run_name} ...", flush=True)
                try:
                    figures = await run_once(scenario, strategy, options)
                except BenchError as error:
                    print(f"BROKEN: {scenario.name} / {strategy}: {error}", flush=True)
                    broken = True
                    continue
                results[scenario.name].setdefault(strategy, []).append(figures)
                if figures.problems and (strategy == "ours" or args.smoke):
                    broken = True
        print(flush=True)
        print(report.section(scenario, results[scenario.name], markdown=args.markdown))
        for each in results[scenario.name].values():
            for figures in each:
                if figures.profile:
                    print()
                    print(summarize(Path(figures.profile)))
        print(flush=True)
    elapsed = time.monotonic() - started
    print(f"benchmark finished in {elapsed:.0f} s" + ("; BROKEN (see above)" if broken else ""))
    if args.json is not None:
        args.json.write_text(json.dumps(to_json(args, options, scenarios, results), indent=2))
        print(f"raw figures written to {args.json}")
    return 1 if broken else 0


def to_json(args: argparse.Namespace, options: RunOptions, scenarios: list[Scenario],
            results: dict[str, report.Runs]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "options": {key: str(value) if isinstance(value, Path) else value
                    for key, value in dataclasses.asdict(options).items()},
        "smoke": args.smoke,
        "repeat": args.repeat,
        "scenarios": {},
    }
    for scenario in scenarios:
        runs = results.get(scenario.name, {})
        summary = {
            row.metric.key: {"target": row.target, "ideal": row.ideal, "ours": row.ours,
                             "baseline": row.baseline, "ratio": row.ratio,
                             "ours_verdict": row.ours_verdict,
                             "baseline_verdict": row.baseline_verdict}
            for row in report.rows(scenario, runs)
        }
        out["scenarios"][scenario.name] = {
            "scenario": dataclasses.asdict(scenario),
            "summary": summary,
            "runs": {strategy: [dataclasses.asdict(figures) for figures in each]
                     for strategy, each in runs.items()},
        }
    return out


def render(path: Path, *, markdown: bool) -> None:
    saved = json.loads(path.read_text(encoding="utf-8"))
    for entry in saved["scenarios"].values():
        fields: dict[str, Any] = {key: tuple(value) if isinstance(value, list) else value
                                  for key, value in entry["scenario"].items()}
        scenario = Scenario(**fields)
        runs = {strategy: [RunFigures(**each) for each in _as_list(raw)]
                for strategy, raw in entry["runs"].items()}
        print(report.section(scenario, runs, markdown=markdown))
        print()


def _as_list(raw: Any) -> list[Any]:
    """A strategy's runs; a file saved before --repeat holds the one run itself."""
    return raw if isinstance(raw, list) else [raw]


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.render is not None:
        render(args.render, markdown=args.markdown)
        return
    try:
        code = asyncio.run(run(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("benchmark interrupted", file=sys.stderr)
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
