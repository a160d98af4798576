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
    # limits
    "limit_zero": (
        "Your daily limit is 0 images, so I can't draw for you. Limits reset at {reset_at} "
        "(in {reset_in})."
    ),
    "chat_limit_reached": (
        "This chat has used all {limit} images for today (all members together). The chat's "
        "limit resets at {reset_at} (in {reset_in})."
    ),
    "chat_limit_zero": (
        "This chat's daily limit is 0 images, so I can't draw here. Limits reset at {reset_at} "
        "(in {reset_in})."
    ),
    "global_limit_reached": (
        "The bot has drawn all {limit} images it can make today, for everyone together. The "
        "limit resets at {reset_at} (in {reset_in})."
    ),
    "global_limit_zero": (
        "The bot's daily budget is 0 images, so nobody can draw right now. Limits reset at "
        "{reset_at} (in {reset_in})."
    ),
    "active_limit_reached": (
        "You already have {limit} images in progress, the most you can have at once. Please wait "
        "for your current images, then send this again. Nothing was charged."
    ),
    "not_allowed_private": (
        "Sorry, this bot is private: only people and chats on its list may use it. To ask for "
        "access, send the bot's owner your user id: <code>{id}</code>."
    ),
    "not_allowed_group": (
        "Sorry, this bot is private: only people and chats on its list may use it. To ask for "
        "access, send the bot's owner this chat's id: <code>{id}</code>."
    ),
    "limits_admin": "You are an admin: no limits apply to you.",
    "limits_user": "Images left for you today: <b>{left}</b> of {limit}",
    "limits_user_unlimited": "Images for you today: unlimited ({used} so far)",
    "limits_granted": " (including {granted} extra granted today)",
    "limits_chat": "Images left for this chat today: <b>{left}</b> of {limit}",
    "limits_everyone": "Images left for everyone together today: <b>{left}</b> of {limit}",
    "limits_active": "Images in progress at once: up to {limit}",
    "limits_reset": "The day resets at {reset_at} (in {reset_in}).",
    "limits_id": "Your user id: <code>{id}</code>",
    "limits_jobs": "<b>Your images in progress</b>",
    "limits_jobs_none": "You have no images in progress.",
    "limits_job_queued": "• #{position} in the queue: {prompt}",
    "limits_job_drawing": "• drawing now: {prompt}",
    "limits_job_sending": "• ready, being sent: {prompt}",
    "limits_jobs_elsewhere": "…and {count} more in other chats.",
    "cancel_done": "Cancelled: {count}. They were not counted against your limit.",
    "cancel_none": "You have nothing to cancel.",
    "cancel_too_late": "Already drawn and being sent, too late to cancel: {count}.",
    # command menu
    "cmd_draw": "Draw a picture: /draw a red fox in the snow",
    "cmd_limits": "Images left today and your images in progress",
    "cmd_cancel": "Cancel your images that are not ready yet",
    "cmd_stats": "Admin: usage today and over 7 days",
    "cmd_setlimit": "Admin: set a daily limit (user, chat, default, global)",
    "cmd_grant": "Admin: give a user extra images for today",
    "cmd_ban": "Admin: ignore a user's commands",
    "cmd_unban": "Admin: lift a ban",
    "cmd_allow": "Admin: add a user or chat to the allow-list",
    "cmd_disallow": "Admin: remove a user or chat from the allow-list",
    # admin
    "usage_setlimit": (
        "Usage:\n"
        "<code>/setlimit &lt;user_id&gt; &lt;n&gt;</code>: a user's images per day\n"
        "<code>/setlimit &lt;n&gt;</code> as a reply to someone's message: that user\n"
        "<code>/setlimit &lt;chat_id&gt; &lt;n&gt;</code>: a group chat's images per day (group "
        "ids are negative; <code>here</code> is this group)\n"
        "<code>/setlimit default &lt;n&gt;</code>: every user without a limit of their own\n"
        "<code>/setlimit chats &lt;n&gt;</code>: every group without a limit of its own\n"
        "<code>/setlimit global &lt;n&gt;</code>: the whole bot, everyone together\n"
        "&lt;n&gt; is a number of images (0 = none), <code>off</code> (unlimited) or "
        "<code>reset</code> (back to the default)."
    ),
    "usage_grant": (
        "Usage: <code>/grant &lt;user_id&gt; &lt;n&gt;</code>, or <code>/grant &lt;n&gt;</code> "
        "as a reply to the user's message: n extra images (1 to {max}) for today."
    ),
    "usage_ban": (
        "Usage: <code>/ban &lt;user_id&gt;</code>, or <code>/ban</code> as a reply to the user's "
        "message. <code>/unban</code> works the same way."
    ),
    "usage_allow": (
        "Usage: <code>/allow &lt;user_id or chat_id&gt;</code> (group ids are negative), "
        "<code>/allow here</code> in a group, or <code>/allow</code> as a reply to the user's "
        "message. <code>/disallow</code> works the same way."
    ),
    "bad_target": (
        "I can't tell who <code>{value}</code> is: use a numeric id (a user's, or a group's, "
        "which is negative) or reply to the person's message."
    ),
    "bad_user": (
        "<code>{value}</code> is not a user: use a user's numeric id (positive) or reply to "
        "their message."
    ),
    "bad_number": "<code>{value}</code> is not a valid number here.",
    "no_target": "Whom do you mean? Give an id or reply to the person's message.",
    "here_not_group": "<code>here</code> only works in a group.",
    "target_user": "user <code>{id}</code>",
    "target_chat": "chat <code>{id}</code>",
    "target_user_default": "every user without a limit of their own",
    "target_chat_default": "every group without a limit of its own",
    "target_global": "the whole bot (everyone together)",
    "value_images": "{count} per day",
    "value_unlimited": "unlimited",
    "setlimit_done": "Daily limit for {target}: {value}.",
    "setlimit_reset": "Daily limit for {target}: back to the default, now {value}.",
    "grant_done": "User <code>{id}</code> gets {count} extra images today ({total} extra in all).",
    "ban_done": "User <code>{id}</code> is banned: their commands are ignored. Cancelled: {count}.",
    "ban_already": "User <code>{id}</code> was already banned.",
    "ban_admin": "User <code>{id}</code> is an admin (ADMIN_IDS) and cannot be banned.",
    "unban_done": "User <code>{id}</code> is no longer banned.",
    "unban_not": "User <code>{id}</code> was not banned.",
    "allow_done": "{target} is now on the allow-list.",
    "allow_already": "{target} was already on the allow-list.",
    "disallow_done": "{target} is no longer on the allow-list.",
    "disallow_not": "{target} was not on the allow-list.",
    "allow_open": (
        "Note: ACCESS_MODE is open, so everyone may use the bot; the list takes effect with "
        "ACCESS_MODE=allowlist."
    ),
    "stats_today": "<b>Today</b> ({first})",
    "stats_week": "<b>Last 7 days</b> ({first} to {last})",
    "stats_jobs": (
        "Delivered: {delivered} · refused by YandexArt: {refused} · failed: {failed} · "
        "cancelled: {cancelled} · undeliverable: {undeliverable}"
    ),
    "stats_refunds": "Refunded: {refunded} · turned away by limits: {turned_away}",
    "stats_turned_away_kinds": " ({kinds})",
    "stats_users": "Users: {users} · median generation time: {median}",
    "stats_top_users": "Top users: {items}",
    "stats_top_chats": "Top chats: {items}",
    "stats_queue": "<b>Now</b>: {queued} waiting in the queue, {in_flight} generating or sending",
    "stats_none": "none",
    "stats_no_median": "n/a",
    "stats_seconds": "{seconds:.1f} s",
    "kind_user": "user limit",
    "kind_chat": "chat limit",
    "kind_global": "global limit",
    "kind_active": "too many at once",
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
    # limits
    "limit_zero": (
        "Ваш дневной лимит — 0 картинок, поэтому я не могу рисовать для вас. Лимиты обновятся в "
        "{reset_at} (через {reset_in})."
    ),
    "chat_limit_reached": (
        "Этот чат уже использовал все {limit} картинок на сегодня (все участники вместе). Лимит "
        "чата обновится в {reset_at} (через {reset_in})."
    ),
    "chat_limit_zero": (
        "Дневной лимит этого чата — 0 картинок, поэтому здесь я не рисую. Лимиты обновятся в "
        "{reset_at} (через {reset_in})."
    ),
    "global_limit_reached": (
        "Бот уже нарисовал все {limit} картинок, которые может сделать сегодня для всех вместе. "
        "Лимит обновится в {reset_at} (через {reset_in})."
    ),
    "global_limit_zero": (
        "Дневной бюджет бота — 0 картинок, поэтому сейчас никто не может рисовать. Лимиты "
        "обновятся в {reset_at} (через {reset_in})."
    ),
    "active_limit_reached": (
        "У вас уже рисуется картинок: {limit} — это максимум одновременно. Дождитесь текущих "
        "картинок и отправьте запрос ещё раз. Ничего не списано."
    ),
    "not_allowed_private": (
        "Извините, это закрытый бот: им могут пользоваться только люди и чаты из его списка. "
        "Чтобы получить доступ, отправьте владельцу бота ваш id: <code>{id}</code>."
    ),
    "not_allowed_group": (
        "Извините, это закрытый бот: им могут пользоваться только люди и чаты из его списка. "
        "Чтобы получить доступ, отправьте владельцу бота id этого чата: <code>{id}</code>."
    ),
    "limits_admin": "Вы администратор: лимиты на вас не действуют.",
    "limits_user": "Осталось картинок для вас сегодня: <b>{left}</b> из {limit}",
    "limits_user_unlimited": "Картинок для вас сегодня: без ограничений (уже {used})",
    "limits_granted": " (включая {granted} дополнительных на сегодня)",
    "limits_chat": "Осталось картинок для этого чата сегодня: <b>{left}</b> из {limit}",
    "limits_everyone": "Осталось картинок для всех вместе сегодня: <b>{left}</b> из {limit}",
    "limits_active": "Картинок в работе одновременно: не больше {limit}",
    "limits_reset": "Новый день начнётся в {reset_at} (через {reset_in}).",
    "limits_id": "Ваш id: <code>{id}</code>",
    "limits_jobs": "<b>Ваши картинки в работе</b>",
    "limits_jobs_none": "Сейчас у вас ничего не рисуется.",
    "limits_job_queued": "• №{position} в очереди: {prompt}",
    "limits_job_drawing": "• рисуется: {prompt}",
    "limits_job_sending": "• готова, отправляется: {prompt}",
    "limits_jobs_elsewhere": "…и ещё {count} в других чатах.",
    "cancel_done": "Отменено: {count}. Они не засчитаны в ваш лимит.",
    "cancel_none": "Отменять нечего.",
    "cancel_too_late": "Уже нарисованы и отправляются, отменить нельзя: {count}.",
    # command menu
    "cmd_draw": "Нарисовать картинку: /draw рыжая лиса в снегу",
    "cmd_limits": "Сколько картинок осталось и что сейчас рисуется",
    "cmd_cancel": "Отменить ваши ещё не готовые картинки",
    "cmd_stats": "Админ: статистика за сегодня и за 7 дней",
    "cmd_setlimit": "Админ: дневной лимит (пользователь, чат, по умолчанию, общий)",
    "cmd_grant": "Админ: дать пользователю картинки сверх лимита на сегодня",
    "cmd_ban": "Админ: игнорировать команды пользователя",
    "cmd_unban": "Админ: снять бан",
    "cmd_allow": "Админ: добавить пользователя или чат в список доступа",
    "cmd_disallow": "Админ: убрать пользователя или чат из списка доступа",
    # admin
    "usage_setlimit": (
        "Как использовать:\n"
        "<code>/setlimit &lt;user_id&gt; &lt;n&gt;</code>: картинок в день для пользователя\n"
        "<code>/setlimit &lt;n&gt;</code> ответом на сообщение: для его автора\n"
        "<code>/setlimit &lt;chat_id&gt; &lt;n&gt;</code>: картинок в день для группы (id групп "
        "отрицательные; <code>here</code> — эта группа)\n"
        "<code>/setlimit default &lt;n&gt;</code>: для всех, у кого нет своего лимита\n"
        "<code>/setlimit chats &lt;n&gt;</code>: для всех групп без своего лимита\n"
        "<code>/setlimit global &lt;n&gt;</code>: для всего бота, все вместе\n"
        "&lt;n&gt; — число картинок (0 — ни одной), <code>off</code> (без ограничений) или "
        "<code>reset</code> (вернуть значение по умолчанию)."
    ),
    "usage_grant": (
        "Как использовать: <code>/grant &lt;user_id&gt; &lt;n&gt;</code> или "
        "<code>/grant &lt;n&gt;</code> ответом на сообщение пользователя: n дополнительных "
        "картинок (от 1 до {max}) на сегодня."
    ),
    "usage_ban": (
        "Как использовать: <code>/ban &lt;user_id&gt;</code> или <code>/ban</code> ответом на "
        "сообщение пользователя. <code>/unban</code> — так же."
    ),
    "usage_allow": (
        "Как использовать: <code>/allow &lt;user_id или chat_id&gt;</code> (id групп "
        "отрицательные), <code>/allow here</code> в группе или <code>/allow</code> ответом на "
        "сообщение пользователя. <code>/disallow</code> — так же."
    ),
    "bad_target": (
        "Не понимаю, кто такой <code>{value}</code>: укажите числовой id (пользователя или "
        "группы — он отрицательный) или ответьте на сообщение этого человека."
    ),
    "bad_user": (
        "<code>{value}</code> — не пользователь: укажите числовой id пользователя "
        "(положительный) или ответьте на его сообщение."
    ),
    "bad_number": "<code>{value}</code> — здесь неподходящее число.",
    "no_target": "Кого вы имеете в виду? Укажите id или ответьте на сообщение этого человека.",
    "here_not_group": "<code>here</code> работает только в группе.",
    "target_user": "пользователь <code>{id}</code>",
    "target_chat": "чат <code>{id}</code>",
    "target_user_default": "все пользователи без своего лимита",
    "target_chat_default": "все группы без своего лимита",
    "target_global": "весь бот (все вместе)",
    "value_images": "{count} в день",
    "value_unlimited": "без ограничений",
    "setlimit_done": "Дневной лимит — {target}: {value}.",
    "setlimit_reset": "Дневной лимит — {target}: по умолчанию, сейчас {value}.",
    "grant_done": (
        "Пользователь <code>{id}</code> получает дополнительные картинки на сегодня: {count} "
        "(всего дополнительных: {total})."
    ),
    "ban_done": (
        "Пользователь <code>{id}</code> забанен: его команды игнорируются. Отменено: {count}."
    ),
    "ban_already": "Пользователь <code>{id}</code> уже забанен.",
    "ban_admin": "Пользователь <code>{id}</code> — администратор (ADMIN_IDS), его нельзя забанить.",
    "unban_done": "Пользователь <code>{id}</code> больше не забанен.",
    "unban_not": "Пользователь <code>{id}</code> не был забанен.",
    "allow_done": "Добавлен в список доступа: {target}.",
    "allow_already": "Уже в списке доступа: {target}.",
    "disallow_done": "Убран из списка доступа: {target}.",
    "disallow_not": "Не было в списке доступа: {target}.",
    "allow_open": (
        "Внимание: ACCESS_MODE=open, ботом могут пользоваться все; список действует при "
        "ACCESS_MODE=allowlist."
    ),
    "stats_today": "<b>Сегодня</b> ({first})",
    "stats_week": "<b>За 7 дней</b> (с {first} по {last})",
    "stats_jobs": (
        "Доставлено: {delivered} · отклонено YandexArt: {refused} · не удалось: {failed} · "
        "отменено: {cancelled} · не доставлено: {undeliverable}"
    ),
    "stats_refunds": "Возвращено в лимит: {refunded} · отказано по лимитам: {turned_away}",
    "stats_turned_away_kinds": " ({kinds})",
    "stats_users": "Пользователей: {users} · медиана времени генерации: {median}",
    "stats_top_users": "Самые активные пользователи: {items}",
    "stats_top_chats": "Самые активные чаты: {items}",
    "stats_queue": "<b>Сейчас</b>: в очереди {queued}, рисуются или отправляются {in_flight}",
    "stats_none": "нет",
    "stats_no_median": "н/д",
    "stats_seconds": "{seconds:.1f} с",
    "kind_user": "лимит пользователя",
    "kind_chat": "лимит чата",
    "kind_global": "общий лимит",
    "kind_active": "слишком много сразу",
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
