"""Maintain the gettext catalogs in `bot/locales/` (Babel is needed: `pip install -e '.[test]'`).

    python scripts/texts_to_po.py            # after editing a .po: flags, comments, compile .mo
    python scripts/texts_to_po.py --check    # CI: .po and .mo agree, both languages complete

The catalogs' message ids are keys (`usage`, `button_again`, ...) and both languages translate
them, so a key missing from a catalog is caught by `--check` instead of showing the key.
"""

from __future__ import annotations

import argparse
import io
import string
import sys
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ROOT / "bot" / "locales"
DOMAIN = "messages"
LANGUAGES = ("en", "ru")
SOURCE_LANGUAGE = "en"
FIXED_DATE = datetime(2026, 1, 1, tzinfo=UTC)  # stable headers: regenerating changes nothing
BRACE_FORMAT = "python-brace-format"


def po_path(language: str, root: Path = LOCALES) -> Path:
    return root / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def new_catalog(language: str) -> Catalog:
    return Catalog(
        locale=language, domain=DOMAIN, project="yandexart-draw-bot", version="1",
        header_comment=f"# {language} texts of the YandexArt draw bot: ids are keys.\n#",
        creation_date=FIXED_DATE, revision_date=FIXED_DATE, charset="utf-8", fuzzy=False,
        language_team=language, last_translator="the bot's developers",
        msgid_bugs_address="the project's issue tracker",
    )


def load(language: str, root: Path = LOCALES) -> Catalog:
    path = po_path(language, root)
    if not path.exists():
        return new_catalog(language)
    with path.open("rb") as file:
        return read_po(file, locale=language, domain=DOMAIN)


def messages(catalog: Catalog) -> dict[str, str]:
    """Translated, non-fuzzy entries: exactly what a compiled .mo holds."""
    return {str(m.id): str(m.string) for m in catalog
            if m.id and m.string and not m.fuzzy and isinstance(m.id, str)}


def format_flags(catalogs: dict[str, Catalog]) -> None:
    """Mark the texts with placeholders as brace-format (Babel derives that flag from the id,
    which is a key here, so it is set by hand)."""
    for catalog in catalogs.values():
        for message in catalog:
            if not message.id or not isinstance(message.string, str):
                continue
            message.flags = set(message.flags) - {BRACE_FORMAT}
            if placeholders(message.string):
                message.flags.add(BRACE_FORMAT)


def source_comments(catalogs: dict[str, Catalog]) -> None:
    """Each translation carries the English text as a comment, for translators."""
    english = messages(catalogs[SOURCE_LANGUAGE])
    for language, catalog in catalogs.items():
        if language == SOURCE_LANGUAGE:
            continue
        for message in catalog:
            if message.id and isinstance(message.id, str) and message.id in english:
                lines = english[message.id].splitlines() or [""]
                message.auto_comments = [f"en: {lines[0]}", *lines[1:]]


def po_bytes(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, no_location=True, include_lineno=False)
    return buffer.getvalue()


def mo_bytes(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def mo_messages(data: bytes) -> dict[str, str]:
    return messages(read_mo(io.BytesIO(data)))


def problems(catalogs: dict[str, Catalog], root: Path = LOCALES) -> list[str]:
    """Everything that makes the catalogs unfit to ship; empty when all is well."""
    found: list[str] = []
    english = messages(catalogs[SOURCE_LANGUAGE])
    for language, catalog in catalogs.items():
        texts = messages(catalog)
        for key in sorted(set(english) - set(texts)):
            found.append(f"{language}: {key!r} is not translated")
        for key in sorted(set(texts) - set(english)):
            found.append(f"{language}: {key!r} is not in the {SOURCE_LANGUAGE} catalog")
        for key in sorted(set(texts) & set(english)):
            if placeholders(texts[key]) != placeholders(english[key]):
                found.append(f"{language}: {key!r} has placeholders "
                             f"{sorted(placeholders(texts[key]))}, {SOURCE_LANGUAGE} has "
                             f"{sorted(placeholders(english[key]))}")
            try:
                texts[key].format(**{name: "" for name in placeholders(texts[key])})
            except (ValueError, IndexError, KeyError) as error:
                found.append(f"{language}: {key!r} is not a valid format string ({error})")
        mo = po_path(language, root).with_suffix(".mo")
        if not mo.exists():
            found.append(f"{mo.relative_to(root.parent.parent)} is missing: run this script")
        elif mo_messages(mo.read_bytes()) != texts:
            found.append(f"{mo.relative_to(root.parent.parent)} is out of date with its .po: "
                         "run python scripts/texts_to_po.py")
    return found


def update(root: Path = LOCALES) -> list[Path]:
    """Refresh flags and comments, write .po and .mo; returns the files that changed."""
    catalogs = {language: load(language, root) for language in LANGUAGES}
    format_flags(catalogs)
    source_comments(catalogs)
    changed = []
    for language, catalog in catalogs.items():
        po = po_path(language, root)
        po.parent.mkdir(parents=True, exist_ok=True)
        written = po_bytes(catalog)
        if not po.exists() or po.read_bytes() != written:
            po.write_bytes(written)
            changed.append(po)
        mo = po.with_suffix(".mo")
        compiled = mo_bytes(catalog)
        if not mo.exists() or mo_messages(mo.read_bytes()) != mo_messages(compiled):
            mo.write_bytes(compiled)
            changed.append(mo)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if the catalogs need work")
    args = parser.parse_args(argv)
    if args.check:
        catalogs = {language: load(language) for language in LANGUAGES}
        found = problems(catalogs)
        for problem in found:
            print(problem, file=sys.stderr)
        if not found:
            print(f"catalogs OK: {', '.join(LANGUAGES)}, "
                  f"{len(messages(catalogs[SOURCE_LANGUAGE]))} texts each")
        return 1 if found else 0
    for path in update():
        print(f"wrote {path.relative_to(ROOT)}")
    catalogs = {language: load(language) for language in LANGUAGES}
    for problem in problems(catalogs):
        print(f"warning: {problem}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
