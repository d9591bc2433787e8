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

from api.deps import SessionDep
from api.security import Principal, requires
from geo.access.permissions import Permission
from geo.grids import undo
from geo.grids.editing import EditResult, etag
from geo.grids.preview import dry_run as preview
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
    if dry_run:  # the real undo in a rolled-back savepoint (geo/grids/preview.py, as the other edits)
        return JSONResponse(preview(session, lambda: undo.undo_edit(
            session, principal.actor, principal.scope, edit_id, reason=reason, rules=rules)[0]))
    result, edit = undo.undo_edit(session, principal.actor, principal.scope, edit_id, reason=reason, rules=rules)
    answer = {"undone": edit.id, **_answer(result)}
    headers = {"ETag": etag(result.grids[0]["id"], result.grids[0]["version"])} if len(result.grids) == 1 else {}
    return JSONResponse(answer, headers=headers)


def _answer(result: EditResult) -> dict[str, Any]:
    return {"grids": result.grids, "retired": result.retired,
            "moves": [{"kind": m.kind, "from": m.from_code, "to": m.to_code, "count": m.count} for m in result.moves],
            "moved": sum(m.count for m in result.moves)}
