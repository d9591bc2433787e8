"""Grid editing for planners (permission grids:edit). Every write needs If-Match with the grid's ETag."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import SessionDep
from api.security import Principal, requires
from geo.access.permissions import Permission
from geo.errors import InvalidInput, PreconditionRequired
from geo.grids import editing
from geo.grids.editing import EditOptions, EditResult
from geo.grids.merging import merge_candidates
from geo.grids.partition import suggest_balanced_split
from geo.grids.preview import dry_run as preview
from geo.settings import GridRules
from geo.spatial.crs import Crs
from geo.spatial.geometry_input import parse_area, parse_line

router = APIRouter(prefix="/grids", tags=["grid editing"])
Editor = Annotated[Principal, requires(Permission.GRIDS_EDIT)]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
IfMatch = Annotated[str | None, Header(alias="If-Match", description='ETag(s) from GET /grids/{id}, e.g. "g12v3"')]
DryRun = Annotated[bool, Query(description="Make every check of the edit and answer what it would do (the grids'"
                                           " new shapes, pieces clipped away, retired codes, what moves from which"
                                           " grid to which), storing nothing: docs/web.md, the dry-run answer.")]
_ETAG = re.compile(r'"g(\d+)v(\d+)"')


def _grid_rules(request: Request) -> GridRules:
    """Minimum area and width of a grid, gap tolerance of full-cover layers (create_app's settings)."""
    return request.app.state.grid_rules


Rules = Annotated[GridRules, Depends(_grid_rules)]

_CRS_DOC = ("Datum of the drawn coordinates: wgs84 (default), cgcs2000, gcj02 (AMap/Tencent) or bd09 (Baidu); "
            "converted to WGS84 before any check. A GeoJSON crs member other than CRS84 is refused.")


class Drawn(BaseModel):
    """A body that carries a drawn geometry; ``crs`` says which datum it was drawn in."""

    crs: Crs = Field(Crs.WGS84, description=_CRS_DOC)


class Shaping(Drawn):
    parent_mode: Literal["strict", "clip"] = Field("strict", description="Refuse a shape outside its parent, or cut it.")
    overlap_mode: Literal["reject", "trim"] = Field("reject", description="Refuse overlaps with the layer, or trim.")
    snap_m: float = Field(0.5, ge=0, le=5, description="Snap vertices to neighbours within this many metres.")
    reason: str = Field("", max_length=500)

    def options(self) -> EditOptions:
        return EditOptions(parent_mode=self.parent_mode, overlap_mode=self.overlap_mode, snap_m=self.snap_m)


class NewGrid(Shaping):
    layer: str = Field(max_length=32)
    name: str = Field(min_length=1, max_length=100)
    notes: str = Field("", max_length=2000)
    division: str | None = Field(None, pattern=r"^\d{12}$", description="Division the grid belongs to.")
    parent_grid: str | None = Field(None, pattern=r"^\d{17}$", description="Parent grid (micro-grids).")
    geometry: dict[str, Any]


class NewShape(Shaping):
    geometry: dict[str, Any]
    fill_gap_into: int | None = Field(
        None, ge=1, le=2**31 - 1,
        description="On a full-cover layer (不重不漏): the id of the neighbour that takes the area the new shape gives"
        " up (its ETag goes in If-Match too). Without it, an edit that leaves area in no grid is refused (409).")


class Attributes(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=100)
    notes: str | None = Field(None, max_length=2000)
    reason: str = Field("", max_length=500)


class Cut(Drawn):
    line: dict[str, Any]
    reason: str = Field("", max_length=500)


class Partition(Drawn):
    parts: list[dict[str, Any]] = Field(min_length=2, max_length=50, description="GeoJSON polygons tiling the grid.")
    reason: str = Field("", max_length=500)


class Merge(BaseModel):
    grids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(min_length=2, max_length=50)
    name: str | None = Field(None, min_length=1, max_length=100)
    reason: str = Field("", max_length=500)


class Retire(BaseModel):
    absorber: str | None = Field(None, pattern=r"^\d{17}$", description="The grid that takes the area.")
    reason: str = Field("", max_length=500)


def expected_versions(if_match: str | None, grid_ids: list[int]) -> dict[int, int]:
    """Versions the caller says it edits; 428 without If-Match, 412 (later) when stale."""
    if not if_match:
        raise PreconditionRequired("send If-Match with the ETag of every grid you edit (from GET /grids/{id})",
                                   pointer="If-Match")
    tags = {int(g): int(v) for g, v in _ETAG.findall(if_match)}
    missing = [g for g in grid_ids if g not in tags]
    if missing:
        raise PreconditionRequired(f"If-Match has no ETag for grid(s) {missing}", pointer="If-Match")
    return {g: tags[g] for g in grid_ids}


def _respond(result: EditResult, status: int = 200) -> JSONResponse:
    body = {
        "grids": result.grids,
        "retired": result.retired,
        "moves": [{"kind": m.kind, "from": m.from_code, "to": m.to_code, "count": m.count} for m in result.moves],
        "moved": sum(m.count for m in result.moves),
    }
    headers = {}
    if len(result.grids) == 1:
        headers["ETag"] = editing.etag(result.grids[0]["id"], result.grids[0]["version"])
    return JSONResponse(body, status_code=status, headers=headers)


def _answer(session: SessionDep, dry_run: bool, edit: Callable[[], EditResult], status: int = 200, *,
            drawn: Any = None, snap_m: float = 0.5) -> JSONResponse:
    """The real edit's answer, or with ``dry_run`` the edit run in a savepoint and rolled back (200)."""
    if dry_run:
        return JSONResponse(preview(session, edit, drawn=drawn, snap_m=snap_m))
    return _respond(edit(), status)


@router.post("", status_code=201, summary="Create a grid from a drawn polygon")
def create(session: SessionDep, principal: Editor, body: NewGrid, rules: Rules,
           dry_run: DryRun = False) -> JSONResponse:
    geometry = parse_area(body.geometry, crs=body.crs)
    return _answer(session, dry_run, lambda: editing.create_grid(
        session, principal.actor, principal.scope, layer_code=body.layer, geometry=geometry, name=body.name,
        notes=body.notes, division_code=body.division, parent_grid_code=body.parent_grid, options=body.options(),
        reason=body.reason, rules=rules), 201, drawn=geometry, snap_m=body.snap_m)


@router.put("/{grid_id}/geometry", summary="Replace a grid's boundary")
def reshape(session: SessionDep, principal: Editor, grid_id: Id, body: NewShape, rules: Rules,
            if_match: IfMatch = None, dry_run: DryRun = False) -> JSONResponse:
    fill = body.fill_gap_into
    versions = expected_versions(if_match, [grid_id] + ([fill] if fill and fill != grid_id else []))
    geometry = parse_area(body.geometry, crs=body.crs)
    return _answer(session, dry_run, lambda: editing.reshape_grid(
        session, principal.actor, principal.scope, grid_id, versions[grid_id], geometry, options=body.options(),
        reason=body.reason, rules=rules, fill_gap_into=(fill, versions.get(fill, 0)) if fill else None),
        drawn=geometry, snap_m=body.snap_m)


@router.patch("/{grid_id}", summary="Change a grid's name or notes")
def update(session: SessionDep, principal: Editor, grid_id: Id, body: Attributes, if_match: IfMatch = None,
           dry_run: DryRun = False) -> JSONResponse:
    versions = expected_versions(if_match, [grid_id])
    if body.name is None and body.notes is None:
        raise InvalidInput("nothing to change: give name or notes", pointer="name")
    return _answer(session, dry_run, lambda: editing.update_attributes(
        session, principal.actor, principal.scope, grid_id, versions[grid_id], name=body.name, notes=body.notes,
        reason=body.reason))


@router.post("/{grid_id}/split", summary="Split a grid along a drawn line")
def split(session: SessionDep, principal: Editor, grid_id: Id, body: Cut, rules: Rules,
          if_match: IfMatch = None, dry_run: DryRun = False) -> JSONResponse:
    versions = expected_versions(if_match, [grid_id])
    line = parse_line(body.line, crs=body.crs)
    return _answer(session, dry_run, lambda: editing.split_grid(
        session, principal.actor, principal.scope, grid_id, versions[grid_id], line, reason=body.reason,
        rules=rules), 201)


@router.get("/{grid_id}/split-suggestion", summary="Suggest N parts with balanced household counts")
def split_suggestion(
    session: SessionDep, principal: Editor, grid_id: Id, parts: Annotated[int, Query(ge=2, le=50)] = 2,
) -> dict[str, Any]:
    """Review the parts on the map, then apply them (possibly adjusted) with POST /grids/{id}/partition."""
    pieces = suggest_balanced_split(session, principal.scope, grid_id, parts)
    return {"type": "FeatureCollection",
            "features": [{"type": "Feature", "geometry": p["geometry"],
                          "properties": {"part": i, "households": p["households"], "area_m2": p["area_m2"]}}
                         for i, p in enumerate(pieces, start=1)]}


@router.post("/{grid_id}/partition", summary="Replace a grid by parts that tile it (e.g. a suggestion)")
def partition(session: SessionDep, principal: Editor, grid_id: Id, body: Partition, rules: Rules,
              if_match: IfMatch = None, dry_run: DryRun = False) -> JSONResponse:
    versions = expected_versions(if_match, [grid_id])
    parts = [parse_area(p, pointer=f"parts/{i}", crs=body.crs) for i, p in enumerate(body.parts)]
    return _answer(session, dry_run, lambda: editing.partition_grid(
        session, principal.actor, principal.scope, grid_id, versions[grid_id], parts, reason=body.reason,
        rules=rules), 201)


@router.post("/merge", summary="Merge adjacent grids of one layer and parent")
def merge(session: SessionDep, principal: Editor, body: Merge, rules: Rules, if_match: IfMatch = None,
          dry_run: DryRun = False) -> JSONResponse:
    """Only merge candidates of each other (GET /grids/{id}/merge-candidates); any other grid is a 409 naming it."""
    versions = expected_versions(if_match, body.grids)
    return _answer(session, dry_run, lambda: editing.merge_grids(
        session, principal.actor, principal.scope, versions, name=body.name, reason=body.reason, rules=rules), 201)


@router.get("/{grid_id}/merge-candidates", summary="The grids this one may be merged with, with their ETags")
def candidates(session: SessionDep, principal: Editor, grid_id: Id) -> dict[str, Any]:
    """Same layer, parent grid and village, sharing an edge (not only a point), inside your territory."""
    return merge_candidates(session, principal.scope, grid_id)


@router.post("/{grid_id}/retire", summary="Retire a grid; a neighbour absorbs its area")
def retire(session: SessionDep, principal: Editor, grid_id: Id, body: Retire, rules: Rules,
           if_match: IfMatch = None, dry_run: DryRun = False) -> JSONResponse:
    versions = expected_versions(if_match, [grid_id])
    return _answer(session, dry_run, lambda: editing.retire_grid(
        session, principal.actor, principal.scope, grid_id, versions[grid_id], absorber_code=body.absorber,
        reason=body.reason, rules=rules))
