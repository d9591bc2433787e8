"""Undo a planner's last grid edit (撤销): a new, audited edit that puts the previous shapes back.

What may be undone: the planner's own newest edit (one step, not a stack: an undo is itself an edit and
cannot be undone), once, and only while nobody has changed the grids it wrote — a later edit of any of
them, by anyone, is a 409 naming the grids and who. The log (geo/grids/edit_log.py) says which grids
the edit wrote, created and retired, and at which versions; the shapes come from ``grid_version``.

How each operation goes back (codes are never reused, so a grid that comes back is a NEW grid with a
new code, its history and lineage saying which grid it restores):
- reshape, regroup, rename: the grids get their previous shape and name (a new version, same code);
- split, partition, merge: the grids it created are retired and the grids it retired come back;
- retire: the grid comes back and the neighbour that absorbed it gets its old shape back;
- create: the grid is retired; on a full-cover layer (不重不漏) a neighbour takes its area, as any
  retirement, and without one the undo is refused.
The restored shapes are checked as any edit's: against the other grids of the layer (someone may have
drawn a grid where the old shape was), for gaps on full-cover layers, and against the grid rules. What
lies under them is reassigned and the moves returned.

Notes (free text of a grid) are not versioned in ``grid_version``: undoing an attribute edit restores
the name, not the notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope
from geo.errors import Conflict, NotFound
from geo.grids import edit_log
from geo.grids.edit_log import Edit, Touched
from geo.grids.editing import (
    EditResult,
    _finish,
    _insert,
    _layer,
    _load,
    _next_code,
    _retire,
    _set_actor,
    lock_layer,
    retire_grid,
)
from geo.grids.reassign import snapshot
from geo.grids.rules import ensure_meaningful, gap_conflict, opened_gap
from geo.grids.shaping import TINY_M2, union_area
from geo.privacy.audit import Actor
from geo.privacy.pii import mask_free_text
from geo.settings import GridRules


@dataclass(frozen=True)
class _Old:
    """A grid as it was at one version (grid_version)."""

    grid_id: int
    code: str
    name: str
    division_id: int
    parent_grid_id: int | None
    geom: bytes


# -- may it be undone? ------------------------------------------------------------------------------

def why_not(session: Session, edit: Edit, username: str, *, last_id: int | None = None) -> str | None:
    """Why ``username`` may not undo ``edit`` now, or None when they may."""
    if edit.actor != username:
        return f"edit {edit.id} was made by {edit.actor}: only its author may undo it"
    if edit.operation == "undo":
        return f"edit {edit.id} is an undo (of edit {edit.undoes}): make the edit again instead"
    if edit.undone_by is not None:
        return f"edit {edit.id} was already undone by edit {edit.undone_by}"
    last = last_id if last_id is not None else edit_log.last_of(session, username)
    if last != edit.id:
        return f"only your last edit can be undone, and edit {edit.id} is not (edit {last} is)"
    return _changed_since(session, edit)


def _changed_since(session: Session, edit: Edit) -> str | None:
    """The grids of ``edit`` that were changed after it, and by whom; None when none were."""
    kept = [g for g in edit.grids if g.after is not None]
    now = dict(session.execute(text("SELECT id, version FROM grid WHERE id = ANY(:ids)"),
                               {"ids": [g.id for g in kept]}).all())
    changed = [g for g in kept if now.get(g.id) != g.after]
    if not changed:
        return None
    later = edit_log.later_edits(session, edit.id, [g.id for g in changed])
    parts = []
    for g in changed:
        by = [e for e in later if g.id in e["grid_ids"]]
        what = "edited" if g.id in now else "retired"
        if by:
            who = ", ".join(f"{e['actor']} (edit {e['id']}, {e['operation']})" for e in by)
        else:  # changed outside the editor (an import): the history still says who
            who = session.execute(text(
                "SELECT author FROM grid_version WHERE grid_id = :g ORDER BY version DESC LIMIT 1"),
                {"g": g.id}).scalar() or "someone"
        parts.append(f"{g.code} was {what} since by {who}")
    return "; ".join(parts)


def _ensure_undoable(session: Session, edit: Edit, actor: Actor) -> None:
    reason = why_not(session, edit, actor.username)
    if reason is not None:
        raise Conflict(f"edit {edit.id} cannot be undone: {reason}", pointer="id")


# -- listing ----------------------------------------------------------------------------------------

def list_edits(session: Session, actor: Actor, scope: Scope, *, mine: bool, limit: int,
               before_id: int | None = None) -> list[dict[str, Any]]:
    """Edits newest first (the caller's with ``mine``, else every edit in the caller's territory), each with
    ``undoable`` and, when not, why."""
    divisions = None if scope.everything else list(scope.own_divisions)
    rows = edit_log.edits(session, actor=actor.username if mine else None, divisions=divisions, limit=limit,
                          before_id=before_id)
    last = edit_log.last_of(session, actor.username)
    out = []
    for e in rows:
        reason = why_not(session, e, actor.username, last_id=last)
        out.append({"id": e.id, "actor": e.actor, "operation": e.operation, "at": e.at.isoformat(),
                    # free text: ID and phone numbers masked, as in the grid history
                    "reason": mask_free_text(e.reason),
                    "grids": [{"id": g.id, "code": g.code, "before": g.before, "after": g.after} for g in e.grids],
                    "undoes": e.undoes, "undone_by": e.undone_by, "undoable": reason is None, "why_not": reason})
    return out


# -- undoing ----------------------------------------------------------------------------------------

def undo_edit(session: Session, actor: Actor, scope: Scope, edit_id: int, *, reason: str = "",
              rules: GridRules | None = None) -> tuple[EditResult, Edit]:
    """Undo ``edit_id`` as a new edit in the caller's transaction; returns its result and the edit undone."""
    rules = rules or GridRules()
    edit = edit_log.get(session, edit_id)
    if edit is None or not (scope.everything or edit.division_id in scope.own_divisions):
        raise NotFound(f"no grid edit {edit_id}", pointer="id")
    lock_layer(session, edit.layer_id)  # as any edit of the layer: nothing changes under the checks
    edit = edit_log.get(session, edit_id, lock=True) or edit
    _ensure_undoable(session, edit, actor)
    why = f"undo of edit {edit.id}: {reason or _describe(edit)}"
    layer = _layer(session, layer_id=edit.layer_id)
    with edit_log.undoing(edit.id):
        created, retired, written = edit.created, edit.retired, edit.written
        if len(created) == 1 and not retired and not written and layer["full_cover"]:
            # a create on a full-cover layer: retiring it must hand its area to a neighbour
            result = retire_grid(session, actor, scope, created[0].id, created[0].after or 0, reason=why, rules=rules)
        else:
            result = _restore(session, actor, scope, edit, layer, why, rules)
    return result, edit


