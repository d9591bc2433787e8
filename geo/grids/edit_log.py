"""The grid edit log (table ``grid_edit``, migration 0016): one row per applied grid edit.

Every operation of geo/grids/editing.py ends by handing its result to ``logged``, in the edit's own
transaction, so a refused edit or a dry run (a rolled-back savepoint) leaves no row. The row says
which grids the edit wrote, from which version to which, which it created and which it retired:
what an undo (geo/grids/undo.py) must put back, and what nobody may have touched since.

The versions are read from ``grid_version`` rather than passed in by each operation, so the hook in
editing.py stays one line per operation: a version written in this transaction has
``valid_from = now()`` (the transaction's start), so the version before it is one less (or none: the
grid was created); a grid the edit named but did not change keeps its version.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.privacy.audit import Actor

if TYPE_CHECKING:  # editing imports this module; the type alone goes the other way
    from geo.grids.editing import EditResult

# The edit an undo in progress reverts: set by geo/grids/undo.py around the operations it runs, so the
# row they leave is the undo's (operation "undo", linked both ways) whichever operation wrote it.
_UNDOING: ContextVar[int | None] = ContextVar("gridmap_undoing", default=None)


@dataclass(frozen=True)
class Touched:
    """One grid of an edit: ``before`` is None for a grid it created, ``after`` None for one it retired."""

    id: int
    code: str
    before: int | None
    after: int | None


@dataclass(frozen=True)
class Edit:
    id: int
    actor: str
    operation: str
    at: datetime
    reason: str
    layer_id: int
    division_id: int
    grids: tuple[Touched, ...]
    undoes: int | None
    undone_by: int | None

    @property
    def created(self) -> list[Touched]:
        return [g for g in self.grids if g.before is None]

    @property
    def retired(self) -> list[Touched]:
        return [g for g in self.grids if g.after is None]

    @property
    def written(self) -> list[Touched]:
        """Grids that exist before and after the edit, with a version of their own written by it."""
        return [g for g in self.grids if g.before is not None and g.after is not None and g.before != g.after]


@contextmanager
def undoing(edit_id: int) -> Iterator[None]:
    """Mark the edits logged inside the block as the undo of ``edit_id``."""
    token = _UNDOING.set(edit_id)
    try:
        yield
    finally:
        _UNDOING.reset(token)


def logged(session: Session, actor: Actor, result: EditResult, *, action: str, reason: str) -> EditResult:
    """Record ``result`` (an applied edit) in the log and hand it back: editing.py's one-line hook."""
    record(session, actor, written=[g["id"] for g in result.grids], retired=result.retired,
           operation=action.removeprefix("grid."), reason=reason)
    return result


def record(session: Session, actor: Actor, *, written: list[int], retired: list[str], operation: str,
           reason: str) -> int | None:
    """Append the log row of an edit that wrote the grids ``written`` (ids, current) and retired the codes
    ``retired``, in this transaction; None when it touched nothing."""
    rows = session.execute(text("""
        SELECT v.grid_id AS id, v.code, v.version, v.layer_id, v.division_id,
               CASE WHEN v.valid_from <> now() THEN v.version WHEN v.version > 1 THEN v.version - 1 END AS before,
               v.version AS after
          FROM grid_version v WHERE v.grid_id = ANY(:ids) AND v.valid_to IS NULL
        UNION ALL
        SELECT * FROM (
            SELECT DISTINCT ON (v.grid_id) v.grid_id, v.code, v.version, v.layer_id, v.division_id, v.version, CAST(NULL AS int)
              FROM grid_version v
             WHERE v.code = ANY(:codes) AND v.valid_to = now() AND NOT EXISTS (SELECT 1 FROM grid g WHERE g.id = v.grid_id)
             ORDER BY v.grid_id, v.version DESC) r"""),
        {"ids": written, "codes": retired}).mappings().all()
    if not rows:
        return None
    touched = [{"id": r["id"], "code": r["code"], "before": r["before"], "after": r["after"]} for r in rows]
    undoes = _UNDOING.get()
    edit_id = session.execute(text("""
        INSERT INTO grid_edit (division_id, layer_id, user_id, actor, operation, reason, grids, grid_ids, undoes)
        VALUES (:d, :l, :u, :a, :op, :r, CAST(:g AS jsonb), :ids, :undoes) RETURNING id"""),
        {"d": rows[0]["division_id"], "l": rows[0]["layer_id"], "u": actor.user_id, "a": actor.username,
         "op": "undo" if undoes else operation, "r": reason[:500], "g": json.dumps(touched),
         "ids": [t["id"] for t in touched], "undoes": undoes}).scalar_one()
    if undoes:
        session.execute(text("UPDATE grid_edit SET undone_by = :u WHERE id = :e"), {"u": edit_id, "e": undoes})
    return int(edit_id)


def get(session: Session, edit_id: int, *, lock: bool = False) -> Edit | None:
    """One edit of the log (locked for the rest of the transaction with ``lock``)."""
    row = session.execute(text(
        "SELECT id, actor, operation, at, reason, layer_id, division_id, grids, undoes, undone_by FROM grid_edit"
        " WHERE id = :id" + (" FOR UPDATE" if lock else "")), {"id": edit_id}).mappings().first()
    return None if row is None else _edit(row)


def edits(session: Session, *, actor: str | None, divisions: list[int] | None, limit: int,
          before_id: int | None = None) -> list[Edit]:
    """Edits newest first: of one actor, and/or in some divisions (None: any)."""
    rows = session.execute(text("""
        SELECT id, actor, operation, at, reason, layer_id, division_id, grids, undoes, undone_by FROM grid_edit
         WHERE (CAST(:actor AS text) IS NULL OR actor = :actor)
           AND (:any_division OR division_id = ANY(:divisions))
           AND (CAST(:before AS int) IS NULL OR id < :before)
         ORDER BY id DESC LIMIT :limit"""),
        {"actor": actor, "any_division": divisions is None, "divisions": divisions or [], "before": before_id,
         "limit": limit}).mappings().all()
    return [_edit(r) for r in rows]


def last_of(session: Session, actor: str) -> int | None:
    """The id of ``actor``'s newest edit (an undo counts: undo is one step, not a stack)."""
    return session.execute(text("SELECT max(id) FROM grid_edit WHERE actor = :a"), {"a": actor}).scalar()


def later_edits(session: Session, edit_id: int, grid_ids: list[int]) -> list[dict[str, Any]]:
    """Edits after ``edit_id`` that touched any of ``grid_ids``: who changed those grids since."""
    rows = session.execute(text("""
        SELECT id, actor, operation, grid_ids FROM grid_edit
         WHERE id > :e AND grid_ids && CAST(:ids AS int[]) ORDER BY id"""), {"e": edit_id, "ids": grid_ids})
    return [dict(r) for r in rows.mappings()]


def _edit(row: Any) -> Edit:
    return Edit(row["id"], row["actor"], row["operation"], row["at"], row["reason"], row["layer_id"],
                row["division_id"], tuple(Touched(g["id"], g["code"], g["before"], g["after"]) for g in row["grids"]),
                row["undoes"], row["undone_by"])
