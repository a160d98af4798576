"""Admin commands: /stats, /setlimit, /grant, /ban, /unban, /allow, /disallow.

The whole router is behind `IsAdmin` (the sender's id is in ADMIN_IDS): for anyone else no
handler matches, so they get no reply and no hint that these commands exist."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from aiogram import Router, html
from aiogram.filters import Command, CommandObject, Filter
from aiogram.types import Message

from bot import texts
from bot.config import Settings
from bot.generation.delivery import Delivery
from bot.generation.quotas import Quotas
from bot.generation.service import GenerationService
from handlers.cancel import cancel_jobs
from handlers.common import is_group, language, replied_user_id
from storage.models import LimitKind, OverrideScope, PeriodStats
from storage.repositories import AccessRepository, StatsRepository

log = logging.getLogger(__name__)

MAX_LIMIT = 1_000_000
MAX_GRANT = 1000
MAX_ID = 2**53  # Telegram ids fit in 52 bits
STATS_DAYS = 7
UNLIMITED_WORDS = frozenset({"off", "unlimited", "none"})
RESET_WORDS = frozenset({"reset", "default"})
DEFAULT_TARGETS = {
    "default": OverrideScope.USER_DEFAULT,
    "chats": OverrideScope.CHAT_DEFAULT,
    "global": OverrideScope.GLOBAL,
}


class IsAdmin(Filter):
    async def __call__(self, message: Message, settings: Settings) -> bool:
        user = message.from_user
        return user is not None and user.id in settings.admin_ids


class InputProblem(Exception):
    """A mistake in an admin command: answered with what is wrong, then the usage."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


@dataclass(frozen=True, slots=True)
class Subject:
    scope: OverrideScope  # USER or CHAT
    id: int

    def describe(self, lang: str) -> str:
        key = "target_user" if self.scope is OverrideScope.USER else "target_chat"
        return texts.text(lang, key, id=self.id)


def build_router() -> Router:
    router = Router(name="admin")
    router.message.filter(IsAdmin())
    router.message.register(show_stats, Command("stats"))
    router.message.register(setlimit, Command("setlimit"))
    router.message.register(grant, Command("grant"))
    router.message.register(ban, Command("ban"))
    router.message.register(unban, Command("unban"))
    router.message.register(allow, Command("allow"))
    router.message.register(disallow, Command("disallow"))
    return router


async def _answer(message: Message, usage: str, run: Callable[[str], Awaitable[str]],
                  **usage_values: Any) -> None:
    """Reply with what `run` returns, or with the problem and the usage."""
    lang = language(message)
    try:
        reply = await run(lang)
    except InputProblem as problem:
        reply = (texts.text(lang, problem.key, **problem.values) + "\n\n"
                 + texts.text(lang, usage, **usage_values))
    await message.reply(reply)


def _args(command: CommandObject) -> list[str]:
    return (command.args or "").split()


# --- parsing -----------------------------------------------------------------------------------


