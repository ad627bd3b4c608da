"""Word (.docx): a heading, a line saying for whom and when, and a table whose header
row repeats on every page.

python-docx builds the document -- styles, landscape section, heading, the table with
its header row -- but keeps the whole XML tree in memory and appends rows slowly
(about 5 kB and, through ``add_row``, quadratic time per row).  So the rows are
streamed instead: the document python-docx saved is copied into the output package
member by member, and its ``word/document.xml`` is written as the part before the
table's end, then each row as WordprocessingML, then the rest.  The result is the
same document python-docx would have produced, at constant memory.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO
from xml.sax.saxutils import escape

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.oxml import OxmlElement
from docx.shared import Cm, Emu

from workhorse_reference.exports.tables import Kind, Table
from workhorse_reference.exports.values import Cell, cell_text
from workhorse_reference.exports.writers.base import ExportContext, xml_safe

DOCUMENT_XML = "word/document.xml"
_TABLE_END = b"</w:tbl>"
_EMU_PER_TWIP = 635


class DocxWriter:
    def __init__(self, path: Path, context: ExportContext) -> None:
        self._path = path
        self._context = context
        self._zip: zipfile.ZipFile | None = None
        self._body: IO[bytes] | None = None
        self._tail = b""
        self._cells: list[tuple[str, str]] = []  # per column: opening tags, closing tags

    def begin(self, table: Table) -> None:
        if self._zip is not None:
            raise RuntimeError("a Word export holds one table")
        skeleton, widths = self._skeleton(table)
        self._cells = [_cell_tags(w, c.kind) for w, c in zip(widths, table.columns, strict=True)]
        self._zip = zipfile.ZipFile(self._path, "w", zipfile.ZIP_DEFLATED)
        with zipfile.ZipFile(io.BytesIO(skeleton)) as source:
            for item in source.infolist():
                if item.filename != DOCUMENT_XML:
                    self._zip.writestr(item, source.read(item))
            document = source.read(DOCUMENT_XML)
        cut = document.rindex(_TABLE_END)
        self._body = self._zip.open(DOCUMENT_XML, "w")
        self._body.write(document[:cut])
        self._tail = document[cut:]

    def _skeleton(self, table: Table) -> tuple[bytes, list[int]]:
        """The document without data rows, and the columns' widths in twips."""
        doc = Document()
        section = doc.sections[0]
        section.orientation = WD_ORIENT.LANDSCAPE
        section.page_width, section.page_height = section.page_height, section.page_width
        for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
            setattr(section, side, Cm(1.5))
        doc.add_heading(xml_safe(table.title), level=1)
        ctx = self._context
        doc.add_paragraph(xml_safe(f"Exported for {ctx.user} on {ctx.exported_at}"))
        grid = doc.add_table(rows=1, cols=len(table.columns))
        grid.style = "Table Grid"
        grid.autofit = False
        usable = int(section.page_width or 0) - int(section.left_margin or 0)
        usable -= int(section.right_margin or 0)
        total = sum(c.width for c in table.columns)
        widths = [usable * c.width // total for c in table.columns]
        header = grid.rows[0]
        for cell, column, width in zip(header.cells, table.columns, widths, strict=True):
            cell.width = Emu(width)
            cell.paragraphs[0].add_run(column.header).bold = True
        for column, width in zip(grid.columns, widths, strict=True):
            column.width = Emu(width)
        repeat = OxmlElement("w:tblHeader")  # repeat the header row on every page
        header._tr.get_or_add_trPr().append(repeat)
        out = io.BytesIO()
        doc.save(out)
        return out.getvalue(), [w // _EMU_PER_TWIP for w in widths]

    def write(self, rows: Sequence[tuple[Cell, ...]]) -> None:
        assert self._body is not None, "begin() a table first"
        cells = self._cells
        parts: list[str] = []
        for values in rows:
            parts.append("<w:tr>")
            for (opening, closing), value in zip(cells, values, strict=True):
                parts.append(opening)
                parts.append(_runs(cell_text(value)))
                parts.append(closing)
            parts.append("</w:tr>")
        self._body.write("".join(parts).encode())

    def end(self) -> None:
        assert self._body is not None, "begin() a table first"
        self._body.write(self._tail)
        self._body.close()
        self._body = None

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def abort(self) -> None:
        if self._body is not None:
            self._body.close()
        if self._zip is not None:
            self._zip.close()


def _cell_tags(width_twips: int, kind: Kind) -> tuple[str, str]:
    align = '<w:pPr><w:jc w:val="right"/></w:pPr>' if kind in (Kind.MONEY, Kind.INTEGER) else ""
    opening = f'<w:tc><w:tcPr><w:tcW w:w="{width_twips}" w:type="dxa"/></w:tcPr><w:p>{align}'
    return opening, "</w:p></w:tc>"


def _runs(text: str) -> str:
    """A run holding ``text``, its line breaks as ``<w:br/>``."""
    if not text:
        return ""
    lines = [escape(xml_safe(line)) for line in text.splitlines()]
    body = "<w:br/>".join(f'<w:t xml:space="preserve">{line}</w:t>' for line in lines)
    return f"<w:r>{body}</w:r>"
