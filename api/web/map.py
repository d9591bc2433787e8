"""Build the browser map page with folium.

The page is deliberately an empty shell: a Leaflet map fitted to the county,
the vendor scripts (Leaflet) loaded as classic scripts from the app's own
``/static/vendor`` mounts, one inline ``window.gridmapBoot = {map: map_<hash>,
config}`` and our front end, ``/static/js/main.js``, as an ES module (module
scripts run once the document is parsed, so after the inline script; see
docs/web.md). No GeoJSON is embedded, so the page stays a few kilobytes even for
a district with 100k households; the modules fetch grids, divisions and points
from the JSON API for the current view.

``content_security_policy(page)`` is the header the page is served with: every
script, style, image and request from this server only, inline scripts allowed
by their hashes.

Nothing is loaded from a CDN or a third-party basemap (folium's defaults pull
jQuery, Bootstrap, Font Awesome and OpenStreetMap tiles from the internet;
they are all switched off here).
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from typing import Any

import folium
from branca.element import Element, MacroElement
from folium.map import FitBounds
from folium.template import Template

__all__ = ["build_map", "content_security_policy", "DEFAULT_COLORS", "VENDOR_SCRIPTS", "VENDOR_STYLES"]

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

# Third-party scripts and styles, as paths under ``<static prefix>/vendor/`` (the mounts of
# api/web/assets.py's VENDOR whitelist), in load order. UMD bundles that define globals (``L``)
# are classic scripts, loaded before our modules; a feature that needs a library adds it here.
VENDOR_SCRIPTS: tuple[str, ...] = ("leaflet/leaflet.js",)
VENDOR_STYLES: tuple[str, ...] = ("leaflet/leaflet.css",)


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
        # Classic scripts, in order: folium's own page script uses the global ``L``.
        self.default_js = [(path, f"{static_prefix}/vendor/{path}") for path in VENDOR_SCRIPTS]
        self.default_css = [(path, f"{static_prefix}/vendor/{path}") for path in VENDOR_STYLES]
        self.default_css.append(("gridmap_css", f"{static_prefix}/gridmap.css"))


class _GridmapBoot(MacroElement):
    """Emit ``window.gridmapBoot = {map: <map variable>, config}`` into the page script.

    Added to the map after ``FitBounds`` so it runs once the map exists and is
    already fitted to the county; folium only knows the map's JS variable name
    (``map_<hash>``) at render time, hence ``this._parent.get_name()``.
    ``tojson`` escapes ``<``, ``>``, ``&`` and ``'`` so names cannot break out
    of the script block.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            window.gridmapBoot = { map: {{ this._parent.get_name() }}, config: {{ this.config|tojson }} };
        {% endmacro %}
        """
    )

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self._name = "GridmapBoot"
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
) -> str:
    """Return the full HTML page of the grid map.

    ``bounds`` is the county's (minlon, minlat, maxlon, maxlat) in WGS84;
    ``layers`` the grid layers in display order, each
    ``{"code": ..., "name": ..., "color": "#hex" or None}`` (the first one is
    shown by default). ``static_prefix`` is where the app serves
    ``api/web/static`` (with the npm packages under ``<prefix>/vendor/<name>``).
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
    }
    m.add_child(_GridmapBoot(config))
    # A module script is deferred: it runs after the inline page script has created the map.
    m.get_root().header.add_child(
        Element(f'<script type="module" src="{prefix}/js/main.js"></script>'), name="gridmap_main"
    )
    return m.get_root().render()


_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def content_security_policy(page: str) -> str:
    """The Content-Security-Policy for ``page`` (a ``build_map`` result): this server only.

    folium's inline scripts (the map, ``window.gridmapBoot``) are allowed by their hashes, not by
    'unsafe-inline'; styles may be inline (Leaflet positions everything with style attributes);
    images may be data: and blob: URLs (Leaflet's icons, a basemap's tiles drawn in the browser),
    workers blob: (vector-tile decoders). Nothing may be loaded from, or sent to, another host.
    """
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(page)
    )
    return (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
        "frame-ancestors 'self'; base-uri 'self'; form-action 'self'; object-src 'none'"
    )
