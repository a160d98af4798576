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

# LEGACY, not used at run time: the texts as they were before the catalogs. Kept only until
# the branch that adds entries here is merged; then `python scripts/texts_to_po.py` copies
# them into the catalogs once, and these dicts are deleted. CI fails while they disagree.

_EN: Final[dict[str, str]] = {
    "usage": (
        "Tell me what to draw: <code>/draw{mention} a red fox in a snowy forest</code>\n\n"
        "Options go anywhere in the prompt:\n"
        "• <code>--ar 16:9</code> aspect ratio (1:4 to 4:1), or <code>--ar square</code>, "
        "<code>wide</code>, <code>tall</code>\n"
        "• <code>--seed 42</code> repeat an image exactly\n\n"
        "You can also reply to any message with <code>/draw{mention}</code> to draw its text."
    ),
    "too_long": (
        "That prompt is {length} characters long, but YandexArt accepts at most {limit}. "
        "Please shorten it. Nothing was charged."
    ),
    "bad_aspect": (
        "<code>--ar {value}</code> is not a valid aspect ratio. Use W:H with whole numbers from 1 "
        "to 100 and a ratio between 1:4 and 4:1 (e.g. <code>--ar 16:9</code>), or "
        "<code>--ar square</code>, <code>--ar wide</code>, <code>--ar tall</code>."
    ),
    "bad_seed": (
        "<code>--seed {value}</code> is not a valid seed. Use a whole number from 0 to "
        "9223372036854775807, e.g. <code>--seed 42</code>."
    ),
    "unknown_option": (
        "I don't know the option <code>{value}</code>. Valid options: <code>--ar W:H</code> "
        "(or square, wide, tall) and <code>--seed N</code>."
    ),
    "missing_value": "The option <code>{value}</code> needs a value, e.g. <code>--ar 16:9</code> "
    "or <code>--seed 42</code>.",
    "limit_reached": (
        "You have used all {limit} images for today. The limit resets at {reset_at} "
        "(in {reset_in})."
    ),
    "working": "🎨 Drawing…",
    "refused": (
        "YandexArt declined to draw this: the prompt may violate its terms of use. "
        "Try rephrasing it. This request was not counted against your limit."
    ),
    "failed": (
        "Sorry, the image could not be generated. This request was not counted against your "
        "limit; please try again."
    ),
    "unavailable": (
        "Image generation is temporarily unavailable. This request was not counted against your "
        "limit; please try again later."
    ),
    "expired": (
        "Sorry, YandexArt took too long to draw this, so I gave up. This request was not counted "
        "against your limit; please try again."
    ),
    "interrupted": (
        "Sorry, the bot restarted while sending this request, so I can't tell whether it went "
        "through. It was not counted against your limit; please send it again."
    ),
    "seed": "seed",
    "hours_minutes": "{hours} h {minutes} min",
    "minutes": "{minutes} min",
}

_RU: Final[dict[str, str]] = {
    "usage": (
        "Напишите, что нарисовать: <code>/draw{mention} рыжая лиса в снежном лесу</code>\n\n"
        "Параметры можно ставить в любом месте запроса:\n"
        "• <code>--ar 16:9</code> соотношение сторон (от 1:4 до 4:1), или "
        "<code>--ar square</code>, <code>wide</code>, <code>tall</code>\n"
        "• <code>--seed 42</code> повторить картинку в точности\n\n"
        "Можно ответить командой <code>/draw{mention}</code> на любое сообщение — я нарисую его "
        "текст."
    ),
    "too_long": (
        "В запросе {length} символов, а YandexArt принимает не больше {limit}. Сократите его, "
        "пожалуйста. Ничего не списано."
    ),
    "bad_aspect": (
        "<code>--ar {value}</code> — неверное соотношение сторон. Укажите Ш:В целыми числами от 1 "
        "до 100 и соотношением от 1:4 до 4:1 (например, <code>--ar 16:9</code>) или "
        "<code>--ar square</code>, <code>--ar wide</code>, <code>--ar tall</code>."
    ),
    "bad_seed": (
        "<code>--seed {value}</code> — неверное зерно. Укажите целое число от 0 до "
        "9223372036854775807, например <code>--seed 42</code>."
    ),
    "unknown_option": (
        "Не знаю параметра <code>{value}</code>. Есть такие: <code>--ar Ш:В</code> "
        "(или square, wide, tall) и <code>--seed N</code>."
    ),
    "missing_value": "Параметру <code>{value}</code> нужно значение, например "
    "<code>--ar 16:9</code> или <code>--seed 42</code>.",
    "limit_reached": (
        "Вы уже использовали все {limit} картинок на сегодня. Лимит обновится в {reset_at} "
        "(через {reset_in})."
    ),
    "working": "🎨 Рисую…",
    "refused": (
        "YandexArt отказался это рисовать: запрос может нарушать правила использования. "
        "Попробуйте переформулировать. Этот запрос не засчитан в ваш лимит."
    ),
    "failed": (
        "Не получилось создать картинку. Этот запрос не засчитан в ваш лимит — попробуйте ещё раз."
    ),
    "unavailable": (
        "Генерация картинок временно недоступна. Этот запрос не засчитан в ваш лимит — "
        "попробуйте позже."
    ),
    "expired": (
        "YandexArt рисовал слишком долго, и я перестал ждать. Этот запрос не засчитан в ваш "
        "лимит — попробуйте ещё раз."
    ),
    "interrupted": (
        "Бот перезапустился, пока отправлял этот запрос, и не знает, дошёл ли он. Запрос не "
        "засчитан в ваш лимит — отправьте его ещё раз."
    ),
    "seed": "зерно",
    "hours_minutes": "{hours} ч {minutes} мин",
    "minutes": "{minutes} мин",
}

_CATALOGS: Final = {"en": _EN, "ru": _RU}


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
