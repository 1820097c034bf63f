"""Gettext catalogs: one .po file per feature and language, compiled into one messages.mo.

    python -m tools.catalogs update   # extract strings from the code and console/templates, update every .po
    python -m tools.catalogs update program reminders   # only these features' catalogs
    python -m tools.catalogs compile  # merge the .po files of each language into messages.mo
    python -m tools.catalogs check    # fail on a missing/fuzzy translation or a placeholder mismatch

A string is extracted into the catalog named after the file it is in (handlers/program.py and
domain/program.py both feed locales/<lang>/LC_MESSAGES/program.po), so features are translated
independently and two people editing two features never touch the same catalog file.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("bot", "domain", "services", "delivery", "handlers", "console")
# The web console's Jinja2 templates: their strings go to console.po.
TEMPLATES = ROOT / "console" / "templates"
LOCALES = ROOT / "locales"
TARGETS = ("ru", "ko")
DOMAIN = "messages"
KEYWORDS = {"_": None, "__": None, "N_": None, "gettext": None, "lazy_gettext": None,
            "ngettext": (1, 2), "lazy_ngettext": (1, 2)}
_PLACEHOLDER = re.compile(r"{(\w*)(?:[:!][^}]*)?}")


def _sources() -> Iterator[Path]:
    for folder in SOURCES:
        yield from sorted((ROOT / folder).rglob("*.py"))
    yield from sorted(TEMPLATES.glob("*.html"))


def extract() -> dict[str, Catalog]:
    """Template catalogs by feature (file stem)."""
    templates: dict[str, Catalog] = {}
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        template = path.suffix == ".html"
        # Everything of the web console (pages, templates) is one feature, console.po.
        feature = "console" if template or rel.startswith("console/") else path.stem
        for lineno, msg, comments, _ctx in extract_from_file(
            "jinja2.ext:babel_extract" if template else "python", str(path), keywords=KEYWORDS,
            comment_tags=("TRANSLATORS:",), strip_comment_tags=True,
            options={"trim_blocks": "true", "lstrip_blocks": "true"} if template else None,
        ):
            cat = templates.setdefault(feature, Catalog(project="delegate-bot", charset="utf-8"))
            msgid = msg if isinstance(msg, str) else tuple(msg)
            if isinstance(msgid, tuple) and len(msgid) == 1:
                msgid = msgid[0]
            if isinstance(msgid, tuple) and (len(msgid) != 2 or not all(msgid)):
                continue  # _("one", "many", n) spelled wrongly: check reports unknown strings
            if not msgid:
                continue
            cat.add(msgid, locations=[(rel, lineno)], auto_comments=comments)
    return templates


def _po_path(lang: str, feature: str) -> Path:
    return LOCALES / lang / "LC_MESSAGES" / f"{feature}.po"


def _read(path: Path, lang: str) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=lang)


def update(only: set[str] | None = None) -> None:
    templates = extract()
    if only:
        templates = {k: v for k, v in templates.items() if k in only}
    for lang in TARGETS:
        folder = LOCALES / lang / "LC_MESSAGES"
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.po"):
            if not only and old.stem not in templates:
                old.unlink()
                print(f"removed {old.relative_to(ROOT)} (no strings left)")
        for feature, template in templates.items():
            path = _po_path(lang, feature)
            cat = _read(path, lang) if path.exists() else Catalog(locale=lang, project="delegate-bot")
            created = cat.creation_date
            cat.update(template, no_fuzzy_matching=True)
            cat.obsolete.clear()
            # No line numbers and a fixed header date: two branches adding strings do not conflict on them.
            cat.creation_date = created
            with path.open("wb") as fh:
                write_po(fh, cat, width=110, sort_output=False, omit_header=False, include_previous=False,
                         include_lineno=False)
            missing = sum(1 for m in cat if m.id and not _translated(m))
            print(f"{path.relative_to(ROOT)}: {len(template)} strings, {missing} to translate")


def _translated(msg: Message) -> bool:
    if msg.fuzzy:
        return False
    if isinstance(msg.string, (tuple, list)):
        return all(s.strip() for s in msg.string)
    return bool(msg.string and msg.string.strip())


def _placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def compile_all() -> None:
    for lang in TARGETS:
        folder = LOCALES / lang / "LC_MESSAGES"
        merged = Catalog(locale=lang, domain=DOMAIN, project="delegate-bot")
        for path in sorted(folder.glob("*.po")):
            for msg in _read(path, lang):
                if msg.id and _translated(msg) and msg.id not in merged:
                    merged.add(msg.id, msg.string)
        folder.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed: parallel test workers compile too, and a reader never sees half a file.
        tmp = folder / f".{DOMAIN}.{os.getpid()}.mo"
        with tmp.open("wb") as fh:
            write_mo(fh, merged)
        os.replace(tmp, folder / f"{DOMAIN}.mo")


def check() -> list[str]:
    """Every extracted string translated in every target language, with the same placeholders."""
    problems: list[str] = []
    templates = extract()
    for lang in TARGETS:
        # One message in two features' catalogs compiles to one translation (the first file's): they must agree.
        seen: dict[object, tuple[str, object]] = {}
        for feature, _template in templates.items():
            path = _po_path(lang, feature)
            for msg in (_read(path, lang) if path.exists() else ()):
                if not msg.id or not _translated(msg):
                    continue
                key = msg.id if isinstance(msg.id, str) else msg.id[0]
                first = seen.setdefault(key, (feature, msg.string))
                if first[1] != msg.string:
                    problems.append(f"{path.relative_to(ROOT)}: {key!r} is translated differently in "
                                    f"{first[0]}.po; make them the same")
        for feature, template in templates.items():
            path = _po_path(lang, feature)
            if not path.exists():
                problems.append(f"{path.relative_to(ROOT)}: missing (run: make catalogs-update)")
                continue
            cat = _read(path, lang)
            for msg in template:
                if not msg.id:
                    continue
                where = f"{path.relative_to(ROOT)}: {msg.id if isinstance(msg.id, str) else msg.id[0]!r}"
                have = cat.get(msg.id)
                if have is None:
                    problems.append(f"{where}: not in the catalog (run: make catalogs-update)")
                    continue
                if not _translated(have):
                    problems.append(f"{where}: not translated" + (" (fuzzy)" if have.fuzzy else ""))
                    continue
                ids = [msg.id] if isinstance(msg.id, str) else list(msg.id)
                strings = [have.string] if isinstance(have.string, str) else list(have.string or ())
                want = set().union(*(_placeholders(i) for i in ids))
                for s in strings:
                    if _placeholders(s) != want:
                        problems.append(f"{where}: placeholders {sorted(_placeholders(s))} differ from "
                                        f"{sorted(want)}")
                    if _doubled(s):
                        problems.append(f"{where}: the translation holds two versions of itself (the union "
                                        f"merge of locales/*.po keeps both sides of an entry): keep one")
    return problems


def _doubled(text: str) -> bool:
    """A translation whose opening recurs inside it: two versions of one entry joined by a union merge."""
    return len(text) >= 40 and text.count(text[:25]) > 1


def main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "check"
    if cmd == "update":
        update(set(argv[1:]) or None)
    elif cmd == "compile":
        compile_all()
    elif cmd == "check":
        problems = check()
        for p in problems:
            print(p)
        if problems:
            print(f"{len(problems)} catalog problems")
            return 1
        print("catalogs complete: every string translated in " + ", ".join(TARGETS))
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
