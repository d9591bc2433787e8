"""The basemap file's tiles and its TileJSON (tiles.basemap reads the file), and the settlements layer.

No session: the web map's basemap is drawn by ``<img>`` tiles and the vector renderer's plain
``fetch``, neither of which carries the bearer token, and a county's streets, water and place names
are not personal data nor anyone's territory (every caller is shown the same tile). So tiles are
``Cache-Control: public`` with a content ETag, like any static asset. An operator whose basemap is
itself restricted (imagery under 测绘 rules) keeps the whole service on the internal network, as
for the map shell.
"""

from __future__ import annotations

import gzip
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.caching import Revalidated
from api.deps import SessionDep, parse_bbox
from api.security import MapReader
from geo.errors import InvalidInput, NotFound
from tiles.basemap import Basemap
from tiles.basemap.settlements import settlement_cells

router = APIRouter(tags=["basemap"])

# A basemap file changes only when the operator swaps it (and restarts): a day in any cache, then
# revalidated by ETag.
CACHE_CONTROL = "public, max-age=86400"


def _basemap(request: Request) -> Basemap:
    return request.app.state.basemap


@router.get("/basemap.json", summary="TileJSON of the basemap file the app serves")
def basemap_tilejson(request: Request) -> dict[str, Any]:
    doc = _basemap(request).tilejson(str(request.base_url).rstrip("/"))
    if doc is None:
        raise NotFound("no basemap file is configured (GRIDMAP_BASEMAP_FILE); a URL basemap is used directly")
    return doc


@router.get("/basemap/{z}/{x}/{y}", summary="A tile of the basemap file", response_class=Response,
            dependencies=[Revalidated],
            responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {},
                                         "application/vnd.mapbox-vector-tile": {}}},
                       204: {"description": "Within the file's zooms, but the file has no tile there"}})
def basemap_tile(request: Request, z: int, x: int, y: int) -> Response:
    basemap = _basemap(request)
    if basemap.file is None:
        raise NotFound("no basemap file is configured (GRIDMAP_BASEMAP_FILE)")
    # One URL per tile: int() also reads "+0", " 0", "0_0", "01" and "-0", each of which a public cache would
    # keep as another copy of the same tile.
    if request.url.path.rsplit("/", 3)[1:] != [str(z), str(x), str(y)]:
        raise InvalidInput("a tile's z, x and y are plain decimal integers (no sign, spaces, underscores or"
                           " leading zeros)", pointer="z")
    if not basemap.serves(z, x, y):
        raise NotFound(f"tile {z}/{x}/{y} is outside the basemap (zooms {basemap.minzoom}..{basemap.maxzoom}, "
                       f"0 <= x, y < 2^z)", pointer="z")
    tile = basemap.file.tile(z, x, y)
    headers = {"Cache-Control": CACHE_CONTROL}
    if tile is None:
        return Response(status_code=204, headers=headers)
    body = tile.data
    if tile.gzipped:
        if "gzip" in request.headers.get("accept-encoding", "").lower():
            headers["Content-Encoding"] = "gzip"  # stored compressed: sent as stored
        else:
            body = gzip.decompress(body)
        headers["Vary"] = "Accept-Encoding"
    return Response(body, media_type=basemap.file.info.content_type, headers=headers)


@router.get("/basemap/settlements", summary="Households counted per cell: the settlements, for the map without "
            "a basemap", dependencies=[Revalidated])
def settlements(session: SessionDep, principal: MapReader,
                bbox: str = Query(description="minlon,minlat,maxlon,maxlat (WGS84)", examples=["106.6,26.3,106.7,26.4"]),
                zoom: int = Query(ge=0, le=22, description="The map's zoom: cells are ~12 px across, 60 m at least.")
                ) -> dict[str, Any]:
    # Counts per cell of >= 60 m with >= 3 households: no household can be singled out (tiles.basemap.settlements),
    # so map:read suffices. Inside the caller's territory, so private like every authenticated answer.
    return settlement_cells(session, bbox=parse_bbox(bbox), zoom=zoom, scope=principal.scope)
