"""Message catalogs: complete in both languages, compiled, chosen per user; the converter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiogram.types import User

from bot import commands, texts
from scripts import texts_to_po


def test_catalogs_are_complete_compiled_and_match_the_legacy_dicts() -> None:
    catalogs = {language: texts_to_po.load(language) for language in texts_to_po.LANGUAGES}
    legacy = texts_to_po.legacy_dicts(texts_to_po.TEXTS)
    assert texts_to_po.problems(catalogs, legacy=legacy) == []
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

LEGACY = '''
from typing import Final
_EN: Final[dict[str, str]] = {"hello": "Hello, {name}!", "bye": "Bye"}
_RU: Final[dict[str, str]] = {
    "hello": "Привет, "
    "{name}!",
    "bye": "Пока",
}
'''


def test_converter_imports_the_dicts_and_is_idempotent(tmp_path: Path) -> None:
    source = tmp_path / "texts.py"
    source.write_text(LEGACY, encoding="utf-8")
    root = tmp_path / "locales"
    written = texts_to_po.update(source, root)
    assert len(written) == 4  # two .po, two .mo
    assert texts_to_po.update(source, root) == []  # nothing changes the second time
    catalogs = {language: texts_to_po.load(language, root) for language in ("en", "ru")}
    assert texts_to_po.messages(catalogs["ru"]) == {"hello": "Привет, {name}!", "bye": "Пока"}
    assert texts_to_po.problems(catalogs, root, texts_to_po.legacy_dicts(source)) == []
    po = texts_to_po.po_path("ru", root).read_text(encoding="utf-8")
    assert "#. en: Hello, {name}!" in po and "python-brace-format" in po


def test_converter_keeps_catalog_only_entries_and_updates_changed_ones(tmp_path: Path) -> None:
    source = tmp_path / "texts.py"
    source.write_text(LEGACY, encoding="utf-8")
    root = tmp_path / "locales"
    texts_to_po.update(source, root)
    for language, text in (("en", "New"), ("ru", "Новое")):
        with texts_to_po.po_path(language, root).open("a", encoding="utf-8") as po:
            po.write(f'\nmsgid "new"\nmsgstr "{text}"\n')
    source.write_text(LEGACY.replace('"Bye"', '"Goodbye"'), encoding="utf-8")
    texts_to_po.update(source, root)
    english = texts_to_po.messages(texts_to_po.load("en", root))
    assert english == {"hello": "Hello, {name}!", "bye": "Goodbye", "new": "New"}


def test_check_finds_stale_mo_missing_translation_and_placeholder_mismatch(
    tmp_path: Path,
) -> None:
    source = tmp_path / "texts.py"
    source.write_text(LEGACY, encoding="utf-8")
    root = tmp_path / "locales"
    texts_to_po.update(source, root)
    with texts_to_po.po_path("en", root).open("a", encoding="utf-8") as po:
        po.write('\nmsgid "only_en"\nmsgstr "Only {here}"\n')
    ru = texts_to_po.po_path("ru", root)
    ru.write_text(ru.read_text(encoding="utf-8").replace("Привет, {name}!", "Привет, {имя}!"),
                  encoding="utf-8")
    catalogs = {language: texts_to_po.load(language, root) for language in ("en", "ru")}
    found = "\n".join(texts_to_po.problems(catalogs, root, texts_to_po.legacy_dicts(source)))
    assert "ru: 'only_en' is not translated" in found
    assert "'hello' has placeholders" in found
    assert "out of date with its .po" in found
    assert "differs between bot/texts.py's legacy dict" in found


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
