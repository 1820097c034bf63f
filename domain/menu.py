"""The persistent menu's actions and labels (msgids; handlers/ui.py builds the keyboard, handlers/menu.py
routes a tapped label, which arrives as text, to its command)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from domain.i18n_marks import N_
from domain.text import normalize

PROGRAM, NOW, PROFILE, REMINDERS, HELP = "program", "now", "profile", "reminders", "help"
LABELS: dict[str, str] = {
    PROGRAM: N_("📋 Program"),
    NOW: N_("▶️ Now and next"),
    PROFILE: N_("👤 My profile"),
    REMINDERS: N_("🔔 Reminders"),
    HELP: N_("❓ Help"),
}
# Rows of the keyboard.
LAYOUT: tuple[tuple[str, ...], ...] = ((PROGRAM, NOW), (PROFILE, REMINDERS, HELP))
MENU_NOTE = N_("The menu below the message field has the main actions: the program, what is on now and "
               "next, your profile, reminders and help.")


def label_index(translate: Callable[[str, str], str], langs: Iterable[str]) -> dict[str, str]:
    """Every label in every language, folded (no emoji, no case) -> its action."""
    langs = tuple(langs)
    return {normalize(translate(msgid, lang)): action for action, msgid in LABELS.items() for lang in langs}


# Deep links from a group (`https://t.me/<bot>?start=<command>`, handlers/groups.py) arrive as
# "/start <command>": the command's action, where it is one of the menu's.
DEEP_LINKS: dict[str, str] = {PROGRAM: PROGRAM, NOW: NOW, "next": NOW, PROFILE: PROFILE, REMINDERS: REMINDERS,
                              HELP: HELP}
NEEDS_PROFILE = frozenset({PROFILE, REMINDERS})  # for someone not registered, /start leads into registration


def deep_link_action(payload: str | None, registered: bool) -> str | None:
    """The action of a deep link's payload, or None (a plain /start then)."""
    action = DEEP_LINKS.get((payload or "").strip().lower())
    if action is None or (action in NEEDS_PROFILE and not registered):
        return None
    return action


def action_of(text: str, index: dict[str, str]) -> str | None:
    """The action a text names when it is exactly a menu label (with or without its emoji), else None."""
    if len(text) > 40:
        return None
    return index.get(normalize(text))