def _describe(edit: Edit) -> str:
    codes = ", ".join(g.code for g in edit.grids)
    return f"{edit.operation} of {codes}"


def _versions(session: Session, wanted: list[tuple[int, int]]) -> dict[int, _Old]:
    rows = session.execute(text("""
        SELECT v.grid_id, v.code, v.name, v.division_id, v.parent_grid_id, ST_AsEWKB(v.geom) AS geom
          FROM grid_version v JOIN unnest(CAST(:ids AS int[]), CAST(:vs AS int[])) w(id, version)
            ON v.grid_id = w.id AND v.version = w.version"""),
        {"ids": [w[0] for w in wanted], "vs": [w[1] for w in wanted]}).all()
    return {r.grid_id: _Old(r.grid_id, r.code, r.name, r.division_id, r.parent_grid_id, bytes(r.geom)) for r in rows}


def _restore(session: Session, actor: Actor, scope: Scope, edit: Edit, layer: dict[str, Any], why: str,
             rules: GridRules) -> EditResult:
    written, created, retired = edit.written, edit.created, edit.retired
    current = _load(session, [g.id for g in written + created], scope)  # locked; NotFound outside the territory
    old = _versions(session, [(g.id, g.before) for g in written if g.before is not None]
                    + [(g.id, g.before) for g in retired if g.before is not None])
    shapes = [old[g.id].geom for g in written + retired]
    exclude = [g.id for g in written + created]
    for g in retired:
        _check_parent(session, old[g.id])
        ensure_meaningful(session, old[g.id].geom, rules, what=f"{g.code} as it was", pointer="id", error=Conflict)
    if not layer["allow_overlap"]:
        _check_overlaps(session, layer["id"], shapes, exclude)
    if layer["full_cover"]:
        gap = opened_gap(session, layer_id=layer["id"], old=[c.geom for c in current], new=shapes, exclude=exclude,
                         rules=rules)
        if gap is not None:
            raise gap_conflict(gap, [g.code for g in written + created])
    area = union_area(session, [c.geom for c in current] + shapes)
    before = snapshot(session, layer["id"], area)
    _set_actor(session, actor, why)
    result = EditResult(retired=[g.code for g in created])
    for g in written:
        result.grids.append(dict(session.execute(text(
            "UPDATE grid SET geom = ST_GeomFromEWKB(:g), name = :name WHERE id = :id RETURNING id, code, name, version"),
            {"g": old[g.id].geom, "name": old[g.id].name, "id": g.id}).mappings().one()))
    restored: list[tuple[Touched, dict[str, Any]]] = []
    for g in retired:
        was = old[g.id]
        _set_actor(session, actor, f"{why}; restored from {was.code}")  # the new grid's history says which
        grid = _insert(session, code=_next_code(session, was.division_id, layer), layer_id=layer["id"],
                       division_id=was.division_id, parent_grid_id=was.parent_grid_id, name=was.name, notes="",
                       geom=was.geom)
        restored.append((g, grid))
        result.grids.append(grid)
    _set_actor(session, actor, why)
    if created:
        successors = [grid["id"] for _, grid in restored] or [g.id for g in written]
        _retire(session, [c for c in current if c.id in {g.id for g in created}], successors, "undo", actor)
    if restored:  # "restored from": the grid that comes back descends from the one it restores
        session.execute(text(
            "INSERT INTO grid_lineage (parent_id, child_id, operation, author)"
            " SELECT o, n, 'restore', :a FROM unnest(CAST(:old AS int[]), CAST(:new AS int[])) x(o, n)"),
            {"old": [g.id for g, _ in restored], "new": [grid["id"] for _, grid in restored], "a": actor.username})
    return _finish(session, actor, result, action="grid.undo", entity_id=edit.id, layer_id=layer["id"], area=area,
                   before=before, reason=why)


