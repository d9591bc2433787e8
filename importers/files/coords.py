"""Numbers from spreadsheet cells, a million at a time (Arrow compute, no Python loop over rows).

Coordinates arrive as text (CSV) or as numbers or text (XLSX): ``106.65``, `` 106.65 ``, ``106.65°``.
Each cell is one of: a number, empty (missing), or something else (not a number); the readers turn
the last two into row problems.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_NUMBER = r"^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$"


@dataclass(frozen=True)
class Numbers:
    values: np.ndarray  # float64, NaN where missing or not a number
    missing: np.ndarray  # bool: empty cell
    invalid: np.ndarray  # bool: something that is not a number


def parse_numbers(column: pa.Array | pa.ChunkedArray) -> Numbers:
    """Parse a column of text or numbers into float64."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        missing = np.isnan(values)
        return Numbers(values, missing, np.zeros_like(missing))
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        column = column.cast(pa.string())
    text = pc.utf8_trim(pc.utf8_trim_whitespace(column), characters="°º")
    empty = pc.fill_null(pc.equal(pc.utf8_length(text), 0), True)
    good = pc.fill_null(pc.match_substring_regex(text, _NUMBER), False)
    numeric = pc.if_else(good, text, pa.scalar(None, pa.string()))
    values = pc.cast(numeric, pa.float64()).to_numpy(zero_copy_only=False)
    missing = empty.to_numpy(zero_copy_only=False)
    invalid = ~good.to_numpy(zero_copy_only=False) & ~missing
    return Numbers(values.astype(np.float64), missing, invalid)
