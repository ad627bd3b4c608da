"""CSV: UTF-8 (no byte-order mark), comma-separated, a header row of human headers,
amounts as ``1234.50 EUR`` and times as ISO 8601 UTC."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from workhorse_reference.exports.tables import Table
from workhorse_reference.exports.values import Cell, cell_text
from workhorse_reference.exports.writers.base import ExportContext


class CsvWriter:
    def __init__(self, path: Path, context: ExportContext) -> None:
        self._file = path.open("w", encoding="utf-8", newline="")
        self._csv = csv.writer(self._file)

    def begin(self, table: Table) -> None:
        self._csv.writerow(table.headers)

    def write(self, rows: Sequence[tuple[Cell, ...]]) -> None:
        self._csv.writerows([cell_text(v) for v in row] for row in rows)

    def end(self) -> None:
        pass

    def close(self) -> None:
        self._file.close()

    def abort(self) -> None:
        self._file.close()
