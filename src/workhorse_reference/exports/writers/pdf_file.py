"""PDF with fpdf2: a title, then the table on landscape A4 pages, the header row
repeated at the top of every page and page numbers at the bottom.

Rows are drawn as they come (fpdf2 keeps the whole document in memory, about 2 kB
a row, hence the row limit of PDF exports in the settings).  Long cells wrap over at
most :data:`MAX_LINES` lines, the last one ending with an ellipsis when text was cut.
fpdf2's own ``table()`` lays out whole tables at once and is about ten times slower,
so rows are drawn here with plain rectangles and text.

Text uses DejaVu Sans when found (any language DejaVu covers).  Without it the PDF
core font Helvetica is used, which only has Latin-1: other characters become ``?``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fpdf import FPDF

from workhorse_reference.exports.tables import Kind, Table
from workhorse_reference.exports.values import Cell, cell_text
from workhorse_reference.exports.writers.base import ExportContext

DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_SIZE = 8
LINE = 3.6  # mm per text line
PAD = 1.0  # mm inside a cell
MAX_LINES = 4
ELLIPSIS = "\u2026"


class _Document(FPDF):
    """An FPDF that draws the current table's header row on each new page."""

    def __init__(self, writer: PdfWriter) -> None:
        super().__init__(orientation="L", unit="mm", format="A4")
        self.writer = writer

    def header(self) -> None:
        self.writer.draw_header()

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font(self.writer.family, "", FONT_SIZE - 1)
        self.cell(0, 5, f"{self.writer.caption} - page {self.page_no()}/{{nb}}", align="C")


class PdfWriter:
    def __init__(self, path: Path, context: ExportContext, font_dir: Path = DEJAVU_DIR) -> None:
        self._path = path
        self._context = context
        self._pdf = _Document(self)
        self._pdf.set_auto_page_break(False, margin=14)
        self._pdf.set_margins(10, 10, 10)
        self._pdf.set_title("Export")
        self.family, self._unicode = self._fonts(font_dir)
        self._ellipsis = ELLIPSIS if self._unicode else "..."
        self.caption = ""
        self._table: Table | None = None
        self._widths: list[float] = []

    def _fonts(self, font_dir: Path) -> tuple[str, bool]:
        regular, bold = font_dir / "DejaVuSans.ttf", font_dir / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            self._pdf.add_font("DejaVu", "", regular)
            self._pdf.add_font("DejaVu", "B", bold)
            return "DejaVu", True
        return "Helvetica", False

    def _text(self, value: str) -> str:
        if self._unicode:
            return value
        return value.encode("latin-1", "replace").decode("latin-1")

    # ---- tables -------------------------------------------------------------------
    def begin(self, table: Table) -> None:
        pdf = self._pdf
        self._table = None  # no header row on the title page's top
        self.caption = self._text(f"{table.title} - {self._context.user}")
        pdf.add_page()
        total = sum(c.width for c in table.columns)
        self._widths = [pdf.epw * c.width / total for c in table.columns]
        pdf.set_font(self.family, "B", 14)
        pdf.cell(0, 8, self._text(table.title), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(self.family, "", FONT_SIZE + 1)
        subtitle = f"Exported for {self._context.user} on {self._context.exported_at}"
        pdf.cell(0, 6, self._text(subtitle), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
        self._table = table
        self.draw_header()

    def draw_header(self) -> None:
        if self._table is None:
            return
        pdf = self._pdf
        pdf.set_font(self.family, "B", FONT_SIZE)
        pdf.set_fill_color(221, 228, 238)
        self._row(self._table.headers, fill=True)
        pdf.set_font(self.family, "", FONT_SIZE)

    def write(self, rows: Sequence[tuple[Cell, ...]]) -> None:
        assert self._table is not None, "begin() a table first"
        right = [c.kind in (Kind.MONEY, Kind.INTEGER) for c in self._table.columns]
        for values in rows:
            self._row([cell_text(v) for v in values], right=right)

    def end(self) -> None:
        self._table = None

    def close(self) -> None:
        if self._pdf.page == 0:  # an export always has a table; keep the file valid anyway
            self._pdf.add_page()
        self._pdf.output(str(self._path))

    def abort(self) -> None:
        """Nothing to release: the document is in memory."""

    # ---- drawing ------------------------------------------------------------------
    def _width(self, text: str) -> float:
        """``text``'s width in the current font (mm).  The font's own width table:
        ``FPDF.get_string_width`` gives the same for unshaped text but, going
        through fpdf2's text-fragment machinery, costs ten times more, and wrapping
        measures every cell."""
        pdf = self._pdf
        font = pdf.current_font
        assert font is not None, "no font set"
        return font.get_text_width(text, pdf.font_size_pt, None)[1] / pdf.k

    def _row(self, texts: Sequence[str], fill: bool = False, right: Sequence[bool] = ()) -> None:
        """One table row; ``right``: the columns aligned right (numbers)."""
        pdf = self._pdf
        widths = self._widths
        cells = [self._wrap(self._text(t), w - 2 * PAD) for t, w in zip(texts, widths, strict=True)]
        height = max(len(lines) for lines in cells) * LINE + 2 * PAD
        if pdf.get_y() + height > pdf.page_break_trigger:
            pdf.add_page()  # draws the header row again (header())
        x, y = pdf.l_margin, pdf.get_y()
        for i, (lines, width) in enumerate(zip(cells, widths, strict=True)):
            pdf.rect(x, y, width, height, style="DF" if fill else "D")
            for n, line in enumerate(lines):
                left = x + PAD
                if right and right[i]:
                    left = x + width - PAD - self._width(line)
                pdf.text(left, y + PAD + LINE * (n + 0.78), line)
            x += width
        pdf.set_y(y + height)

    def _wrap(self, text: str, width: float) -> list[str]:
        """``text`` broken into lines that fit ``width``: at most MAX_LINES, the last
        one ending with an ellipsis when text was cut."""
        fits = self._width
        if "\n" not in text and fits(text) <= width:
            return [text]
        lines: list[str] = []
        for paragraph in text.splitlines():
            self._wrap_words(paragraph, width, lines)
            if len(lines) > MAX_LINES:
                break
        if len(lines) > MAX_LINES:
            del lines[MAX_LINES:]
            last = lines[-1]
            while last and fits(last + self._ellipsis) > width:
                last = last[:-1]
            lines[-1] = last + self._ellipsis
        return lines or [""]

    def _wrap_words(self, paragraph: str, width: float, lines: list[str]) -> None:
        """Append ``paragraph``'s lines to ``lines``, stopping past MAX_LINES."""
        fits = self._width
        current = ""
        for word in paragraph.split():
            candidate = f"{current} {word}" if current else word
            if fits(candidate) <= width:
                current = candidate
                continue
            if current:
                lines.append(current)
            while fits(word) > width and len(lines) <= MAX_LINES:  # wider than the cell
                cut = self._prefix_that_fits(word, width)
                lines.append(word[:cut])
                word = word[cut:]
            current = word
            if len(lines) > MAX_LINES:
                return
        lines.append(current)

    def _prefix_that_fits(self, word: str, width: float) -> int:
        """The length of ``word``'s longest prefix that fits (at least 1)."""
        low, high = 1, len(word)
        while low < high:
            mid = (low + high + 1) // 2
            if self._width(word[:mid]) <= width:
                low = mid
            else:
                high = mid - 1
        return low
