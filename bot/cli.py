"""Operator commands: `python -m bot check` and `python -m bot draw`.

Both use the bot's own settings and YandexArt client, and no aiogram (it is slow to import):
they start in a second or two.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import string
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import httpx

from bot.config import Settings
from bot.prompt import MAX_PROMPT_CHARS
from bot.yandexart.auth import Credentials, KeyFileError
from bot.yandexart.client import GenerationRequest, YandexArtClient
from bot.yandexart.errors import (
    AuthError,
    ContentRefused,
    DeadlineExceeded,
    InvalidRequest,
    ModelDenied,
    OperationFailed,
    OperationNotFound,
    QuotaExceeded,
    TransientError,
    YandexArtError,
)
from bot.yandexart.provider import Finished, ImageProvider, Started
from bot.yandexart.setup import build_client, build_credentials, build_provider
from storage.database import Database
from storage.jobs import SqliteJobRepository

log = logging.getLogger(__name__)

CHECK_PROMPT = "a small red circle on a white background"
CHECK_GENERATION_SECONDS = 180.0
SUBMIT_ATTEMPTS = 4
RANDOM_SEED_BELOW = 2**31 - 1


@dataclass
class Report:
    """One line per finding: `ok:`/`note:` on stdout, `problem:` on stderr."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    problems: list[str] = field(default_factory=list)

    def ok(self, text: str) -> None:
        print(f"ok: {text}", file=self.out, flush=True)

    def note(self, text: str) -> None:
        print(f"note: {text}", file=self.out, flush=True)

    def problem(self, text: str) -> None:
        self.problems.append(text)
        print(f"problem: {text}", file=self.err, flush=True)


def http_client(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=httpx.Timeout(settings.yandex_request_timeout, connect=10.0))


# ------------------------------------------------------------------------------------- check


async def check(settings: Settings, *, generate: bool, report: Report | None = None) -> int:
    """Exit status 0 when everything works, 1 with one `problem:` line per problem."""
    report = report or Report()
    async with http_client(settings) as http:
        await check_telegram(settings, http, report)
        client = _client(settings, http, report)
        if client is not None and await check_credential(settings, client, report):
            if generate:
                await check_generation(settings, client, report)
            else:
                report.note("model access not checked: `check --generate` makes one real "
                            "(billed) generation with YANDEX_ART_MODEL")
        await check_database(settings, report)
        if settings.webhook_url:
            await check_webhook(settings, http, report)
    return 1 if report.problems else 0


def _client(settings: Settings, http: httpx.AsyncClient, report: Report) -> YandexArtClient | None:
    try:
        credentials: Credentials = build_credentials(settings, http)
    except KeyFileError as error:
        report.problem(f"YANDEX_SA_KEY_FILE: {error}")
        return None
    return build_client(settings, http, credentials)


def provider_of(settings: Settings, client: YandexArtClient) -> ImageProvider:
    """What generates with YANDEX_ART_MODEL: the async API or, for newer models, the Images API."""
    return build_provider(settings, client.http, client.credentials)


async def check_telegram(settings: Settings, http: httpx.AsyncClient, report: Report) -> None:
    token = settings.bot_token.get_secret_value()
    where = f"TELEGRAM_API_URL={settings.telegram_api_url}"
    try:
        response = await http.post(f"{settings.telegram_api_url}/bot{token}/getMe")
    except httpx.HTTPError as error:
        report.problem(f"cannot reach the Telegram Bot API at {where} ({type(error).__name__})")
        return
    try:
        body = response.json()
    except ValueError:
        body = {}
    description = str(body.get("description", "")) if isinstance(body, dict) else ""
    if response.status_code == 200 and isinstance(body, dict) and body.get("ok"):
        me = body.get("result") or {}
        report.ok(f"Telegram: BOT_TOKEN is the bot @{me.get('username')} (id {me.get('id')})")
    elif response.status_code in (401, 404):
        report.problem(f"Telegram rejected BOT_TOKEN ({response.status_code} "
                       f"{description or response.reason_phrase}): use the token @BotFather "
                       f"gave you (and check {where})")
    else:
        report.problem(f"Telegram answered getMe with HTTP {response.status_code} "
                       f"{description}".rstrip() + f" ({where})")


