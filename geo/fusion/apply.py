"""Applying suggested fixes through the grid-editing code (history, If-Match, reassignment, audit).

A suggestion is named by its id alone (suggest.py: built from grid ids and
versions). To apply it, it is computed again from the current state, near the
grids it names only; if it no longer comes out the same, somebody edited
those grids since the analysis and the answer is 412. The caller's If-Match
must carry the ETag of every grid the suggestion changes (its ``affected``).

A batch runs in one savepoint: all or nothing, even inside a caller's larger
transaction, and takes the lock of every layer it will edit up front, in id
order, so two batches never wait on each other in a circle. A suggestion whose
grids an earlier one in the same batch already changed is skipped: reported
``superseded`` when its problem is gone (the two party grids of one
misalignment site each get a suggestion; either fixes the site), ``stale`` when
it is still there and needs the analysis run again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely import wkb
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope
from geo.errors import Conflict, InvalidInput, NotFound, PreconditionFailed, PreconditionRequired
from geo.fusion import suggest
from geo.fusion.pairs import pair_pieces
from geo.fusion.rules import get_rule
from geo.grids import editing
from geo.grids.editing import EditResult
from geo.privacy.audit import Actor

_REGROUP = re.compile(r"^regroup-r(\d{1,9})-g(\d{1,10})v(\d{1,9})-[0-9a-f]{12}$")
_MERGE = re.compile(r"^merge-g(\d{1,10})v(\d{1,9})-g(\d{1,10})v(\d{1,9})$")
_FILL = re.compile(r"^fill-g(\d{1,10})v(\d{1,9})-(-?\d{1,3}\.\d{7})_(-?\d{1,2}\.\d{7})$")
MAX_BATCH = 200


@dataclass
class _Batch:
    expected: dict[int, int]  # from If-Match
    changed: set[int] = field(default_factory=set)  # grids written earlier in this batch
    results: list[dict[str, Any]] = field(default_factory=list)


def parse_id(suggestion_id: str, pointer: str = "id") -> tuple[str, tuple[str, ...]]:
    for kind, pattern in (("regroup", _REGROUP), ("merge", _MERGE), ("fill", _FILL)):
        m = pattern.match(suggestion_id)
        if m:
            return kind, m.groups()
    raise InvalidInput(f"not a suggestion id: {suggestion_id[:80]!r} (take ids from GET /fusion)", pointer=pointer)


def apply_suggestions(session: Session, actor: Actor, scope: Scope, ids: list[str], expected: dict[int, int],
                      *, reason: str = "") -> list[dict[str, Any]]:
    """Apply suggestions in order, all or nothing; ``expected`` are the If-Match versions by grid id."""
    if not ids:
        raise InvalidInput("give at least one suggestion id", pointer="suggestions")
    if len(ids) > MAX_BATCH or len(set(ids)) != len(ids):
        raise InvalidInput(f"give up to {MAX_BATCH} distinct suggestion ids", pointer="suggestions")
    parsed = [parse_id(sid, pointer=f"suggestions/{i}") for i, sid in enumerate(ids)]
    batch = _Batch(expected)
    with session.begin_nested():
        for layer_id in _layers_touched(session, parsed):
            editing.lock_layer(session, layer_id)
        for sid, (kind, parts) in zip(ids, parsed, strict=True):
            handler = {"regroup": _regroup, "merge": _merge, "fill": _fill}[kind]
            handler(session, actor, scope, batch, sid, parts, reason or f"fusion suggestion {sid}")
    return batch.results


def _layers_touched(session: Session, parsed: list[tuple[str, tuple[str, ...]]]) -> list[int]:
    """Every layer the batch may edit, in id order: each regroup's coarse layer (and the fine one, whose
    parents may change), and the layer of each merged or filled grid."""
    grids = [int(parts[1 if kind == "regroup" else 0]) for kind, parts in parsed]
    layers = set(session.execute(text("SELECT layer_id FROM grid WHERE id = ANY(:g)"), {"g": grids}).scalars())
    for kind, parts in parsed:
        if kind == "regroup":
            rule = get_rule(session, int(parts[0]))
            layers |= {s.layer_id for s in (rule.fine, rule.coarse) if s.layer_id is not None}
    return sorted(layers)


def _skipped(batch: _Batch, sid: str, still_needed: bool) -> None:
    batch.results.append(
        {"id": sid, "status": "stale", "detail": "an earlier suggestion in this batch changed these grids and the"
                                                 " problem is still there; run the analysis again"}
        if still_needed else
        {"id": sid, "status": "superseded", "detail": "an earlier suggestion in this batch already fixed this"})


def _current(session: Session, grid_ids: list[int], scope: Scope) -> dict[int, tuple[str, int]]:
    rows = session.execute(text("SELECT id, code, version FROM grid WHERE id = ANY(:ids)"), {"ids": grid_ids}).all()
    found = {r.id: (r.code, r.version) for r in rows if scope.everything or r.id in scope.visible_grids}
    for g in grid_ids:
        if g not in found:
            raise NotFound(f"no grid with id {g}: the suggestion is stale or outside your territory", pointer="id")
    return found


def _check(batch: _Batch, sid: str, affected: dict[int, tuple[str, int]], named: dict[int, int]) -> bool:
    """False when an earlier suggestion of the batch changed these grids; raises when stale or unconfirmed."""
    if batch.changed & set(affected):
        batch.results.append({"id": sid, "status": "superseded",
                              "detail": "an earlier suggestion in this batch changed these grids"})
        return False
    stale = {g: v for g, v in named.items() if affected[g][1] != v}
    if stale:
        raise PreconditionFailed(f"suggestion {sid} is stale: " + ", ".join(
            f"{affected[g][0]} is now version {affected[g][1]}" for g in stale) + "; run the analysis again",
            pointer="id", current={affected[g][0]: editing.etag(g, affected[g][1]) for g in stale})
    missing = [g for g in affected if g not in batch.expected]
    if missing:
        raise PreconditionRequired("If-Match needs the ETag of every grid the suggestion changes: "
                                   + ", ".join(editing.etag(g, affected[g][1]) for g in missing), pointer="If-Match")
    wrong = [g for g in affected if batch.expected[g] != affected[g][1]]
    if wrong:
        raise PreconditionFailed("the grid changed since you loaded it: " + ", ".join(
            f"{affected[g][0]} is now version {affected[g][1]}" for g in wrong), pointer="If-Match",
            current={affected[g][0]: editing.etag(g, affected[g][1]) for g in wrong})
    return True


def _record(batch: _Batch, sid: str, result: EditResult) -> None:
    batch.changed |= {g["id"] for g in result.grids}
    batch.results.append({"id": sid, "status": "applied", "grids": result.grids, "retired": result.retired,
                          "moved": sum(m.count for m in result.moves),
                          "moves": [{"kind": m.kind, "from": m.from_code, "to": m.to_code, "count": m.count}
                                    for m in result.moves]})


def _regroup(session: Session, actor: Actor, scope: Scope, batch: _Batch, sid: str, parts: tuple[str, ...],
             reason: str) -> None:
    rule_id, grid_id, version = (int(p) for p in parts)
    rule = get_rule(session, rule_id)
    current = _current(session, [grid_id], scope)
    ours = grid_id in batch.changed
    if not ours and current[grid_id][1] != version:
        _check(batch, sid, current, {grid_id: version})  # raises: stale
    region = list(session.execute(text("SELECT id FROM division")).scalars())
    pieces = pair_pieces(session, rule, region, near=grid_id)
    plan = next((g for g in suggest.regroups(rule, pieces) if g.grid.coarse_id == grid_id), None)
    if ours or (plan is not None and batch.changed & set(plan.affected)):
        _skipped(batch, sid, still_needed=plan is not None)
        return
    if plan is not None and plan.id == sid:
        _check(batch, sid, plan.affected, {grid_id: version})
    else:
        raise PreconditionFailed(f"suggestion {sid} no longer matches the grids (they were edited, or the rule"
                                 " changed); run the analysis again", pointer="id")
    fine_table = "grid" if rule.fine.layer_id is not None else "division"
    rows = session.execute(text(f"""
        WITH owners AS (SELECT * FROM unnest(CAST(:fine AS int[]), CAST(:owner AS int[])) o(fid, oid)),
        fine AS (SELECT o.oid, f.geom FROM owners o JOIN {fine_table} f ON f.id = o.fid),
        involved AS (SELECT ST_Union(geom) AS g FROM fine)
        SELECT x.id, ST_AsEWKB(ST_ForcePolygonCCW(ST_Multi(ST_CollectionExtract(ST_Union(
                   ST_Difference(x.geom, (SELECT g FROM involved)),
                   coalesce((SELECT ST_Union(geom) FROM fine WHERE oid = x.id), 'SRID=4326;POLYGON EMPTY'::geometry)),
                   3)))) AS geom
          FROM grid x WHERE x.id = ANY(:affected)"""),
        {"fine": list(plan.owners), "owner": list(plan.owners.values()), "affected": list(plan.affected)}).all()
    shapes = {r.id: bytes(r.geom) for r in rows}
    empty = [plan.affected[g][0] for g, s in shapes.items() if wkb.loads(s).is_empty]
    if empty:
        raise Conflict(f"regrouping would leave {', '.join(empty)} empty: retire or merge it first", pointer="id")
    result = editing.reshape_grids(session, actor, scope, {g: v for g, (_, v) in plan.affected.items()}, shapes,
                                   reason=reason)
    _follow_parents(session, rule, plan.owners)
    _record(batch, sid, result)


def _follow_parents(session: Session, rule: Any, owners: dict[int, int]) -> None:
    """When the coarse net is the fine net's parent layer (micro-grids in comprehensive grids), a unit
    handed to another grid takes it as its parent too — else it would lie outside its own parent."""
    if rule.fine.layer_id is None or rule.coarse.layer_id is None:
        return
    parent_layer = session.execute(text("SELECT parent_layer_id FROM grid_layer WHERE id = :l"),
                                   {"l": rule.fine.layer_id}).scalar()
    if parent_layer != rule.coarse.layer_id:
        return
    session.execute(text("""
        UPDATE grid g SET parent_grid_id = o.oid
          FROM unnest(CAST(:fine AS int[]), CAST(:owner AS int[])) o(fid, oid)
         WHERE g.id = o.fid AND g.parent_grid_id IS DISTINCT FROM o.oid"""),
                    {"fine": list(owners), "owner": list(owners.values())})


def _merge(session: Session, actor: Actor, scope: Scope, batch: _Batch, sid: str, parts: tuple[str, ...],
           reason: str) -> None:
    grid_id, version, into_id, into_version = (int(p) for p in parts)
    if {grid_id, into_id} & batch.changed:
        alive = session.execute(text("SELECT 1 FROM grid WHERE id = :g"), {"g": grid_id}).first() is not None
        _skipped(batch, sid, still_needed=alive)
        return
    affected = _current(session, [grid_id, into_id], scope)
    _check(batch, sid, affected, {grid_id: version, into_id: into_version})
    result = editing.retire_grid(session, actor, scope, grid_id, version, absorber_code=affected[into_id][0],
                                 reason=reason)
    _record(batch, sid, result)
    batch.changed.add(grid_id)


def _fill(session: Session, actor: Actor, scope: Scope, batch: _Batch, sid: str, parts: tuple[str, ...],
          reason: str) -> None:
    grid_id, version = int(parts[0]), int(parts[1])
    x, y = float(parts[2]), float(parts[3])
    if grid_id in batch.changed:
        _skipped(batch, sid, still_needed=True)
        return
    _check(batch, sid, _current(session, [grid_id], scope), {grid_id: version})
    row = session.execute(text("""
        WITH n AS (SELECT g.* FROM grid g WHERE g.id = :g),
        parent AS (SELECT d.geom FROM division d, n WHERE d.id = n.division_id),
        gaps AS (SELECT (ST_Dump(ST_CollectionExtract(ST_Difference(p.geom, coalesce(
                    (SELECT ST_Union(o.geom) FROM grid o, n WHERE o.layer_id = n.layer_id AND o.geom && p.geom
                        AND ST_Intersects(o.geom, p.geom)), 'SRID=4326;POLYGON EMPTY'::geometry)), 3))).geom AS g
                   FROM parent p)
        SELECT ST_AsBinary(ST_Union(n.geom, gaps.g)), ST_Area(gaps.g::geography) FROM n, gaps
         WHERE ST_DWithin(gaps.g, ST_SetSRID(ST_MakePoint(:x, :y), 4326), 1e-6)
           AND ST_Relate(n.geom, gaps.g, '****1****')
         LIMIT 1"""), {"g": grid_id, "x": x, "y": y}).first()
    if row is None:
        raise PreconditionFailed(f"suggestion {sid}: the gap is no longer there; run the analysis again",
                                 pointer="id")
    row, gap_m2 = row
    if gap_m2 > suggest.SMALL_GAP_M2:  # the gap grew since the analysis (a neighbour shrank): not this fill
        raise PreconditionFailed(f"suggestion {sid}: the gap is now {gap_m2:.0f} m², more than a fill covers "
                                 f"({suggest.SMALL_GAP_M2:.0f} m²); run the analysis again", pointer="id")
    shape = shapely.MultiPolygon(list(shapely.get_parts(shapely.from_wkb(bytes(row)))))
    result = editing.reshape_grid(session, actor, scope, grid_id, version, shape, reason=reason)
    _record(batch, sid, result)
