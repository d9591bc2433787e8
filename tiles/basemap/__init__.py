"""The basemap: a local tile file (MBTiles, PMTiles) the app serves, or an intranet tile service.

:func:`open_basemap` turns :class:`geo.settings.BasemapSettings` into a :class:`Basemap` once, at
application start-up, so a missing or corrupt file stops the server with its path instead of
answering 500 for every tile. :meth:`Basemap.page_config` is what the web map's ``basemap.js``
reads; :meth:`Basemap.tilejson` is the same for other clients (QGIS, MapLibre).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from geo.settings import BasemapSettings
from tiles.basemap.source import BasemapError, BasemapInfo, Tile, TileFile

__all__ = ["Basemap", "BasemapError", "BasemapInfo", "Tile", "open_basemap", "open_tile_file", "TILE_PATH"]

# Where the app serves a file's tiles (api/routes/basemap.py), in Leaflet's template form.
TILE_PATH = "/basemap/{z}/{x}/{y}"


def open_tile_file(settings: BasemapSettings) -> TileFile | None:
    """The reader for the configured file, by its first bytes (not its name), or None without one."""
    path = settings.basemap_file
    if path is None:
        return None
    from tiles.basemap.mbtiles_file import MBTilesFile
    from tiles.basemap.pmtiles_file import PMTilesFile

    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError as exc:
        raise BasemapError(f"{path}: cannot be read ({exc.strerror})") from None
    return PMTilesFile(path) if head.startswith(b"PMTiles") else MBTilesFile(path)


@dataclass(frozen=True)
class Basemap:
    settings: BasemapSettings
    file: TileFile | None

    @property
    def configured(self) -> bool:
        return self.file is not None or self.settings.basemap_url is not None

    @property
    def minzoom(self) -> int:
        low = self.settings.basemap_min_zoom
        if self.file is not None:  # a setting may narrow the file's range, never widen it
            return max(self.file.info.minzoom, low if low is not None else 0)
        return low if low is not None else 0

    @property
    def maxzoom(self) -> int:
        high = self.settings.basemap_max_zoom
        if self.file is not None:
            return min(self.file.info.maxzoom, high if high is not None else 30)
        return high if high is not None else 18

    @property
    def attribution(self) -> str | None:
        own = self.file.info.attribution if self.file is not None else None
        return self.settings.basemap_attribution or own

    def serves(self, z: int, x: int, y: int) -> bool:
        """Whether z/x/y is a tile address within the file's zoom range (else 404, not an empty tile)."""
        n = 1 << z if 0 <= z <= 30 else 0
        return self.file is not None and self.minzoom <= z <= self.maxzoom and 0 <= x < n and 0 <= y < n

    def page_config(self) -> dict[str, Any] | None:
        """The web map's ``config.basemap``: what to draw under the grids, or None for the app's own look."""
        if not self.configured:
            return None
        common = {"datum": self.settings.basemap_datum, "attribution": self.attribution,
                  "minzoom": self.minzoom, "maxzoom": self.maxzoom}
        if self.file is None:
            return {"kind": "url", "url": self.settings.leaflet_url, "subdomains": self.settings.subdomain_list,
                    "vector_layers": [], **common}
        info = self.file.info
        return {"kind": info.kind, "url": TILE_PATH, "format": info.format, "subdomains": [],
                "bounds": list(info.bounds) if info.bounds else None,
                "vector_layers": [_layer_summary(v) for v in info.vector_layers], **common}

    def image_origins(self) -> tuple[str, ...]:
        """The origins a URL basemap's tiles come from (one per subdomain), for the page's CSP img-src."""
        template = self.settings.basemap_url
        if template is None or template.startswith("/"):
            return ()
        hosts = [template.replace("{s}", s) for s in self.settings.subdomain_list] if "{s}" in template else [template]
        return tuple(dict.fromkeys(f"{u.scheme}://{u.netloc}" for u in map(urlsplit, hosts)))

    def tilejson(self, base_url: str) -> dict[str, Any] | None:
        """TileJSON 3.0.0 for the served file (None for a URL basemap: clients use that service directly)."""
        if self.file is None:
            return None
        info = self.file.info
        out: dict[str, Any] = {
            "tilejson": "3.0.0", "name": info.name or info.path.stem, "scheme": "xyz",
            "tiles": [base_url.rstrip("/") + TILE_PATH], "minzoom": self.minzoom, "maxzoom": self.maxzoom,
            "format": info.format, "datum": self.settings.basemap_datum,
        }
        if info.bounds:
            out["bounds"] = list(info.bounds)
        if self.attribution:
            out["attribution"] = self.attribution
        if info.vector_layers:
            out["vector_layers"] = info.vector_layers
        return out


def _layer_summary(layer: dict[str, Any]) -> dict[str, Any]:
    """A vector layer's id and zooms (the renderer's style picks layers by id; fields are not needed)."""
    return {k: layer[k] for k in ("id", "minzoom", "maxzoom") if k in layer}


def open_basemap(settings: BasemapSettings | None = None) -> Basemap:
    """Open the configured basemap; raises :class:`BasemapError` naming the path when it cannot be served."""
    settings = settings or BasemapSettings()
    return Basemap(settings, open_tile_file(settings))
