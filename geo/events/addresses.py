"""Matching a free-text address against the household address register.

Reporters type addresses the way people speak them: without the county or
township, with Chinese numerals (三组十二号), full-width digits or stray spaces.
Matching goes from strict to loose and says which step matched, so a handler
knows how far to trust the location:

1. ``exact``: the register's text, character for character;
2. ``normalised``: NFKC, case and punctuation folded, numerals as digits, and
   the query may be a *suffix* of the register's address (prefix omitted);
3. ``anchored``: the query names a village or community (with or without the
   county and township before it) followed by a group 组 and a number 号, as
   people write them ("花溪区花岭社区3组十二号", the township left out);
4. ``fuzzy``: trigram similarity (pg_trgm) of the normalised forms, accepted
   only when one candidate clearly beats the next;
5. coarser places, for the citizen who names a landmark rather than a door:
   ``group`` (a 组 of a named village: "花岭社区1组门口" is near its households),
   ``village``, ``township``, ``county``. Each says how well it matched
   (``quality``, ``score``) and the place it matched (never a house number it
   was not given). Callers choose how coarse they accept (``coarsest``): the
   household importer only a household, a citizen's report down to a village.

A trailing landmark word (门口, 旁边, 对面, 附近 …) is read as "near" and kept in
``near``. Chinese numerals before a unit (二十三号, 十一组; 3组 stays 3) are read by
cn2an, the maintained library for them, not by hand; a place name's own numeral
(三岔村) is left alone. Anything ambiguous or unknown is refused with the
candidates, never guessed: a report placed in the wrong grid goes to the wrong person.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import cn2an
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput

FUZZY_MIN = 0.55  # similarity a fuzzy match must reach
FUZZY_MARGIN = 0.08  # ... and by how much it must beat the runner-up
CANDIDATES = 10

# A numeral (Chinese, or mixed with digits: 2十3) right before a unit of an address.
_NUMERAL = re.compile(r"([零〇一二两三四五六七八九十百千0-9]*[零〇一二两三四五六七八九十百千][零〇一二两三四五六七八九十百千0-9]*)"
                      r"(?=[组號号栋幢单元楼层室巷弄])")
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)
# Words after a place that put the report near it rather than in it (folded keys: no punctuation).
_LANDMARK = re.compile(r"(?:的)?(门口|门前|大门|旁边|边上|对面|附近|周边|一带|后面|前面|背后|路口|路边|那里|这里|处)+$")
_GROUP_HOUSE = re.compile(r"^(\d+)组(?:(\d+)号)?")

# How coarse a match is, finest first; ``coarsest=`` names the coarsest a caller accepts.
LEVELS = ("house", "group", "village", "township", "county")
_LEVEL_OF = {"exact": "house", "normalised": "house", "anchored": "house", "fuzzy": "house"}
SCORES = {"anchored": 0.95, "group": 0.8, "village": 0.6, "township": 0.3, "county": 0.1}
QUALITY_ZH = {"exact": "门牌完全一致", "normalised": "门牌一致", "anchored": "门牌一致", "fuzzy": "门牌近似",
              "group": "匹配到村民小组", "village": "匹配到村（社区）", "township": "只匹配到乡镇（街道）",
              "county": "只匹配到县（区）"}


@dataclass(frozen=True)
class AddressMatch:
    household_id: int | None  # None for a place coarser than a household
    address: str  # the register's address of the household, or the place's name (county … village 组)
    quality: str  # exact | normalised | anchored | fuzzy (a household) | group | village | township | county
    score: float  # 1.0 exact and normalised; trigram similarity for fuzzy; SCORES for the others
    lon: float
    lat: float
    near: str | None = None  # the landmark word the reporter added (门口, 旁边 …)

    @property
    def level(self) -> str:
        """house, group, village, township or county."""
        return _LEVEL_OF.get(self.quality, self.quality)


def chinese_number(s: str) -> int:
    """十二 → 12, 二十 → 20, 一百零五 → 105, 三 → 3, 2十3 → 23 (cn2an's "smart" mode reads mixed numerals)."""
    return int(cn2an.cn2an(s, "smart"))


def _numeral(m: re.Match[str]) -> str:
    try:
        return str(chinese_number(m.group(1)))
    except (ValueError, KeyError, TypeError):  # not a number after all (cn2an refuses 十十): left as written
        return m.group(1)


def normalise(address: str) -> str:
    """The comparison key of an address; the SQL function gridmap_address_key() does the same folding
    (without numerals: the register is written with digits)."""
    s = unicodedata.normalize("NFKC", address).lower()
    s = _PUNCT.sub("", s)
    return _NUMERAL.sub(_numeral, s)


def split_landmark(key: str) -> tuple[str, str | None]:
    """A folded key without its trailing landmark words, and those words (None when there are none)."""
    m = _LANDMARK.search(key)
    if m is None or m.start() == 0:
        return key, None
    return key[:m.start()], key[m.start():]


def _candidates(rows: list) -> list[dict[str, object]]:  # noqa: ANN001 - SQLAlchemy rows
    return [{"household_id": r.id, "address": r.address, "score": round(float(r.score), 3)} for r in rows]


def _match(row, quality: str) -> AddressMatch:  # noqa: ANN001
    return AddressMatch(row.id, row.address, quality, round(float(row.score), 3), row.lon, row.lat)


_SELECT = "SELECT h.id, h.address, ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat"


def match_address(session: Session, address: str, *, pointer: str = "address",
                  reveal_candidates: bool = True, coarsest: str = "house") -> AddressMatch:
    """The one household (or, down to ``coarsest`` of LEVELS, the one place) ``address`` designates, or
    InvalidInput naming the candidates — listed for staff; for the public only counted, so the register
    cannot be read out by guessing. A place coarser than ``coarsest`` is refused with what it matched
    (``match``: quality, score, place) so the caller can say how far it got."""
    if coarsest not in LEVELS:
        raise ValueError(f"coarsest must be one of {LEVELS}")
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
    bare, near = split_landmark(key)
    if not exact:
        for k in dict.fromkeys((key, bare)):  # as written, then without a trailing landmark word
            exact = session.execute(text(f"""
                {_SELECT}, 1.0 AS score FROM household h
                WHERE reverse(gridmap_address_key(h.address)) LIKE reverse(:k) || '%'
                ORDER BY h.id LIMIT :n"""), {"k": k, "n": CANDIDATES + 1}).all()
            if len(exact) == 1:
                return _with_near(_match(exact[0], "normalised"), near if k == bare else None)
            if exact:
                break
    if exact:
        raise InvalidInput(f"address {query!r} matches {len(exact) if len(exact) <= CANDIDATES else 'more than 10'}"
                           " households; give more of it (village, group 组, number 号)", pointer=pointer,
                           candidates=shown(exact[:CANDIDATES]))
    place = _anchored(session, bare, pointer=pointer)
    if place is not None and place.level == "house":
        return _with_near(place, near)
    fuzzy = session.execute(text(f"""
        {_SELECT}, similarity(gridmap_address_key(h.address), :k) AS score FROM household h
        WHERE gridmap_address_key(h.address) % :k
        ORDER BY score DESC, h.id LIMIT :n"""), {"k": bare, "n": CANDIDATES}).all()
    if fuzzy and fuzzy[0].score >= FUZZY_MIN and (len(fuzzy) == 1 or fuzzy[0].score - fuzzy[1].score >= FUZZY_MARGIN):
        return _with_near(_match(fuzzy[0], "fuzzy"), near)
    if place is not None:
        place = _with_near(place, near)
        if LEVELS.index(place.level) <= LEVELS.index(coarsest):
            return place
        raise InvalidInput(f"address {query!r} only names a place ({place.address}: {place.quality}), not a "
                           f"{coarsest}; give the village, group 组 and number 号, or pick the place on the map",
                           pointer=pointer, candidates=[], match=describe(place))
    if fuzzy:
        hint = "; closest matches are listed" if reveal_candidates else "; check it and give more of it"
        raise InvalidInput(f"address {query!r} is not in the household register{hint}",
                           pointer=pointer, candidates=shown(fuzzy))
    raise InvalidInput(f"address {query!r} matches no household in the register", pointer=pointer, candidates=[])


def describe(m: AddressMatch) -> dict[str, object]:
    """How well an address matched, for an answer: quality, level, score, a plain-Chinese word for it, and
    the landmark word; no household id or house number (the caller adds them where it may)."""
    return {"quality": m.quality, "level": m.level, "score": m.score, "quality_zh": QUALITY_ZH[m.quality],
            "near": m.near}


def _with_near(m: AddressMatch, near: str | None) -> AddressMatch:
    return m if near is None else AddressMatch(m.household_id, m.address, m.quality, m.score, m.lon, m.lat, near)


# Divisions whose name the query contains; county and township names may be left out, so a village is
# found wherever its name stands, and a named township only breaks ties between villages of one name.
_NAMED = text("""
    SELECT d.id, d.name, d.level::text AS level, d.parent_id, gridmap_address_key(d.name) AS k,
           strpos(:q, gridmap_address_key(d.name)) AS pos, t.name AS township
    FROM division d LEFT JOIN division t ON t.id = d.parent_id AND d.level = 'village'
    WHERE strpos(:q, gridmap_address_key(d.name)) > 0 AND length(gridmap_address_key(d.name)) >= 2
    ORDER BY length(gridmap_address_key(d.name)) DESC, d.id""")
_POINT = text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM division WHERE id = :d) s")


