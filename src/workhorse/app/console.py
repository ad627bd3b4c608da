"""Terminal output of the CLI: aligned tables and a progress bar (drawn only on a
terminal; a pipe gets the final line alone)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers], *[[_cell(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def _cell(value: object) -> str:
    return "-" if value is None else str(value)


class ProgressBar:
    """``with ProgressBar("retrying", total) as bar: bar.advance(n)``."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None, width: int = 30):
        self.label = label
        self.total = max(total, 0)
        self.done = 0
        self.stream = stream or sys.stderr
        self.width = width
        self.live = self.stream.isatty()

    def __enter__(self) -> ProgressBar:
        self._draw()
        return self

    def advance(self, n: int) -> None:
        self.done += n
        self._draw()

    def _draw(self) -> None:
        if not self.live:
            return
        total = max(self.total, self.done, 1)
        filled = round(self.width * self.done / total)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {self.done}/{total}")
        self.stream.flush()

    def __exit__(self, *_: object) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()
