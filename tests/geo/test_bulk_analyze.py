"""After a bulk load the planner knows the tables (issue 11): a planner's first edits are as fast as later ones."""

from __future__ import annotations

from sqlalchemy import Engine, text

from geo.bulk import analyze_after_load


def _stats(engine: Engine, table: str) -> tuple[float, int, int, int]:
    with engine.connect() as c:
        reltuples, relallvisible = c.execute(text(
            "SELECT reltuples, relallvisible FROM pg_class WHERE oid = CAST(:t AS regclass)"), {"t": table}).one()
        columns = c.execute(text("SELECT count(*) FROM pg_stats WHERE tablename = :t"), {"t": table}).scalar_one()
        rows = c.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    return reltuples, relallvisible, columns, rows


def test_the_loaded_membership_has_statistics_once_committed(engine: Engine, district) -> None:  # noqa: ANN001
    """The loader analyses what assignment wrote in its own transaction; it used to analyse
    grid_membership while it was still empty, and after the commit the planner saw no rows."""
    reltuples, _, columns, rows = _stats(engine, "grid_membership")
    assert rows > 10_000
    assert columns >= 4  # kind, entity_id, layer_id, grid_id
    assert abs(reltuples - rows) <= rows * 0.1


def test_analyze_after_load_also_sets_the_visibility_map(engine: Engine, district) -> None:  # noqa: ANN001
    analyze_after_load(engine, ["grid_membership", "household"])
    for table in ("grid_membership", "household"):
        reltuples, relallvisible, columns, rows = _stats(engine, table)
        assert columns > 0 and abs(reltuples - rows) <= rows * 0.1
        assert relallvisible > 0, table  # VACUUM ran: index-only scans and no hint-bit writes on first reads
    analyze_after_load(engine, [])  # nothing to do is fine
