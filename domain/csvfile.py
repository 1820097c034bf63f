"""The one CSV writer of every export (registrations, broadcasts, quiz results, meetings).

Spreadsheets open the file right (UTF-8 with a byte-order mark, CRLF line ends), and no cell a person typed
can become a live formula: a cell starting with = + - @, a tab or a carriage return is prefixed with an
apostrophe (OWASP's "CSV injection" advice), so a player named `=HYPERLINK(...)` stays text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

# What Excel, LibreOffice and Google Sheets read as the start of a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    """One cell's text: empty for None, an ISO instant for a datetime, a number as is, a formula-looking
    text defused."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, int | float):  # a number is data, a negative one too
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """The export's bytes: the header, then one line per row, every cell through `cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([cell(h) for h in header])
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")