async def check_credential(settings: Settings, client: YandexArtClient, report: Report) -> bool:
    """Cheap: poll an operation id that does not exist. 404 means the credential was accepted
    (nothing is generated, nothing billed); 401/403 say which setting is wrong."""
    setting = settings.credential_setting
    try:
        await client.credentials.authorization()  # for a key file: the IAM token exchange
    except AuthError as error:
        report.problem(f"IAM refused the service-account key in {setting}: {error.message}")
        return False
    except TransientError as error:
        report.problem(f"cannot get an IAM token from YANDEX_IAM_URL={settings.yandex_iam_url}"
                       f": {error.message}")
        return False
    if settings.yandex_sa_key_file is not None:
        report.ok(f"IAM: the key in {setting} was exchanged for an IAM token")
    made_up = "fbv" + "".join(secrets.choice(string.ascii_lowercase + string.digits)
                              for _ in range(17))
    try:
        await client.poll(made_up)
    except (OperationNotFound, InvalidRequest):
        report.ok(f"YandexArt accepts {setting} (folder {settings.yandex_folder_id})")
        return True
    except AuthError as error:
        detail = error.message.partition(f"HTTP {error.status}: ")[2] or error.message
        advice = ("it is unknown or has expired" if error.status == 401
                  else f"check {error.setting_hint}")
        report.problem(f"YandexArt rejected {setting} (HTTP {error.status} {detail}): {advice}")
        return False
    except TransientError as error:
        report.problem(f"cannot reach YandexArt at YANDEX_OPERATIONS_URL="
                       f"{settings.yandex_operations_url}: {error.message}")
        return False
    except YandexArtError as error:
        report.problem(f"unexpected YandexArt answer at YANDEX_OPERATIONS_URL="
                       f"{settings.yandex_operations_url}: {error.message}")
        return False
    report.ok(f"YandexArt accepts {setting}")
    return True


async def check_generation(settings: Settings, client: YandexArtClient, report: Report) -> None:
    started = time.monotonic()
    request = GenerationRequest(prompt=CHECK_PROMPT, seed=1, aspect=(1, 1))
    try:
        image = await generate(provider_of(settings, client), request,
                               within=min(settings.job_deadline_seconds, CHECK_GENERATION_SECONDS))
    except YandexArtError as error:
        report.problem(f"test generation with YANDEX_ART_MODEL ({client.model_uri}) failed: "
                       f"{describe(error)}")
        return
    report.ok(f"YandexArt generated a test image with {client.model_uri} ({len(image)} bytes "
              f"in {time.monotonic() - started:.1f} s)")


async def check_database(settings: Settings, report: Report) -> None:
    path = settings.database_path
    try:
        database = await Database.open(path)
    except Exception as error:  # OSError, sqlite3.Error
        report.problem(f"cannot open the database at DATABASE_PATH={path}: {error}")
        return
    try:
        await database.ping()
        version = await database.schema_version()
        unfinished = len(await SqliteJobRepository(database).unfinished())
    except Exception as error:  # a corrupt file answers only here
        report.problem(f"the database at DATABASE_PATH={path} does not answer: {error}")
        return
    finally:
        await database.close()
    report.ok(f"database DATABASE_PATH={path} (schema {version}, {unfinished} unfinished "
              f"job(s))")


async def check_webhook(settings: Settings, http: httpx.AsyncClient, report: Report) -> None:
    token = settings.bot_token.get_secret_value()
    try:
        response = await http.post(f"{settings.telegram_api_url}/bot{token}/getWebhookInfo")
        info = response.json().get("result") or {}
    except (httpx.HTTPError, ValueError, AttributeError):
        return  # the getMe check has said what is wrong with Telegram
    if info.get("url") != settings.webhook_url:
        report.note(f"Telegram's webhook is {info.get('url') or 'not set'!s}; the bot registers "
                    f"WEBHOOK_URL={settings.webhook_url} when it starts")
    if info.get("last_error_message"):
        report.note(f"Telegram's last error delivering to the webhook: "
                    f"{info['last_error_message']}")
    if info.get("pending_update_count"):
        report.note(f"{info['pending_update_count']} update(s) wait for the webhook")


