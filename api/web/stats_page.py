"""The leaders' statistics page (``GET /stats``): an HTML shell, like the map's (api/web/map.py).

The page embeds no figures: ``js/stats/main.js`` signs in (js/core/session.js, the map's login form
from js/signin.js) and fetches ``/stats/events/tables`` for the leader's division. Apache ECharts
(npm, ``/static/vendor/echarts/``) is a classic script defining the global ``echarts``, loaded before
the module. There is no inline script, so the page's Content-Security-Policy
(``api.web.map.content_security_policy``) allows scripts from this server only.
"""

from __future__ import annotations

from html import escape

VENDOR_SCRIPTS: tuple[str, ...] = ("echarts/echarts.min.js",)


def build_stats_page(*, static_prefix: str = "/static") -> str:
    """The full HTML of ``/stats``; ``static_prefix`` is where the app serves ``api/web/static``."""
    prefix = escape(static_prefix.rstrip("/"), quote=True)
    vendor = "\n".join(f'<script src="{prefix}/vendor/{path}"></script>' for path in VENDOR_SCRIPTS)
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>事件统计 · 网格化服务管理</title>
<link rel="stylesheet" href="{prefix}/gridmap.css">
<link rel="stylesheet" href="{prefix}/stats.css">
{vendor}
<script type="module" src="{prefix}/js/stats/main.js"></script>
</head>
<body class="gm-stats-body">
<div id="gm-stats" class="gm-stats" aria-live="polite"></div>
</body>
</html>
"""
