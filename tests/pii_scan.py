"""A personal-data scanner for test output: response bodies, captured logs, a server's log file.

Deliberately independent of geo.privacy.pii (whose masking it checks): it looks for

- every value the test planted (a name, an ID number, a phone), verbatim and — for numbers — as
  its digits with any spaces, dashes or full-width forms in between;
- any 18-digit number with a valid GB 11643 check character, and any 11-digit mobile number
  (1[3-9]…), neither next to another digit or a ``*`` (masked values keep their ends).

Usage: ``assert find_personal_data(text, {"13812345678", "张三丰"}) == []``. Each finding says what
was found and shows a little context, so a failure points at the leak.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID18 = re.compile(r"(?<![\d*])\d{17}[\dXx](?![\d*])")
_MOBILE = re.compile(r"(?<![\d*])1[3-9]\d{9}(?![\d*])")
_FULL_WIDTH = str.maketrans({chr(0xFF10 + i): str(i) for i in range(10)})


def _valid_id(number: str) -> bool:
    check = "10X98765432"[sum(int(c) * w for c, w in zip(number[:17], _WEIGHTS, strict=True)) % 11]
    return number[17].upper() == check


def _context(text: str, start: int, end: int) -> str:
    return text[max(0, start - 40):end + 40].replace("\n", "⏎")


def _digits_only(text: str) -> tuple[str, list[int]]:
    """``text`` with the separators people put inside numbers removed, and where each kept character was."""
    kept, where = [], []
    folded = text.translate(_FULL_WIDTH)
    for i, ch in enumerate(folded):
        between_digits = (ch in " -\u3000－" and 0 < i < len(folded) - 1
                          and folded[i - 1].isdigit() and folded[i + 1].isdigit())
        if not between_digits:
            kept.append(ch)
            where.append(i)
    return "".join(kept), where


def find_personal_data(text: str, known_values: Iterable[str] = (), *, patterns: bool = True) -> list[str]:
    """Every planted value and every unmasked ID or mobile number in ``text`` (empty: nothing found).

    ``patterns=False`` looks for the planted values only: for a surface that rightly shows other
    personal data to its reader (a grid head's work phone to a role with pii:read)."""
    found: list[str] = []
    compact, where = _digits_only(text)
    for value in {v for v in known_values if v}:
        digits = re.sub(r"[\s\-]", "", value.translate(_FULL_WIDTH))
        for probe, haystack in ((value, text), (digits, compact)):
            at = haystack.find(probe)
            if at >= 0:
                start = at if haystack is text else where[at]
                found.append(f"planted value {value!r}: …{_context(text, start, start + len(value))}…")
                break
    if not patterns:
        return found
    for m in _ID18.finditer(compact):
        if _valid_id(m.group()):
            found.append(f"ID number {m.group()}: …{_context(text, where[m.start()], where[m.end() - 1] + 1)}…")
    for m in _MOBILE.finditer(compact):
        found.append(f"mobile number {m.group()}: …{_context(text, where[m.start()], where[m.end() - 1] + 1)}…")
    return found
