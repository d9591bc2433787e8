"""The fusion analysis as GeoJSON (for a GIS or the map) and as a CSV list a township works through.

The CSV is UTF-8 with a byte-order mark: Excel, which most township offices
open it with, reads a BOM-less UTF-8 file as the local code page and turns the
Chinese names into mojibake. Each row has a point inside the problem
(longitude, latitude, WGS84) so a worker can find it on any map, and the
suggestion that fixes it, if there is one.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import shapely
from shapely.geometry import shape

KIND_LABELS = {
    "overlap": "重叠 overlap",
    "gap": "缝隙 gap",
    "sliver": "碎片 sliver",
    "outside_parent": "越界 outside parent",
    "misalignment": "错位 misalignment",
}
CSV_COLUMNS = ["rank", "township", "kind", "layer", "grids", "area_m2", "households", "share_area", "lon", "lat",
               "suggestion"]


def as_geojson(report: dict[str, Any]) -> dict[str, Any]:
    """Every problem as a Feature; the scores and rules ride along as foreign members."""
    features = [{"type": "Feature", "geometry": p["geometry"],
                 "properties": {k: v for k, v in p.items() if k != "geometry"}} for p in report["problems"]]
    meta = {k: report[k] for k in ("division", "layers", "rules", "score", "townships", "containment", "summary")}
    return {"type": "FeatureCollection", "features": features, **meta}


def _cell(text: str) -> str:
    """Free text (a division name) that Excel would read as a formula is quoted as text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def as_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    geoms = [shape(p["geometry"]) if p["geometry"] else None for p in report["problems"]]
    points = shapely.point_on_surface([g for g in geoms if g is not None]) if any(geoms) else []
    it = iter(points)
    for p, g in zip(report["problems"], geoms, strict=True):
        pt = next(it) if g is not None else None
        writer.writerow([p["rank"], _cell(" ".join(filter(None, (p.get("township"), p.get("township_name"))))),
                         KIND_LABELS.get(p["kind"], p["kind"]), p["layer"],
                         " / ".join(p["grids"]), f"{p['area_m2']:.2f}", p["households"],
                         f"{p['share_area']:.4f}" if "share_area" in p else "",
                         f"{pt.x:.6f}" if pt is not None else "", f"{pt.y:.6f}" if pt is not None else "",
                         p.get("suggestion") or ""])
    return out.getvalue()
