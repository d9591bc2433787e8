"""Spreadsheets: CSV (Arrow's parser, a million rows in about a second) and XLSX (python-calamine).

A CSV saved by Excel in China is GBK (GB18030 decodes it losslessly) unless saved as "CSV UTF-8",
which starts with a BOM. Cells are kept as text: an 18-digit ID number or a 0-prefixed code read as a
number would be damaged. Row numbers are the spreadsheet's, the header being row 1, so a problem
"row 2" is the first record as the user sees it in Excel or WPS.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from geo.errors import InvalidInput
from importers.files import encoding as enc
from importers.report import Problem

SHEET_SUFFIXES = {".csv": "CSV", ".txt": "CSV", ".xlsx": "XLSX", ".xlsm": "XLSX", ".xls": "XLS"}


@dataclass
class Sheet:
    """A table of cells: ``columns[name]`` is an Arrow string array (CSV) or a list of values (XLSX)."""

    fields: list[str]
    columns: dict[str, pa.Array | list[Any]]
    rows: np.ndarray  # int64 spreadsheet row numbers
    encoding: str | None
    layer: str | None = None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _unique(names: list[str]) -> list[str]:
    """Header cells as column names: empty ones named by position, repeats numbered."""
    out: list[str] = []
    for i, n in enumerate(names):
        name = n.strip() or f"column{i + 1}"
        base, k = name, 2
        while name in out:
            name, k = f"{base}_{k}", k + 1
        out.append(name)
    return out


def _delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (",", "\t", ";", "|")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def read_csv(path: Path, *, encoding: str | None) -> Sheet:
    """A CSV as text columns; the encoding is the user's, else UTF-8 (with or without BOM), else GB18030."""
    data = path.read_bytes()
    file = path.name
    if encoding:
        codec = enc.codec_name(encoding)
    elif data.startswith(b"\xef\xbb\xbf"):
        codec = "utf-8-sig"
    else:
        codec = enc.detect(data)
    if codec in ("utf-8", "utf-8-sig"):
        text_bytes = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
        try:
            if encoding or codec == "utf-8-sig":  # detection has already decoded it
                text_bytes.decode("utf-8")
            damaged = False
        except UnicodeDecodeError:  # only when the user said UTF-8: the bad rows are found below
            text_bytes = text_bytes.decode("utf-8", errors="replace").encode("utf-8")
            damaged = True
    else:
        decoded = data.decode(codec, errors="replace")
        damaged = "\ufffd" in decoded
        text_bytes = decoded.encode("utf-8")
    first_line = text_bytes.split(b"\n", 1)[0].decode("utf-8").rstrip("\r")
    if "\ufffd" in first_line:  # the header is matched, never stored: read it as it looks, and say so
        raw_header = (data[3:] if data.startswith(b"\xef\xbb\xbf") else data).split(b"\n", 1)[0].rstrip(b"\r")
        first_line = raw_header.decode(enc.detect(raw_header), errors="replace")
        rest = text_bytes.split(b"\n", 1)[1:]  # a file of one line (a header alone) has no rest
        text_bytes = first_line.encode("utf-8") + b"\n" + (rest[0] if rest else b"")
    if not first_line.strip():
        raise InvalidInput(f"{file}: the first line (the header) is empty", pointer="file")
    if b"\n" not in text_bytes:  # a header alone, without a line end: Arrow cannot skip it ("file too short")
        text_bytes += b"\n"
    delimiter = _delimiter(first_line)
    header = _unique(next(csv.reader(io.StringIO(first_line), delimiter=delimiter)))
    try:
        table = pacsv.read_csv(
            pa.py_buffer(text_bytes),
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, block_size=16 << 20),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=b'"' in text_bytes),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in header},
                                                 null_values=[""], strings_can_be_null=True),
        )
    except pa.ArrowInvalid as exc:
        raise InvalidInput(f"{file} is not a readable CSV: {str(exc).splitlines()[0]}", pointer="file") from None
    columns = {n: table.column(n).combine_chunks() for n in header}
    rows = np.arange(2, table.num_rows + 2, dtype=np.int64)
    sheet = Sheet(header, columns, rows, enc.label(codec))  # type: ignore[arg-type]
    if damaged:
        _drop_undecodable(sheet, codec, file)
    return sheet


