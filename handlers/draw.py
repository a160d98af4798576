"""`/draw <prompt>`: parse, hand over to the intake, reply."""

from __future__ import annotations

import logging

from aiogram import Bot, Router, html
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot import texts
from bot.generation.intake import DrawRequest, Intake
from bot.prompt import MAX_PROMPT_CHARS, ParsedPrompt, PromptError, PromptProblem, parse_prompt
from handlers.common import reset_values
from storage.models import LimitKind, LimitReached

log = logging.getLogger(__name__)

# The reply to a refused /draw names the limit hit: (used up, limit is zero).
LIMIT_TEXTS = {
    LimitKind.USER: ("limit_reached", "limit_zero"),
    LimitKind.CHAT: ("chat_limit_reached", "chat_limit_zero"),
    LimitKind.GLOBAL: ("global_limit_reached", "global_limit_zero"),
    LimitKind.ACTIVE: ("active_limit_reached", "active_limit_reached"),
}


def build_router() -> Router:
    router = Router(name="draw")
    router.message.register(draw, Command("draw"))
    return router


async def draw(message: Message, command: CommandObject, bot: Bot, intake: Intake,
               language: str) -> None:
    """`language` comes from `bot.texts.LanguageMiddleware` (the sender's language_code)."""
    if message.from_user is None or message.from_user.is_bot:
        return
    try:
        prompt = parse_draw(command.args or "", replied_text(message))
    except PromptError as error:
        await message.reply(await problem_text(error, language, message, bot))
        return
    request = DrawRequest(
        chat_id=message.chat.id,
        thread_id=message.message_thread_id if message.is_topic_message else None,
        user_id=message.from_user.id,
        message_id=message.message_id,
        language=language,
        prompt=prompt,
    )
    result = await intake.accept(request)
    if isinstance(result, LimitReached):
        await message.reply(limit_text(result, language, intake))


def limit_text(reached: LimitReached, language: str, intake: Intake) -> str:
    used_up, zero = LIMIT_TEXTS[reached.kind]
    return texts.text(language, zero if reached.limit == 0 else used_up, limit=reached.limit,
                      **reset_values(language, intake.now(), intake.next_reset()))


def parse_draw(own_text: str, replied: str | None) -> ParsedPrompt:
    """The command's own prompt; with none, the replied message's text (own options apply)."""
    try:
        return parse_prompt(own_text)
    except PromptError as error:
        if error.problem is not PromptProblem.EMPTY or not replied:
            raise
    return parse_prompt(f"{replied} {own_text}")


def replied_text(message: Message) -> str | None:
    replied = message.reply_to_message
    if replied is None or replied.forum_topic_created is not None:
        return None  # in a forum topic every message "replies" to the topic's first message
    return replied.text or replied.caption


async def problem_text(error: PromptError, language: str, message: Message, bot: Bot) -> str:
    if error.problem is PromptProblem.EMPTY:
        mention = ""
        if message.chat.type != "private":
            mention = "@" + ((await bot.me()).username or "")
        return texts.text(language, "usage", mention=html.quote(mention))
    if error.problem is PromptProblem.TOO_LONG:
        return texts.text(language, "too_long", length=error.detail, limit=MAX_PROMPT_CHARS)
    return texts.text(language, error.problem.value, value=html.quote(error.detail[:50]))
