"""Excel (.xlsx) with XlsxWriter in ``constant_memory`` mode: each row goes to a
temporary file as it is written, so memory stays flat whatever the row count
(openpyxl's write-only mode streams too, but is several times slower).  One sheet per
table; the header row is frozen and filtered; times are real Excel date cells (UTC),
amounts real numbers with their currency in the number format."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import xlsxwriter  # type: ignore[import-untyped]

from workhorse_reference.exports.tables import Table
from workhorse_reference.exports.values import UTC, Cell, Money
from workhorse_reference.exports.writers.base import ExportContext, xml_safe


class ExcelWriter:
    def __init__(self, path: Path, context: ExportContext) -> None:
        self._book = xlsxwriter.Workbook(
            str(path), {"constant_memory": True, "tmpdir": str(path.parent)}
        )
        self._header = self._book.add_format(
            {"bold": True, "bg_color": "#DDE4EE", "bottom": 1, "text_wrap": True}
        )
        self._date = self._book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self._money: dict[str, Any] = {}
        self._sheet: Any = None
        self._row = 0
        self._width = 0

    def begin(self, table: Table) -> None:
        sheet = self._book.add_worksheet(table.title)
        for i, column in enumerate(table.columns):
            sheet.set_column(i, i, column.width)
        sheet.write_row(0, 0, table.headers, self._header)
        sheet.freeze_panes(1, 0)
        self._sheet, self._row, self._width = sheet, 1, len(table.columns)

    def write(self, rows: Sequence[tuple[Cell, ...]]) -> None:
        sheet, row = self._sheet, self._row
        for values in rows:
            for col, value in enumerate(values):
                self._cell(sheet, row, col, value)
            row += 1
        self._row = row

    def _cell(self, sheet: Any, row: int, col: int, value: Cell) -> None:
        if value is None:
            return
        if isinstance(value, str):
            sheet.write_string(row, col, xml_safe(value))
        elif isinstance(value, Money):
            sheet.write_number(row, col, value.cents / 100, self._money_format(value.currency))
        elif isinstance(value, dt.datetime):
            naive = value.astimezone(UTC).replace(tzinfo=None)
            sheet.write_datetime(row, col, naive, self._date)
        else:
            sheet.write_number(row, col, value)

    def _money_format(self, currency: str) -> Any:
        fmt = self._money.get(currency)
        if fmt is None:
            code = "".join(ch for ch in currency if ch.isalnum())
            fmt = self._book.add_format({"num_format": f'#,##0.00 "{code}"'})
            self._money[currency] = fmt
        return fmt

    def end(self) -> None:
        self._sheet.autofilter(0, 0, self._row - 1, self._width - 1)

    def close(self) -> None:
        self._book.close()

    def abort(self) -> None:
        """Nothing to release: the sheets' temporary files are in the export's own
        directory, which is removed."""
