"""Text helpers shared by everything that writes messages (Telegram's HTML parse mode)."""

from __future__ import annotations

import html


def esc(value: object) -> str:
    """Escape text for HTML parse mode (names and event texts may contain <, > or &)."""
    return html.escape(str(value), quote=False)