def _anchored(session: Session, key: str, *, pointer: str) -> AddressMatch | None:
    """A household, a group 组 or a place read from a query that names a village (or only a township or the
    county): None when it names none. Two villages of one name with no township to tell them apart are
    refused with their townships (public names, not the register)."""
    named = session.execute(_NAMED, {"q": key}).mappings().all()
    villages = [r for r in named if r["level"] == "village"]
    townships = {r["id"] for r in named if r["level"] == "township"}
    if villages:
        if len({v["k"] for v in villages}) == len(villages) or not townships:
            best = [v for v in villages if v["k"] == villages[0]["k"]]
        else:
            best = [v for v in villages if v["k"] == villages[0]["k"] and v["parent_id"] in townships]
        if len(best) > 1:
            raise InvalidInput(f"there are {len(best)} villages named {best[0]['name']}, in "
                               f"{'、'.join(str(v['township']) for v in best)}; name the township too",
                               pointer=pointer, candidates=[])
        if best:
            return _in_village(session, best[0], key)
    for level in ("township", "county"):
        rows = [r for r in named if r["level"] == level]
        if len(rows) == 1:
            lon, lat = session.execute(_POINT, {"d": rows[0]["id"]}).one()
            return AddressMatch(None, rows[0]["name"], level, SCORES[level], lon, lat)
    return None


