"""Marks a string for extraction without translating it (it is translated where it is shown)."""


def N_(message: str) -> str:
    return message
