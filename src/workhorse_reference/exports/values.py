"""Cell values of an export and their human text forms.

Rows reach the writers as tuples of :data:`Cell`: text, whole numbers, aware UTC
datetimes and :class:`Money` (integer cents and a currency code).  Each writer turns
them into its own representation (an Excel number with a currency format, a JSON
object, ...); the text forms used by CSV, PDF and Word are here.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

UTC = dt.UTC


class Money(NamedTuple):
    cents: int
    currency: str

    def amount(self) -> str:
        """The amount in currency units, exact: ``-1234.50``."""
        sign = "-" if self.cents < 0 else ""
        units, cents = divmod(abs(self.cents), 100)
        return f"{sign}{units}.{cents:02d}"

    def text(self) -> str:
        """``1234.50 EUR``."""
        return f"{self.amount()} {self.currency}"


Cell = str | int | dt.datetime | Money | None


def iso_utc(value: dt.datetime) -> str:
    """ISO 8601 in UTC with a ``Z``: ``2026-03-01T09:30:00Z``."""
    text = value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")
    return text + "Z"


def cell_text(value: Cell) -> str:
    """The human text of a cell (CSV, PDF, Word)."""
    if value is None:
        return ""
    if isinstance(value, Money):
        return value.text()
    if isinstance(value, dt.datetime):
        return iso_utc(value)
    return str(value)
