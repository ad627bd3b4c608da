"""The export formats: file extension, media type and writer of each.

Each writer's library is imported the first time its format is used (in the
export's writer thread): fpdf2 alone weighs about 40 MB of memory, python-docx 17
MB, XlsxWriter 12 MB, which a worker that only ever writes CSV need not carry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workhorse_reference.exports.writers.base import ExportContext, TableWriter, WriterFactory


def _csv(path: Path, context: ExportContext) -> TableWriter:
    from workhorse_reference.exports.writers.csv_file import CsvWriter

    return CsvWriter(path, context)


def _json(path: Path, context: ExportContext) -> TableWriter:
    from workhorse_reference.exports.writers.json_file import JsonWriter

    return JsonWriter(path, context)


def _excel(path: Path, context: ExportContext) -> TableWriter:
    from workhorse_reference.exports.writers.xlsx_file import ExcelWriter

    return ExcelWriter(path, context)


def _pdf(path: Path, context: ExportContext) -> TableWriter:
    from workhorse_reference.exports.writers.pdf_file import PdfWriter

    return PdfWriter(path, context)


def _docx(path: Path, context: ExportContext) -> TableWriter:
    from workhorse_reference.exports.writers.docx_file import DocxWriter

    return DocxWriter(path, context)


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    extension: str
    media_type: str
    writer: WriterFactory
    #: Holds several tables in one file (else ``entity=all`` makes a zip archive).
    multi_table: bool = False


FORMATS = {
    f.name: f
    for f in (
        Format("csv", "csv", "text/csv; charset=utf-8", _csv),
        Format("json", "json", "application/json", _json),
        Format(
            "excel",
            "xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            _excel,
            multi_table=True,
        ),
        Format("pdf", "pdf", "application/pdf", _pdf),
        Format(
            "docx",
            "docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            _docx,
        ),
    )
}
ZIP_MEDIA_TYPE = "application/zip"
MEDIA_TYPES = {f.extension: f.media_type for f in FORMATS.values()} | {"zip": ZIP_MEDIA_TYPE}

#: Rows of an Excel sheet, its header included.
MAX_SHEET_ROWS = 1_048_576


def media_type_of(filename: str) -> str:
    return MEDIA_TYPES.get(filename.rsplit(".", 1)[-1], "application/octet-stream")
