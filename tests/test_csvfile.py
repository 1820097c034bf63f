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
