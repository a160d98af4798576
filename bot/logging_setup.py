"""Logging with every configured secret masked, whatever logger or level writes it.

Two formats: `text` (one line per record, for people) and `json` (one JSON object per line,
for log collectors). Secrets learnt at run time (IAM tokens, a generated webhook secret) are
added with `add_secret` and masked from then on.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

REDACTED = "***"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_runtime_secrets: set[str] = set()
# Attributes every LogRecord has: anything else was passed with `extra=` and goes into JSON.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName",
}


def add_secret(secret: str) -> None:
    """Mask `secret` in every log record from now on (e.g. an IAM token just obtained)."""
    if len(secret) >= 4:
        _runtime_secrets.add(secret)


class RedactingFormatter(logging.Formatter):
    """Masks the given secrets in the final text, tracebacks included (a last line of defence:
    no code path is meant to log a secret in the first place)."""

    def __init__(self, secrets: Iterable[str], fmt: str | None = None) -> None:
        super().__init__(fmt)
        self._static = {s for s in secrets if len(s) >= 4}
        self._seen_runtime = -1
        self._secrets: list[str] = []

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))

    def redact(self, value: str) -> str:
        if self._seen_runtime != len(_runtime_secrets):
            # Longest first, so a secret containing another is masked whole.
            self._secrets = sorted(self._static | _runtime_secrets, key=len, reverse=True)
            self._seen_runtime = len(_runtime_secrets)
        for secret in self._secrets:
            value = value.replace(secret, REDACTED)
        return value


class JsonFormatter(RedactingFormatter):
    """One JSON object per line: time, level, logger, message, the `extra=` fields, and the
    exception's traceback if any; every string in it redacted."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__(secrets)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool | None) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        redacted = {key: self.redact(value) if isinstance(value, str) else value
                    for key, value in entry.items()}
        # Redact the encoded line too: a secret could only be split by JSON escaping if it held
        # quotes or backslashes, which tokens never do.
        return self.redact(json.dumps(redacted, ensure_ascii=False))


def setup_logging(level: str, secrets: Iterable[str], fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    formatter: logging.Formatter = (
        JsonFormatter(secrets) if fmt == "json" else RedactingFormatter(secrets, TEXT_FORMAT))
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)  # warnings too go through the handler (and its format)
    # A line per request or update: shown with LOG_LEVEL=DEBUG only (their own debug chatter
    # never). At INFO our own lines, one per job state change, say what matters, and at a few
    # hundred requests a second the chatter would cost more CPU than the images do.
    chatter = logging.INFO if logging.getLevelName(level) <= logging.DEBUG else logging.WARNING
    for noisy in ("httpx", "httpcore", "aiogram.event", "aiohttp.access", "aiosqlite"):
        logging.getLogger(noisy).setLevel(chatter)
