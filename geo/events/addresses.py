"""Matching a free-text address against the household address register.

Reporters type addresses the way people speak them: without the county or
township, with Chinese numerals (三组十二号), full-width digits or stray spaces.
Matching goes from strict to loose and says which step matched, so a handler
knows how far to trust the location:

1. ``exact``: the register's text, character for character;
2. ``normalised``: NFKC, case and punctuation folded, numerals as digits, and
   the query may be a *suffix* of the register's address (prefix omitted);
3. ``fuzzy``: trigram similarity (pg_trgm) of the normalised forms, accepted
   only when one candidate is clearly better than the next.

Anything else is ambiguous or unknown and refused with the candidates, never
guessed: a report placed in the wrong grid goes to the wrong person.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput

FUZZY_MIN = 0.55  # similarity a fuzzy match must reach
FUZZY_MARGIN = 0.08  # ... and by how much it must beat the runner-up
CANDIDATES = 10

_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"两": 2, "〇": 0}
_NUMERAL = re.compile(r"([零〇一二两三四五六七八九十百]+)(?=[组號号栋幢单元楼层室巷弄])")
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


@dataclass(frozen=True)
class AddressMatch:
    household_id: int
    address: str
    quality: str  # exact | normalised | fuzzy
    score: float  # 1.0 for exact and normalised; trigram similarity for fuzzy
    lon: float
    lat: float


def chinese_number(s: str) -> int:
    """十二 → 12, 二十 → 20, 一百零五 → 105, 三 → 3 (the forms house numbers use)."""
    total, current = 0, 0
    for ch in s:
        if ch == "百":
            total += (current or 1) * 100
            current = 0
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        else:
            current = current * 10 + _DIGITS[ch] if current else _DIGITS[ch]
    return total + current


def normalise(address: str) -> str:
    """The comparison key of an address; the SQL function gridmap_address_key() does the same folding
    (without numerals: the register is written with digits)."""
    s = unicodedata.normalize("NFKC", address).lower()
    s = _NUMERAL.sub(lambda m: str(chinese_number(m.group(1))), s)
    return _PUNCT.sub("", s)


def _candidates(rows: list) -> list[dict[str, object]]:  # noqa: ANN001 - SQLAlchemy rows
    return [{"household_id": r.id, "address": r.address, "score": round(float(r.score), 3)} for r in rows]


def _match(row, quality: str) -> AddressMatch:  # noqa: ANN001
    return AddressMatch(row.id, row.address, quality, round(float(row.score), 3), row.lon, row.lat)


_SELECT = "SELECT h.id, h.address, ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat"


def match_address(session: Session, address: str, *, pointer: str = "address",
                  reveal_candidates: bool = True) -> AddressMatch:
    """The one household ``address`` designates, or InvalidInput naming the candidates — listed for
    staff; for the public only counted, so the register cannot be read out by guessing."""
    shown = _candidates if reveal_candidates else (lambda rows: [])
    query = address.strip()
    if not query:
        raise InvalidInput("address is empty", pointer=pointer)
    exact = session.execute(
        text(f"{_SELECT}, 1.0 AS score FROM household h WHERE h.address = :a ORDER BY h.id LIMIT :n"),
        {"a": query, "n": CANDIDATES + 1}).all()
    if len(exact) == 1:
        return _match(exact[0], "exact")
    key = normalise(query)
    if not key:
        raise InvalidInput("address has no letters or digits", pointer=pointer)
    if not exact:
        exact = session.execute(text(f"""
            {_SELECT}, 1.0 AS score FROM household h
            WHERE reverse(gridmap_address_key(h.address)) LIKE reverse(:k) || '%'
            ORDER BY h.id LIMIT :n"""), {"k": key, "n": CANDIDATES + 1}).all()
        if len(exact) == 1:
            return _match(exact[0], "normalised")
    if exact:
        raise InvalidInput(f"address {query!r} matches {len(exact) if len(exact) <= CANDIDATES else 'more than 10'}"
                           " households; give more of it (village, group 组, number 号)", pointer=pointer,
                           candidates=shown(exact[:CANDIDATES]))
    fuzzy = session.execute(text(f"""
        {_SELECT}, similarity(gridmap_address_key(h.address), :k) AS score FROM household h
        WHERE gridmap_address_key(h.address) % :k
        ORDER BY score DESC, h.id LIMIT :n"""), {"k": key, "n": CANDIDATES}).all()
    if fuzzy and fuzzy[0].score >= FUZZY_MIN and (len(fuzzy) == 1 or fuzzy[0].score - fuzzy[1].score >= FUZZY_MARGIN):
        return _match(fuzzy[0], "fuzzy")
    if fuzzy:
        hint = "; closest matches are listed" if reveal_candidates else "; check it and give more of it"
        raise InvalidInput(f"address {query!r} is not in the household register{hint}",
                           pointer=pointer, candidates=shown(fuzzy))
    raise InvalidInput(f"address {query!r} matches no household in the register", pointer=pointer, candidates=[])
