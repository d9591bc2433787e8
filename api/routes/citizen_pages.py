"""The citizen's pages: ``GET /report`` (make a report, no account) and ``GET /report/track`` (follow it).

Each is a small HTML shell, like the map page (api/web/map.py): Leaflet and gcoord from the app's own
``/static/vendor`` mounts (the api/web/assets.py whitelist), our ES modules under
``/static/js/citizen/``, a Content-Security-Policy of this server only. The page config (the county's
bounds, the basemap if one is configured) rides in a ``data-config`` attribute rather than an inline
script, so the policy needs no script hash at all. Designed for a 390×844 phone first.
"""

from __future__ import annotations

import html
import json

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.deps import SessionDep
from api.web.map import content_security_policy
from geo.errors import NotFound
from geo.grids.store import county_extent

router = APIRouter(tags=["citizen"])
_VENDOR_SCRIPTS = ("leaflet/leaflet.js", "gcoord/gcoord.global.prod.js")  # classic scripts, globals L and gcoord
_VENDOR_STYLES = ("leaflet/leaflet.css",)

_REPORT_BODY = """
<header class="cz-head"><h1>我要报事</h1><a href="/report/track">查进度</a></header>
<main class="cz-main">
  <section class="cz-step" aria-labelledby="cz-where-h">
    <h2 id="cz-where-h">1. 在哪里？</h2>
    <p class="cz-hint">在地图上点一下，或用定位、输入地址。</p>
    <div id="cz-map" class="cz-map" role="application" aria-label="选择地点的地图"></div>
    <div class="cz-row">
      <button type="button" id="cz-gps">📍 用我的位置</button>
      <label class="cz-small"><input type="checkbox" id="cz-gcj"> 定位偏了几百米？按国测局坐标（GCJ-02）读</label>
    </div>
    <div class="cz-row">
      <input id="cz-address" type="text" maxlength="200" placeholder="地址，例如：花岭社区1组门口" autocomplete="off">
      <button type="button" id="cz-address-go">查找</button>
    </div>
    <p id="cz-place" class="cz-place" aria-live="polite">还没有选择地点</p>
  </section>
  <section class="cz-step" aria-labelledby="cz-what-h">
    <h2 id="cz-what-h">2. 什么事？</h2>
    <select id="cz-category" required><option value="">请选择类别…</option></select>
    <textarea id="cz-description" maxlength="2000" rows="4" placeholder="说说发生了什么（不要写身份证号、电话）"></textarea>
    <label class="cz-file">📷 添加照片（最多4张）<input id="cz-photos" type="file" accept="image/jpeg,image/png,image/webp" multiple></label>
    <div id="cz-thumbs" class="cz-thumbs"></div>
    <div id="cz-exif" class="cz-offer" hidden></div>
    <input id="cz-phone" type="tel" maxlength="20" placeholder="联系电话（选填，只给处理人员回访用）">
  </section>
  <section id="cz-nearby" class="cz-step" hidden aria-live="polite"></section>
  <p id="cz-error" class="cz-error" role="alert" hidden></p>
  <button type="button" id="cz-submit" class="cz-submit">提交</button>
  <section id="cz-done" class="cz-done" hidden aria-live="polite"></section>
</main>
"""

_TRACK_BODY = """
<header class="cz-head"><h1>查进度</h1><a href="/report">我要报事</a></header>
<main class="cz-main">
  <form id="cz-track-form" class="cz-row">
    <input id="cz-token" type="text" maxlength="64" placeholder="输入查询码" autocomplete="off" spellcheck="false">
    <button type="submit">查询</button>
  </form>
  <p id="cz-error" class="cz-error" role="alert" hidden></p>
  <section id="cz-status" class="cz-status" hidden aria-live="polite"></section>
</main>
"""


def _page(title: str, body: str, module: str, config: dict[str, object]) -> str:
    styles = "".join(f'<link rel="stylesheet" href="/static/vendor/{p}">' for p in _VENDOR_STYLES)
    scripts = "".join(f'<script src="/static/vendor/{p}"></script>' for p in _VENDOR_SCRIPTS)
    data = html.escape(json.dumps(config, ensure_ascii=False), quote=True)
    return (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">'
            f'<title>{title}</title>{styles}<link rel="stylesheet" href="/static/citizen.css">{scripts}'
            f'<script type="module" src="/static/js/citizen/{module}"></script></head>'
            f'<body class="cz" data-config="{data}">{body}</body></html>')


def _config(request: Request, session: SessionDep) -> dict[str, object]:
    bounds = county_extent(session)
    if bounds is None:
        raise NotFound("no district is loaded yet; run `gridmap demo` or import one")
    return {"bounds": list(bounds), "basemap": request.app.state.basemap.page_config()}


def _respond(request: Request, page: str) -> HTMLResponse:
    return HTMLResponse(page, headers={"Content-Security-Policy": content_security_policy(
        page, image_origins=request.app.state.basemap.image_origins()), "Cache-Control": "no-cache"})


@router.get("/report", response_class=HTMLResponse, summary="The citizen's report page", include_in_schema=False)
def report_page(request: Request, session: SessionDep) -> HTMLResponse:
    return _respond(request, _page("我要报事", _REPORT_BODY, "report.js", _config(request, session)))


@router.get("/report/track", response_class=HTMLResponse, summary="Follow a report by its tracking number",
            include_in_schema=False)
def track_page(request: Request) -> HTMLResponse:
    return _respond(request, _page("查进度", _TRACK_BODY, "track.js", {}))
