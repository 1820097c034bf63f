"""Text helpers: folding shared by the question matcher and the place-name lookup, and escaping for
Telegram's HTML parse mode."""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Any, Protocol

_WORD = re.compile(r"\w+")


def esc(value: object) -> str:
    """Escape text for HTML parse mode (names and event texts may contain <, > or &)."""
    return html.escape(str(value), quote=False)


def _plain(ch: str) -> str:
    """A Latin letter without its accent ("ğ" -> "g", "ộ" -> "o"); other scripts keep theirs ("й" stays "й",
    a Hangul syllable stays whole)."""
    if ord(ch) < 0x250 or 0x1E00 <= ord(ch) <= 0x1EFF:
        return "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    return ch


def normalize(text: str) -> str:
    """Lower case, no Latin accents, "ё" as "е", letters and digits only, single spaces: "Beyoğlu" and
    "beyoglu", "Xi'an" and "xi an", "Ёлки" and "елки" compare equal."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")
    text = "".join(_plain(c) for c in text)
    return " ".join(_WORD.findall(text.replace("_", " ")))


class Translator(Protocol):
    """What translates outside a handler (aiogram's I18n has this shape)."""

    def gettext(self, singular: str, plural: str | None = None, n: int = 1, locale: str | None = None) -> str: ...


def translate(tr: Translator, lang: str, message: str, **params: Any) -> str:
    """Translate a msgid into `lang` outside a handler (reminders, broadcasts), filling placeholders."""
    text = tr.gettext(message, locale=lang)
    return text.format(**params) if params else text


def translate_plural(tr: Translator, lang: str, message: tuple[str, str], n: int, **params: Any) -> str:
    """The plural form of (singular, plural) for `n` in `lang`, with `{n}` and `params` filled."""
    return tr.gettext(message[0], message[1], n, locale=lang).format(n=n, **params)
