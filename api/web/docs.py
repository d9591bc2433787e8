"""The API docs, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), from the app's own copies.

FastAPI's built-in pages load Swagger UI and ReDoc from cdn.jsdelivr.net and fonts from
fonts.googleapis.com, so on an isolated government network both are blank. These routes render
the same pages with FastAPI's helpers, pointing at the copies npm installs (``api/web/assets.py``,
mounted by ``api/main.py``), and send a Content-Security-Policy that confines the page to this
server: ReDoc's sidebar always shows a logo from cdn.redoc.ly, and the policy stops the browser
from asking for it (ReDoc hides the image when it fails to load).
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse

SWAGGER_UI = "/static/vendor/swagger-ui"  # mount points of the npm packages' directories
REDOC = "/static/vendor/redoc"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"

router = APIRouter(include_in_schema=False)


def _prefix(request: Request) -> str:
    """The path the app is mounted under behind a proxy (``root_path``), as FastAPI's own docs use it."""
    return request.scope.get("root_path", "").rstrip("/")


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI; its Authorize button signs in with the OAuth2 password flow at ``/auth/token``."""
    root = _prefix(request)
    page = get_swagger_ui_html(
        openapi_url=root + (request.app.openapi_url or "/openapi.json"),
        title=f"{request.app.title} — API docs",
        swagger_js_url=f"{root}{SWAGGER_UI}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{SWAGGER_UI}/swagger-ui.css",
        swagger_favicon_url=f"{root}{SWAGGER_UI}/favicon-32x32.png",
        oauth2_redirect_url=root + OAUTH2_REDIRECT,
        # No badge from the online validator (validator.swagger.io): the spec stays on this server.
        # Tags start folded: with every operation open at once (128 since issue 15), Swagger UI 5.35 stops
        # rendering after the eighth, silently (measured in headless Chromium: 123 render, 124 do not).
        swagger_ui_parameters={"validatorUrl": None, "docExpansion": "none"},
    )
    return _confined(page)


@router.get(OAUTH2_REDIRECT)
def swagger_ui_oauth2_redirect() -> HTMLResponse:
    """Where Swagger UI's OAuth2 flows that redirect come back to (the password flow needs none)."""
    return _confined(get_swagger_ui_oauth2_redirect_html())


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    root = _prefix(request)
    page = get_redoc_html(
        openapi_url=root + (request.app.openapi_url or "/openapi.json"),
        title=f"{request.app.title} — API reference",
        redoc_js_url=f"{root}{REDOC}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{SWAGGER_UI}/favicon-32x32.png",
        with_google_fonts=False,
    )
    return _confined(page)


_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)


def _confined(page: HTMLResponse) -> HTMLResponse:
    """Add a Content-Security-Policy that lets the page load and connect only to this server.

    The pages' own inline scripts are allowed by their hashes, not by 'unsafe-inline'. Styles may be
    inline (ReDoc's styled-components write them at run time) and ReDoc's search runs in a worker
    made from a blob.
    """
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(page.body)
    )
    page.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
        "frame-ancestors 'self'; base-uri 'self'; form-action 'self'"
    )
    return page
