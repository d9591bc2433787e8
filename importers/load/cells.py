"""A spreadsheet or attribute cell as the text an importer compares and stores."""

from __future__ import annotations

import math
from typing import Any


def text_of(value: Any) -> str:
    """A cell as trimmed text; ``""`` for empty. Whole numbers a spreadsheet stored as floats (a code
    520111001201.0, a phone typed into a number cell 13812345678.0) come back as their digits."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    return str(value).strip()
