"""The folium map page (local assets only, no embedded data) and static checks of its ES modules. No database."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from api.web.assets import STATIC_DIR, VENDOR, leaflet_dist, vendor_dirs
from api.web.map import VENDOR_SCRIPTS, build_map, content_security_policy

JS_DIR = STATIC_DIR / "js"

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
        self.modules: list[str] = []  # src of <script type="module">
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.refs.append((tag, name, value))
        if tag == "script" and ("type", "module") in attrs:
            self.modules.append(dict(attrs)["src"])
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
    match = re.search(r"window\.gridmapBoot = \{ map: (map_[0-9a-f]+), config: (\{.*?\}) \};", page)
    assert match, "page must set window.gridmapBoot = {map: map_<hash>, config}"
    assert f"var {match.group(1)} = L.map(" in page, "the boot object must hold folium's map variable"
    return json.loads(match.group(2))


def test_loads_local_leaflet_and_gridmap(refs):
    scripts = [v for tag, attr, v in refs.refs if tag == "script" and attr == "src"]
    styles = [v for tag, attr, v in refs.refs if tag == "link" and attr == "href"]
    # Leaflet is a classic script (our modules use the global L); main.js is the one module, deferred
    # by the browser until the inline script has made the map and set window.gridmapBoot.
    assert sorted(scripts) == sorted(["/static/js/main.js"] + [f"/static/vendor/{p}" for p in VENDOR_SCRIPTS])
    vendor = [src for src in scripts if src.startswith("/static/vendor/")]
    assert vendor[0] == "/static/vendor/leaflet/leaflet.js"  # the other vendor scripts extend L
    assert refs.modules == ["/static/js/main.js"]
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
    assert "./static/js/main.js" in parser.modules


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
    assert (STATIC_DIR / "gridmap.css").is_file()
    for module in ("main.js", "features.js", "signin.js", "layers.js", "popups.js", "fusion.js", "reports.js",
                   "editor/index.js", "core/dom.js", "core/http.js", "core/session.js", "core/messages.js",
                   "core/events.js"):
        assert (JS_DIR / module).is_file(), module
    # the one-closure files are gone
    assert not list(STATIC_DIR.glob("gridmap*.js"))


def _modules() -> dict[str, str]:
    return {str(p.relative_to(JS_DIR)): p.read_text(encoding="utf-8") for p in sorted(JS_DIR.rglob("*.js"))}


def test_every_module_is_small_and_says_what_it_is_for():
    for name, source in _modules().items():
        assert source.startswith(f"/*\n * {name}: "), f"{name} must open with a header comment naming itself"
        assert source.count("\n") <= 420, f"{name} has {source.count(chr(10))} lines"


def test_every_module_a_feature_list_names_is_installed_and_imports_resolve():
    modules = _modules()
    features = re.findall(r"import \* as (\w+) from '\./([\w/.-]+)';", modules["features.js"])
    names = [name for name, _ in features]
    assert names == ["crs", "basemap", "signin", "layers", "live", "popups", "editor", "history", "undo", "draw",
                     "fusion", "reports", "work", "labels", "search", "visits", "command"]
    for _, path in features:
        assert "export function install(ctx)" in modules[path], path
    for name, source in modules.items():
        for target in re.findall(r"from '(\.[^']+)'", source):
            resolved = (JS_DIR / name).parent.joinpath(target).resolve()
            assert resolved.is_file(), f"{name} imports {target}, which is not there"
            assert resolved.is_relative_to(JS_DIR)


def test_vendor_whitelist_mounts_each_package_directory():
    dirs = vendor_dirs()
    assert set(dirs) == set(VENDOR) >= {"leaflet", "geoman", "swagger-ui", "redoc"}
    assert (dirs["geoman"] / "leaflet-geoman.min.js").is_file() and (dirs["geoman"] / "leaflet-geoman.css").is_file()
    assert all(path.is_dir() and path.is_relative_to(STATIC_DIR.parent / "node_modules") for path in dirs.values())


def test_map_page_policy_allows_its_own_inline_scripts_only(page):
    import base64
    import hashlib

    policy = dict(d.strip().split(" ", 1) for d in content_security_policy(page).split(";"))
    assert policy["default-src"] == "'self'" and policy["connect-src"] == "'self'"
    assert "unsafe-inline" not in policy["script-src"] and "unsafe-eval" not in policy["script-src"]
    assert policy["img-src"] == "'self' data: blob:" and policy["worker-src"] == "'self' blob:"
    inline = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert any("window.gridmapBoot" in script for script in inline)
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy["script-src"]


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


# ---------------------------------------------------------------- the ES modules
#
# The data endpoints want a bearer token; the page stays a public shell and
# the modules do the signing in. These are static checks of their source (the
# behaviour is exercised in a browser against the API: tests/browser/).


def _strip_js_comments(source: str) -> str:
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    source = re.sub(r"^\s*//.*$", "", source, flags=re.M)
    return re.sub(r"\s//\s.*$", "", source, flags=re.M)


@pytest.fixture(scope="module")
def js() -> str:
    """Every module of the front end, comments stripped, one after the other."""
    return "\n".join(_strip_js_comments(source) for source in _modules().values())


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
    # fetch() itself only in the bearer transport and the /auth POST helper, both in core/http.js; in the
    # live stream's reader (live.js: open), which must read the body as it arrives; and in the public
    # report pages' own transport (citizen/common.js: call), which never sends a token
    assert {_function_around(js, pos) for pos in raw} == {"sendWithToken", "postAuth", "open", "call"}
    for name, source in _modules().items():
        if name not in ("core/http.js", "citizen/common.js", "live.js"):
            assert not re.search(r"(?<![\w.])fetch\(", _strip_js_comments(source)), name
    assert "ctx.api(`/grids/${encodeURIComponent(id)}`" in js
    assert "await ctx.api(url, { signal: mine.signal })" in js


def test_js_handles_401_with_one_shared_refresh(js):
    body = js[js.index("async function apiFetch(") :]
    body = body[: body.index("\n  };\n")]
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
    assert "update(auth.user());" in js  # on install and on every auth event
    assert "function update(user) {" in js
    # follows sign-in, /auth/me updates and sign-out: leaves edit mode whenever the session changes
    assert "if (event === 'signin' || event === 'signout' || event === 'expired') leave();" in js
    # a grid click goes to the editor first, and only in edit mode
    assert "if (ctx.editor && ctx.editor.onGridClick(feature, layer, e)) return;" in js
    assert re.search(r"function onGridClick\(feature, layer, e\) \{\s*if \(!state\.active\) return false;", js)


def test_js_edit_labels_are_bilingual(js):
    for label in ("编辑 Edit", "重命名 Rename", "画线拆分 Split along a line", "均衡拆分 Balanced split",
                  "合并 Merge with…", "撤销网格 Retire", "检查 Check", "原因 Reason", "应用 Apply", "取消 Cancel"):
        assert label in js


def test_js_writes_send_if_match_with_a_fresh_etag(js):
    # every grid is fetched again (uncached) for its ETag before the edit is checked
    assert "ctx.api(`/grids/${encodeURIComponent(id)}`, { withEtag: true })" in js
    assert "etags.join(', ')" in js and "resp.headers.get('ETag')" in js
    assert "cache: request ? 'no-store' : 'default'" in js
    # every form's edit goes through confirmEdit: the dry run first, the real request with the reason after
    forms = (JS_DIR / "editor" / "forms.js").read_text(encoding="utf-8")
    for needle in ("/split`", "/partition`", "'/grids/merge'", "/retire`", "url: `/grids/${grid.id}`"):
        assert needle in forms, needle
    confirm = (JS_DIR / "editor" / "confirm.js").read_text(encoding="utf-8")
    assert "ctx.api(withDryRun(opts.url), { method: opts.method, headers: headers(), json: opts.body })" in confirm
    assert "json: Object.assign({}, opts.body, { reason })" in confirm


def test_js_edit_errors(js):
    assert "err.status === 412" in js
    assert "err.status === 409" in js
    assert "problem.conflicts" in js and "problem.outside" in js
    # the problem+json body travels with the error
    assert "this.problem = problem" in js
    assert "throw await problemError(resp);" in js


def test_js_leaving_edit_mode_clears_everything(js):
    body = js[js.index("function leave() {") :]
    body = body[: body.index("\n  }\n")]
    for needle in ("state.active = false;", "select(null);", "conflicts.clearLayers();", "render();"):
        assert needle in body


def test_js_edit_ui_uses_no_html_strings(js):
    assert "innerHTML" not in js
    # suggestion labels are elements, never HTML strings
    assert "bindTooltip(el('span', null, suggestionLabel(feature))" in js
    assert "bindTooltip(el('span', null, label)" in js  # the preview's m² labels too
    assert not re.search(r"bindTooltip\(\s*[`'\"]", js)


def test_css_styles_edit_ui(css):
    for selector in (".gm-edit-toggle", ".gm-edit-panel", ".gm-edit-button", ".gm-edit-conflict"):
        assert selector in css


@pytest.fixture(scope="module")
def fusion_js() -> str:
    return (JS_DIR / "fusion.js").read_text(encoding="utf-8")


@pytest.mark.parametrize("script", ["fusion.js", "reports.js", "reports-view.js", "reports-model.js",
                                    "command/index.js", "command/breakglass.js", "command/layer.js"])
def test_features_use_the_shared_transport_and_text_only(script: str) -> None:
    js = (JS_DIR / script).read_text(encoding="utf-8")
    assert not re.search(r"(?<![\w.])fetch\(", js)  # every request through ctx.api (bearer, refresh)
    for needle in ("innerHTML", "insertAdjacentHTML", "document.write", "console.", "gridmap.plugins"):
        assert needle not in js


def test_fusion_js_overlay_panel_apply_and_exports(fusion_js):
    assert "addOverlay(overlay" in fusion_js  # the problems are a layer of their own
    for kind in ("overlap", "gap", "sliver", "outside_parent", "misalignment"):
        assert f"{kind}: {{ label:" in fusion_js  # one colour per kind
    assert "/fusion/suggestions/${encodeURIComponent(fix.id)}/apply" in fusion_js
    assert "etags: (fix.affected || []).map((a) => a.etag)" in fusion_js and "auth.can('grids:edit')" in fusion_js
    assert "confirmEdit(ctx, {" in fusion_js  # checked first, then the reason; 'grids-changed' after it
    assert "download('geojson'" in fusion_js and "download('csv'" in fusion_js
    assert "err.status === 412" in fusion_js


def test_css_styles_fusion_panel(css):
    for selector in (".gm-fusion ", ".gm-fusion-list", ".gm-fusion-apply"):
        assert selector in css


@pytest.fixture(scope="module")
def events_js() -> str:
    return "\n".join((JS_DIR / name).read_text(encoding="utf-8")
                     for name in ("reports.js", "reports-view.js", "reports-model.js"))


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


def test_messages_look_like_what_they_are_and_never_pile_up(js, css):
    for kind in ("success", "warning", "error"):
        assert f".gm-msg-{kind}" in css
    assert "const node = el('div', `gm-message gm-msg-${kind}`);" in js
    # one message per owner: a new one takes the previous one's place
    assert "clear(key);" in js and "shown.set(key, entry);" in js
    # the old API that put every message in the one red box is gone
    assert "messages.show(" not in js and "clearOwner" not in js
    # an applied edit is a success message (confirmEdit), with the forms' summary of what moved
    assert "ctx.messages.success(`${opts.title ? `${opts.title}：` : ''}${text}`, OWNER);" in js
    assert "successText: (result) => editSummary(" in js


def test_the_division_popup_asks_the_server(js):
    # no hand-written point-in-polygon: GET /locate says which divisions cover the click
    for gone in ("ringContains", "polygonContains", "featureAt", "geometryContains"):
        assert gone not in js
    assert "ctx.api(`/locate?${params.toString()}`" in js


def test_context_follows_docs_web_md(js):
    for member in ("map,", "config:", "auth,", "api: createApiFetch(auth)", "messages: createMessages(map)",
                   "notes: createNotes(map)", "panels: createPanels(map)", "on: emitter.on", "emit: emitter.emit"):
        assert member in js
    assert "ctx.layersControl = control;" in js and "ctx.grids = " in js and "ctx.divisions = " in js
    assert "window.gridmapCtx = boot(start.map, start.config);" in js  # for the browser tests


def test_css_styles_the_panel_dock(css):
    for selector in (".gm-dock", ".gm-panel ", ".gm-panel-title"):
        assert selector in css
