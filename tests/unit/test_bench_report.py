"""bench/report.py and the --render of bench/run.py: medians over repeated runs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from bench import report
from bench.run import render
from bench.runner import RunFigures
from bench.scenarios import standard


def run(cpu_seconds: float, rss_mb: float, delivered: int = 100) -> RunFigures:
    return RunFigures(scenario="inflight", strategy="ours", draws=100, delivered=delivered,
                      billed=delivered, cpu_seconds=cpu_seconds, peak_rss_mb=rss_mb)


def test_repeated_runs_are_reported_by_their_median() -> None:
    inflight = standard(burst_scale=0.2, generation=(3.0, 6.0))["inflight"]
    runs: report.Runs = {"ours": [run(1.5, 140), run(2.1, 160), run(1.7, 120)]}
    by_key = {row.metric.key: row for row in report.rows(inflight, runs)}
    assert by_key["cpu_ms_per_image"].ours == "17.0 ms"  # 15, 21, 17 ms: the middle one
    assert by_key["peak_rss_mb"].ours == "140 MB"
    assert by_key["peak_rss_mb"].ours_verdict == "PASS"
    text = report.section(inflight, runs)
    assert "bot CPU / image 15.0 ms–21.0 ms" in text  # the spread is shown
    assert "ours run 3:" in text


def test_a_run_saved_before_repeats_were_possible_still_renders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    inflight = standard(burst_scale=0.2, generation=(3.0, 6.0))["inflight"]
    saved = {"scenarios": {"inflight": {
        "scenario": dataclasses.asdict(inflight),
        "runs": {"ours": dataclasses.asdict(run(1.6, 150))},  # one run, not a list of runs
    }}}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(saved))
    render(path, markdown=True)
    assert "| bot CPU / image | ≤ 12.0 ms |  | 16.0 ms |" in capsys.readouterr().out


def test_the_makespan_beyond_the_ideal_is_split_at_the_submits() -> None:
    inflight = standard(burst_scale=0.2, generation=(3.0, 6.0))["inflight"]
    runs: report.Runs = {"ours": [
        dataclasses.replace(run(1.5, 140), makespan=10.4, ideal_makespan=9.3,
                            submit_bound_makespan=9.9),
    ]}
    by_key = {row.metric.key: row for row in report.rows(inflight, runs)}
    assert by_key["submit_bound_makespan"].ours == "9.90 s"
    text = report.section(inflight, runs)
    assert "ours' makespan beyond the ideal, +1.10 s: +0.60 s from when its submits left" in text
    assert "+0.50 s finding and sending the images" in text


def test_runs_saved_before_the_submit_bound_render_without_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    inflight = standard(burst_scale=0.2, generation=(3.0, 6.0))["inflight"]
    saved_run = dataclasses.asdict(dataclasses.replace(run(1.6, 150), makespan=10.4,
                                                       ideal_makespan=9.3))
    del saved_run["submit_bound_makespan"]  # the field came later
    saved = {"scenarios": {"inflight": {"scenario": dataclasses.asdict(inflight),
                                        "runs": {"ours": [saved_run]}}}}
    path = tmp_path / "before.json"
    path.write_text(json.dumps(saved))
    render(path, markdown=True)
    out = capsys.readouterr().out
    assert "| makespan / ideal | ≤ 1.05 | 1.00 | 1.12 |" in out
    assert "|   best after its submits |  |  | — |" in out
    assert "beyond the ideal" not in out