def _check_parent(session: Session, was: _Old) -> None:
    if was.parent_grid_id is None:
        return
    if session.execute(text("SELECT 1 FROM grid WHERE id = :p"), {"p": was.parent_grid_id}).first() is None:
        raise Conflict(f"{was.code} cannot come back: its parent grid was retired since", pointer="id")


def _check_overlaps(session: Session, layer_id: int, shapes: list[bytes], exclude: list[int]) -> None:
    """Refuse when another grid of the layer now lies where a restored shape goes (beyond 0.5 m of its edge,
    the snapping distance): someone drew or reshaped into the area since; name the grid and its author."""
    rows = session.execute(text("""
        WITH s AS (SELECT ST_GeomFromEWKB(g) AS g FROM unnest(CAST(:shapes AS bytea[])) g)
        SELECT n.code, sum(ST_Area(ST_Intersection(n.geom, s.g)::geography)) AS area,
               (SELECT author FROM grid_version v WHERE v.grid_id = n.id ORDER BY v.version DESC LIMIT 1) AS author
          FROM grid n JOIN s ON n.geom && s.g AND ST_Relate(n.geom, s.g, '2********')
         WHERE n.layer_id = :l AND NOT n.id = ANY(:ex)
           AND ST_Area(ST_Intersection(ST_Buffer(n.geom, -0.5 / (111320.0 * cos(radians(ST_Y(ST_Centroid(s.g)))))),
                                       s.g)::geography) > :tiny
         GROUP BY n.id, n.code ORDER BY n.code"""),
        {"shapes": shapes, "l": layer_id, "ex": exclude, "tiny": TINY_M2}).all()
    if rows:
        raise Conflict("the old shapes cannot come back: " + "; ".join(
            f"{r.code} (by {r.author or 'someone'}) now covers {r.area:.1f} m² of them" for r in rows),
            pointer="id", conflicts=[{"code": r.code, "area_m2": round(r.area, 2)} for r in rows])
