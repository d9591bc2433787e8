"""Balanced partitions of points: the building block of "split a grid into N parts of equal households"
and of the demo's 十联户 groups."""

from __future__ import annotations

import numpy as np


def bisect_balanced(members: np.ndarray, k: int, xy: np.ndarray) -> list[np.ndarray]:
    """Split ``members`` (indices into ``xy``, metres) into ``k`` compact groups whose sizes differ by at most one.

    Recursive bisection along the longer side of the group's spread: simple,
    deterministic, and the groups come out compact enough to draw a boundary around.
    """
    if k <= 1 or len(members) <= 1:
        return [members]
    pts = xy[members]
    axis = int(np.ptp(pts[:, 1]) > np.ptp(pts[:, 0]))
    ordered = members[np.argsort(pts[:, axis], kind="stable")]
    k1 = k // 2
    cut = int(round(len(members) * k1 / k))
    return bisect_balanced(ordered[:cut], k1, xy) + bisect_balanced(ordered[cut:], k - k1, xy)
