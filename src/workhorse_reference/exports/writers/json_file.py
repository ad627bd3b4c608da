"""JSON: an array of objects (camelCase keys), written incrementally, one object per
line.  Amounts are ``{"amount": "1234.50", "currency": "EUR"}`` (a decimal string,
never a float), times ISO 8601 UTC strings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from workhorse_reference.exports.tables import Table
from workhorse_reference.exports.values import Cell, Money, iso_utc
from workhorse_reference.exports.writers.base import ExportContext


def _json_value(value: Cell) -> Any:
    if isinstance(value, Money):
        return {"amount": value.amount(), "currency": value.currency}
    if isinstance(value, dt.datetime):
        return iso_utc(value)
    return value


class JsonWriter:
    def __init__(self, path: Path, context: ExportContext) -> None:
        self._file = path.open("wb")
        self._keys: list[str] = []
        self._first = True

    def begin(self, table: Table) -> None:
        self._keys = [c.key for c in table.columns]
        self._file.write(b"[")

    def write(self, rows: Sequence[tuple[Cell, ...]]) -> None:
        keys = self._keys
        parts = []
        for row in rows:
            obj = {k: _json_value(v) for k, v in zip(keys, row, strict=True)}
            parts.append(b"\n" if self._first else b",\n")
            parts.append(orjson.dumps(obj))
            self._first = False
        self._file.write(b"".join(parts))

    def end(self) -> None:
        self._file.write(b"\n]\n")

    def close(self) -> None:
        self._file.close()

    def abort(self) -> None:
        self._file.close()
