"""Synthetic but plausible Chinese names, addresses and identity numbers.

The demo district uses a real county boundary but invented townships,
villages and people, so nothing here identifies a real place below the county
or a real person. ID numbers carry a valid GB 11643 check digit, so the
validation code can be exercised on them.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

PLACE_CHARS = list("青石龙溪桥松竹湖田坝山河云花兴安平丰和新华阳清水明柳杨桃李枫岩江坪寨沟岭塘湾堡屯庄营关口坡")
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何罗高林郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛阎段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN_CHARS = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红建国志文斌海燕春梅金凤德胜福荣林峰宇浩鑫颖婷雪琳")
ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
ID_CHECK = "10X98765432"


def place_names(rng: np.random.Generator, n: int, suffixes: list[str]) -> list[str]:
    """``n`` distinct two-character place names, each with a suffix drawn from ``suffixes``."""
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        a, b = rng.choice(PLACE_CHARS, 2, replace=False)
        name = f"{a}{b}"
        if name in seen:
            continue
        seen.add(name)
        out.append(name + str(rng.choice(suffixes)))
    return out


# 统计用区划代码: the township digits (7–9) are 001–099 for a street 街道, 100–199 for a town 镇 and
# 200–399 for a township 乡; the village digits (10–12) 001–199 for a community 社区 (居委会) and
# 200–399 for a village 村 (村委会). As the generator always did, towns and villages start at x01.
CODE_RANGES = {"街道": (1, 99), "镇": (101, 199), "乡": (201, 399), "社区": (1, 199), "村": (201, 399)}
# Townships of a kind beyond its range become the next kind; same for villages.
_SPILL = {"街道": "镇", "镇": "乡", "社区": "村"}


def division_kind(name: str) -> str:
    """The kind of a generated division by its name's suffix (街道, 镇, 乡, 社区 or 村)."""
    for kind in CODE_RANGES:
        if name.endswith(kind):
            return kind
    raise ValueError(f"{name!r} is not a street, town, township, community or village")


def next_division_number(name: str, taken: dict[str, int]) -> int:
    """The next code number for division ``name`` among its siblings (``taken`` counts them by kind)."""
    kind = division_kind(name)
    first, last = CODE_RANGES[kind]
    seq = first + taken.get(kind, 0)
    if seq > last:
        raise ValueError(f"more than {last - first + 1} {kind} in one division: the code range is full")
    taken[kind] = taken.get(kind, 0) + 1
    return seq


def _capacity(kind: str) -> int:
    first, last = CODE_RANGES[kind]
    return last - first + 1


def _fit(kinds: list[str]) -> list[str]:
    """Move kinds that overflow their code range to the next kind (a 100th street becomes a town)."""
    used: dict[str, int] = {}
    out = []
    for kind in kinds:
        while used.get(kind, 0) >= _capacity(kind) and kind in _SPILL:
            kind = _SPILL[kind]
        used[kind] = used.get(kind, 0) + 1
        out.append(kind)
    return out


def township_suffixes(rank: np.ndarray, county_kind: str) -> list[str]:
    """街道, 镇 or 乡 for each township, by its ``rank`` of distance from the county's centre.

    urban: streets only; rural: the county seat's street(s) (one per 8 townships), then towns
    nearer the centre and townships farther out (60 : 40 of the rest); remote: towns for the
    nearest 40% (the seat among them), townships beyond. Suburban (Huaxi) keeps plan.py's own rule.
    """
    n = len(rank)
    if county_kind == "urban":
        by_rank = ["街道"] * n
    elif county_kind == "rural":
        streets = max(1, n // 8)
        towns = int(round(0.6 * (n - streets)))
        by_rank = ["街道"] * streets + ["镇"] * towns + ["乡"] * (n - streets - towns)
    elif county_kind == "remote":
        towns = max(1, int(round(0.4 * n)))
        by_rank = ["镇"] * towns + ["乡"] * (n - towns)
    else:
        raise ValueError(f"no township rule for county kind {county_kind!r}")
    by_rank = _fit(by_rank)
    return [by_rank[r] for r in rank]


def village_suffixes(township: list[int], town_kinds: list[str], rng: np.random.Generator) -> list[str]:
    """社区 or 村 for each village, by the kind of its township (``town_kinds[township[i]]``): a
    street's are communities, a town's villages with one in eight a community (the town's seat),
    a township's villages."""
    p_community = {"街道": 1.0, "镇": 0.125, "乡": 0.0}
    draws = rng.random(len(township))
    kinds = ["社区" if d < p_community[town_kinds[t]] else "村" for t, d in zip(township, draws, strict=True)]
    out = [""] * len(kinds)
    for town in set(township):  # the code ranges hold per township: spill within each
        idx = [i for i, t in enumerate(township) if t == town]
        for i, kind in zip(idx, _fit([kinds[i] for i in idx]), strict=True):
            out[i] = kind
    return out


def person_names(rng: np.random.Generator, n: int) -> list[str]:
    surname = rng.choice(SURNAMES, n)
    given_len = rng.choice([1, 2], n, p=[0.3, 0.7])
    g1 = rng.choice(GIVEN_CHARS, n)
    g2 = rng.choice(GIVEN_CHARS, n)
    return [s + a + (b if k == 2 else "") for s, a, b, k in zip(surname, g1, g2, given_len, strict=True)]


def id_check_digit(first17: str) -> str:
    """GB 11643 check character of the first 17 digits."""
    total = int(np.dot(np.frombuffer(first17.encode(), dtype=np.uint8) - 48, ID_WEIGHTS))
    return ID_CHECK[total % 11]


def id_numbers(rng: np.random.Generator, n: int, region: str) -> list[str]:
    """18-digit resident ID numbers for people registered in county ``region`` (6 digits)."""
    born = rng.integers(0, 90 * 365, n)
    seq = rng.integers(0, 1000, n)
    start = date(1935, 1, 1)
    out = []
    for b, s in zip(born, seq, strict=True):
        first17 = f"{region}{(start + timedelta(days=int(b))).strftime('%Y%m%d')}{int(s):03d}"
        out.append(first17 + id_check_digit(first17))
    return out


def phones(rng: np.random.Generator, n: int) -> list[str]:
    prefix = rng.choice(["138", "139", "150", "151", "187", "188", "133", "177", "186", "135"], n)
    rest = rng.integers(0, 10**8, n)
    return [f"{p}{int(r):08d}" for p, r in zip(prefix, rest, strict=True)]
