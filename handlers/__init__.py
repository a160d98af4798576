"""aiogram routers, assembled in one place."""

from __future__ import annotations

from aiogram import F, Router

from handlers import buttons, draw


def build_router() -> Router:
    """A fresh router tree (a router can have one parent only, so tests build their own)."""
    root = Router(name="root")
    # Users' messages only: no channels, no messages from other bots.
    root.message.filter(F.chat.type.in_({"private", "group", "supergroup"}))
    root.include_router(draw.build_router())
    root.include_router(buttons.build_router())
    return root
