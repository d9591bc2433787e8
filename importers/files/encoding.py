"""Text encodings of county files: UTF-8, or GBK/GB18030 (what Chinese Windows and Excel write).

A Shapefile's .dbf carries no reliable encoding: a .cpg beside it says one when someone wrote it,
and offices' files mostly come without. GB18030 (a superset of GBK and GB2312) accepts almost any
byte string, UTF-8 text included, while strict UTF-8 almost never accepts GBK-encoded Chinese. So
the test is: valid UTF-8 -> UTF-8, else valid GB18030 -> GB18030, else neither, and each value that
does not decode becomes a row problem (never a value with replacement characters: mojibake stored
as a village's name would outlive the import).
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence

UTF8 = "UTF-8"
GB18030 = "GB18030"

# What .cpg files say, as written by ArcGIS, QGIS and GDAL, to Python codec names.
_CPG_ALIASES = {"936": "gbk", "cp936": "gbk", "gbk": "gbk", "gb2312": "gbk", "gb18030": "gb18030",
                "65001": "utf-8", "utf8": "utf-8", "utf-8": "utf-8", "ansi 936": "gbk", "cp65001": "utf-8",
                "1252": "cp1252", "ansi 1252": "cp1252", "88591": "latin-1", "8859_1": "latin-1",
                "iso-8859-1": "latin-1", "iso88591": "latin-1"}


def codec_name(declared: str) -> str:
    """A user's or a .cpg's encoding name as a Python codec; an unknown name is ValueError."""
    key = declared.strip().lower()
    name = _CPG_ALIASES.get(key, key)
    try:
        codec = codecs.lookup(name).name
        b"a".decode(codec, errors="ignore")  # rot13, base64, zlib ... are codecs, not text encodings: LookupError
    except (LookupError, UnicodeError):
        raise ValueError(f"unknown encoding {declared.strip()!r}") from None
    return codec


def label(codec: str) -> str:
    """How SourceTable.encoding reports a codec: UTF-8, GBK, GB18030, ..."""
    return {"utf-8": UTF8, "utf-8-sig": "UTF-8-SIG", "gbk": "GBK", "gb18030": GB18030}.get(codec, codec.upper())


def detect(data: bytes) -> str:
    """``utf-8`` when ``data`` is valid UTF-8 (plain ASCII included), else ``gb18030`` (a superset of
    GBK and GB2312: decoding as it loses nothing a GBK file holds)."""
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"


def decode_values(raw: Sequence[str | None], codec: str) -> tuple[list[str | None], list[int]]:
    """Decode values read as latin-1 (each char one byte of the file) with ``codec``.

    Returns the decoded values and the positions that did not decode (their value becomes None).
    The values are decoded in one call, joined by NUL (no encoding here uses a zero byte inside a
    character); only when that fails is each value tried alone, to find the bad ones."""
    present = [i for i, v in enumerate(raw) if v is not None]
    out: list[str | None] = [None] * len(raw)
    if not present:
        return out, []
    joined = "\x00".join(raw[i] for i in present).encode("latin-1")  # type: ignore[misc]
    try:
        parts = joined.decode(codec).split("\x00")
        if len(parts) == len(present):
            for i, v in zip(present, parts):
                out[i] = v
            return out, []
    except UnicodeDecodeError:
        pass
    bad: list[int] = []
    for i in present:
        try:
            out[i] = raw[i].encode("latin-1").decode(codec)  # type: ignore[union-attr]
        except UnicodeDecodeError:
            bad.append(i)
    return out, bad


def has_non_ascii(values: Sequence[str | None]) -> bool:
    return any(v is not None and not v.isascii() for v in values)
