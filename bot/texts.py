"""User-facing texts: a thin facade over the gettext catalogs in `bot/locales/`.

`text(language, key, **values)` looks `key` up in the language's catalog (aiogram's `I18n`,
stdlib gettext underneath) and fills the placeholders with `str.format`; values that come from
users must be HTML-escaped by the caller. Handlers get `language` from `LanguageMiddleware`;
background jobs pass the language stored with the job.

To add or change a text, edit `bot/locales/{en,ru}/LC_MESSAGES/messages.po` and run
`python scripts/texts_to_po.py` (it compiles the `.mo` files; CI checks they are up to date).
"""

from __future__ import annotations

import gettext
from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path
from typing import Any, Final

from aiogram.types import TelegramObject, User
from aiogram.utils.i18n import I18n, I18nMiddleware

RUSSIAN_SPEAKING: Final = frozenset({"ru", "uk", "be", "kk"})
LANGUAGES: Final = ("en", "ru")
DEFAULT_LANGUAGE: Final = "en"
LOCALES: Final = Path(__file__).with_name("locales")



class _Missing(gettext.NullTranslations):
    """End of every fallback chain: an unknown key is a bug, not a text to show."""

    def gettext(self, message: str) -> str:
        raise KeyError(f"no text {message!r} in the catalogs")


@cache
def catalogs() -> I18n:
    """The compiled catalogs; a key missing in one language falls back to English."""
    i18n = I18n(path=LOCALES, default_locale=DEFAULT_LANGUAGE, domain="messages")
    english = i18n.locales[DEFAULT_LANGUAGE]
    english.add_fallback(_Missing())
    for language, translations in i18n.locales.items():
        if language != DEFAULT_LANGUAGE:
            translations.add_fallback(english)
    return i18n


def language_of(language_code: str | None) -> str:
    """Russian for Russian, Ukrainian, Belarusian and Kazakh speakers; English otherwise."""
    base = (language_code or "").replace("_", "-").split("-")[0].lower()
    return "ru" if base in RUSSIAN_SPEAKING else "en"


def text(language: str | None, key: str, **values: object) -> str:
    """The text `key` in `language` (None: the current update's language, else English)."""
    i18n = catalogs()
    locale = language if language is not None else i18n.current_locale
    if locale not in i18n.available_locales:
        locale = DEFAULT_LANGUAGE
    return i18n.gettext(key, locale=locale).format(**values)


def duration(language: str | None, seconds: float) -> str:
    minutes_total = max(1, int(seconds + 59) // 60)
    hours, minutes = divmod(minutes_total, 60)
    if hours:
        return text(language, "hours_minutes", hours=hours, minutes=minutes)
    return text(language, "minutes", minutes=minutes)


def elapsed(language: str | None, seconds: float) -> str:
    """A running time for the status line: "12 s", "1 min 05 s"."""
    whole = max(0, int(seconds))
    if whole < 60:
        return text(language, "elapsed_seconds", seconds=whole)
    minutes, rest = divmod(whole, 60)
    return text(language, "elapsed_minutes", minutes=minutes, seconds=f"{rest:02d}")


class LanguageMiddleware(I18nMiddleware):
    """Picks the update's language from the sender's `language_code` (see `language_of`),
    sets it as the i18n locale and hands it to handlers as `language`."""

    def __init__(self, i18n: I18n | None = None) -> None:
        super().__init__(i18n or catalogs())

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        user: User | None = data.get("event_from_user")
        return language_of(user.language_code if user is not None else None)

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        language = await self.get_locale(event, data)
        data["language"] = language
        if self.i18n_key:
            data[self.i18n_key] = self.i18n
        with self.i18n.context(), self.i18n.use_locale(language):
            return await handler(event, data)
