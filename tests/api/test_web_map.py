"""The folium map page: local assets only, no embedded data. Needs no database."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from api.web.assets import STATIC_DIR, geoman_dist, leaflet_dist
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
    assert scripts == ["/static/vendor/leaflet/leaflet.js", "/static/vendor/geoman/leaflet-geoman.min.js",
                       "/static/gridmap.js", "/static/gridmap-fusion.js",
                       "/static/gridmap-events.js"]
    assert styles == ["/static/vendor/leaflet/leaflet.css", "/static/vendor/geoman/leaflet-geoman.css",
                      "/static/gridmap.css"]


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


def test_geoman_dist_installed():
    dist = geoman_dist()
    assert (dist / "leaflet-geoman.min.js").is_file()
    assert (dist / "leaflet-geoman.css").is_file()


def test_leaflet_dist_missing_says_how_to_fix(monkeypatch, tmp_path):
    import api.web.assets as assets

    monkeypatch.setattr(assets, "NODE_MODULES", tmp_path / "node_modules")
    with pytest.raises(FileNotFoundError, match=r"npm ci --prefix api/web"):
        assets.leaflet_dist()


# ---------------------------------------------------------------- gridmap.js
#
# The data endpoints want a bearer token; the page stays a public shell and
# gridmap.js does the signing in. These are static checks of its source (the
# behaviour is exercised in a browser against the API).


def _strip_js_comments(source: str) -> str:
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    source = re.sub(r"^\s*//.*$", "", source, flags=re.M)
    return re.sub(r"\s//\s.*$", "", source, flags=re.M)


@pytest.fixture(scope="module")
def js() -> str:
    return _strip_js_comments((STATIC_DIR / "gridmap.js").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def css() -> str:
    return (STATIC_DIR / "gridmap.css").read_text(encoding="utf-8")


def _function_around(source: str, pos: int) -> str:
    names = re.findall(r"(?:function\s+(\w+)\s*\(|^\s*(?:async\s+)?(\w+)\s*\([^)]*\)\s*\{)", source[:pos], re.M)
    assert names, f"no enclosing function before offset {pos}"
    return next(name for name in reversed([a or b for a, b in names]) if name not in ("if", "for", "while"))


def test_js_uses_the_auth_endpoints(js):
    assert "'/auth/token'" in js
    assert "'/auth/refresh'" in js
    assert "'/auth/me'" in js
    # OAuth2 password grant, form-encoded; refresh with a JSON body
    assert "grant_type" in js and "'password'" in js
    assert "application/x-www-form-urlencoded" in js
    assert "URLSearchParams" in js
    assert "refresh_token: refreshToken" in js


def test_js_keeps_tokens_in_session_storage_only(js):
    assert "sessionStorage" in js
    assert "'gridmap.session'" in js
    assert "localStorage" not in js
    assert "document.cookie" not in js
    # never logged, never put in a URL
    assert not re.search(r"\bconsole\.", js)
    assert not re.search(r"[?&](access_|refresh_)?token=", js)
    # a corrupt stored session must not break the page
    assert re.search(r"try\s*\{\s*value = JSON\.parse\(raw\)", js)


def test_js_sends_bearer_header(js):
    assert re.search(r"Authorization:\s*`Bearer \$\{token\}`", js)


def test_every_data_request_goes_through_api_fetch(js):
    assert "async function apiFetch(url, options)" in js
    assert "fetchJson" not in js
    raw = [m.start() for m in re.finditer(r"(?<![\w.])fetch\(", js)]
    assert raw, "expected the transport's own fetch() calls"
    # fetch() itself only in the bearer transport and the /auth POST helper
    assert {_function_around(js, pos) for pos in raw} == {"sendWithToken", "postAuth"}
    assert "apiFetch(`/grids/${encodeURIComponent(id)}`" in js
    assert "await apiFetch(url, { signal: mine.signal })" in js


def test_js_handles_401_with_one_shared_refresh(js):
    body = js[js.index("async function apiFetch(") :]
    body = body[: body.index("\n  }\n")]
    assert body.count("resp.status === 401") == 2  # first answer, and the one retry
    assert body.count("sendWithToken(") == 2  # never a third attempt
    assert "auth.renew(token)" in body
    # single flight: concurrent 401s share the pending refresh promise
    assert "if (!this.refreshing)" in js
    assert "return this.refreshing;" in js


def test_js_treats_403_as_not_permitted(js):
    assert "resp.status === 403" in js
    assert "not permitted for your role" in js
    # the loader remembers it instead of asking again on every pan
    assert "forbidden = true;" in js
    assert re.search(r"if \(forbidden\) \{", js)


def test_js_login_panel_and_user_badge(js):
    for label in ("登录 Sign in", "用户名 Username", "密码 Password", "退出 Sign out"):
        assert label in js
    assert "'current-password'" in js
    assert "button.disabled = true;" in js
    assert "event.preventDefault();" in js
    assert "form.method = 'post';" in js  # a stray submit must not put the password in a URL


def test_js_inserts_server_strings_as_text(js):
    assert "innerHTML" not in js
    assert "insertAdjacentHTML" not in js
    assert "document.write" not in js
    # the one HTML string (layers control labels) escapes the name
    assert "${escapeHtml(text)}" in js


def test_css_styles_login_and_badge(css):
    for selector in (".gm-login-backdrop", ".gm-login ", ".gm-login-submit:disabled", ".gm-user"):
        assert selector in css


def test_page_shell_carries_no_credentials(page):
    lowered = page.lower()
    for needle in ("authorization", "bearer", "access_token", "refresh_token", "password"):
        assert needle not in lowered


def _js_int_constant(js: str, name: str) -> int:
    match = re.search(rf"\bconst {name} = (\d+);", js)
    assert match, f"gridmap.js must define `const {name} = <int>;`"
    return int(match.group(1))


@pytest.mark.parametrize("name", ["POINT_LIMIT", "GRID_PAGE_LIMIT", "DIVISION_PAGE_LIMIT"])
def test_js_page_limits_fit_the_server_page_max(js, name):
    from geo.settings import ServerSettings

    # A larger limit would be refused (or cut short) by the list endpoints.
    limit = _js_int_constant(js, name)
    assert 1 <= limit <= ServerSettings().page_max


# ------------------------------------------------------------ grid editing


def test_js_editing_only_for_grids_edit(js):
    assert "const EDIT_PERMISSION = 'grids:edit';" in js
    assert "user.permissions.includes(EDIT_PERMISSION)" in js
    # the toggle stays hidden unless the user may edit; enter() refuses otherwise
    assert "toggleBox.style.display = state.enabled ? '' : 'none';" in js
    assert re.search(r"function enter\(\) \{\s*if \(!state\.enabled\) return;", js)
    assert "state.enabled = canEdit(user);" in js
    # follows sign-in, /auth/me updates and sign-out
    assert js.count("ui.editor.update(auth.user());") >= 3
    assert "ui.editor.update(null);" in js
    # a grid click goes to the editor first, and only in edit mode
    assert "if (ui.editor && ui.editor.onGridClick(feature, layer, e)) return;" in js
    assert re.search(r"function onGridClick\(feature, layer, e\) \{\s*if \(!state\.active\) return false;", js)


def test_js_edit_labels_are_bilingual(js):
    for label in ("编辑 Edit", "重命名 Rename", "画线拆分 Split along a line", "均衡拆分 Balanced split",
                  "合并 Merge with…", "撤销网格 Retire", "完成 Finish", "应用 Apply", "取消 Cancel"):
        assert label in js


def test_js_writes_send_if_match_with_a_fresh_etag(js):
    body = js[js.index("async function runWrite(") :]
    body = body[: body.index("\n    }\n")]
    # every grid is fetched again (uncached) for its ETag before the write
    assert "apiFetch(`/grids/${encodeURIComponent(id)}`, { withEtag: true })" in body
    assert "tags.join(', ')" in body
    assert "resp.headers.get('ETag')" in js
    assert "cache: request ? 'no-store' : 'default'" in js
    writes = re.findall(r"apiFetch\(([^;]*?)\{\s*method: '(POST|PATCH)', headers: \{ 'If-Match': ifMatch \}", js)
    urls = sorted(url for url, _ in writes)
    assert len(writes) == 5, urls
    for needle in ("/split`", "/partition`", "'/grids/merge'", "/retire`", "encodeURIComponent(sel.id)}`"):
        assert any(needle in url for url in urls), needle
    # every write goes through runWrite
    assert js.count("runWrite('") == 5


def test_js_edit_errors(js):
    assert "err.status === 412" in js
    assert "err.status === 409" in js
    assert "problem.conflicts" in js and "problem.outside" in js
    # the problem+json body travels with the error
    assert "this.problem = problem" in js
    assert "throw await problemError(resp);" in js


def test_js_leaving_edit_mode_clears_everything(js):
    body = js[js.index("function leave() {") :]
    body = body[: body.index("\n    }\n")]
    for needle in ("state.active = false;", "select(null);", "conflicts.clearLayers();", "render();"):
        assert needle in body
    # signing out (or in as someone else) drops the editor state too
    assert re.search(r"function clearData\(\) \{\s*ui\.editor\.leave\(\);", js)


def test_js_edit_ui_uses_no_html_strings(js):
    assert "innerHTML" not in js
    # suggestion labels are elements, never HTML strings
    assert "bindTooltip(el('span', null, suggestionLabel(feature))" in js
    assert not re.search(r"bindTooltip\(\s*[`'\"]", js)


def test_css_styles_edit_ui(css):
    for selector in (".gm-edit-toggle", ".gm-edit-panel", ".gm-edit-button", ".gm-edit-conflict"):
        assert selector in css


@pytest.fixture(scope="module")
def fusion_js() -> str:
    return (STATIC_DIR / "gridmap-fusion.js").read_text(encoding="utf-8")


@pytest.mark.parametrize("script, factory", [("gridmap-fusion.js", "createFusion"),
                                             ("gridmap-events.js", "createEvents")])
def test_plugins_use_the_shared_transport_and_text_only(script: str, factory: str) -> None:
    js = (STATIC_DIR / script).read_text(encoding="utf-8")
    assert f"gridmap.plugins.push({factory})" in js
    assert not re.search(r"(?<![\w.])fetch\(", js)  # every request through apiFetch (bearer, refresh)
    for needle in ("innerHTML", "insertAdjacentHTML", "document.write", "console."):
        assert needle not in js


def test_fusion_js_overlay_panel_apply_and_exports(fusion_js):
    assert "addOverlay(overlay" in fusion_js  # the problems are a layer of their own
    for kind in ("overlap", "gap", "sliver", "outside_parent", "misalignment"):
        assert f"{kind}: {{ label:" in fusion_js  # one colour per kind
    assert "/fusion/suggestions/${encodeURIComponent(fix.id)}/apply" in fusion_js
    assert "'If-Match': etags" in fusion_js and "ctx.canEdit(auth.user())" in fusion_js
    assert "download('geojson'" in fusion_js and "download('csv'" in fusion_js
    assert "err.status === 412" in fusion_js


def test_css_styles_fusion_panel(css):
    for selector in (".gm-fusion ", ".gm-fusion-list", ".gm-fusion-apply"):
        assert selector in css


@pytest.fixture(scope="module")
def events_js() -> str:
    return (STATIC_DIR / "gridmap-events.js").read_text(encoding="utf-8")


def test_events_js_lists_details_and_every_action(events_js):
    assert "'events:read'" in events_js  # no panel for roles that may not read reports
    assert "/events/overdue?limit=" in events_js and "/events?${params.toString()}" in events_js
    assert "/events/${encodeURIComponent(id)}/history" in events_js
    assert "/events/${encodeURIComponent(id)}/duplicates" in events_js and "'/departments'" in events_js
    assert "/events/${encodeURIComponent(id)}/${name}" in events_js
    for action in ("accept", "reject", "duplicate", "start", "feedback"):
        assert re.search(rf"{action}: \{{ label: '[^']+', permission: 'events:handle'", events_js)
    for action in ("assign", "escalate", "close", "reopen"):
        assert re.search(rf"{action}: \{{ label: '[^']+', permission: 'events:assign'", events_js)
    assert "err.status === 409" in events_js and "problem.detail" in events_js


def test_css_styles_events_panel(css):
    for selector in (".gm-events ", ".gm-events-list", ".gm-events-steps", ".gm-events-error"):
        assert selector in css
