"""Every user-facing text, in English and Russian. Placeholders are filled with `str.format`;
values that come from users must be HTML-escaped by the caller."""

from __future__ import annotations

from typing import Final

RUSSIAN_SPEAKING: Final = frozenset({"ru", "uk", "be", "kk"})

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


def language_of(language_code: str | None) -> str:
    """Russian for Russian, Ukrainian, Belarusian and Kazakh speakers; English otherwise."""
    base = (language_code or "").split("-")[0].lower()
    return "ru" if base in RUSSIAN_SPEAKING else "en"


def text(language: str | None, key: str, **values: object) -> str:
    catalog = _CATALOGS.get(language or "en", _EN)
    return catalog[key].format(**values)


def duration(language: str | None, seconds: float) -> str:
    minutes_total = max(1, int(seconds + 59) // 60)
    hours, minutes = divmod(minutes_total, 60)
    if hours:
        return text(language, "hours_minutes", hours=hours, minutes=minutes)
    return text(language, "minutes", minutes=minutes)