# -------------------------------------------------------------------------------------- draw


async def draw(settings: Settings, *, prompt: str, aspect: tuple[int, int] | None,
               seed: int | None, output: Path, report: Report | None = None) -> int:
    """One image into `output`, with the bot's own client. Exit status 0 or 1."""
    report = report or Report()
    text = " ".join(prompt.split())
    if not text:
        report.problem("the prompt is empty")
        return 1
    if len(text) > MAX_PROMPT_CHARS:
        report.problem(f"the prompt has {len(text)} characters; YandexArt takes at most "
                       f"{MAX_PROMPT_CHARS}")
        return 1
    seed = seed if seed is not None else secrets.randbelow(RANDOM_SEED_BELOW) + 1
    request = GenerationRequest(prompt=text, seed=seed, aspect=aspect)
    async with http_client(settings) as http:
        client = _client(settings, http, report)
        if client is None:
            return 1
        try:
            image = await generate(provider_of(settings, client), request,
                                   within=settings.job_deadline_seconds)
        except YandexArtError as error:
            report.problem(f"cannot draw: {describe(error)}")
            return 1
    try:
        _write(output, image)
    except OSError as error:
        report.problem(f"cannot write {output}: {error.strerror or error}")
        return 1
    options = f"--seed {seed}" + (f" --ar {aspect[0]}:{aspect[1]}" if aspect else "")
    report.ok(f"wrote {output} ({len(image)} bytes; {options})")
    return 0


def _write(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(data)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


# --------------------------------------------------------------------------------- generation


async def generate(provider: ImageProvider, request: GenerationRequest, *,
                   within: float) -> bytes:
    """Submit and poll until the image is ready: raises YandexArtError (DeadlineExceeded after
    `within` seconds). A submit is repeated only when it surely was not accepted."""
    deadline = time.monotonic() + within
    outcome = await _submit(provider, request, deadline)
    if isinstance(outcome, Finished):  # the Images API answers with the image itself
        return outcome.image
    operation_id = outcome.operation_id
    log.info("submitted as operation %s", operation_id)
    delay = 0.5
    failures = 0
    while True:
        await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        if time.monotonic() >= deadline:
            raise DeadlineExceeded(f"no image after {within:.0f} s (operation {operation_id})")
        try:
            image = await provider.poll(operation_id)
        except (TransientError, QuotaExceeded) as error:
            failures += 1
            log.info("poll failed (%s); polling again", error)
            delay = min(2.0 ** failures, 10.0)
            continue
        if image is not None:
            return image
        failures = 0
        delay = 1.0


async def _submit(provider: ImageProvider, request: GenerationRequest,
                  deadline: float) -> Started | Finished:
    for attempt in range(1, SUBMIT_ATTEMPTS + 1):
        try:
            return await provider.submit(request)
        except (TransientError, QuotaExceeded) as error:
            if isinstance(error, TransientError) and error.maybe_accepted:
                raise  # may be billed already: never submit twice
            wait = random.uniform(0.5, 1.0) * 2.0 ** attempt
            if attempt == SUBMIT_ATTEMPTS or time.monotonic() + wait >= deadline:
                raise
            log.info("submit not accepted (%s); retrying in %.1f s", error, wait)
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")


def describe(error: YandexArtError) -> str:
    """One line for the operator, naming the setting to change where there is one."""
    if isinstance(error, ContentRefused):
        return "YandexArt's content filter refused the prompt (not billed)"
    if isinstance(error, ModelDenied):
        return f"{error.message}; check YANDEX_ART_MODEL"
    if isinstance(error, AuthError):
        return f"{error.message}; check {error.setting_hint}"
    if isinstance(error, InvalidRequest) and error.setting_hint:
        return f"{error.message}; check {error.setting_hint}"
    if isinstance(error, QuotaExceeded):
        return f"the folder's quota is used up for now: {error.message}"
    if isinstance(error, TransientError) and error.maybe_accepted:
        return f"{error.message} (the request may have been billed; not repeated)"
    if isinstance(error, OperationFailed):
        return f"the generation failed: {error.message}"
    return error.message

