"""Grid editing for planners: create, reshape, rename, split, merge, retire.

Every operation runs in the caller's transaction and either applies whole or
not at all. Inside it, in this order:
1. the layer is locked (``pg_advisory_xact_lock``): edits of one layer are
   serialised, so two planners can never both pass the overlap check for
   neighbouring shapes, and with a single lock there is no lock order to get
   wrong — no deadlocks;
2. each grid's version is compared with the caller's ``If-Match`` (412 when stale);
3. the new shape is snapped to its neighbours and parent (0.5 m by default),
   checked against its parent (``strict``: refuse, ``clip``: cut) and against
   the other grids of the layer (``reject`` with the overlap's geometry and
   area, or ``trim``); every shape a grid will get must be a grid (above the
   minimum area, not a sliver: geo/grids/rules.py), and on a full-cover layer
   (不重不漏) an edit may not leave part of the old area in no grid;
4. grids are written (the history trigger keeps every version), retired grids
   leave ``grid`` with their history kept, lineage is recorded, new grids get
   new codes from the counter;
5. everything under the changed area is reassigned, and the moves returned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import shapely
from shapely import wkb
from shapely.geometry import LineString, MultiPolygon
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope
from geo.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from geo.grids.merging import check_mergeable
from geo.grids.reassign import Move, reassign, snapshot
from geo.grids.rules import (
    check_split_line,
    ensure_fitted_meaningful,
    ensure_meaningful,
    gap_conflict,
    opened_gap,
)
from geo.grids.shaping import TINY_M2, area_m2, cut, exact_pieces, fit_to_layer, union_area
from geo.privacy import audit
from geo.privacy.audit import Actor
from geo.privacy.pii import find_personal_numbers
from geo.settings import GridRules

ParentMode = Literal["strict", "clip"]
OverlapMode = Literal["reject", "trim"]
LOCK_NAMESPACE = 72001


@dataclass(frozen=True)
class EditOptions:
    parent_mode: ParentMode = "strict"
    overlap_mode: OverlapMode = "reject"
    snap_m: float = 0.5


@dataclass
class EditResult:
    grids: list[dict[str, Any]] = field(default_factory=list)  # written or created: id, code, name, version
    retired: list[str] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)


@dataclass(frozen=True)
class _Grid:
    id: int
    code: str
    name: str
    layer_id: int
    division_id: int
    parent_grid_id: int | None
    version: int
    geom: bytes  # EWKB


def etag(grid_id: int, version: int) -> str:
    return f'"g{grid_id}v{version}"'


# -- reading and locking --------------------------------------------------------------------------

def _layer(session: Session, *, code: str | None = None, layer_id: int | None = None) -> dict[str, Any]:
    row = session.execute(text(
        "SELECT id, code, code_prefix, allow_overlap, full_cover, parent_layer_id FROM grid_layer"
        " WHERE code = :c OR id = :i"), {"c": code, "i": layer_id}).mappings().first()
    if row is None:
        raise NotFound(f"no grid layer {code!r}", pointer="layer")
    return dict(row)


def lock_layer(session: Session, layer_id: int) -> None:
    """Serialise edits of one layer for the rest of the transaction (re-entrant)."""
    session.execute(text("SELECT pg_advisory_xact_lock(:ns, :layer)"), {"ns": LOCK_NAMESPACE, "layer": layer_id})


def _load(session: Session, grid_ids: list[int], scope: Scope) -> list[_Grid]:
    rows = session.execute(text(
        "SELECT id, code, name, layer_id, division_id, parent_grid_id, version, ST_AsEWKB(geom) AS geom"
        " FROM grid WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"), {"ids": grid_ids}).all()
    found = {r.id: _Grid(r.id, r.code, r.name, r.layer_id, r.division_id, r.parent_grid_id, r.version,
                         bytes(r.geom)) for r in rows}
    for gid in grid_ids:
        if gid not in found or not (scope.everything or gid in scope.visible_grids):
            raise NotFound(f"no grid with id {gid}", pointer="id")
    return [found[g] for g in grid_ids]


def _check_versions(grids: list[_Grid], expected: dict[int, int]) -> None:
    stale = [g for g in grids if expected.get(g.id) != g.version]
    if stale:
        raise PreconditionFailed(
            "the grid changed since you loaded it: " + ", ".join(f"{g.code} is now version {g.version}" for g in stale),
            pointer="If-Match", current={g.code: etag(g.id, g.version) for g in stale})


def _set_actor(session: Session, actor: Actor, reason: str) -> None:
    session.execute(text("SELECT set_config('gridmap.actor', :a, true), set_config('gridmap.reason', :r, true)"),
                    {"a": actor.username, "r": reason[:500]})


# -- shaping ----------------------------------------------------------------------------------------

def _parent_geom(session: Session, layer: dict[str, Any], division_id: int, parent_grid_id: int | None) -> bytes:
    if layer["parent_layer_id"] is not None:
        if parent_grid_id is None:
            raise InvalidInput("grids of this layer need a parent grid", pointer="parent_grid")
        geom = session.execute(text("SELECT ST_AsEWKB(geom) FROM grid WHERE id = :g"), {"g": parent_grid_id}).scalar()
    else:
        geom = session.execute(text("SELECT ST_AsEWKB(geom) FROM division WHERE id = :d"),
                               {"d": division_id}).scalar()
    return bytes(geom)


# -- writing ----------------------------------------------------------------------------------------

def _next_code(session: Session, division_id: int, layer: dict[str, Any]) -> str:
    seq = session.execute(text("""
        INSERT INTO grid_code_counter (division_id, layer_id, last_seq) VALUES (:d, :l, 1)
        ON CONFLICT (division_id, layer_id) DO UPDATE SET last_seq = grid_code_counter.last_seq + 1
        RETURNING last_seq"""), {"d": division_id, "l": layer["id"]}).scalar_one()
    if seq > 999:
        raise Conflict("this division has used all 999 grid numbers of the layer", pointer="division")
    division = session.execute(text("SELECT code FROM division WHERE id = :d"), {"d": division_id}).scalar_one()
    return f"{division}{layer['code_prefix']}{seq:03d}"


def _insert(session: Session, *, code: str, layer_id: int, division_id: int, parent_grid_id: int | None,
            name: str, notes: str, geom: bytes) -> dict[str, Any]:
    row = session.execute(text("""
        INSERT INTO grid (code, layer_id, division_id, parent_grid_id, name, notes, geom, version)
        VALUES (:code, :l, :d, :p, :name, :notes, ST_GeomFromEWKB(:g), 1)
        RETURNING id, code, name, version"""),
        {"code": code, "l": layer_id, "d": division_id, "p": parent_grid_id, "name": name, "notes": notes,
         "g": geom}).mappings().one()
    return dict(row)


def _retire(session: Session, retired: list[_Grid], successors: list[int], operation: str, actor: Actor) -> None:
    """Hand children, staff and users of retired grids to the successor overlapping them most, then
    remove the grids (the trigger closes their history) and record the lineage."""
    ids = [g.id for g in retired]
    if not successors:
        users = session.execute(text("SELECT username FROM app_user WHERE grid_id = ANY(:ids)"), {"ids": ids}).scalars()
        names = sorted(users)
        if names:
            raise Conflict("users have this grid as their jurisdiction and no grid takes its place: "
                           + ", ".join(names), pointer="absorber")
    # A child grid goes to the successor overlapping the child itself most (it has a shape of its own);
    # staff and users, who have none, to the successor overlapping the retired grid most. With one
    # successor (merge, retire) there is nothing to weigh: the intersections cost 36 ms on a merge.
    pick = (":one" if len(successors) == 1 else
            "(SELECT s.id FROM grid s WHERE s.id = ANY(:succ) ORDER BY ST_Area(ST_Intersection(s.geom, {shape}))"
            " DESC, s.id LIMIT 1)")
    for table, col, shape in (("grid", "parent_grid_id", "t.geom"),
                              ("staff", "grid_id", "(SELECT geom FROM grid WHERE id = t.grid_id)"),
                              ("app_user", "grid_id", "(SELECT geom FROM grid WHERE id = t.grid_id)")):
        session.execute(text(f"UPDATE {table} t SET {col} = {pick.format(shape=shape)} WHERE t.{col} = ANY(:ids)"),
                        {"succ": successors, "one": successors[0] if successors else None, "ids": ids})
    session.execute(text("DELETE FROM grid_membership WHERE grid_id = ANY(:ids)"), {"ids": ids})
    session.execute(text("DELETE FROM grid WHERE id = ANY(:ids)"), {"ids": ids})
    session.execute(text(
        "INSERT INTO grid_lineage (parent_id, child_id, operation, author)"
        " SELECT p, c, :op, :a FROM unnest(CAST(:ids AS int[])) p, unnest(CAST(:succ AS int[])) c"),
        {"ids": ids, "succ": successors, "op": operation, "a": actor.username})


def _finish(session: Session, actor: Actor, result: EditResult, *, action: str, entity_id: object,
            layer_id: int, area: bytes, before: dict, reason: str) -> EditResult:
    result.moves = reassign(session, layer_id, area, before)
    audit.record(session, actor, action=action, entity="grid", entity_id=entity_id, purpose=reason or None,
                 detail={"grids": [g["code"] for g in result.grids], "retired": result.retired,
                         "moved": sum(m.count for m in result.moves)})
    return result


def check_published_text(**fields: str | None) -> None:
    """A grid's name and notes are shown to every role that reads the map (features, tiles, history,
    lineage), with no pii:read behind them: an ID or phone number there is refused (422), not stored.
    A grid head's phone belongs in the staff register, which masks it."""
    for pointer, value in fields.items():
        if value and find_personal_numbers(value):
            raise InvalidInput(f"{pointer} is shown to everyone who reads the map: it may not hold an ID number"
                               " or a phone number (put contacts in the staff register)", pointer=pointer)