def _drop_undecodable(sheet: Sheet, codec: str, file: str) -> None:
    """Cells that did not decode hold U+FFFD: each becomes a row problem and None, never stored."""
    for name in sheet.fields:
        col = sheet.columns[name]
        bad = pc.fill_null(pc.match_substring(col, "\ufffd"), False)
        idx = np.flatnonzero(bad.to_numpy(zero_copy_only=False))
        if idx.size:
            sheet.columns[name] = pc.if_else(bad, pa.scalar(None, pa.string()), col)
            sheet.problems += [Problem(int(sheet.rows[i]), name, "undecodable",
                                       f"{name}: the text is not valid {enc.label(codec)}; the value is left out")
                               for i in idx]
    sheet.warnings.append(f"{file}: some text is not valid {enc.label(codec)}; if names look wrong, "
                          f"give the file's encoding with encoding= (GBK, UTF-8)")


def _cell(v: Any) -> Any:
    if v == "" or v is None:
        return None
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, float):
        return int(v) if v.is_integer() and abs(v) < 2**53 else v
    if isinstance(v, (int, str)):
        return v.strip() or None if isinstance(v, str) else v
    return v.isoformat() if hasattr(v, "isoformat") else str(v)


def read_xlsx(path: Path, *, layer: str | None) -> Sheet:
    """One sheet of a workbook: the one named, else the only one with data (several: name them)."""
    from python_calamine import CalamineWorkbook

    file = path.name
    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # noqa: BLE001 - calamine's message says what is wrong with the file
        raise InvalidInput(f"{file} is not a readable workbook: {exc}", pointer="file") from None
    if layer is not None:
        if layer not in book.sheet_names:
            raise InvalidInput(f"{file} has no sheet {layer!r}; its sheets are {', '.join(book.sheet_names)}",
                               pointer="layer")
        names = [layer]
    else:
        names = [n for n in book.sheet_names if book.get_sheet_by_name(n).to_python(skip_empty_area=True)]
        if not names:
            raise InvalidInput(f"{file}: every sheet is empty", pointer="file")
        if len(names) > 1:
            raise InvalidInput(f"{file} has several sheets with data: {', '.join(names)}; choose one with layer=",
                               pointer="layer")
    cells = book.get_sheet_by_name(names[0]).to_python(skip_empty_area=False)
    width = max((len(r) for r in cells), default=0)
    filled = [sum(_cell(v) is not None for v in r) for r in cells]
    # The header is the first row with two cells or more: offices put a merged title row above it
    # (花溪区网格员名单), which is one cell.
    header_at = next((i for i, n in enumerate(filled[:20]) if n >= min(2, width)), None)
    if header_at is None or not any(filled):
        raise InvalidInput(f"{file}: the sheet {names[0]!r} is empty", pointer="file")
    header = _unique([str(_cell(v) or "") for v in cells[header_at]] + [""] * (width - len(cells[header_at])))
    records = [(i + 1, [_cell(v) for v in r]) for i, r in enumerate(cells) if i > header_at]
    records = [(n, r + [None] * (width - len(r))) for n, r in records if any(v is not None for v in r)]
    columns: dict[str, pa.Array | list[Any]] = {n: [r[j] for _, r in records] for j, n in enumerate(header)}
    return Sheet(header, columns, np.array([n for n, _ in records], dtype=np.int64), None, names[0])


def as_arrow(column: pa.Array | list[Any]) -> pa.Array:
    """A column as Arrow, for parsing numbers: XLSX's mixed cells become text (numbers as numbers)."""
    if isinstance(column, (pa.Array, pa.ChunkedArray)):
        return column
    if all(v is None or isinstance(v, (int, float)) for v in column):
        return pa.array(column, type=pa.float64())
    return pa.array([None if v is None else str(v) for v in column], type=pa.string())


def as_values(column: pa.Array | list[Any]) -> list[Any]:
    return column.to_pylist() if isinstance(column, (pa.Array, pa.ChunkedArray)) else column


def non_empty(column: pa.Array | list[Any]) -> np.ndarray:
    """Which cells hold something other than blanks (vectorised for Arrow columns)."""
    if isinstance(column, (pa.Array, pa.ChunkedArray)):
        text = pc.utf8_trim_whitespace(column.cast(pa.string()))
        return pc.fill_null(pc.greater(pc.utf8_length(text), 0), False).to_numpy(zero_copy_only=False)
    return np.array([v is not None and str(v).strip() != "" for v in column], dtype=bool)
