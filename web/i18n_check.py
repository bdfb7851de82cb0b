"""Extract the strings a person reads, merge them into the catalogs, list what lacks its Ukrainian.

``make i18n`` runs this module: extraction follows ``babel.cfg`` over ``web/`` and
``dashboards/`` (Python: ``_``, ``gettext``, ``ngettext``, ``N_``; Jinja templates; the report
pages' script), writes ``web/locale/messages.pot``, updates each language's ``.po`` (a new
string arrives empty, a changed one fuzzy with the old translation as a hint, a removed one
goes) and prints every string whose Ukrainian is missing or fuzzy; it exits 1 while there is
one. ``tests/web/test_i18n.py`` runs the same extraction and check.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from web.i18n import DEFAULT_LOCALE, DOMAIN, LOCALE_DIR, LOCALES

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "babel.cfg"
SOURCES = ("web", "dashboards")
TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"
# `_` takes its message first; the script's `_(message, params)` has a second argument that is no plural.
KEYWORDS = {**DEFAULT_KEYWORDS, "_": (1,), "N_": None}
# A fixed date in the headers, so catalogs change only when their strings do.
STAMP = datetime(2026, 11, 30)


def extract() -> Catalog:
    """Every string a person reads, from the code as it is now (not from the catalogs)."""
    with CONFIG.open() as f:
        method_map, options_map = parse_mapping_cfg(f, str(CONFIG))  # type: ignore[no-untyped-call]
    template = Catalog(project="dsom", version="1", copyright_holder="dsom", creation_date=STAMP,
                       revision_date=STAMP, fuzzy=False)

    def inside_sources(path: str) -> bool:
        rel = Path(path).relative_to(REPO).parts
        return rel[0] in SOURCES and not any(p.startswith((".", "__")) for p in rel)

    for filename, lineno, message, comments, context in extract_from_dir(
        str(REPO), method_map, options_map, keywords=KEYWORDS, directory_filter=inside_sources
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def po_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def merged(template: Catalog, locale: str) -> Catalog:
    """``locale``'s catalog brought up to ``template`` (created if it does not exist yet)."""
    path = po_path(locale)
    if path.exists():
        with path.open("rb") as f:
            catalog = read_po(f, locale=locale, domain=DOMAIN)
    else:
        catalog = Catalog(locale=locale, domain=DOMAIN, project="dsom", version="1", copyright_holder="dsom",
                          creation_date=STAMP, revision_date=STAMP, fuzzy=False)
    catalog.update(template, update_header_comment=False, update_creation_date=False)
    catalog.revision_date = STAMP
    return catalog


def untranslated(template: Catalog, catalog: Catalog) -> list[Message]:
    """The template's strings that ``catalog`` lacks, leaves empty or marks fuzzy."""
    out = []
    for message in template:
        if not message.id:
            continue
        have = catalog.get(message.id, message.context)
        strings = have.string if have is not None else None
        if isinstance(strings, tuple | list):
            empty = not all(strings)
        else:
            empty = not strings
        if have is None or empty or have.fuzzy:
            out.append(message)
    return out


def write(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_po(f, catalog, width=0, sort_by_file=True, include_lineno=False, ignore_obsolete=True)


def main() -> int:
    template = extract()
    write(template, TEMPLATE)
    for locale in LOCALES:
        write(merged(template, locale), po_path(locale))
    missing = untranslated(template, merged(template, DEFAULT_LOCALE))
    print(f"{len(template)} strings extracted into {TEMPLATE.relative_to(REPO)}")
    if missing:
        print(f"{len(missing)} lack their Ukrainian in {po_path(DEFAULT_LOCALE).relative_to(REPO)} "
              "(fill in msgstr, remove '#, fuzzy' once checked):")
        for m in missing:
            where = ", ".join(sorted({path for path, _ in m.locations}))
            print(f"  {m.id!r}  ({where})")
        return 1
    print("every string has its Ukrainian")
    return 0


if __name__ == "__main__":
    sys.exit(main())
