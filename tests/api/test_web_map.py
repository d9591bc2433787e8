"""The folium map page: local assets only, no embedded data. Needs no database."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from api.web.assets import STATIC_DIR, leaflet_dist
from api.web.map import build_map

HUAXI_BOUNDS = (106.5, 26.2, 106.8, 26.6)
LAYERS = [
    {"code": "comprehensive", "name": "综合网格", "color": "#d7301f"},
    {"code": "police", "name": "警务网格", "color": None},
    {"code": "emergency", "name": "应急网格", "color": "#2b8cbe"},
]


class _Refs(HTMLParser):
    """Collect every src/href attribute value and the inline script text."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []  # (tag, attr, value)
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.refs.append((tag, name, value))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


@pytest.fixture(scope="module")
def page() -> str:
    return build_map(bounds=HUAXI_BOUNDS, layers=LAYERS)


@pytest.fixture(scope="module")
def refs(page) -> _Refs:
    parser = _Refs()
    parser.feed(page)
    return parser


def _init_config(page: str) -> dict:
    match = re.search(r"gridmap\.init\((map_[0-9a-f]+), (\{.*?\})\);", page)
    assert match, "page must call gridmap.init(map_<hash>, config)"
    assert f"var {match.group(1)} = L.map(" in page, "init must get folium's map variable"
    return json.loads(match.group(2))


def test_loads_local_leaflet_and_gridmap(refs):
    scripts = [v for tag, attr, v in refs.refs if tag == "script" and attr == "src"]
    styles = [v for tag, attr, v in refs.refs if tag == "link" and attr == "href"]
    assert scripts == ["/static/vendor/leaflet/leaflet.js", "/static/gridmap.js"]
    assert styles == ["/static/vendor/leaflet/leaflet.css", "/static/gridmap.css"]


def test_no_remote_urls(page, refs):
    remote = [v for _, _, v in refs.refs if re.match(r"\s*(https?:)?//", v, re.I)]
    assert remote == []
    # folium's defaults (CDN leaflet, jQuery, bootstrap, font-awesome, OSM tiles) are gone
    lowered = page.lower()
    for needle in ("cdn", "jquery", "bootstrap", "font-awesome", "openstreetmap", "tilelayer"):
        assert needle not in lowered


def test_static_prefix_is_used():
    parser = _Refs()
    parser.feed(build_map(bounds=HUAXI_BOUNDS, layers=LAYERS, static_prefix="./static/"))
    values = [v for _, _, v in parser.refs]
    assert "./static/vendor/leaflet/leaflet.js" in values
    assert "./static/gridmap.css" in values


def test_init_config_has_layers_in_order(page):
    config = _init_config(page)
    assert [layer["code"] for layer in config["layers"]] == [
        "comprehensive",
        "police",
        "emergency",
    ]
    assert config["layers"][0]["name"] == "综合网格"
    # a missing colour gets a default, so legend and map always agree
    assert all(re.fullmatch(r"#[0-9a-fA-F]{6}", layer["color"]) for layer in config["layers"])
    assert config["bounds"] == list(HUAXI_BOUNDS)
    assert config["pointMinZoom"] == 14


def test_fits_to_county_bounds(page):
    assert re.search(r"\.fitBounds\(\s*\[\[26\.2, 106\.5\], \[26\.6, 106\.8\]\]", page)


def test_embeds_no_data(page, refs):
    inline = "".join(refs.scripts)
    for needle in ("FeatureCollection", '"coordinates"', "L.geoJson", "L.geoJSON", "geo_json_"):
        assert needle not in inline
    # The shell stays tiny whatever the county holds.
    assert len(page.encode()) < 8_000


def test_layer_names_cannot_break_out_of_script():
    evil = [{"code": "x", "name": "</script><script>alert(1)</script>", "color": None}]
    html = build_map(bounds=HUAXI_BOUNDS, layers=evil)
    assert "</script><script>alert(1)" not in html


@pytest.mark.parametrize(
    "bounds",
    [(106.8, 26.2, 106.5, 26.6), (106.5, 26.6, 106.8, 26.2), (106.5, 26.2, 200.0, 26.6)],
)
def test_rejects_bad_bounds(bounds):
    with pytest.raises(ValueError):
        build_map(bounds=bounds, layers=LAYERS)


def test_rejects_bad_colour():
    with pytest.raises(ValueError):
        build_map(bounds=HUAXI_BOUNDS, layers=[{"code": "a", "name": "A", "color": "red;x"}])


def test_static_files_exist():
    assert (STATIC_DIR / "gridmap.js").is_file()
    assert (STATIC_DIR / "gridmap.css").is_file()


def test_leaflet_dist_installed():
    dist = leaflet_dist()
    assert dist.is_dir()
    assert (dist / "leaflet.js").is_file()
    assert (dist / "leaflet.css").is_file()
    assert (dist / "images" / "layers.png").is_file()


def test_leaflet_dist_missing_says_how_to_fix(monkeypatch, tmp_path):
    import api.web.assets as assets

    monkeypatch.setattr(assets, "NODE_MODULES", tmp_path / "node_modules")
    with pytest.raises(FileNotFoundError, match=r"npm ci --prefix api/web"):
        assets.leaflet_dist()
