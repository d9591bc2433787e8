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