# -- operations -----------------------------------------------------------------------------------

def create_grid(
    session: Session, actor: Actor, scope: Scope, *, layer_code: str, geometry: MultiPolygon, name: str,
    division_code: str | None = None, parent_grid_code: str | None = None, notes: str = "",
    options: EditOptions = EditOptions(), reason: str = "", rules: GridRules | None = None,
) -> EditResult:
    check_published_text(name=name, notes=notes)
    layer = _layer(session, code=layer_code)
    lock_layer(session, layer["id"])
    parent_grid_id = None
    if parent_grid_code:
        row = session.execute(text("SELECT id, division_id FROM grid WHERE code = :c AND layer_id = :pl"),
                              {"c": parent_grid_code, "pl": layer["parent_layer_id"]}).first()
        if row is None or not (scope.everything or row.id in scope.visible_grids):
            raise NotFound(f"no parent grid {parent_grid_code} in the parent layer", pointer="parent_grid")
        parent_grid_id, division_id = row.id, row.division_id
    elif division_code:
        division_id = session.execute(text("SELECT id FROM division WHERE code = :c"), {"c": division_code}).scalar()
        if division_id is None or not (scope.everything or division_id in scope.visible_divisions):
            raise NotFound(f"no division {division_code}", pointer="division")
    else:
        raise InvalidInput("say which division (or parent grid) the new grid belongs to", pointer="division")
    drawn = wkb.dumps(geometry, srid=4326)
    parent = _parent_geom(session, layer, division_id, parent_grid_id)
    geom = fit_to_layer(session, drawn, layer=layer, parent=parent, exclude=[], options=options)
    ensure_fitted_meaningful(session, drawn, geom, rules or GridRules())
    before = snapshot(session, layer["id"], geom)
    _set_actor(session, actor, reason or "create")
    grid = _insert(session, code=_next_code(session, division_id, layer), layer_id=layer["id"],
                   division_id=division_id, parent_grid_id=parent_grid_id, name=name, notes=notes, geom=geom)
    return _finish(session, actor, EditResult(grids=[grid]), action="grid.create", entity_id=grid["id"],
                   layer_id=layer["id"], area=geom, before=before, reason=reason)


