"""``GET /exports/{what}?format=…``: a layer, divisions, households, cameras, events, residents or the
fusion problems as a file (GeoPackage, Shapefile .zip, KML, GeoJSON, CSV, XLSX), inside the caller's
territory.

One route per kind, so each declares the permission that reads that kind (residents: ``pii:export``,
and a purpose); importers.export.run checks it again. The file is spooled to a temporary directory
while the request's transaction is open; the transaction (with the export's audit row) commits
before the first byte is sent, and the directory is removed once the file has been sent. Exports
are heavy requests (api/heavy.py) and never cached by anyone (``no-store``): they are whole
territories, residents' personal data among them.
"""

# No ``from __future__ import annotations``: each handler's permission is a local annotation FastAPI must see.
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from api import heavy
from api.caching import NoStore
from api.deps import IsoDateTime, SessionDep, check_window
from api.security import Principal, requires
from importers.export.datasets import Filters
from importers.export.run import COORDS, ENCODINGS, FORMATS, PERMISSION, WHATS, ExportRequest, run_export

router = APIRouter(prefix="/exports", tags=["exports"], dependencies=[NoStore])

Format = Annotated[str, Query(max_length=16, description=f"One of {', '.join(FORMATS)} (shp: a .zip).")]
Layer = Annotated[str | None, Query(max_length=32, description="grids: one layer, e.g. comprehensive.")]
Division = Annotated[str | None, Query(pattern=r"^\d{12}$", description="Only what lies under this division.")]
Grid = Annotated[str | None, Query(pattern=r"^\d{17}$", description="Only what lies inside this grid.")]
Status = Annotated[str | None, Query(max_length=32, description="cameras, events: this status.")]
Category = Annotated[str | None, Query(max_length=64, description="events: this category and those under it.")]
Level = Annotated[str | None, Query(max_length=16, description="divisions: county, township or village.")]
Layers = Annotated[str | None, Query(pattern=r"^[a-z0-9_]{1,32}(,[a-z0-9_]{1,32}){0,9}$",
                                     description="fusion: the layers compared (default comprehensive,party,emergency).")]
Encoding = Annotated[str, Query(max_length=16, description=f"shp: {' or '.join(ENCODINGS)} (GBK for older tools).")]
Coords = Annotated[str, Query(max_length=16, description=f"csv, xlsx: {' or '.join(COORDS)} columns.")]
Purpose = Annotated[str | None, Query(max_length=200, description="residents: why the data is exported (audited).")]


def content_disposition(filename: str, fallback: str) -> str:
    """``attachment`` with the Chinese name as RFC 5987 ``filename*`` and an ASCII ``filename`` for old clients."""
    return f'attachment; filename="{fallback}"; filename*=UTF-8\'\'{quote(filename, safe="")}'


def _handler(what: str) -> Callable[..., FileResponse]:
    Caller = Annotated[Principal, requires(PERMISSION[what])]

    def export(
        request: Request, session: SessionDep, principal: Caller, format: Format,
        layer: Layer = None, division: Division = None, grid: Grid = None, status: Status = None,
        category: Category = None, level: Level = None, layers: Layers = None,
        since: Annotated[IsoDateTime | None, Query(description="events reported at or after (ISO 8601).")] = None,
        until: Annotated[IsoDateTime | None, Query(description="events reported before (ISO 8601).")] = None,
        encoding: Encoding = "utf-8", coords: Coords = "wkt", purpose: Purpose = None,
    ) -> FileResponse:
        check_window(since, until, ("since", "until"))
        filters = Filters(layer=layer, division=division, grid=grid, status=status, category=category, level=level,
                          since=since, until=until, layers=tuple(layers.split(",")) if layers else ())
        req = ExportRequest(what, format, filters, encoding=encoding.lower(), coords=coords, purpose=purpose)
        spool = Path(tempfile.mkdtemp(prefix="gridmap-export-"))
        try:
            with heavy.limiter(request).slot(principal.user_id, "exports"):
                result = run_export(session, req, scope=principal.scope, actor=principal.actor,
                                    permissions=principal.permissions, out_dir=spool)
        except BaseException:
            shutil.rmtree(spool, ignore_errors=True)
            raise
        return FileResponse(result.path, media_type=result.media_type,
                            headers={"Content-Disposition": content_disposition(result.filename, result.path.name),
                                     "X-Export-Rows": str(result.rows)},
                            background=BackgroundTask(shutil.rmtree, spool, ignore_errors=True))

    export.__name__ = f"export_{what}"
    export.__doc__ = (f"Every {what} the caller may see, as a file; the filters that do not apply to {what}"
                      " are refused (422) rather than ignored.")
    return export


for _what in WHATS:
    router.add_api_route(f"/{_what}", _handler(_what), methods=["GET"], response_class=FileResponse,
                         summary=f"Export {_what} as GeoPackage, Shapefile, KML, GeoJSON, CSV or XLSX",
                         responses={200: {"content": {FORMATS[f][1]: {} for f in FORMATS}}})