def _in_village(session: Session, village, key: str) -> AddressMatch:  # noqa: ANN001 - a row
    place = f"{village['township'] or ''}{village['name']}"
    rest = key[int(village["pos"]) - 1 + len(village["k"]):]
    m = _GROUP_HOUSE.match(rest)
    if m and m.group(2):
        row = session.execute(text(f"""{_SELECT}, 1.0 AS score FROM household h
            WHERE h.division_id = :v AND gridmap_address_key(h.address) LIKE '%' || :tail
            ORDER BY h.id LIMIT 2"""), {"v": village["id"], "tail": f"{village['k']}{m.group(1)}组{m.group(2)}号"}).all()
        if len(row) == 1:
            return AddressMatch(row[0].id, row[0].address, "anchored", SCORES["anchored"], row[0].lon, row[0].lat)
    if m:
        # The group's households (numbered within the village: "3组" is not "13组"), at their centroid.
        row = session.execute(text("""SELECT count(*) AS n, ST_X(ST_Centroid(ST_Collect(h.geom))) AS lon,
                                             ST_Y(ST_Centroid(ST_Collect(h.geom))) AS lat
            FROM household h WHERE h.division_id = :v AND gridmap_address_key(h.address) LIKE '%' || :g || '%'"""),
                              {"v": village["id"], "g": f"{village['k']}{m.group(1)}组"}).one()
        if row.n:
            return AddressMatch(None, f"{place}{m.group(1)}组", "group", SCORES["group"], row.lon, row.lat)
    lon, lat = session.execute(_POINT, {"d": village["id"]}).one()
    return AddressMatch(None, place, "village", SCORES["village"], lon, lat)
