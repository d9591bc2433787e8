"""Personal information (PIPL; GB/T 35273): validation and masking.

Masking happens on the server, before anything leaves it: ``张*``,
``5201**********1234``, ``138****1234``. Unmasked values need the
``pii:read`` permission and a stated purpose, and every such read is audited
(geo/privacy/residents.py).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import date
from functools import lru_cache
from typing import Any

from geo.errors import InvalidInput

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_ID_SHAPE = re.compile(r"^\d{17}[\dX]$")
MOBILE = re.compile(r"^1[3-9]\d{9}$")


def id_check_character(first17: str) -> str:
    """GB 11643-1999 check character for the first 17 digits."""
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def validate_id_number(value: str, *, pointer: str = "id_number") -> str:
    """A resident identity number: 18 characters, a real birth date, the right check character.

    The error never repeats the number: it may be someone's real identity.
    """
    v = value.strip().upper()
    if not _ID_SHAPE.match(v):
        raise InvalidInput("ID number must be 17 digits followed by a digit or X", pointer=pointer)
    try:
        born = date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        raise InvalidInput("ID number has an impossible birth date", pointer=pointer) from None
    if born > date.today() or born.year < 1900:
        raise InvalidInput("ID number has a birth date out of range", pointer=pointer)
    if id_check_character(v[:17]) != v[17]:
        raise InvalidInput("ID number check character is wrong (GB 11643)", pointer=pointer)
    return v


def validate_phone(value: str, *, pointer: str = "phone") -> str:
    v = re.sub(r"[\s-]", "", value)
    if v and not (MOBILE.match(v) or re.fullmatch(r"0\d{9,11}", v)):
        raise InvalidInput("phone must be an 11-digit mobile number or a landline with area code", pointer=pointer)
    return v


EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def validate_email(value: str, *, pointer: str = "email") -> str:
    v = value.strip()
    if v and (len(v) > 254 or not EMAIL.match(v)):
        raise InvalidInput("email must be an address like name@example.cn", pointer=pointer)
    return v


def mask_email(value: str) -> str:
    """``z***@example.cn``: the domain says which provider, not who."""
    local, _, domain = value.partition("@")
    return f"{local[:1]}***@{domain}" if local and domain else "*" * len(value)


def mask_identifier(value: str) -> str:
    """A device or account id: its last four characters, enough to tell two apart on the phone."""
    return "****" + value[-4:] if len(value) > 8 else "*" * len(value)


MIN_PURPOSE = 4


def check_purpose(purpose: str | None) -> str:
    """The stated purpose of an unmasked read (PIPL art. 6: a clear, reasonable purpose), trimmed for the audit row."""
    if not purpose or len(purpose.strip()) < MIN_PURPOSE:
        raise InvalidInput("unmasked personal data needs a stated purpose (at least 4 characters)", pointer="purpose")
    return purpose.strip()[:200]


def mask_name(name: str) -> str:
    return name[:1] + "*" * max(1, len(name) - 1) if name else ""


def mask_id_number(value: str) -> str:
    return value[:4] + "*" * (len(value) - 8) + value[-4:] if len(value) > 8 else "*" * len(value)


def mask_phone(value: str) -> str:
    return value[:3] + "****" + value[-4:] if len(value) >= 11 else ("*" * len(value))


# -- Personal data inside free text ------------------------------------------------------------------
# A citizen writes "请联系我 13812345678，身份证520111199001011236" into a report; a handler copies a
# landline into a note. Free text is masked on output for everyone by default; the original needs
# pii:read and a purpose, like residents' records. These rules are the one implementation: the API's
# output layer and the log filter (geo/privacy/logsafe.py) both call ``mask_free_text``.
#
# Every decimal digit Unicode knows (full-width １３８, mathematical 𝟏𝟑𝟖, Arabic-Indic …) is read as
# its ASCII digit, ＋ and （ ） as + ( ), every dash as -, and every space, invisible format character
# (zero-width space, BOM, word joiner) and the punctuation people put between digit groups (. / _ ~ ·)
# as a separator. The folding maps one character to one character, so a match found in the folded
# text is at the same place in the original. Up to three separators may stand between any two digits
# (138 1234 5678, 138.1234.5678, 0851 - 8555 1234, an ID number in groups of four); numbers are
# bounded by non-digits, so a 17-digit grid code or a 12-digit division code is not mistaken for an
# ID number or a phone.
_ASCII_SEPARATORS = str.maketrans({"\t": " ", "\n": " ", "\r": " ", "\f": " ", "\v": " ",
                                   ".": "-", "/": "-", "_": "-", "~": "-"})
_SIGNS = {"＋": "+", "（": "(", "）": ")", "Ｘ": "X", "ｘ": "x", "·": "-", "・": "-", "．": "-",
          "／": "-", "＿": "-", "～": "-", "。": "-"}
# A number read out digit by digit in Chinese characters ("幺三八一二三四五六七八", "壹叁捌…"), as people
# write a phone number to get it past a filter. One character each, so the folding keeps positions.
_SIGNS.update({ch: str(d) for d, chars in enumerate(("〇零○", "一幺壹", "二两贰", "三叁", "四肆", "五伍",
                                                     "六陆", "七柒", "八捌", "九玖")) for ch in chars})


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    """One non-ASCII character as the number rules read it (always one character)."""
    digit = unicodedata.decimal(ch, None)
    if digit is not None:
        return str(digit)
    if ch in _SIGNS:
        return _SIGNS[ch]
    category = unicodedata.category(ch)
    if category == "Pd":
        return "-"
    if category in ("Zs", "Zl", "Zp", "Cf"):
        return " "
    return ch


_STRICT = r"[ \-]?"  # the groups people write: 138 1234 5678, 0851-8555-1234, 520111 19900101 1236
_LOOSE = r"[ \-]{0,3}"  # anything between any two digits: 138  1234  5678, an ID number in fours


def _spaced(sep: str, *digits: str) -> str:
    """A number pattern of the given digit classes with ``sep`` allowed between any two of them."""
    return sep.join(digits)


_D = "[0-9]"
_CC = r"(?:(?:\+|00) ?86[ \-]?|\(\+?86\) ?|86[ \-]?)?"  # +86, 0086, (+86), 86
_DIGIT_BOUNDED = r"(?<![0-9]){}(?![0-9])"


def _rules(kind: str, pattern: str) -> tuple[str, re.Pattern[str]]:
    return kind, re.compile(_DIGIT_BOUNDED.format(pattern))


# Order matters: an 18-digit ID number contains 11 digits that look like a mobile number, and the
# strict shapes go first, so that two numbers side by side ("138 1234 5678 / 139 8765 4321") are read
# as two before the loose shapes could read digits of both as one. Each match is blanked out of the
# text the later rules see.
FREE_TEXT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    _rules("id_number", rf"[1-9][0-9]{{5}}{_STRICT}(?:18|19|20)[0-9]{{2}}{_STRICT}[0-9]{{4}}{_STRICT}[0-9]{{3}}[0-9Xx]"),
    _rules("id_number", rf"[1-9][0-9]{{5}}{_STRICT}[0-9]{{6}}{_STRICT}[0-9]{{3}}"),
    _rules("mobile", _CC + "1[3-9][0-9]" + rf"(?:{_STRICT}[0-9]){{8}}"),
    _rules("landline", rf"(?:\(0[1-9][0-9]{{1,2}}\) ?|0[1-9][0-9]{{1,2}}{_STRICT})[2-9][0-9]{{2,3}}{_STRICT}[0-9]{{4}}"),
    _rules("id_number", _spaced(_LOOSE, "[1-9]", *[_D] * 5, f"(?:1{_LOOSE}[89]|2{_LOOSE}0)", *[_D] * 9, "[0-9Xx]")),
    _rules("mobile", _CC + _spaced(_LOOSE, "1", "[3-9]", *[_D] * 9)),
    _rules("landline", rf"(?:\(0[1-9][0-9]{{1,2}}\) ?|0[1-9][0-9]{{1,2}}{_LOOSE})"
           + _spaced(_LOOSE, "[2-9]", _D, _D) + rf"(?:{_LOOSE}{_D})?" + _LOOSE + _spaced(_LOOSE, *[_D] * 4)),
    _rules("id_number", _spaced(_LOOSE, "[1-9]", *[_D] * 14)),
)
# Cheap tests first (most text holds no such number): every pattern above needs ten digits in a run
# of digits and separators; full-width characters need folding only when present.
_CANDIDATE = re.compile(r"[0-9][0-9 ()+\-]{9,}")


def _fold(value: str) -> str:
    folded = value.translate(_ASCII_SEPARATORS)
    return folded if folded.isascii() else "".join(map(_fold_char, folded))


def _masked(kind: str, found: str) -> str:
    digits = re.sub(r"[^0-9Xx]", "", found).upper()
    if kind == "id_number":
        return mask_id_number(digits)
    if kind == "mobile":
        return mask_phone(digits[-11:])
    return mask_phone(digits)


def find_personal_numbers(value: str) -> list[tuple[str, int, int]]:
    """Every ID number, mobile and landline number in ``value``: (kind, start, end), in text order."""
    text = _fold(value)
    found: list[tuple[str, int, int]] = []
    for kind, pattern in FREE_TEXT_PATTERNS:
        for m in list(pattern.finditer(text)):
            found.append((kind, m.start(), m.end()))
            text = text[:m.start()] + "#" * (m.end() - m.start()) + text[m.end():]  # no digit, no separator
    return sorted(found, key=lambda f: f[1])


def has_personal_numbers(value: str) -> bool:
    """Whether ``value`` holds anything ``mask_free_text`` would mask (a cheap test before parsing JSON)."""
    return any(sum(c.isdigit() for c in m.group()) >= 10 for m in _CANDIDATE.finditer(_fold(value)))


def mask_free_text(value: str | None) -> str | None:
    """``value`` with every ID number, mobile and landline number masked as the records are masked
    (``5201**********1236``, ``138****5678``); the words around them are left as written.

    Names in free text cannot be told from other words and are not masked: free text is for the
    matter reported, and the reporter's contact has its own masked, audited field."""
    if not value or not has_personal_numbers(value):
        return value
    folded = _fold(value)
    out, last = [], 0
    for kind, start, end in find_personal_numbers(value):
        out.append(value[last:start])
        out.append(_masked(kind, folded[start:end]))
        last = end
    out.append(value[last:])
    return "".join(out)


def mask_free_text_fields(row: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """A copy of ``row`` with the named free-text fields masked (absent or empty fields are left alone)."""
    return {**row, **{f: mask_free_text(row[f]) for f in fields if isinstance(row.get(f), str)}}