def reshape_grid(
    session: Session, actor: Actor, scope: Scope, grid_id: int, expected_version: int, geometry: MultiPolygon, *,
    options: EditOptions = EditOptions(), reason: str = "", fill_gap_into: tuple[int, int] | None = None,
    rules: GridRules | None = None,
) -> EditResult:
    """Replace a grid's boundary. On a full-cover layer, area the grid gives up must go to a neighbour:
    either the new shapes of the layer already cover it, or ``fill_gap_into`` = (grid id, expected version)
    names the neighbour that takes the gap; otherwise the edit is refused with the gap."""
    rules = rules or GridRules()
    layer_id = _layer_of(session, grid_id, scope)
    lock_layer(session, layer_id)
    (grid,) = _load(session, [grid_id], scope)
    _check_versions([grid], {grid_id: expected_version})
    layer = _layer(session, layer_id=grid.layer_id)
    parent = _parent_geom(session, layer, grid.division_id, grid.parent_grid_id)
    drawn = wkb.dumps(geometry, srid=4326)
    geom = fit_to_layer(session, drawn, layer=layer, parent=parent, exclude=[grid_id], options=options)
    ensure_fitted_meaningful(session, drawn, geom, rules)
    filled: tuple[int, bytes] | None = None
    if layer["full_cover"]:
        gap = opened_gap(session, layer_id=layer_id, old=[grid.geom], new=[geom], exclude=[grid_id], rules=rules)
        if gap is not None and fill_gap_into is None:
            raise gap_conflict(gap, [grid.code])
        if gap is not None and fill_gap_into is not None:
            filled = _fill_gap(session, scope, grid, gap.geom, fill_gap_into, rules)
    area = union_area(session, [grid.geom, geom])
    before = snapshot(session, layer_id, area)
    _set_actor(session, actor, reason or "reshape")
    result = EditResult()
    for gid, shape in [(grid_id, geom)] + ([filled] if filled else []):
        result.grids.append(dict(session.execute(text(
            "UPDATE grid SET geom = ST_GeomFromEWKB(:g) WHERE id = :id RETURNING id, code, name, version"),
            {"g": shape, "id": gid}).mappings().one()))
    return _finish(session, actor, result, action="grid.reshape", entity_id=grid_id,
                   layer_id=layer_id, area=area, before=before, reason=reason)


