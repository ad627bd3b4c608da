"""Writing one export: the user's rows of each table, batch by batch, into the
format's file (or, for ``entity=all`` in a one-table format, one file per entity
zipped together).

Rows are read on the event loop and written in a worker thread (``to_thread``), so
formatting a batch never blocks the loop: progress updates, other jobs and the
worker's heartbeat keep running while a large file is written."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workhorse_reference.domain.db import Database
from workhorse_reference.exports.archive import zip_files
from workhorse_reference.exports.formats import Format
from workhorse_reference.exports.rows import stream_rows
from workhorse_reference.exports.tables import Table
from workhorse_reference.exports.writers.base import ExportContext, TableWriter

#: Called with the number of rows written so far, after each batch.
OnRows = Callable[[int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ExportFile:
    path: Path
    rows: int


def _write_batch(writer: TableWriter, table: Table, batch: Sequence[Any]) -> None:
    writer.write([table.cells(row) for row in batch])


class ExportRun:
    """One export of ``user_id``'s rows of ``tables`` as ``fmt`` into ``workdir``."""

    def __init__(
        self,
        db: Database,
        fmt: Format,
        tables: Sequence[Table],
        user_id: str,
        *,
        context: ExportContext,
        batch_size: int,
        on_rows: OnRows,
    ) -> None:
        self.db, self.fmt, self.tables, self.user_id = db, fmt, tables, user_id
        self.context, self.batch_size, self.on_rows = context, batch_size, on_rows
        self.written = 0

    async def write(self, workdir: Path, filename: str) -> ExportFile:
        """Write the export as ``workdir / filename``."""
        target = workdir / filename
        if self.fmt.multi_table or len(self.tables) == 1:
            await self._write_file(target, self.tables)
            return ExportFile(target, self.written)
        parts_dir = workdir / "parts"
        parts_dir.mkdir()
        parts = []
        for table in self.tables:
            part = parts_dir / f"{table.entity}.{self.fmt.extension}"
            await self._write_file(part, [table])
            parts.append(part)
        await asyncio.to_thread(zip_files, target, parts)
        return ExportFile(target, self.written)

    async def _write_file(self, path: Path, tables: Sequence[Table]) -> None:
        writer = await asyncio.to_thread(self.fmt.writer, path, self.context)
        try:
            for table in tables:
                await asyncio.to_thread(writer.begin, table)
                rows = stream_rows(self.db, table, self.user_id, self.batch_size)
                async with aclosing(rows) as batches:
                    async for batch in batches:
                        await asyncio.to_thread(_write_batch, writer, table, batch)
                        self.written += len(batch)
                        await self.on_rows(self.written)
                await asyncio.to_thread(writer.end)
            await asyncio.to_thread(writer.close)
        except BaseException:
            writer.abort()
            raise
