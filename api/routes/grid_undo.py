"""Undo of grid edits (permission grids:edit): the planner's edit log and the undo of their last edit.

Mounted before the grids router: ``/grids/edits`` must not be read as ``/grids/{grid_id}``.
No If-Match: the edit log knows the versions the edit wrote, and a later change of those grids is a 409.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.deps import SessionDep
from api.security import Principal, requires
from geo.access.permissions import Permission
from geo.grids import undo
from geo.grids.editing import EditResult, etag
from geo.settings import GridRules

router = APIRouter(prefix="/grids/edits", tags=["grid editing"])
Editor = Annotated[Principal, requires(Permission.GRIDS_EDIT)]
EditId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class Undo(BaseModel):
    reason: str = Field("", max_length=500, description="Why; the history says \"undo of edit N: …\".")


@router.get("", summary="Grid edits, newest first, each with whether the caller may undo it and why not")
def edits(
    session: SessionDep, principal: Editor,
    mine: Annotated[bool, Query(description="Only the caller's edits (else every edit in the territory).")] = True,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="Edits older than this id (paging).")] = None,
) -> JSONResponse:
    rows = undo.list_edits(session, principal.actor, principal.scope, mine=mine, limit=limit, before_id=before)
    body = json.loads(json.dumps(rows, default=str, ensure_ascii=False))
    return JSONResponse(body, headers={"Cache-Control": "private, no-cache"})


@router.post("/{edit_id}/undo", summary="Undo the caller's last edit: a new, audited edit restoring the old shapes")
def undo_edit(
    request: Request, session: SessionDep, principal: Editor, edit_id: EditId, body: Undo | None = None,
    dry_run: Annotated[bool, Query(description="Check and show what the undo would do; store nothing.")] = False,
) -> JSONResponse:
    """409 when the edit is not the caller's last, was undone already, or its grids were changed since
    (naming them and who). With ``dry_run=true`` the same checks and answer, nothing stored."""
    rules: GridRules = request.app.state.grid_rules
    reason = body.reason if body else ""
    if dry_run:
        savepoint = session.begin_nested()
        try:
            result, _ = undo.undo_edit(session, principal.actor, principal.scope, edit_id, reason=reason, rules=rules)
            return JSONResponse(_preview(session, result))
        finally:
            savepoint.rollback()
    result, edit = undo.undo_edit(session, principal.actor, principal.scope, edit_id, reason=reason, rules=rules)
    answer = {"undone": edit.id, **_answer(result)}
    headers = {"ETag": etag(result.grids[0]["id"], result.grids[0]["version"])} if len(result.grids) == 1 else {}
    return JSONResponse(answer, headers=headers)


def _answer(result: EditResult) -> dict[str, Any]:
    return {"grids": result.grids, "retired": result.retired,
            "moves": [{"kind": m.kind, "from": m.from_code, "to": m.to_code, "count": m.count} for m in result.moves],
            "moved": sum(m.count for m in result.moves)}


def _preview(session: Session, result: EditResult) -> dict[str, Any]:
    """The dry-run answer of docs/web.md, read inside the savepoint before it is rolled back: each grid the
    undo would write with its shape and area (a grid it would create has no id or version yet)."""
    ids = [g["id"] for g in result.grids]
    rows = {r.id: r for r in session.execute(text("""
        SELECT g.id, g.code, g.name, g.version, l.code AS layer, ST_AsGeoJSON(g.geom_out, 7) AS geometry,
               ST_Area(g.geom::geography) AS area_m2, NOT EXISTS (SELECT 1 FROM grid_version v
                   WHERE v.grid_id = g.id AND v.valid_from <> now()) AS new
          FROM grid g JOIN grid_layer l ON l.id = g.layer_id WHERE g.id = ANY(:ids)"""), {"ids": ids})}
    codes = {m.from_code for m in result.moves} | {m.to_code for m in result.moves}
    names = dict(session.execute(text(
        "SELECT DISTINCT ON (code) code, name FROM grid_version WHERE code = ANY(:c) ORDER BY code, version DESC"),
        {"c": [c for c in codes if c]}).all())
    grids = [{"id": None if r.new else r.id, "code": r.code, "name": r.name, "layer": r.layer,
              "version": None if r.new else r.version, "geometry": json.loads(r.geometry),
              "area_m2": round(r.area_m2, 2)} for r in (rows[i] for i in ids)]
    return {"dry_run": True, "grids": grids, "retired": result.retired, "clipped": [],
            "moves": [{"kind": m.kind, "from": m.from_code, "to": m.to_code, "from_name": names.get(m.from_code),
                       "to_name": names.get(m.to_code), "count": m.count} for m in result.moves],
            "moved": sum(m.count for m in result.moves)}