def _fill_gap(session: Session, scope: Scope, grid: _Grid, gap: bytes, into: tuple[int, int],
              rules: GridRules) -> tuple[int, bytes]:
    """The named neighbour's shape grown by the gap, once its version, layer, parent and border are checked."""
    into_id, into_version = into
    if into_id == grid.id:
        raise InvalidInput("fill_gap_into must name a neighbour, not the grid being reshaped", pointer="fill_gap_into")
    (other,) = _load(session, [into_id], scope)
    _check_versions([other], {into_id: into_version})
    if (other.layer_id, other.division_id, other.parent_grid_id) != (grid.layer_id, grid.division_id,
                                                                     grid.parent_grid_id):
        raise Conflict(f"{other.code} cannot take the gap: it is not in the same layer and parent as {grid.code}",
                       pointer="fill_gap_into")
    row = session.execute(text("""
        WITH parts AS (SELECT (ST_Dump(ST_GeomFromEWKB(:gap))).geom AS p)
        SELECT (SELECT count(*) FROM parts WHERE NOT ST_Relate(ST_GeomFromEWKB(:n), p, '****1****')) AS apart,
               ST_AsEWKB(ST_ForcePolygonCCW(ST_Multi(ST_CollectionExtract(
                   ST_Union(ST_GeomFromEWKB(:n), ST_GeomFromEWKB(:gap)), 3)))) AS grown"""),
        {"gap": gap, "n": other.geom}).one()
    if row.apart:
        raise Conflict(f"{other.code} cannot take the gap: {row.apart} of its pieces do not border {other.code}",
                       pointer="fill_gap_into")
    grown = bytes(row.grown)
    ensure_meaningful(session, grown, rules, what=f"{other.code} with the gap", pointer="fill_gap_into",
                      error=Conflict)
    return into_id, grown


