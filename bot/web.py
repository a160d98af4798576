"""The bot's HTTP side: `/metrics`, `/healthz`, and the aiohttp server that carries them (and,
in webhook mode, Telegram's updates)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, Literal

from aiogram.methods import GetUpdates
from aiohttp import web

from bot.metrics import Metrics
from storage.database import Database

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.client.session.middlewares.base import NextRequestMiddlewareType
    from aiogram.methods import Response, TelegramMethod
    from aiogram.methods.base import TelegramType

log = logging.getLogger(__name__)

#: A polling bot whose last successful getUpdates is older than this is not receiving updates
#: (a long poll answers within 10 s even when there is nothing new).
POLL_STALE_SECONDS = 60.0
DATABASE_TIMEOUT_SECONDS = 3.0

Mode = Literal["polling", "webhook"]


class Health:
    """Healthy = the database answers `SELECT 1` and updates can arrive: in polling mode a
    getUpdates succeeded recently (`polled()`), in webhook mode the server is up (`serving`)."""

    def __init__(self, database: Database, *, stale_after: float = POLL_STALE_SECONDS) -> None:
        self.database = database
        self.stale_after = stale_after
        self.mode: Mode | None = None
        self.serving = False
        self.last_poll: float | None = None  # time.monotonic()

    def started(self, mode: Mode) -> None:
        self.mode = mode
        self.serving = True
        self.last_poll = time.monotonic()  # the first long poll may take its full timeout

    def stopped(self) -> None:
        self.serving = False

    def polled(self) -> None:
        self.last_poll = time.monotonic()

    def updates_alive(self) -> bool:
        if not self.serving:
            return False
        if self.mode == "polling":
            return (self.last_poll is not None
                    and time.monotonic() - self.last_poll < self.stale_after)
        return True

    async def database_alive(self) -> bool:
        try:
            await asyncio.wait_for(self.database.ping(), DATABASE_TIMEOUT_SECONDS)
        except Exception as error:  # any failure means "not healthy"
            log.warning("health check: the database does not answer: %r", error)
            return False
        return True

    async def report(self) -> tuple[bool, dict[str, Any]]:
        database = await self.database_alive()
        updates = self.updates_alive()
        body: dict[str, Any] = {
            "status": "ok" if database and updates else "unavailable",
            "database": "ok" if database else "failing",
            "updates": "ok" if updates else ("stopped" if not self.serving else "stale"),
            "mode": self.mode,
        }
        if self.mode == "polling" and self.last_poll is not None:
            body["last_poll_seconds_ago"] = round(time.monotonic() - self.last_poll, 1)
        return database and updates, body


class PollHeartbeat:
    """A Bot session middleware: each successful getUpdates tells `Health` polling is alive."""

    def __init__(self, health: Health) -> None:
        self.health = health

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        response = await make_request(bot, method)
        if isinstance(method, GetUpdates):
            self.health.polled()
        return response


def add_ops_routes(app: web.Application, metrics: Metrics, health: Health) -> None:
    async def serve_metrics(request: web.Request) -> web.Response:
        response = web.Response(body=metrics.render())
        response.headers["Content-Type"] = metrics.content_type
        return response

    async def serve_health(request: web.Request) -> web.Response:
        healthy, body = await health.report()
        return web.json_response(body, status=200 if healthy else 503)

    app.router.add_get("/metrics", serve_metrics)
    app.router.add_get("/healthz", serve_health)


def ops_application(metrics: Metrics, health: Health) -> web.Application:
    app = web.Application()
    add_ops_routes(app, metrics, health)
    return app


class WebServer:
    """An aiohttp application served on host:port until `stop()`."""

    def __init__(self, app: web.Application, host: str, port: int, *, name: str,
                 shutdown_timeout: float = 1.0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.name = name
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout,
                                     handle_signals=False)
        self._started = False

    async def start(self) -> None:
        """Raises OSError when the port cannot be bound."""
        await self._runner.setup()  # runs the application's on_startup
        self._started = True
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        log.info("%s listening on %s:%d", self.name, self.host, self.port)

    async def stop(self) -> None:
        """Stop listening, run the application's on_shutdown, finish open requests."""
        if self._started:
            self._started = False
            await self._runner.cleanup()
