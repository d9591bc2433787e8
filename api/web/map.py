"""Build the browser map page with folium.

The page is deliberately an empty shell: a Leaflet map fitted to the county,
Leaflet and our ``gridmap.js``/``gridmap.css`` loaded from the app's own
``/static`` mount, and one inline call ``gridmap.init(map_<hash>, config)``.
No GeoJSON is embedded, so the page stays a few kilobytes even for a district
with 100k households; ``gridmap.js`` fetches grids, divisions and points from
the JSON API for the current view.

Nothing is loaded from a CDN or a third-party basemap (folium's defaults pull
jQuery, Bootstrap, Font Awesome and OpenStreetMap tiles from the internet;
they are all switched off here).
"""

from __future__ import annotations

import math
import re
from typing import Any

import folium
from branca.element import MacroElement
from folium.map import FitBounds
from folium.template import Template

__all__ = ["build_map", "DEFAULT_COLORS"]

# Used for layers that come without a colour, in display order. Distinct hues
# that stay readable as a light fill over the plain background.
DEFAULT_COLORS = (
    "#d7301f",
    "#2b8cbe",
    "#31a354",
    "#756bb1",
    "#e6550d",
    "#636363",
    "#c51b8a",
    "#8c6d31",
)

_HEX_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")

# Points (households, cameras, ...) are only requested from this zoom on; below
# it one view would cover thousands of them.
POINT_MIN_ZOOM = 14


class _GridmapMap(folium.Map):
    """A folium map that loads only the app's own JS/CSS.

    ``folium.Map.default_js``/``default_css`` list CDN URLs (Leaflet, jQuery,
    Bootstrap, awesome-markers, Font Awesome); ``JSCSSMixin.render`` turns
    each entry into a ``<script src>``/``<link href>`` in the page head. They
    are replaced per instance in ``__init__`` because the URLs depend on the
    static prefix.
    """

    default_js: list[tuple[str, str]] = []
    default_css: list[tuple[str, str]] = []

    def __init__(self, *, static_prefix: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Order matters: gridmap.js uses the global ``L`` at load time.
        self.default_js = [
            ("leaflet", f"{static_prefix}/vendor/leaflet/leaflet.js"),
            ("gridmap", f"{static_prefix}/gridmap.js"),
            # After gridmap.js: it registers itself in gridmap.plugins (the fusion overlay and panel).
            ("gridmap_fusion", f"{static_prefix}/gridmap-fusion.js"),
            ("gridmap_events", f"{static_prefix}/gridmap-events.js"),  # the closed loop 闭环 panel, likewise
        ]
        self.default_css = [
            ("leaflet_css", f"{static_prefix}/vendor/leaflet/leaflet.css"),
            ("gridmap_css", f"{static_prefix}/gridmap.css"),
        ]


class _GridmapInit(MacroElement):
    """Emit ``gridmap.init(<map variable>, config)`` into the page script.

    Added to the map after ``FitBounds`` so it runs once the map exists and is
    already fitted to the county; folium only knows the map's JS variable name
    (``map_<hash>``) at render time, hence ``this._parent.get_name()``.
    ``tojson`` escapes ``<``, ``>``, ``&`` and ``'`` so names cannot break out
    of the script block.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            gridmap.init({{ this._parent.get_name() }}, {{ this.config|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self._name = "GridmapInit"
        self.config = config


def _check_bounds(bounds: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    if len(bounds) != 4:
        raise ValueError("bounds must be (minlon, minlat, maxlon, maxlat)")
    minlon, minlat, maxlon, maxlat = (float(v) for v in bounds)
    if not all(math.isfinite(v) for v in (minlon, minlat, maxlon, maxlat)):
        raise ValueError(f"bounds must be finite numbers, got {bounds!r}")
    if not (-180 <= minlon < maxlon <= 180 and -90 <= minlat < maxlat <= 90):
        raise ValueError(
            f"bounds must be (minlon, minlat, maxlon, maxlat) in WGS84 degrees "
            f"with min < max, got {bounds!r}"
        )
    return minlon, minlat, maxlon, maxlat


def _layer_config(layers: list[dict]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for i, layer in enumerate(layers):
        code = str(layer["code"])
        if not code or code in seen:
            raise ValueError(f"grid layer codes must be non-empty and unique, got {code!r}")
        seen.add(code)
        color = layer.get("color") or DEFAULT_COLORS[i % len(DEFAULT_COLORS)]
        if not _HEX_COLOR.match(color):
            raise ValueError(f"layer {code!r}: color must be #rgb or #rrggbb, got {color!r}")
        out.append({"code": code, "name": str(layer.get("name") or code), "color": color})
    return out


def build_map(
    *,
    bounds: tuple[float, float, float, float],
    layers: list[dict],
    static_prefix: str = "/static",
    basemap: dict[str, Any] | None = None,
) -> str:
    """Return the full HTML page of the grid map.

    ``bounds`` is the county's (minlon, minlat, maxlon, maxlat) in WGS84;
    ``layers`` the grid layers in display order, each
    ``{"code": ..., "name": ..., "color": "#hex" or None}`` (the first one is
    shown by default). ``static_prefix`` is where the app serves
    ``api/web/static`` (with Leaflet under ``<prefix>/vendor/leaflet``). ``basemap`` is
    ``tiles.basemap.Basemap.page_config()``: None draws the app's own look (``js/basemap.js``).
    """
    minlon, minlat, maxlon, maxlat = _check_bounds(bounds)
    prefix = static_prefix.rstrip("/")

    m = _GridmapMap(
        static_prefix=prefix,
        location=[(minlat + maxlat) / 2, (minlon + maxlon) / 2],
        zoom_start=11,
        tiles=None,  # no third-party basemap; gridmap.css gives a plain background
        # Canvas draws thousands of grid polygons and point markers far
        # faster than one SVG node each.
        prefer_canvas=True,
    )
    m.get_root().title = "网格地图 Grid map"
    m.add_child(FitBounds([[minlat, minlon], [maxlat, maxlon]]))

    config = {
        "layers": _layer_config(layers),
        "bounds": [minlon, minlat, maxlon, maxlat],
        "pointMinZoom": POINT_MIN_ZOOM,
        "basemap": basemap,
    }
    m.add_child(_GridmapInit(config))
    return m.get_root().render()