def update_attributes(
    session: Session, actor: Actor, scope: Scope, grid_id: int, expected_version: int, *,
    name: str | None = None, notes: str | None = None, reason: str = "",
) -> EditResult:
    check_published_text(name=name, notes=notes)
    layer_id = _layer_of(session, grid_id, scope)
    lock_layer(session, layer_id)
    (grid,) = _load(session, [grid_id], scope)
    _check_versions([grid], {grid_id: expected_version})
    _set_actor(session, actor, reason or "attributes")
    row = session.execute(text(
        "UPDATE grid SET name = coalesce(:name, name), notes = coalesce(:notes, notes) WHERE id = :id"
        " RETURNING id, code, name, version"), {"name": name, "notes": notes, "id": grid_id}).mappings().one()
    audit.record(session, actor, action="grid.update", entity="grid", entity_id=grid_id, purpose=reason or None)
    return EditResult(grids=[dict(row)])


def split_grid(
    session: Session, actor: Actor, scope: Scope, grid_id: int, expected_version: int, line: LineString, *,
    reason: str = "", rules: GridRules | None = None,
) -> EditResult:
    """Split a grid along a line that crosses it from edge to edge into pieces that are each a grid."""
    rules = rules or GridRules()
    layer_id = _layer_of(session, grid_id, scope)
    lock_layer(session, layer_id)
    (grid,) = _load(session, [grid_id], scope)
    _check_versions([grid], {grid_id: expected_version})
    drawn = wkb.dumps(line, srid=4326)
    check_split_line(session, grid.geom, drawn)
    parts = cut(session, grid.geom, drawn)
    if len(parts) < 2:
        raise InvalidInput("the line does not cut the grid in two: it must cross the grid from edge to edge",
                           pointer="line")
    for i, part in enumerate(parts, start=1):
        ensure_meaningful(session, part, rules, what=f"piece {i} of the {len(parts)} the line makes", pointer="line")
    return _replace(session, actor, [grid], parts, operation="split", reason=reason,
                    names=[f"{grid.name}（{i}）" for i in range(1, len(parts) + 1)])


def partition_grid(
    session: Session, actor: Actor, scope: Scope, grid_id: int, expected_version: int, parts: list[MultiPolygon], *,
    reason: str = "", rules: GridRules | None = None,
) -> EditResult:
    """Replace a grid by planner-drawn (or suggested) parts that tile it.

    The parts may be off by the snapping distance along the grid's edge and
    each other; beyond that they must cover the grid without overlapping.
    """
    if len(parts) < 2:
        raise InvalidInput("a partition needs at least two parts", pointer="parts")
    layer_id = _layer_of(session, grid_id, scope)
    lock_layer(session, layer_id)
    (grid,) = _load(session, [grid_id], scope)
    _check_versions([grid], {grid_id: expected_version})
    whole = wkb.loads(grid.geom)
    tol = 0.5 / 111320.0 / max(0.1, np.cos(np.radians(whole.centroid.y)))
    union = shapely.union_all(parts)
    missing = shapely.difference(whole, shapely.buffer(union, tol))
    outside = shapely.difference(union, shapely.buffer(whole, tol))
    overlap = sum(shapely.intersection(shapely.buffer(a, -tol), b).area
                  for i, a in enumerate(parts) for b in parts[i + 1:])
    if missing.area > 0 or outside.area > 0 or overlap > 0:
        raise Conflict("the parts must cover the grid exactly, without overlapping each other"
                       f" (uncovered {area_m2(session, missing):.1f} m², outside {area_m2(session, outside):.1f} m²)",
                       pointer="parts")
    pieces = [wkb.dumps(p, srid=4326) for p in exact_pieces(whole, parts)]
    if len(pieces) < 2:
        raise Conflict("the parts must cover the grid with at least two pieces", pointer="parts")
    for i, piece in enumerate(pieces):
        ensure_meaningful(session, piece, rules or GridRules(), what=f"part {i + 1}", pointer=f"parts/{i}")
    return _replace(session, actor, [grid], pieces, operation="split",
                    reason=reason, names=[f"{grid.name}（{i}）" for i in range(1, len(pieces) + 1)])


