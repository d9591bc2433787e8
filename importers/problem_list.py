"""An import's problems as a file people open in a spreadsheet: CSV (UTF-8 with BOM) or XLSX.

One row per problem with the row (or feature) number, the field, the code, the severity and the
message, sorted by row so that a clerk can walk down the file and fix it. The messages are the
report's, already free of personal values (importers.pipeline.safe_report); the values themselves
are never written. XLSX through openpyxl's write-only mode: a report of a million-row file with
problems on every row stays in constant memory.
"""

from __future__ import annotations

import csv
import io

from importers.report import ImportReport, Problem

COLUMNS = ("row", "field", "code", "severity", "message")
FORMATS = ("csv", "xlsx")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _ordered(report: ImportReport) -> list[Problem]:
    """File-level problems (no row) first, then by row number; the importer's order within a row."""
    return sorted(report.problems, key=lambda p: (p.row is not None, p.row or 0))


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cells(p: Problem) -> tuple[object, ...]:
    return (p.row, p.field or "", p.code, p.severity, p.message)


def _inert(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula (CSV injection: a column named
    ``=HYPERLINK(...)`` echoed in a message) gets a leading apostrophe, the spreadsheet's own
    "this is text" mark."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_START) else value


def problems_csv(report: ImportReport) -> bytes:
    """UTF-8 with a byte-order mark, so Excel on a Chinese Windows opens 网格名称 as text, not mojibake."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for p in _ordered(report):
        writer.writerow(["" if c is None else _inert(c) for c in _cells(p)])
    return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")


def problems_xlsx(report: ImportReport) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet("problems")
    sheet.append(list(COLUMNS))
    for p in _ordered(report):
        cells = []
        for value in _cells(p):
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # openpyxl would store a str starting with "=" as a formula
            cells.append(cell)
        sheet.append(cells)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def problems_file(report: ImportReport, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"unknown problem list format {fmt!r}: expected csv or xlsx")
    return problems_csv(report) if fmt == "csv" else problems_xlsx(report)
