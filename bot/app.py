"""Composition root: builds the bot, the dispatcher and the services from settings."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramNetworkError,
    TelegramNotFound,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import TelegramObject

from bot.config import Settings
from bot.generation.delivery import Delivery
from bot.generation.intake import Intake, LimitSettings
from bot.generation.service import GenerationService, ServiceSettings
from bot.telegram_retry import RetryAfterMiddleware
from bot.telegram_session import PinResponseTypes
from bot.yandexart.client import YandexArtClient, build_auth_header
from handlers import build_router
from storage.database import Database
from storage.jobs import SqliteJobRepository

log = logging.getLogger(__name__)

HANDLER_DRAIN_SECONDS = 3.0


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


def build_yandexart_client(settings: Settings, http: httpx.AsyncClient) -> YandexArtClient:
    return YandexArtClient(
        http,
        auth_header=build_auth_header(
            api_key=settings.yandex_api_key.get_secret_value() if settings.yandex_api_key else None,
            iam_token=(settings.yandex_iam_token.get_secret_value()
                       if settings.yandex_iam_token else None),
        ),
        model_uri=settings.model_uri,
        art_url=settings.yandex_art_url,
        operations_url=settings.yandex_operations_url,
        credential_setting=settings.credential_setting,
    )


def build_http_client(settings: Settings) -> httpx.AsyncClient:
    timeout = httpx.Timeout(settings.yandex_request_timeout, connect=10.0)
    # Keep-alive as large as the pool: httpcore 1.0 closes an idle connection whenever the pool
    # holds more than max_keepalive_connections in all (idle or not), so a smaller keep-alive
    # limit churns TCP connections under load; and its pool bookkeeping grows with the square
    # of the pool size, so the pool stays small (20 concurrent requests is ample for 50 polls/s).
    limits = httpx.Limits(max_connections=20, max_keepalive_connections=20)
    return httpx.AsyncClient(timeout=timeout, limits=limits)


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


@dataclass
class Deps:
    """Everything handlers and hooks need, handed to the Dispatcher (no globals)."""

    settings: Settings
    database: Database
    service: GenerationService
    intake: Intake


def build_dispatcher(deps: Deps) -> Dispatcher:
    dispatcher = Dispatcher(intake=deps.intake, settings=deps.settings)
    in_flight = InFlightUpdates()
    dispatcher.update.outer_middleware(in_flight)
    dispatcher.include_router(build_router())

    async def on_startup(bot: Bot) -> None:
        me = await bot.me()
        await bot.delete_webhook(drop_pending_updates=False)  # polling needs no webhook
        resumed = await deps.service.start()
        log.info("bot @%s started; %d unfinished job(s) resumed", me.username, resumed)

    async def on_shutdown() -> None:
        log.info("shutting down: finishing handlers, then pausing jobs")
        await in_flight.drain(HANDLER_DRAIN_SECONDS)
        await deps.service.stop()

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

    async def run_polling(self, *, handle_signals: bool = True) -> None:
        try:
            await self.preflight()
            await self.dispatcher.start_polling(
                self.bot, handle_signals=handle_signals, polling_timeout=10,
                allowed_updates=self.dispatcher.resolve_used_update_types(),
            )
        finally:
            await self.close()

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
        await self.dispatcher.stop_polling()

    async def close(self) -> None:
        await self.http.aclose()
        await self.deps.database.close()
        await self.bot.session.close()


async def create_application(settings: Settings) -> Application:
    try:
        database = await Database.open(settings.database_path)
    except (OSError, sqlite3.Error) as error:
        raise StartupError(
            f"cannot open the database at DATABASE_PATH={settings.database_path}: {error}"
        ) from None
    jobs = SqliteJobRepository(database)
    http = build_http_client(settings)
    bot = build_bot(settings)
    delivery = Delivery(bot)
    service = GenerationService(
        jobs=jobs, client=build_yandexart_client(settings, http), delivery=delivery,
        settings=ServiceSettings(
            deadline_seconds=settings.job_deadline_seconds,
            submits_per_minute=settings.yandex_submits_per_minute,
            polls_per_second=settings.yandex_polls_per_second,
        ),
    )
    intake = Intake(jobs=jobs, service=service, delivery=delivery, limits=LimitSettings(
        daily_limit=settings.daily_limit, admin_ids=settings.admin_ids,
        timezone=ZoneInfo(settings.limits_timezone),
        deadline_seconds=settings.job_deadline_seconds,
    ))
    deps = Deps(settings=settings, database=database, service=service, intake=intake)
    return Application(settings=settings, bot=bot, dispatcher=build_dispatcher(deps), deps=deps,
                       http=http)
