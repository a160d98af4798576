"""Prometheus metrics. One `Metrics` object per application, with a registry of its own (so
tests build fresh ones, and nothing of the process's default registry is exported).

The service calls the methods below as jobs move; the web server (`bot.web`) serves
`render()` at `/metrics`.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

PREFIX = "drawbot"
GENERATION_BUCKETS = (1, 2, 3, 5, 8, 12, 20, 30, 45, 60, 120, 300, 600)
READY_TO_PHOTO_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 300)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._jobs_finished = Counter(
            f"{PREFIX}_jobs_finished", "Jobs that reached a final state, by state.",
            ["state"], registry=r)
        self._queue_length = Gauge(
            f"{PREFIX}_queue_length", "Jobs waiting to be submitted to YandexArt.", registry=r)
        self._in_flight = Gauge(
            f"{PREFIX}_jobs_in_flight", "Jobs submitted to YandexArt and not yet generated.",
            registry=r)
        self._generation = Histogram(
            f"{PREFIX}_generation_seconds", "From submit to image ready.",
            buckets=GENERATION_BUCKETS, registry=r)
        self._ready_to_photo = Histogram(
            f"{PREFIX}_ready_to_photo_seconds", "From image ready to the photo sent to Telegram.",
            buckets=READY_TO_PHOTO_BUCKETS, registry=r)
        self._yandex_calls = Counter(
            f"{PREFIX}_yandex_calls", "YandexArt requests by endpoint and outcome "
            "(ok, 429, 5xx, timeout, refused, auth, ...).", ["endpoint", "outcome"], registry=r)
        self._telegram_errors = Counter(
            f"{PREFIX}_telegram_errors", "Telegram API errors by kind.", ["kind"], registry=r)
        self._refunds = Counter(
            f"{PREFIX}_refunds", "Jobs refunded to the user (not counted against a limit).",
            registry=r)
        self._limit_refusals = Counter(
            f"{PREFIX}_limit_refusals", "Draw requests refused by a limit, by kind.", ["kind"],
            registry=r)
        self._iam_exchanges = Counter(
            f"{PREFIX}_iam_token_exchanges", "Service-account key to IAM token exchanges "
            "by outcome (ok, error, rejected).", ["outcome"], registry=r)
        self._updates = Counter(
            f"{PREFIX}_telegram_updates", "Telegram updates received.", registry=r)

    # jobs (called by the generation service)

    def job_finished(self, state: str) -> None:
        self._jobs_finished.labels(state=state).inc()

    def set_queue_length(self, n: int) -> None:
        self._queue_length.set(n)

    def set_in_flight(self, n: int) -> None:
        self._in_flight.set(n)

    def observe_generation(self, seconds: float) -> None:
        self._generation.observe(seconds)

    def observe_ready_to_photo(self, seconds: float) -> None:
        self._ready_to_photo.observe(seconds)

    def yandex_call(self, endpoint: str, outcome: str) -> None:
        self._yandex_calls.labels(endpoint=endpoint, outcome=outcome).inc()

    def telegram_error(self, kind: str) -> None:
        self._telegram_errors.labels(kind=kind).inc()

    def refund(self) -> None:
        self._refunds.inc()

    def limit_refusal(self, kind: str) -> None:
        self._limit_refusals.labels(kind=kind).inc()

    # the rest of the bot

    def iam_exchange(self, outcome: str) -> None:
        self._iam_exchanges.labels(outcome=outcome).inc()

    def update_received(self) -> None:
        self._updates.inc()

    def render(self) -> bytes:
        """The text exposition format, for `/metrics`."""
        return generate_latest(self.registry)
