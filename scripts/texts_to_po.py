"""Maintain the gettext catalogs in `bot/locales/` (Babel is needed: `pip install -e '.[test]'`).

    python scripts/texts_to_po.py                 # import the legacy dicts, recompile the .mo
    python scripts/texts_to_po.py --source FILE   # import `_EN`/`_RU` from another texts.py
    python scripts/texts_to_po.py --check         # CI: .po and .mo agree, both languages complete

The catalogs' message ids are keys (`usage`, `button_again`, ...) and both languages translate
them, so a key missing from a catalog is caught by `--check` instead of showing the key.

Migration aid: `bot/texts.py` used to hold the texts in two dicts, `_EN` and `_RU`. While they
exist, this script copies their entries into the catalogs (adding or updating, never removing
entries that live only in the catalogs), and `--check` fails if the two disagree. After merging
a branch that added entries to the dicts, run it once, commit, and delete the dicts.
"""

from __future__ import annotations

import argparse
import ast
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
TEXTS = ROOT / "bot" / "texts.py"
DOMAIN = "messages"
LANGUAGES = ("en", "ru")
SOURCE_LANGUAGE = "en"
LEGACY_DICTS = {"en": "_EN", "ru": "_RU"}
FIXED_DATE = datetime(2026, 1, 1, tzinfo=UTC)  # stable headers: regenerating changes nothing
BRACE_FORMAT = "python-brace-format"


def po_path(language: str, root: Path = LOCALES) -> Path:
    return root / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def legacy_dicts(source: Path) -> dict[str, dict[str, str]]:
    """`_EN` and `_RU` read from a texts.py without importing it (so any git version works)."""
    tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    found: dict[str, dict[str, str]] = {}
    for node in tree.body:
        target: ast.expr
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        else:
            continue
        for language, name in LEGACY_DICTS.items():
            if isinstance(target, ast.Name) and target.id == name:
                entries = ast.literal_eval(value)
                if not isinstance(entries, dict):
                    raise SystemExit(f"{source}: {name} is not a dict")
                found[language] = {str(key): str(text) for key, text in entries.items()}
    return found


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


def set_entry(catalog: Catalog, key: str, text: str) -> None:
    """Add or update one entry (Babel derives format flags from the id, which is a key here,
    so the brace-format flag is set by hand)."""
    message = catalog.get(key)
    if message is None:
        message = catalog.add(key, text)
    message.string = text
    message.flags = set(message.flags) - {BRACE_FORMAT, "fuzzy"}
    if placeholders(text):
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


def problems(catalogs: dict[str, Catalog], root: Path = LOCALES,
             legacy: dict[str, dict[str, str]] | None = None) -> list[str]:
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
        for key, text in (legacy or {}).get(language, {}).items():
            if texts.get(key) != text:
                found.append(f"{language}: {key!r} differs between bot/texts.py's legacy dict "
                             "and the catalog: run python scripts/texts_to_po.py")
    return found


def update(source: Path | None, root: Path = LOCALES) -> list[Path]:
    """Import the legacy dicts (if any), refresh comments, write .po and .mo; returns the
    files that changed."""
    catalogs = {language: load(language, root) for language in LANGUAGES}
    legacy = legacy_dicts(source) if source is not None and source.exists() else {}
    for language, entries in legacy.items():
        for key, text in entries.items():
            set_entry(catalogs[language], key, text)
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
    parser.add_argument("--source", type=Path, default=TEXTS,
                        help="a texts.py whose _EN/_RU dicts to import (default: bot/texts.py)")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if the catalogs need work")
    args = parser.parse_args(argv)
    legacy = legacy_dicts(args.source) if args.source.exists() else {}
    if args.check:
        catalogs = {language: load(language) for language in LANGUAGES}
        found = problems(catalogs, legacy=legacy)
        for problem in found:
            print(problem, file=sys.stderr)
        if not found:
            print(f"catalogs OK: {', '.join(LANGUAGES)}, "
                  f"{len(messages(catalogs[SOURCE_LANGUAGE]))} texts each")
        return 1 if found else 0
    for path in update(args.source):
        print(f"wrote {path.relative_to(ROOT)}")
    catalogs = {language: load(language) for language in LANGUAGES}
    for problem in problems(catalogs, legacy=legacy):
        print(f"warning: {problem}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
