"""Personal information (PIPL; GB/T 35273): validation and masking.

Masking happens on the server, before anything leaves it: ``张*``,
``5201**********1234``, ``138****1234``. Unmasked values need the
``pii:read`` permission and a stated purpose, and every such read is audited
(geo/residents.py).
"""

from __future__ import annotations

import re
from datetime import date

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


def mask_name(name: str) -> str:
    return name[:1] + "*" * max(1, len(name) - 1) if name else ""


def mask_id_number(value: str) -> str:
    return value[:4] + "*" * (len(value) - 8) + value[-4:] if len(value) > 8 else "*" * len(value)


def mask_phone(value: str) -> str:
    return value[:3] + "****" + value[-4:] if len(value) >= 11 else ("*" * len(value))
