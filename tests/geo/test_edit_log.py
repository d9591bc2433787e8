"""The grid edit log: one row per applied edit with the versions it wrote; none for a dry run or a refused edit."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope
from geo.errors import Conflict, PreconditionFailed
from geo.grids import edit_log, editing, undo
from geo.grids.preview import dry_run
from geo.privacy.audit import Actor

PLANNER = Actor(None, "planner-t")
OTHER = Actor(None, "planner-u")


def _pair(session: Session) -> tuple[int, int, int, int]:
    """Two neighbouring comprehensive grids of one village: ids and versions."""
    row = session.execute(text("""
        SELECT g.id, g.version, n.id AS nid, n.version AS nversion FROM grid g
          JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive'
          JOIN grid n ON n.layer_id = g.layer_id AND n.division_id = g.division_id AND n.id > g.id
               AND ST_Relate(n.geom, g.geom, '****1****')
         ORDER BY g.code LIMIT 1""")).one()
    return row.id, row.version, row.nid, row.nversion


def _rows(session: Session) -> int:
    return session.execute(text("SELECT count(*) FROM grid_edit")).scalar_one()


def test_each_applied_edit_leaves_one_row_with_its_versions(session: Session) -> None:
    a, va, b, vb = _pair(session)
    editing.update_attributes(session, PLANNER, Scope.platform(), a, va, name="改名", reason="survey")
    (e,) = edit_log.edits(session, actor=PLANNER.username, divisions=None, limit=5)
    assert (e.operation, e.reason, [(g.id, g.before, g.after) for g in e.grids]) == (
        "update", "survey", [(a, va, va + 1)])

    result = editing.merge_grids(session, PLANNER, Scope.platform(), {a: va + 1, b: vb})
    e = edit_log.edits(session, actor=PLANNER.username, divisions=None, limit=5)[0]
    merged = result.grids[0]["id"]
    assert e.operation == "merge"
    assert {(g.id, g.before, g.after) for g in e.grids} == {(merged, None, 1), (a, va + 1, None), (b, vb, None)}
    assert [g.id for g in e.created] == [merged] and {g.id for g in e.retired} == {a, b} and e.written == []


def test_dry_runs_and_refused_edits_leave_no_row(session: Session) -> None:
    a, va, b, vb = _pair(session)
    before = _rows(session)
    answer = dry_run(session, lambda: editing.merge_grids(session, PLANNER, Scope.platform(), {a: va, b: vb}))
    assert answer["dry_run"] and answer["grids"][0]["id"] is None
    with pytest.raises(PreconditionFailed):
        editing.update_attributes(session, PLANNER, Scope.platform(), a, va + 7, name="x")
    assert _rows(session) == before


def test_an_undo_is_linked_both_ways_and_only_the_author_may_undo(session: Session) -> None:
    a, va, _, _ = _pair(session)
    old = session.execute(text("SELECT name FROM grid WHERE id = :a"), {"a": a}).scalar_one()
    editing.update_attributes(session, PLANNER, Scope.platform(), a, va, name="新名")
    edit = edit_log.edits(session, actor=PLANNER.username, divisions=None, limit=1)[0]
    assert "only its author" in (undo.why_not(session, edit, OTHER.username) or "")
    with pytest.raises(Conflict):
        undo.undo_edit(session, OTHER, Scope.platform(), edit.id)
    result, undone = undo.undo_edit(session, PLANNER, Scope.platform(), edit.id)
    assert undone.id == edit.id and result.grids[0]["name"] == old
    again = edit_log.get(session, edit.id)
    assert again is not None and again.undone_by is not None
    back = edit_log.get(session, again.undone_by)
    assert back is not None and (back.operation, back.undoes, back.actor) == ("undo", edit.id, PLANNER.username)
