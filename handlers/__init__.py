"""aiogram routers, assembled in one place."""

from __future__ import annotations

from aiogram import F, Router

from handlers import admin, buttons, cancel, draw, limits
from handlers.access import AccessMiddleware


def build_router() -> Router:
    """A fresh router tree (a router can have one parent only, so tests build their own)."""
    root = Router(name="root")
    # Users' messages only: no channels, no messages from other bots.
    root.message.filter(F.chat.type.in_({"private", "group", "supergroup"}))
    # Bans and the allow-list, for every handler below (inner middlewares are inherited, and run
    # only for updates a handler matched: commands meant for this bot).
    root.message.middleware(AccessMiddleware())
    root.callback_query.middleware(AccessMiddleware())
    root.include_router(draw.build_router())
    root.include_router(buttons.build_router())
    root.include_router(limits.build_router())
    root.include_router(cancel.build_router())
    root.include_router(admin.build_router())  # admins only; silent for everyone else
    return root
