"""The Telegram side of a job: acknowledgement, progress, the photo with its buttons, notices,
the original file."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiogram import Bot, html
from aiogram.enums import ChatAction
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import BufferedInputFile, ReactionTypeEmoji, ReplyParameters

from bot import texts
from bot.buttons import photo_keyboard
from bot.generation.limiter import ChatLimits, ChatPacer, RollingWindowLimiter
from bot.generation.progress import Progress
from bot.prompt import DrawOptions
from bot.telegram_retry import flood_wait_at_most
from storage.models import Job

log = logging.getLogger(__name__)

CAPTION_LIMIT = 1024
TELEGRAM_SENDS_PER_SECOND = 30
ACK_MAX_FLOOD_WAIT = 2.0  # an acknowledgement later than this is no longer worth a message
ACK_EMOJI = "✍"  # one of the reactions bots may set
ACK_MAX_PACE_WAIT = 1.5  # a private chat's status message waits for its turn this long at most


@dataclass(frozen=True, slots=True)
class Delivered:
    confirmed: bool = True


@dataclass(frozen=True, slots=True)
class Undeliverable:
    reason: str


@dataclass(frozen=True, slots=True)
class RetryLater:
    seconds: float
    reason: str
    flood_wait: bool = False  # Telegram's 429 for this chat


@dataclass(frozen=True, slots=True)
class ChatMoved:
    new_chat_id: int


@dataclass(frozen=True, slots=True)
class ImageMissing:
    """The image to send is no longer stored."""


DeliveryResult = Delivered | Undeliverable | RetryLater | ChatMoved | ImageMissing
ImageLoader = Callable[[], Awaitable[bytes | None]]
ImageSource = bytes | ImageLoader  # the image, or how to read it when its turn comes


@dataclass
class _Turn:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


def utf16_len(value: str) -> int:
    return len(value.encode("utf-16-le")) // 2


def cut_utf16(value: str, limit: int) -> str:
    """`value` cut to `limit` UTF-16 units (Telegram's measure), with an ellipsis if cut."""
    if utf16_len(value) <= limit:
        return value
    if limit < 1:
        return ""
    kept, used = [], 0
    for char in value:
        size = 2 if ord(char) > 0xFFFF else 1
        if used + size > limit - 1:
            break
        kept.append(char)
        used += size
    return "".join(kept).rstrip() + "…"


def build_caption(job: Job) -> str:
    """HTML caption: the escaped prompt, then the options that reproduce the image."""
    options = DrawOptions.from_json(job.options)
    details = []
    if options.aspect:
        details.append(f"--ar {options.aspect[0]}:{options.aspect[1]}")
    if options.seed is not None:
        details.append(f"--seed {options.seed}")
    footer = "\n\n" + " ".join(details) if details else ""
    prompt = cut_utf16(job.prompt, CAPTION_LIMIT - utf16_len(footer))
    if not details:
        return html.quote(prompt)
    return f"{html.quote(prompt)}\n\n<code>{html.quote(' '.join(details))}</code>"


def image_file(image: bytes, job: Job) -> BufferedInputFile:
    """The upload in one chunk: aiohttp then writes it at once, not in sixteen 64 KB chunks
    each waiting for the socket to drain (~0.45 ms less CPU per 1 MB photo)."""
    return BufferedInputFile(image, filename=f"yandexart-{job.id}.jpg",
                             chunk_size=max(1, len(image)))


def _reply_to(job: Job) -> ReplyParameters:
    return ReplyParameters(message_id=job.message_id, allow_sending_without_reply=True)


class Delivery:
    def __init__(self, bot: Bot, *, progress: Progress | None = None, originals: bool = False,
                 chat_limits: ChatLimits | None = None) -> None:
        self.bot = bot
        self.progress = progress or Progress(bot)
        self.originals = originals  # delivered images are kept: offer the 📄 Original button
        # Photos go out one chat at a time (a flood wait is then slept by one sender, not
        # stampeded by every job of a busy group at once) and ~30 a second overall.
        self._chat_turns: dict[int, _Turn] = {}
        self._overall = RollingWindowLimiter(TELEGRAM_SENDS_PER_SECOND, 1.0)
        self._pacer = ChatPacer(chat_limits)  # every message sent from here

    async def acknowledge(self, job: Job) -> int | None:
        """In a private chat, a status message (its id is returned). In a group, whose twenty
        messages a minute are kept for the photos, or a private chat that cannot take a message
        within a second, a ✍ reaction to the command; a chat action where reactions are off."""
        if job.chat_id > 0 and self._pacer.delay(job.chat_id) <= ACK_MAX_PACE_WAIT:
            message_id = await self._status_message(job)
            if message_id is not None:
                return message_id
        if not await self._react(job):
            await self.chat_action(job)
        return None

    async def _status_message(self, job: Job) -> int | None:
        try:
            async with self._pacer.slot(job.chat_id):
                with flood_wait_at_most(ACK_MAX_FLOOD_WAIT):
                    message = await self.bot.send_message(
                        job.chat_id, texts.text(job.language, "working"),
                        message_thread_id=job.thread_id, reply_parameters=_reply_to(job),
                    )
            return message.message_id
        except TelegramRetryAfter as error:
            self._pacer.flood_wait(job.chat_id, error.retry_after)
        except TelegramAPIError as error:
            log.info("job %s: no status message (%s)", job.id, error)
        return None

    async def _react(self, job: Job) -> bool:
        try:
            with flood_wait_at_most(0):
                await self.bot.set_message_reaction(
                    job.chat_id, job.message_id, reaction=[ReactionTypeEmoji(emoji=ACK_EMOJI)])
            return True
        except TelegramAPIError as error:  # reactions turned off in the chat, ...
            log.debug("job %s: no reaction (%s)", job.id, error)
            return False

    async def chat_action(self, job: Job) -> None:
        await self.chat_action_in(job.chat_id, job.thread_id)

    async def chat_action_in(self, chat_id: int, thread_id: int | None) -> None:
        try:
            with flood_wait_at_most(0):
                await self.bot.send_chat_action(chat_id, ChatAction.UPLOAD_PHOTO,
                                                message_thread_id=thread_id)
        except TelegramAPIError:
            pass  # purely cosmetic

    async def send_photo(self, job: Job, image: ImageSource) -> DeliveryResult:
        await self.progress.stop(job.id)
        turn = self._chat_turns.setdefault(job.chat_id, _Turn())
        turn.users += 1
        try:
            async with turn.lock, self._pacer.slot(job.chat_id):
                # Counted from the send, not from its answer as a chat's flood limit is: ~30 a
                # second overall is Telegram's rough guidance, and a 1 MB upload's answer takes
                # long enough that counting from it would send ~10% fewer.
                await self._overall.acquire()
                data = image if isinstance(image, bytes) else await image()
                if data is None:
                    return ImageMissing()
                result = await self._send_photo(job, data)
                if isinstance(result, RetryLater) and result.flood_wait:
                    self._pacer.flood_wait(job.chat_id, result.seconds)
                return result
        finally:
            turn.users -= 1
            if not turn.users:
                del self._chat_turns[job.chat_id]  # no one waits: keep the map small

    async def _send_photo(self, job: Job, image: bytes) -> DeliveryResult:
        try:
            await self.bot.send_photo(
                job.chat_id, image_file(image, job), caption=build_caption(job),
                message_thread_id=job.thread_id, reply_parameters=_reply_to(job),
                reply_markup=photo_keyboard(job, original=self.originals),
            )
            return Delivered()
        except TelegramEntityTooLarge:
            return await self._send_document(job, image)
        except TelegramBadRequest as error:
            if "photo" in error.message.lower() and "rights" not in error.message.lower():
                # PHOTO_INVALID_DIMENSIONS, IMAGE_PROCESS_FAILED, ...: a document always works
                return await self._send_document(job, image)
            return self._classify(error)
        except TelegramAPIError as error:
            return self._classify(error)

    async def _send_document(self, job: Job, image: bytes) -> DeliveryResult:
        try:
            await self.bot.send_document(
                job.chat_id, image_file(image, job), caption=build_caption(job),
                message_thread_id=job.thread_id, reply_parameters=_reply_to(job),
                reply_markup=photo_keyboard(job, original=False),  # it is the original
            )
            return Delivered()
        except TelegramAPIError as error:
            return self._classify(error)

    def _classify(self, error: TelegramAPIError) -> DeliveryResult:
        if isinstance(error, TelegramRetryAfter):
            return RetryLater(error.retry_after, "flood limit", flood_wait=True)
        if isinstance(error, TelegramMigrateToChat):
            return ChatMoved(error.migrate_to_chat_id)
        if isinstance(error, TelegramServerError):
            return RetryLater(5, f"Telegram server error: {error.message}")
        if isinstance(error, TelegramNetworkError):
            if error.message.startswith(("ClientConnectorError", "ClientConnectorDNSError")):
                return RetryLater(5, "Telegram unreachable")  # never connected: nothing was sent
            # The photo may have been posted: at most once beats twice.
            return Delivered(confirmed=False)
        if isinstance(error, TelegramForbiddenError | TelegramNotFound | TelegramBadRequest):
            return Undeliverable(error.message)
        return Undeliverable(f"{type(error).__name__}: {error.message}")

    async def notify(self, job: Job, key: str) -> None:
        """Tell the user how the job ended: in place of the status message if there is one."""
        await self.progress.stop(job.id)
        message = texts.text(job.language, key)
        if job.status_message_id is not None:
            try:
                await self.bot.edit_message_text(
                    message, chat_id=job.chat_id, message_id=job.status_message_id
                )
                return
            except TelegramAPIError as error:
                log.info("job %s: status message not edited (%s)", job.id, error)
        try:
            async with self._pacer.slot(job.chat_id):
                await self.bot.send_message(job.chat_id, message,
                                            message_thread_id=job.thread_id,
                                            reply_parameters=_reply_to(job))
        except TelegramAPIError as error:
            log.warning("job %s: could not tell the user (%s)", job.id, error)

    async def remove_status(self, job: Job) -> None:
        await self.progress.stop(job.id)
        if job.status_message_id is None:
            return
        try:
            await self.bot.delete_message(job.chat_id, job.status_message_id)
        except TelegramAPIError as error:
            log.info("job %s: status message not deleted (%s)", job.id, error)

    async def send_original(self, job: Job, image: bytes, *, chat_id: int, reply_to: int) -> bool:
        """The untouched JPEG as a document (Telegram recompresses photos), replying to the
        photo whose button was pressed, in the job's topic."""
        try:
            async with self._pacer.slot(chat_id):
                await self.bot.send_document(
                    chat_id, image_file(image, job), caption=build_caption(job),
                    message_thread_id=job.thread_id,
                    reply_parameters=ReplyParameters(message_id=reply_to,
                                                     allow_sending_without_reply=True),
                    disable_content_type_detection=True,
                )
            return True
        except TelegramAPIError as error:
            log.warning("job %s: original not sent (%s)", job.id, error)
            return False