def merge_grids(
    session: Session, actor: Actor, scope: Scope, expected: dict[int, int], *, name: str | None = None,
    reason: str = "", rules: GridRules | None = None,
) -> EditResult:
    check_published_text(name=name)
    ids = sorted(expected)
    if len(ids) < 2:
        raise InvalidInput("merge needs at least two grids", pointer="grids")
    layer_id = _layer_of(session, ids[0], scope)
    lock_layer(session, layer_id)
    grids = _load(session, ids, scope)
    _check_versions(grids, expected)
    check_mergeable(session, list(expected))  # names the grid that is not a merge candidate, and why
    merged = union_area(session, [g.geom for g in grids])
    if session.execute(text("SELECT ST_NumGeometries(ST_GeomFromEWKB(:g))"), {"g": merged}).scalar() != 1:
        raise Conflict("the grids are not adjacent: their union is not one piece", pointer="grids")
    merged = bytes(session.execute(text("SELECT ST_AsEWKB(ST_ForcePolygonCCW(ST_Multi(ST_GeomFromEWKB(:g))))"),
                                   {"g": merged}).scalar())
    ensure_meaningful(session, merged, rules or GridRules(), what="the merged grid", pointer="grids", error=Conflict)
    return _replace(session, actor, grids, [merged], operation="merge", reason=reason,
                    names=[name or grids[0].name])


def retire_grid(
    session: Session, actor: Actor, scope: Scope, grid_id: int, expected_version: int, *,
    absorber_code: str | None = None, reason: str = "", rules: GridRules | None = None,
) -> EditResult:
    layer_id = _layer_of(session, grid_id, scope)
    lock_layer(session, layer_id)
    (grid,) = _load(session, [grid_id], scope)
    _check_versions([grid], {grid_id: expected_version})
    layer = _layer(session, layer_id=layer_id)
    absorber = session.execute(text("""
        SELECT n.id, n.code FROM grid n, grid g
         WHERE g.id = :id AND n.layer_id = g.layer_id AND n.id <> g.id AND n.division_id = g.division_id
           AND n.parent_grid_id IS NOT DISTINCT FROM g.parent_grid_id AND n.geom && g.geom
           AND (CAST(:code AS text) IS NULL OR n.code = :code)
           AND ST_Relate(n.geom, g.geom, '****1****')
         ORDER BY ST_Length(ST_Intersection(ST_Boundary(n.geom), ST_Boundary(g.geom))::geography) DESC
         LIMIT 1"""), {"id": grid_id, "code": absorber_code}).first()
    if absorber_code and absorber is None:
        raise Conflict(f"{absorber_code} cannot absorb {grid.code}: it is not a neighbour in the same layer and"
                       " parent", pointer="absorber")
    if absorber is None and layer["full_cover"]:
        raise Conflict(f"{grid.code} has no neighbour in the same parent to take its area, and the layer must"
                       " cover its territory", pointer="absorber")
    grown = None
    if absorber is not None:
        grown = bytes(session.execute(text(
            "SELECT ST_AsEWKB(ST_ForcePolygonCCW(ST_Multi(ST_CollectionExtract(ST_Union(geom, ST_GeomFromEWKB(:g)),"
            " 3)))) FROM grid WHERE id = :a"), {"g": grid.geom, "a": absorber.id}).scalar_one())
        ensure_meaningful(session, grown, rules or GridRules(), what=f"{absorber.code} with {grid.code}",
                          pointer="absorber", error=Conflict)
    before = snapshot(session, layer_id, grid.geom)
    _set_actor(session, actor, reason or "retire")
    result = EditResult(retired=[grid.code])
    successors = []
    if absorber is not None:
        row = session.execute(text("""
            UPDATE grid SET geom = ST_GeomFromEWKB(:g) WHERE id = :a
            RETURNING id, code, name, version"""), {"g": grown, "a": absorber.id}).mappings().one()
        result.grids.append(dict(row))
        successors = [absorber.id]
    _retire(session, [grid], successors, "retire", actor)
    return _finish(session, actor, result, action="grid.retire", entity_id=grid_id, layer_id=layer_id,
                   area=grid.geom, before=before, reason=reason)


