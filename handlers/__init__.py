"""aiogram routers, assembled in one place."""

from __future__ import annotations

from aiogram import Router

from handlers import admin, buttons, cancel, draw, limits, migration
from handlers.access import AccessMiddleware
from handlers.common import in_people_chat


def build_router() -> Router:
    """A fresh router tree (a router can have one parent only, so tests build their own)."""
    root = Router(name="root")
    root.message.filter(in_people_chat)
    # Telegram's own service message: not a user's request, so no access rule applies.
    root.include_router(migration.build_router())
    # Bans and the allow-list, for every handler below (inner middlewares are inherited, and run
    # only for updates a handler matched: commands meant for this bot).
    guarded = Router(name="guarded")
    guarded.message.middleware(AccessMiddleware())
    guarded.callback_query.middleware(AccessMiddleware())
    guarded.include_router(draw.build_router())
    guarded.include_router(buttons.build_router())
    guarded.include_router(limits.build_router())
    guarded.include_router(cancel.build_router())
    guarded.include_router(admin.build_router())  # admins only; silent for everyone else
    root.include_router(guarded)
    return root
