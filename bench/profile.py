"""A summary of a py-spy recording (`--format raw`: one collapsed stack and its count a line)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
_AREAS = (
    ("bot code", ("/bot/", "/storage/", "/handlers/")),
    ("aiosqlite / sqlite3", ("aiosqlite", "sqlite3")),
    ("aiogram", ("aiogram",)),
    ("aiohttp", ("aiohttp", "multidict", "yarl")),
    ("httpx / httpcore", ("httpx", "httpcore", "h11", "anyio")),
    ("pydantic", ("pydantic",)),
    ("json", ("/json/",)),
    ("base64", ("base64",)),
    ("logging", ("/logging/",)),
    ("asyncio", ("/asyncio/", "selectors")),
    ("threading", ("threading", "queue.py")),
)


def frame_name(frame: str) -> str:
    """`function (file:line)` -> `function (short file)`."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    parts = match["file"].split("/")
    for anchor in ("site-packages", "python3.11", "wt-bench", "bench"):
        if anchor in parts:
            parts = parts[len(parts) - parts[::-1].index(anchor):]
            break
    return f"{match['function']} ({'/'.join(parts[-3:])})"


def area_of(frame: str) -> str:
    for name, needles in _AREAS:
        if any(needle in frame for needle in needles):
            return name
    return "other"


def summarize(path: Path, top: int = 12) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    total = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame for frame in stack.split(";") if frame and "(" in frame]
        if not frames:
            continue
        total += count
        own[frame_name(frames[-1])] += count
        areas[area_of(frames[-1])] += count
        for name in {frame_name(frame) for frame in frames}:
            inclusive[name] += count
    if total == 0:
        return f"profile {path}: no samples"

    def share(count: int) -> str:
        return f"{100 * count / total:5.1f}%"

    lines = [f"profile of ours ({path}): {total} samples of the bot on CPU",
             "  where the CPU went (leaf frame's library):"]
    lines += [f"    {share(count)}  {name}" for name, count in areas.most_common()]
    lines.append("  top frames by own time:")
    lines += [f"    {share(count)}  {name}" for name, count in own.most_common(top)]
    lines.append("  top frames by inclusive time:")
    lines += [f"    {share(count)}  {name}" for name, count in inclusive.most_common(top)]
    return "\n".join(lines)
