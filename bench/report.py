"""Figures from raw runs, the targets of issue 5, and the side-by-side table."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.runner import RunFigures
from bench.scenarios import Scenario


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class Metric:
    key: str
    label: str
    unit: str  # "s", "ms", "MB", "x" (a ratio), "" (a count)
    value: Callable[[RunFigures], float | None]
    ideal: Callable[[RunFigures], float | None] | None = None
    target: float | None = None  # passes when value <= target (== for billed)
    exact: bool = False


def _per_image(total: float, figures: RunFigures) -> float | None:
    return total / figures.delivered if figures.delivered else None


def _ratio(figures: RunFigures) -> float | None:
    if figures.makespan is None or figures.ideal_makespan <= 0:
        return None
    return figures.makespan / figures.ideal_makespan


METRICS: tuple[Metric, ...] = (
    Metric("delivered", "photos delivered", "", lambda f: f.delivered),
    Metric("makespan", "makespan", "s", lambda f: f.makespan, lambda f: f.ideal_makespan),
    Metric("submit_bound_makespan", "  best after its submits", "s",
           lambda f: f.submit_bound_makespan),
    Metric("makespan_ratio", "makespan / ideal", "x", _ratio, lambda f: 1.0, 1.05),
    Metric("ready_p50", "ready→photo p50", "s", lambda f: percentile(f.ready_to_photo, 50),
           lambda f: percentile(f.ideal_ready_to_photo, 50), 0.5),
    Metric("ready_p95", "ready→photo p95", "s", lambda f: percentile(f.ready_to_photo, 95),
           lambda f: percentile(f.ideal_ready_to_photo, 95), 1.0),
    Metric("ready_max", "ready→photo max", "s", lambda f: max(f.ready_to_photo, default=None),
           lambda f: max(f.ideal_ready_to_photo, default=None)),
    Metric("polls_per_image", "polls / image", "", lambda f: _per_image(f.polls, f),
           lambda f: 1.0, 4.0),
    Metric("ack_p50", "/draw→ack p50", "ms",
           lambda f: _ms(percentile(f.ack, 50))),
    Metric("ack_p95", "/draw→ack p95", "ms", lambda f: _ms(percentile(f.ack, 95)),
           target=100.0),
    Metric("yandex_429", "429s from YandexArt", "",
           lambda f: f.yandex_429_submit + f.yandex_429_poll, lambda f: 0.0, 0.0),
    Metric("telegram_429", "429s from Telegram", "", lambda f: f.telegram_429,
           lambda f: 0.0, 0.0),
    Metric("cpu_ms_per_image", "bot CPU / image", "ms",
           lambda f: _ms(_per_image(f.cpu_seconds, f)), target=12.0),
    Metric("peak_rss_mb", "bot peak RSS", "MB", lambda f: f.peak_rss_mb, target=150.0),
    Metric("rss_growth_mb", "  of which above idle", "MB",
           lambda f: f.peak_rss_mb - f.rss_before_mb),
    Metric("billed_per_delivered", "billed / delivered", "x",
           lambda f: _per_image(f.billed, f), lambda f: 1.0, 1.0, exact=True),
)
METRIC_BY_KEY = {metric.key: metric for metric in METRICS}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def verdict(metric: Metric, value: float | None) -> str:
    if metric.target is None:
        return ""
    if value is None:
        return "FAIL"
    if metric.exact:
        return "PASS" if math.isclose(value, metric.target, abs_tol=1e-9) else "FAIL"
    return "PASS" if value <= metric.target + 1e-9 else "FAIL"


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "x":
        return f"{value:.2f}"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "MB":
        return f"{value:.0f} MB"
    return f"{value:.2f}" if not float(value).is_integer() else f"{value:.0f}"


def target_text(metric: Metric) -> str:
    if metric.target is None:
        return ""
    if metric.exact:
        return f"= {fmt(metric.target, metric.unit)}"
    return f"≤ {fmt(metric.target, metric.unit)}"


def ratio_text(ours: float | None, baseline: float | None) -> str:
    if ours is None or baseline is None:
        return "—"
    if baseline == 0:
        return "=" if ours == 0 else "∞"
    return f"{ours / baseline:.2f}"


@dataclass(frozen=True, slots=True)
class Row:
    metric: Metric
    judged: bool
    target: str
    ideal: str
    ours: str
    baseline: str
    ratio: str
    ours_verdict: str
    baseline_verdict: str
    unreachable: bool  # the quota-bound ideal itself misses the target


Runs = dict[str, list[RunFigures]]  # each strategy's runs of one scenario (--repeat)


def first_run(runs: Runs) -> RunFigures | None:
    each = runs.get("ours") or runs.get("baseline")
    return each[0] if each else None


def values_of(metric: Metric, runs: Sequence[RunFigures]) -> list[float]:
    """The metric in each run that has it."""
    return [value for value in map(metric.value, runs) if value is not None]


def median_value(metric: Metric, runs: Sequence[RunFigures]) -> float | None:
    """The metric's median over repeated runs (one run: its value)."""
    values = values_of(metric, runs)
    return statistics.median(values) if values else None


