"""Composition root: builds the bot, the dispatcher and the services from settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import httpx
from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import TelegramObject
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from bot.commands import register_commands
from bot.config import Settings
from bot.generation.delivery import Delivery
from bot.generation.intake import Intake
from bot.generation.originals import Originals
from bot.generation.progress import Progress
from bot.generation.quotas import LimitSettings, Quotas
from bot.generation.service import GenerationService, ServiceSettings
from bot.logging_setup import add_secret
from bot.metrics import Metrics
from bot.telegram_retry import RetryAfterMiddleware
from bot.telegram_session import PinResponseTypes
from bot.texts import LanguageMiddleware
from bot.web import Health, PollHeartbeat, WebServer, add_ops_routes, ops_application
from bot.yandexart.auth import KeyFileError
from bot.yandexart.setup import build_credentials, build_provider
from bot.yandexart.transport import AiohttpTransport
from handlers import build_router
from storage.admin import SqliteAccessRepository, SqliteStatsRepository
from storage.database import Database
from storage.jobs import SqliteJobRepository
from storage.kv import KeyValueStore, SqliteKeyValueStore
from storage.limits import SqliteLimitsRepository
from storage.repositories import AccessRepository, JobRepository, StatsRepository

log = logging.getLogger(__name__)

HANDLER_DRAIN_SECONDS = 3.0
WEBHOOK_SECRET_KEY = "webhook_secret"
YANDEX_CONNECTIONS = 20  # at most 8 polls at once, plus submits and token exchanges


class StartupError(Exception):
    """The bot cannot start; the message is one line for the operator, without secrets."""


def build_bot(settings: Settings) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    session.middleware(PinResponseTypes())
    session.middleware(RetryAfterMiddleware())
    return Bot(
        settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, allow_sending_without_reply=True),
    )


def build_http_client(settings: Settings) -> httpx.AsyncClient:
    timeout = httpx.Timeout(settings.yandex_request_timeout, connect=10.0)
    return httpx.AsyncClient(timeout=timeout, transport=AiohttpTransport(_yandex_session))


def _yandex_session() -> aiohttp.ClientSession:
    # keepalive 5 s as httpx's default: a connection idle longer is not reused, since a server
    # that closed it meanwhile would turn a submit into "maybe sent". (Proxies from the
    # environment: the transport.)
    connector = aiohttp.TCPConnector(limit=YANDEX_CONNECTIONS, keepalive_timeout=5)
    return aiohttp.ClientSession(connector=connector)


class InFlightUpdates(BaseMiddleware):
    """Tracks handlers still running, so shutdown can let them finish (aiogram doesn't)."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        try:
            return await handler(event, data)
        finally:
            if task is not None:
                self.tasks.discard(task)

    async def drain(self, seconds: float) -> None:
        current = asyncio.current_task()
        pending = {task for task in self.tasks if task is not current}
        if pending:
            await asyncio.wait(pending, timeout=seconds)


class CountUpdates(BaseMiddleware):
    """Counts every update received (polling or webhook) for /metrics."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        self.metrics.update_received()
        return await handler(event, data)


@dataclass
class Deps:
    """Everything handlers and hooks need, handed to the Dispatcher (no globals)."""

    settings: Settings
    database: Database
    service: GenerationService
    intake: Intake
    quotas: Quotas
    access: AccessRepository
    stats: StatsRepository
    jobs: JobRepository
    delivery: Delivery
    originals: Originals
    metrics: Metrics
    health: Health


def build_dispatcher(deps: Deps) -> Dispatcher:
    dispatcher = Dispatcher(
        intake=deps.intake, settings=deps.settings, service=deps.service, quotas=deps.quotas,
        access=deps.access, stats=deps.stats, jobs=deps.jobs, delivery=deps.delivery,
        originals=deps.originals, metrics=deps.metrics,
        disable_fsm=True,  # no conversation state: spares every update the FSM's middleware
    )
    in_flight = InFlightUpdates()
    dispatcher.update.outer_middleware(in_flight)
    dispatcher.update.outer_middleware(CountUpdates(deps.metrics))
    LanguageMiddleware().setup(dispatcher)  # `language` for handlers, from the sender
    dispatcher.include_router(build_router())

    async def on_startup(bot: Bot) -> None:
        me = await bot.me()
        if deps.settings.webhook_url is None:
            await bot.delete_webhook(drop_pending_updates=False)  # polling needs no webhook
            deps.health.started("polling")
        # (in webhook mode the webhook is registered once the server listens: run_webhook)
        resumed = await deps.service.start()
        await deps.originals.start()
        await register_commands(bot, deps.settings.admin_ids)
        log.info("bot @%s started; %d unfinished job(s) resumed", me.username, resumed)

    async def on_shutdown() -> None:
        log.info("shutting down: finishing handlers, then pausing jobs")
        deps.health.stopped()
        await in_flight.drain(HANDLER_DRAIN_SECONDS)
        await deps.intake.stop()
        await deps.service.stop()
        await deps.originals.stop()
        await deps.delivery.progress.close()

    dispatcher.startup.register(on_startup)
    dispatcher.shutdown.register(on_shutdown)
    return dispatcher


@dataclass
class Application:
    settings: Settings
    bot: Bot
    dispatcher: Dispatcher
    deps: Deps
    http: httpx.AsyncClient
    # Webhook mode: the secret Telegram sends back (WEBHOOK_SECRET, or generated and stored).
    webhook_secret: str | None = field(default=None, kw_only=True)
    servers: list[WebServer] = field(default_factory=list, kw_only=True)
    _stop_requested: asyncio.Event = field(default_factory=asyncio.Event, init=False,
                                           repr=False)

    async def run(self, *, handle_signals: bool = True) -> None:
        """Long polling, or a webhook server when WEBHOOK_URL is set."""
        if self.settings.webhook_url:
            await self.run_webhook(handle_signals=handle_signals)
        else:
            await self.run_polling(handle_signals=handle_signals)

    async def run_polling(self, *, handle_signals: bool = True) -> None:
        try:
            await self.preflight()
            await self._start_ops_server(shared_with_webhook=False)
            await self.dispatcher.start_polling(
                self.bot, handle_signals=handle_signals, polling_timeout=10,
                allowed_updates=self.dispatcher.resolve_used_update_types(),
            )
        finally:
            await self._stop_servers()
            await self.close()

    async def run_webhook(self, *, handle_signals: bool = True) -> None:
        """Serve Telegram's updates at WEBHOOK_URL's path until stopped (SIGTERM, SIGINT or
        `stop()`). The webhook stays registered on exit: Telegram keeps the updates that
        arrive meanwhile and delivers them after a restart."""
        settings = self.settings
        assert settings.webhook_url is not None and self.webhook_secret is not None
        try:
            await self.preflight()
            app = web.Application()
            # handle_in_background=False: Telegram gets its 200 only once the handler has
            # stored the job, so an update is never lost to a crash; a re-sent one is harmless.
            SimpleRequestHandler(self.dispatcher, self.bot, handle_in_background=False,
                                 secret_token=self.webhook_secret,
                                 ).register(app, path=settings.webhook_path)
            setup_application(app, self.dispatcher, bot=self.bot)
            shared = settings.metrics_port == settings.webhook_port
            if shared:
                add_ops_routes(app, self.deps.metrics, self.deps.health)
            await self._listen(WebServer(app, settings.webhook_host, settings.webhook_port,
                                         name="webhook server"), "WEBHOOK_PORT")
            await self._start_ops_server(shared_with_webhook=shared)
            await self._register_webhook()
            self.deps.health.started("webhook")
            with self._signals(handle_signals):
                await self._stop_requested.wait()
        finally:
            self.deps.health.stopped()
            await self._stop_servers()
            await self.close()

    async def _register_webhook(self) -> None:
        url = self.settings.webhook_url
        assert url is not None
        try:
            await self.bot.set_webhook(
                url, secret_token=self.webhook_secret, drop_pending_updates=False,
                allowed_updates=self.dispatcher.resolve_used_update_types(),
            )
        except TelegramAPIError as error:
            raise StartupError(
                f"Telegram refused the webhook WEBHOOK_URL={url}: {error.message}") from None
        log.info("webhook registered: Telegram sends updates to %s", url)

    @contextlib.contextmanager
    def _signals(self, enabled: bool) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT) if enabled else ()
        for signum in signals:
            loop.add_signal_handler(signum, self._stop_requested.set)
        try:
            yield
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)

    async def _start_ops_server(self, *, shared_with_webhook: bool) -> None:
        """/metrics and /healthz on METRICS_PORT (unless the webhook server carries them)."""
        port = self.settings.metrics_port
        if port is None or shared_with_webhook:
            return
        await self._listen(WebServer(ops_application(self.deps.metrics, self.deps.health),
                                     self.settings.metrics_host, port, name="metrics server"),
                           "METRICS_PORT")

    async def _listen(self, server: WebServer, setting: str) -> None:
        self.servers.append(server)
        try:
            await server.start()
        except OSError as error:
            raise StartupError(f"cannot listen on {setting}={server.port} "
                               f"(host {server.host}): {error.strerror or error}") from None

    async def _stop_servers(self) -> None:
        while self.servers:
            await self.servers.pop(0).stop()

    async def preflight(self, attempts: int = 5) -> None:
        """Check the token against Telegram before anything else, with one clear line on
        failure; a network that is still coming up gets a few retries."""
        url = self.settings.telegram_api_url
        for attempt in range(1, attempts + 1):
            try:
                await self.bot.get_me()
                return
            except TelegramUnauthorizedError:
                raise StartupError(
                    "Telegram rejected BOT_TOKEN (401 Unauthorized): use the token @BotFather "
                    "gave you (and check TELEGRAM_API_URL)") from None
            except (TelegramNetworkError, TelegramServerError, TelegramNotFound) as error:
                if attempt == attempts:
                    raise StartupError(
                        f"cannot reach the Telegram Bot API at TELEGRAM_API_URL={url}: "
                        f"{error.message}") from None
                log.warning("Telegram not reachable yet (%s); retrying", error.message)
                await asyncio.sleep(min(2.0**attempt, 8.0))

    async def stop(self) -> None:
        if self.settings.webhook_url:
            self._stop_requested.set()
        else:
            await self.dispatcher.stop_polling()

    async def close(self) -> None:
        await self.http.aclose()
        await self.deps.database.close()
        await self.bot.session.close()


async def webhook_secret(settings: Settings, store: KeyValueStore) -> str:
    """WEBHOOK_SECRET, or one generated on first use and kept in the database."""
    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value()
    candidate = secrets.token_urlsafe(32)
    add_secret(candidate)  # masked before anything (a DEBUG log of the INSERT) can print it
    stored = await store.get_or_create(WEBHOOK_SECRET_KEY, lambda: candidate)
    add_secret(stored)
    return stored


async def create_application(settings: Settings, *, metrics: Metrics | None = None
                             ) -> Application:
    metrics = metrics if metrics is not None else Metrics()
    try:
        database = await Database.open(settings.database_path)
    except (OSError, sqlite3.Error) as error:
        raise StartupError(
            f"cannot open the database at DATABASE_PATH={settings.database_path}: {error}"
        ) from None
    keep_originals = settings.originals_retention_hours > 0
    jobs = SqliteJobRepository(database, keep_delivered_images=keep_originals)
    http = build_http_client(settings)
    try:
        credentials = build_credentials(settings, http, on_exchange=metrics.iam_exchange)
    except KeyFileError as error:
        await http.aclose()
        await database.close()
        raise StartupError(f"YANDEX_SA_KEY_FILE: {error}") from None
    secret = None
    if settings.webhook_url:
        secret = await webhook_secret(settings, SqliteKeyValueStore(database))
    health = Health(database)
    bot = build_bot(settings)
    bot.session.middleware(PollHeartbeat(health))
    delivery = Delivery(bot, progress=Progress(bot), originals=keep_originals)
    service = GenerationService(
        jobs=jobs, provider=build_provider(settings, http, credentials), delivery=delivery,
        metrics=metrics,
        settings=ServiceSettings(
            deadline_seconds=settings.job_deadline_seconds,
            submits_per_minute=settings.yandex_submits_per_minute,
            polls_per_second=settings.yandex_polls_per_second,
            max_in_flight=settings.yandex_max_in_flight,
        ),
    )
    quotas = Quotas(
        settings=LimitSettings(
            daily_limit=settings.daily_limit, admin_ids=settings.admin_ids,
            timezone=ZoneInfo(settings.limits_timezone),
            deadline_seconds=settings.job_deadline_seconds,
            chat_daily_limit=settings.chat_daily_limit,
            global_daily_limit=settings.global_daily_limit,
            max_active_per_user=settings.max_active_per_user,
        ),
        jobs=jobs, rules=SqliteLimitsRepository(database),
    )
    intake = Intake(jobs=jobs, service=service, delivery=delivery, quotas=quotas,
                    metrics=metrics)
    deps = Deps(settings=settings, database=database, service=service, intake=intake,
                quotas=quotas, access=SqliteAccessRepository(database),
                stats=SqliteStatsRepository(database), jobs=jobs, delivery=delivery,
                originals=Originals(jobs, settings.originals_retention_hours),
                metrics=metrics, health=health)
    return Application(settings=settings, bot=bot, dispatcher=build_dispatcher(deps), deps=deps,
                       http=http, webhook_secret=secret)
