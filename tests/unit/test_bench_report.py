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
