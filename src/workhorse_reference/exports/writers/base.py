"""The writer interface and what every writer is told about the export."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from workhorse_reference.exports.tables import Table
from workhorse_reference.exports.values import Cell

# Characters XML 1.0 cannot hold (Word and Excel refuse files containing them).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_safe(text: str) -> str:
    return _NOT_XML.sub("", text)


@dataclass(frozen=True, slots=True)
class ExportContext:
    """Who the export is for and when it was made (document headings)."""

    user: str
    exported_at: str  # ISO UTC


class TableWriter(Protocol):
    def begin(self, table: Table) -> None:
        """Start ``table``: its heading and header row."""
        ...

    def write(self, rows: Sequence[tuple[Cell, ...]]) -> None:
        """Append rows of the current table."""
        ...

    def end(self) -> None:
        """Finish the current table."""
        ...

    def close(self) -> None:
        """Finish the file."""
        ...

    def abort(self) -> None:
        """Release open files without finishing them (the file is discarded)."""
        ...


class WriterFactory(Protocol):
    def __call__(self, path: Path, context: ExportContext) -> TableWriter: ...