def _replace(session: Session, actor: Actor, old: list[_Grid], parts: list[bytes], *, operation: str,
             reason: str, names: list[str]) -> EditResult:
    """Retire ``old`` and create ``parts`` in their place, with new codes and lineage."""
    layer = _layer(session, layer_id=old[0].layer_id)
    area = union_area(session, [g.geom for g in old])
    before = snapshot(session, layer["id"], area)
    _set_actor(session, actor, reason or operation)
    result = EditResult(retired=[g.code for g in old])
    for part, name in zip(parts, names, strict=True):
        result.grids.append(_insert(session, code=_next_code(session, old[0].division_id, layer),
                                    layer_id=layer["id"], division_id=old[0].division_id,
                                    parent_grid_id=old[0].parent_grid_id, name=name, notes="", geom=part))
    _retire(session, old, [g["id"] for g in result.grids], operation, actor)
    return _finish(session, actor, result, action=f"grid.{operation}", entity_id=",".join(str(g.id) for g in old),
                   layer_id=layer["id"], area=area, before=before, reason=reason)


def _layer_of(session: Session, grid_id: int, scope: Scope) -> int:
    layer_id = session.execute(text("SELECT layer_id FROM grid WHERE id = :id"), {"id": grid_id}).scalar()
    if layer_id is None or not (scope.everything or grid_id in scope.visible_grids):
        raise NotFound(f"no grid with id {grid_id}", pointer="id")
    return layer_id


def reshape_grids(
    session: Session, actor: Actor, scope: Scope, expected: dict[int, int], shapes: dict[int, bytes], *,
    action: str = "grid.regroup", reason: str = "", rules: GridRules | None = None,
) -> EditResult:
    """Reshape several grids of one layer together (EWKB ``shapes``), e.g. to hand whole grids of another
    layer from one to another (多网融合 regroup).

    One at a time would not do: the grid that grows would overlap the one that has not shrunk yet. So
    each new shape is fitted against the rest of the layer only, the new shapes are checked against
    each other, and all are written in one step: one history version per grid, one reassignment.
    """
    ids = sorted(expected)
    layer_id = _layer_of(session, ids[0], scope)
    lock_layer(session, layer_id)
    grids = _load(session, ids, scope)
    _check_versions(grids, expected)
    if {g.layer_id for g in grids} != {layer_id}:
        raise Conflict("grids reshaped together must belong to one layer", pointer="grids")
    layer = _layer(session, layer_id=layer_id)
    fitted = {g.id: fit_to_layer(session, shapes[g.id], layer=layer, exclude=ids, options=EditOptions(),
                                 parent=_parent_geom(session, layer, g.division_id, g.parent_grid_id)) for g in grids}
    clash = session.execute(text("""
        SELECT coalesce(sum(ST_Area(ST_Intersection(ST_GeomFromEWKB(a), ST_GeomFromEWKB(b))::geography)), 0)
          FROM unnest(CAST(:gs AS bytea[])) WITH ORDINALITY x(a, i)
          JOIN unnest(CAST(:gs AS bytea[])) WITH ORDINALITY y(b, j) ON x.i < y.j
         WHERE ST_Relate(ST_GeomFromEWKB(a), ST_GeomFromEWKB(b), '2********')"""),
        {"gs": list(fitted.values())}).scalar()
    if not layer["allow_overlap"] and clash > TINY_M2:
        raise Conflict(f"the new shapes overlap each other by {clash:.1f} m²", pointer="grids")
    rules = rules or GridRules()
    for g in grids:
        ensure_meaningful(session, fitted[g.id], rules, what=f"the new shape of {g.code}", pointer="grids",
                          error=Conflict)
    if layer["full_cover"]:
        gap = opened_gap(session, layer_id=layer_id, old=[g.geom for g in grids], new=list(fitted.values()),
                         exclude=ids, rules=rules)
        if gap is not None:
            raise gap_conflict(gap, [g.code for g in grids])
    area = union_area(session, [g.geom for g in grids] + list(fitted.values()))
    before = snapshot(session, layer_id, area)
    _set_actor(session, actor, reason or action)
    result = EditResult()
    for g in grids:
        result.grids.append(dict(session.execute(text(
            "UPDATE grid SET geom = ST_GeomFromEWKB(:g) WHERE id = :id RETURNING id, code, name, version"),
            {"g": fitted[g.id], "id": g.id}).mappings().one()))
    return _finish(session, actor, result, action=action, entity_id=",".join(map(str, ids)), layer_id=layer_id,
                   area=area, before=before, reason=reason)
