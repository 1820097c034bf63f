"""The one CSV writer of every export (domain/csvfile.py)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from domain.csvfile import csv_bytes


def test_cells_that_a_spreadsheet_reads_as_formulas_stay_text() -> None:
    data = csv_bytes(["name", "n"], [["=1+1", 1], ["+7 495", None], ["-3", -2.5], ["@cmd", 0], ["\tx", 1],
                                     ["\rx", 1], ["Ann", datetime(2020, 11, 17, 8, tzinfo=UTC)]])
    assert data.startswith("\ufeff".encode()) and b"\r\n" in data
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows == [["name", "n"], ["'=1+1", "1"], ["'+7 495", ""], ["'-3", "-2.5"], ["'@cmd", "0"], ["'\tx", "1"],
                    ["'\rx", "1"], ["Ann", "2020-11-17T08:00:00+00:00"]]


def test_every_export_goes_through_the_one_writer() -> None:
    """Issue 20 bug 10: two of three exports wrote their own CSV without the formula guard. The bot's code
    imports the csv module in one place only (domain/csvfile.py); every export calls csv_bytes."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    writers = []
    for package in ("bot", "console", "delivery", "domain", "handlers", "services", "storage"):
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                         [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                if "csv" in names:
                    writers.append(str(path.relative_to(root)))
    assert writers == ["domain/csvfile.py"]