def rows(scenario: Scenario, runs: Runs) -> list[Row]:
    out = []
    ours, baseline = runs.get("ours", []), runs.get("baseline", [])
    reference = first_run(runs)  # the ideal is the same in every run
    for metric in METRICS:
        judged = metric.key in scenario.judged
        ours_value = median_value(metric, ours)
        base_value = median_value(metric, baseline)
        ideal_value = metric.ideal(reference) if metric.ideal and reference else None
        unreachable = (judged and ideal_value is not None
                       and verdict(metric, ideal_value) == "FAIL")
        out.append(Row(
            metric=metric, judged=judged,
            target=target_text(metric) if judged else "",
            ideal=fmt(ideal_value, metric.unit) if metric.ideal else "",
            ours=fmt(ours_value, metric.unit) if ours else "",
            baseline=fmt(base_value, metric.unit) if baseline else "",
            ratio=ratio_text(ours_value, base_value),
            ours_verdict=verdict(metric, ours_value) if judged and ours else "",
            baseline_verdict=verdict(metric, base_value) if judged and baseline else "",
            unreachable=unreachable,
        ))
    return out


HEADER = ("metric", "target", "ideal", "ours", "baseline", "ours/base", "ours", "baseline")


def table(scenario: Scenario, runs: Runs, *, markdown: bool = False) -> str:
    body = []
    for row in rows(scenario, runs):
        mark = " †" if row.unreachable else ""
        body.append((row.metric.label, row.target + mark, row.ideal, row.ours, row.baseline,
                     row.ratio, row.ours_verdict, row.baseline_verdict))
    if markdown:
        lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines)
    widths = [max(len(cells[i]) for cells in [HEADER, *body]) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(cells)).rstrip()
             for cells in [HEADER, *body]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def section(scenario: Scenario, runs: Runs, *, markdown: bool = False) -> str:
    reference = first_run(runs)
    lines = [f"### {scenario.name}: {scenario.title}" if markdown
             else f"== {scenario.name}: {scenario.title}"]
    notes = list(scenario.notes)
    if reference is not None:
        notes.append(f"ideal makespan {reference.ideal_makespan:.1f} s (the issue's "
                     f"N / quota + mean generation time: {reference.steady_rate_makespan:.1f} s)")
    if split := makespan_split(runs.get("ours", [])):
        notes.append(split)
    repeated = any(len(each) > 1 for each in runs.values())
    if repeated:
        notes.append("each figure is the median of the runs below; the spread of the judged "
                     "ones: " + spread(scenario, runs))
    for strategy, each in runs.items():
        for number, figures in enumerate(each, start=1):
            name = f"{strategy} run {number}" if repeated else strategy
            notes.append(f"{name}: " + details(figures))
            notes.extend(f"{name}: PROBLEM: {problem}" for problem in figures.problems)
    prefix = "- " if markdown else "   "
    lines.extend(prefix + note for note in notes)
    lines.append("")
    lines.append(table(scenario, runs, markdown=markdown))
    if any(row.unreachable for row in rows(scenario, runs)):
        lines.append("")
        lines.append("† the quota-bound ideal itself misses this target in this scenario")
    return "\n".join(lines)


def makespan_split(runs: Sequence[RunFigures]) -> str | None:
    """Where ours' makespan beyond the ideal went (medians): how late its submits left (the
    best those submit times allow, `submit_bound_makespan`), and finding and sending the
    images after them."""
    makespan = median_value(METRIC_BY_KEY["makespan"], runs)
    bound = median_value(METRIC_BY_KEY["submit_bound_makespan"], runs)
    if makespan is None or bound is None or not runs:
        return None
    ideal = runs[0].ideal_makespan
    return (f"ours' makespan beyond the ideal, {makespan - ideal:+.2f} s: {bound - ideal:+.2f} s "
            f"from when its submits left (the best its own submit times allow: {bound:.2f} s, "
            f"each image then found the moment it is ready), {makespan - bound:+.2f} s finding "
            f"and sending the images")


def details(figures: RunFigures) -> str:
    return (f"wall {figures.wall_seconds:.1f} s, bot CPU {figures.cpu_seconds:.2f} s "
            f"({figures.main_thread_cpu_seconds:.2f} s in the event loop's thread), RSS at start "
            f"{figures.rss_before_mb:.0f} MB, {figures.submits} submits, {figures.polls} polls, "
            f"emulators' CPU {figures.bench_cpu_seconds:.1f} s, their loop lag max "
            f"{figures.bench_loop_lag_max * 1000:.0f} ms")


def spread(scenario: Scenario, runs: Runs) -> str:
    """"ours: bot CPU / image 15.1 ms–18.0 ms, ...": the lowest and highest run of each judged
    metric that differs between runs by more than 2%."""
    parts = []
    for strategy, each in runs.items():
        ranges = []
        for metric in METRICS:
            values = values_of(metric, each)
            if metric.key in scenario.judged and values and max(values) > min(values) * 1.02:
                low, high = fmt(min(values), metric.unit), fmt(max(values), metric.unit)
                ranges.append(f"{metric.label} {low}–{high}")
        parts.append(f"{strategy}: " + (", ".join(ranges) or "the same in every run"))
    return "; ".join(parts)