def parse_number(value: str, *, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise InputProblem("bad_number", value=_quote(value)) from None
    if not low <= number <= high:
        raise InputProblem("bad_number", value=_quote(value))
    return number


def parse_subject(value: str, message: Message) -> Subject:
    """A user (positive id), a group chat (negative id) or `here` (this group)."""
    if value.lower() == "here":
        if not is_group(message):
            raise InputProblem("here_not_group")
        return Subject(OverrideScope.CHAT, message.chat.id)
    try:
        number = int(value)
    except ValueError:
        raise InputProblem("bad_target", value=_quote(value)) from None
    if number == 0 or abs(number) >= MAX_ID:
        raise InputProblem("bad_target", value=_quote(value))
    return Subject(OverrideScope.USER if number > 0 else OverrideScope.CHAT, number)


def parse_user(value: str, message: Message) -> int:
    subject = parse_subject(value, message)
    if subject.scope is not OverrideScope.USER:
        raise InputProblem("bad_user", value=_quote(value))
    return subject.id


def target_user(args: list[str], message: Message) -> int:
    """`/cmd <user_id>` or `/cmd` as a reply to the user's message."""
    if len(args) == 1:
        return parse_user(args[0], message)
    if args:
        raise InputProblem("no_target")
    replied = replied_user_id(message)
    if replied is None:
        raise InputProblem("no_target")
    return replied


def _quote(value: str) -> str:
    return html.quote(value[:40])


# --- /setlimit ---------------------------------------------------------------------------------


async def setlimit(message: Message, command: CommandObject, quotas: Quotas) -> None:
    args = _args(command)

    async def run(lang: str) -> str:
        if len(args) == 2:
            target_word, value = args
            scope_id: tuple[OverrideScope, int]
            if target_word.lower() in DEFAULT_TARGETS:
                scope_id = (DEFAULT_TARGETS[target_word.lower()], 0)
            else:
                subject = parse_subject(target_word, message)
                scope_id = (subject.scope, subject.id)
        elif len(args) == 1:
            replied = replied_user_id(message)
            if replied is None:
                raise InputProblem("no_target")
            scope_id, value = (OverrideScope.USER, replied), args[0]
        else:
            raise InputProblem("no_target")
        scope, subject_id = scope_id
        by = message.from_user.id if message.from_user else None
        if value.lower() in RESET_WORDS:
            await quotas.reset_limit(scope, subject_id)
            log.info("admin %s reset the %s limit of %s", by, scope, subject_id)
            return texts.text(lang, "setlimit_reset", target=_describe(scope, subject_id, lang),
                              value=await _default_value(quotas, scope, lang))
        limit = None if value.lower() in UNLIMITED_WORDS else parse_number(
            value, low=0, high=MAX_LIMIT)
        await quotas.set_limit(scope, subject_id, limit, by=by)
        log.info("admin %s set the %s limit of %s to %s", by, scope, subject_id, limit)
        return texts.text(lang, "setlimit_done", target=_describe(scope, subject_id, lang),
                          value=_value(limit, lang))

    await _answer(message, "usage_setlimit", run)


def _describe(scope: OverrideScope, subject_id: int, lang: str) -> str:
    if scope in (OverrideScope.USER, OverrideScope.CHAT):
        return Subject(scope, subject_id).describe(lang)
    return texts.text(lang, f"target_{scope.value}")


def _value(limit: int | None, lang: str) -> str:
    if limit is None:
        return texts.text(lang, "value_unlimited")
    return texts.text(lang, "value_images", count=limit)


async def _default_value(quotas: Quotas, scope: OverrideScope, lang: str) -> str:
    """The limit that applies now that the override is gone."""
    defaults = await quotas.defaults()
    if scope in (OverrideScope.USER, OverrideScope.USER_DEFAULT):
        return _value(defaults.user_daily, lang)
    if scope in (OverrideScope.CHAT, OverrideScope.CHAT_DEFAULT):
        return _value(defaults.chat_daily, lang)
    return _value(defaults.global_daily, lang)


# --- /grant ------------------------------------------------------------------------------------


async def grant(message: Message, command: CommandObject, quotas: Quotas) -> None:
    args = _args(command)

    async def run(lang: str) -> str:
        if not args or len(args) > 2:
            raise InputProblem("no_target")
        user_id = target_user(args[:-1], message)
        extra = parse_number(args[-1], low=1, high=MAX_GRANT)
        total = await quotas.grant(user_id, extra)
        log.info("admin %s granted %s extra images to %s",
                 message.from_user.id if message.from_user else None, extra, user_id)
        return texts.text(lang, "grant_done", id=user_id, count=extra, total=total)

    await _answer(message, "usage_grant", run, max=MAX_GRANT)


# --- /ban, /unban ------------------------------------------------------------------------------


async def ban(message: Message, command: CommandObject, settings: Settings, quotas: Quotas,
              access: AccessRepository, service: GenerationService, delivery: Delivery) -> None:
    args = _args(command)

    async def run(lang: str) -> str:
        user_id = target_user(args, message)
        if user_id in settings.admin_ids:
            return texts.text(lang, "ban_admin", id=user_id)
        if not await access.ban(user_id, by=message.from_user.id if message.from_user else None):
            return texts.text(lang, "ban_already", id=user_id)
        # Their images not drawn yet are dropped (and refunded, should they be unbanned).
        cancelled, _ = await cancel_jobs(await quotas.unfinished(user_id, None), service,
                                         delivery)
        log.info("user %s banned; %d job(s) cancelled", user_id, cancelled)
        return texts.text(lang, "ban_done", id=user_id, count=cancelled)

    await _answer(message, "usage_ban", run)


async def unban(message: Message, command: CommandObject, access: AccessRepository) -> None:
    args = _args(command)

    async def run(lang: str) -> str:
        user_id = target_user(args, message)
        if not await access.unban(user_id):
            return texts.text(lang, "unban_not", id=user_id)
        log.info("user %s unbanned", user_id)
        return texts.text(lang, "unban_done", id=user_id)

    await _answer(message, "usage_ban", run)


# --- /allow, /disallow -------------------------------------------------------------------------


def _allow_subject(args: list[str], message: Message) -> Subject:
    if len(args) == 1:
        return parse_subject(args[0], message)
    return Subject(OverrideScope.USER, target_user(args, message))


async def allow(message: Message, command: CommandObject, settings: Settings,
                access: AccessRepository) -> None:
    args = _args(command)

    async def run(lang: str) -> str:
        subject = _allow_subject(args, message)
        added = await access.allow(subject.id,
                                   by=message.from_user.id if message.from_user else None)
        reply = texts.text(lang, "allow_done" if added else "allow_already",
                           target=subject.describe(lang))
        return reply + _open_note(settings, lang)

    await _answer(message, "usage_allow", run)


async def disallow(message: Message, command: CommandObject, settings: Settings,
                   access: AccessRepository) -> None:
    args = _args(command)

    async def run(lang: str) -> str:
        subject = _allow_subject(args, message)
        removed = await access.disallow(subject.id)
        reply = texts.text(lang, "disallow_done" if removed else "disallow_not",
                           target=subject.describe(lang))
        return reply + _open_note(settings, lang)

    await _answer(message, "usage_allow", run)


def _open_note(settings: Settings, lang: str) -> str:
    return "\n" + texts.text(lang, "allow_open") if settings.access_mode == "open" else ""


# --- /stats ------------------------------------------------------------------------------------


async def show_stats(message: Message, quotas: Quotas, stats: StatsRepository) -> None:
    lang = language(message)
    today = quotas.today()
    first = (date.fromisoformat(today) - timedelta(days=STATS_DAYS - 1)).isoformat()
    day = await stats.period(today, today)
    week = await stats.period(first, today)
    queue = await stats.queue()
    lines = [texts.text(lang, "stats_today", first=today), *period_lines(day, lang), "",
             texts.text(lang, "stats_week", first=first, last=today),
             *period_lines(week, lang), "",
             texts.text(lang, "stats_queue", queued=queue.queued, in_flight=queue.in_flight)]
    await message.reply("\n".join(lines))


def period_lines(period: PeriodStats, lang: str) -> list[str]:
    turned_away = sum(period.turned_away.values())
    refunds = texts.text(lang, "stats_refunds", refunded=period.refunded, turned_away=turned_away)
    if turned_away:
        kinds = ", ".join(f"{texts.text(lang, f'kind_{kind.value}')} {period.turned_away[kind]}"
                          for kind in LimitKind if kind in period.turned_away)
        refunds += texts.text(lang, "stats_turned_away_kinds", kinds=kinds)
    seconds = period.median_generation_seconds
    median = (texts.text(lang, "stats_no_median") if seconds is None
              else texts.text(lang, "stats_seconds", seconds=f"{seconds:.1f}"))
    none = texts.text(lang, "stats_none")
    top_users = ", ".join(f"<code>{c.subject_id}</code> ({c.count})" for c in period.top_users)
    top_chats = ", ".join(f"<code>{c.subject_id}</code> ({c.count})" for c in period.top_chats)
    return [
        texts.text(lang, "stats_jobs", delivered=period.delivered, refused=period.refused,
                   failed=period.failed, cancelled=period.cancelled,
                   undeliverable=period.undeliverable),
        refunds,
        texts.text(lang, "stats_users", users=period.unique_users, median=median),
        texts.text(lang, "stats_top_users", items=top_users or none),
        texts.text(lang, "stats_top_chats", items=top_chats or none),
    ]
