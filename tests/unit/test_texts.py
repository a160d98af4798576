"""Message catalogs: complete in both languages, compiled, chosen per user; the converter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiogram.types import User

from bot import commands, texts
from scripts import texts_to_po


def test_catalogs_are_complete_and_compiled() -> None:
    catalogs = {language: texts_to_po.load(language) for language in texts_to_po.LANGUAGES}
    assert texts_to_po.problems(catalogs) == []
    assert set(texts_to_po.LANGUAGES) == set(texts.LANGUAGES)
    assert set(texts.catalogs().available_locales) == set(texts.LANGUAGES)


LANGUAGE_NEUTRAL = {"stats_turned_away_kinds"}  # punctuation around words translated elsewhere


def test_every_key_reads_differently_in_russian() -> None:
    english = texts_to_po.messages(texts_to_po.load("en"))
    assert set(english) >= LANGUAGE_NEUTRAL
    for key in set(english) - LANGUAGE_NEUTRAL:
        values: dict[str, Any] = {name: "1" for name in texts_to_po.placeholders(english[key])}
        assert texts.text("ru", key, **values) != texts.text("en", key, **values), key


def test_text_falls_back_to_english_and_rejects_unknown_keys() -> None:
    assert texts.text(None, "working") == texts.text("en", "working")
    assert texts.text("xx", "working") == texts.text("en", "working")
    with pytest.raises(KeyError):
        texts.text("en", "no_such_key")


def test_text_without_language_follows_the_current_update() -> None:
    i18n = texts.catalogs()
    with i18n.context(), i18n.use_locale("ru"):
        assert texts.text(None, "working") == texts.text("ru", "working")
    assert texts.text(None, "working") == texts.text("en", "working")


@pytest.mark.parametrize(
    ("seconds", "en", "ru"),
    [(0, "0 s", "0 с"), (12.9, "12 s", "12 с"), (60, "1 min 00 s", "1 мин 00 с"),
     (125, "2 min 05 s", "2 мин 05 с")],
)
def test_elapsed(seconds: float, en: str, ru: str) -> None:
    assert texts.elapsed("en", seconds) == en
    assert texts.elapsed("ru", seconds) == ru


@pytest.mark.parametrize(
    ("code", "language"), [("ru", "ru"), ("kk", "ru"), ("be-BY", "ru"), ("uk_UA", "ru"),
                           ("en", "en"), ("fr", "en"), (None, "en")],
)
async def test_middleware_hands_the_language_to_handlers(code: str | None, language: str) -> None:
    seen: dict[str, Any] = {}

    async def handler(event: Any, data: dict[str, Any]) -> str:
        seen.update(data)
        return texts.text(None, "working")

    user = User(id=1, is_bot=False, first_name="A", language_code=code)
    result = await texts.LanguageMiddleware()(handler, user, {"event_from_user": user})
    assert seen["language"] == language
    assert result == texts.text(language, "working")


async def test_middleware_without_a_user_speaks_english() -> None:
    async def handler(event: Any, data: dict[str, Any]) -> str:
        return str(data["language"])

    assert await texts.LanguageMiddleware()(handler, User(id=1, is_bot=False, first_name="A"),
                                            {}) == "en"


@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_menu_commands_fit_telegram_rules(language: str) -> None:
    names = commands.USER_COMMANDS + commands.ADMIN_COMMANDS
    for command in commands.menu(names, language):
        assert command.command.isascii() and command.command.islower()
        assert 1 <= len(command.command) <= 32
        assert 1 <= len(command.description) <= 256
        assert "<" not in command.description.replace("<what", "").replace("<что", "")


# --- the converter ---------------------------------------------------------------------------

PO = {
    "en": 'msgid "hello"\nmsgstr "Hello, {name}!"\n\nmsgid "bye"\nmsgstr "Bye"\n',
    "ru": 'msgid "hello"\nmsgstr "Привет, {name}!"\n\nmsgid "bye"\nmsgstr "Пока"\n',
}


def write_catalogs(root: Path) -> None:
    for language, entries in PO.items():
        po = texts_to_po.po_path(language, root)
        po.parent.mkdir(parents=True)
        po.write_text(entries, encoding="utf-8")


def test_update_compiles_flags_and_comments_and_is_idempotent(tmp_path: Path) -> None:
    root = tmp_path / "locales"
    write_catalogs(root)
    written = texts_to_po.update(root)
    assert len(written) == 4  # two .po (flags, comments), two .mo
    assert texts_to_po.update(root) == []  # nothing changes the second time
    catalogs = {language: texts_to_po.load(language, root) for language in ("en", "ru")}
    assert texts_to_po.messages(catalogs["ru"]) == {"hello": "Привет, {name}!", "bye": "Пока"}
    assert texts_to_po.problems(catalogs, root) == []
    po = texts_to_po.po_path("ru", root).read_text(encoding="utf-8")
    assert "#. en: Hello, {name}!" in po and "python-brace-format" in po


def test_check_finds_stale_mo_missing_translation_and_placeholder_mismatch(
    tmp_path: Path,
) -> None:
    root = tmp_path / "locales"
    write_catalogs(root)
    texts_to_po.update(root)
    with texts_to_po.po_path("en", root).open("a", encoding="utf-8") as po:
        po.write('\nmsgid "only_en"\nmsgstr "Only {here}"\n')
    ru = texts_to_po.po_path("ru", root)
    ru.write_text(ru.read_text(encoding="utf-8").replace("Привет, {name}!", "Привет, {имя}!"),
                  encoding="utf-8")
    catalogs = {language: texts_to_po.load(language, root) for language in ("en", "ru")}
    found = "\n".join(texts_to_po.problems(catalogs, root))
    assert "ru: 'only_en' is not translated" in found
    assert "'hello' has placeholders" in found
    assert "out of date with its .po" in found


@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_button_answers_fit_a_callback_answer(language: str) -> None:
    """answerCallbackQuery takes 200 characters of plain text at most."""
    answers = [
        texts.text(language, "button_gone"),
        texts.text(language, "original_recent"),
        texts.text(language, "original_gone", hours="8760"),
        texts.text(language, "limit_reached", limit=100000, reset_at="00:00 +0545",
                   reset_in=texts.duration(language, 86399)),
    ]
    for answer in answers:
        assert len(answer) <= 200 and "<" not in answer, answer
