"""several counties in one database: a county code on every table a Citus cluster would shard

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01

A prefecture-level city 地级市 runs one platform for all its counties. Each
table that holds a county's own rows gets ``county_code`` (the 6-digit county
part of the statistical division code), the column a Citus cluster would
distribute them by (docs/scale.md). It is filled by BEFORE triggers, so no
writer has to know it: a division takes the first six digits of its code;
what hangs off a division, a grid, a household, an event or a staff member
takes its parent's; what stands only at a point (cameras, events, staff with
no division) takes the county that covers the point (the nearest one when
none does). A writer that knows the county may set it and skips the lookup
(the demo loader does, for its COPYs).

Why triggers and not a DEFAULT: a default cannot read another row. Why not a
generated column: it cannot either, and ``left(code, 6)`` only works for
tables with a division code.

Unique codes become unique per county (a Citus unique constraint must contain
the distribution column). Grid and division codes start with the county code
anyway; a plain index on ``code`` stays for lookups by code alone.

Composite indexes lead with ``county_code`` where hot queries filter: the
point lookups and tiles (GiST on ``(county_code, geom)``, which needs
btree_gist, a trusted extension), membership by grid, events by time.

Fast on a loaded database: a database that reaches this revision from 0010
holds at most one county, so the column is added with that county as a
constant default (no table rewrite, PostgreSQL 11+ stores it once), and the
default is then dropped; only the new indexes read the tables. A database
that went down to 0010 with several counties in it and comes back up is
filled row by row with the triggers' own rules (slower, but it comes back).
"""
from alembic import op
from sqlalchemy import text

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

# table -> how its county is found: ("code",) its own division code; (parent, fk) the parent row's;
# ("point", column) the county covering that point. Staff: division, else grid, else home.
DERIVED: dict[str, tuple[str, ...]] = {
    "division": ("code",),
    "grid": ("division", "division_id"),
    "grid_version": ("division", "division_id"),
    "grid_code_counter": ("division", "division_id"),
    "grid_lineage": ("grid_version", "child_id"),
    "grid_membership": ("grid", "grid_id"),
    "linked_household_group": ("division", "division_id"),
    "household": ("division", "division_id"),
    "resident": ("household", "household_id"),
    "camera": ("point", "geom"),
    "event": ("point", "geom"),
    "event_contact": ("event", "event_id"),
    "event_transition": ("event", "event_id"),
    "idempotency_key": ("event", "event_id"),
    "staff": ("staff",),
    "staff_position": ("staff", "staff_id"),
}

# Parent key column of each parent table (grid_version is keyed by grid_id for lineage).
_PARENT_KEY = {"division": "id", "grid": "id", "household": "id", "event": "id", "staff": "id",
               "grid_version": "grid_id"}

# Unique keys that become unique per county: (table, old constraint, columns).
PER_COUNTY_UNIQUE = [
    ("division", "division_code_key", "code"),
    ("grid", "grid_code_key", "code"),
    ("camera", "camera_code_key", "code"),
    ("linked_household_group", "linked_household_group_code_key", "code"),
]

# Indexes leading with the county for the hot queries (docs/scale.md shows each in EXPLAIN): the
# point lookups and tiles on grids and divisions, scope resolution (a division's grids), the
# membership filter of every scoped list, events by time. Not on the big point tables (households,
# residents, events' and staff's points): a (county_code, geom) GiST nearly doubled the time to
# insert 50,000 households (15.8 s → 27.0 s, measured on this machine under load), and their hot
# queries reach them through the membership index or a bounding box already inside one county.
INDEXES = [
    ("ix_division_county_level_geom", "division", "gist (county_code, level, geom)"),
    ("ix_grid_county_layer_geom", "grid", "gist (county_code, layer_id, geom)"),
    ("ix_grid_county_division", "grid", "btree (county_code, division_id)"),
    ("ix_grid_membership_county_grid", "grid_membership", "btree (county_code, grid_id, kind)"),
    ("ix_event_county_reported", "event", "btree (county_code, reported_at)"),
]

COUNTY_AT_SQL = """
CREATE FUNCTION gridmap_county_at(p geometry) RETURNS varchar(6) LANGUAGE sql STABLE AS $$
    -- The county covering the point, else the nearest (a report just across the border).
    SELECT left(code, 6)::varchar(6) FROM division WHERE level = 'county' ORDER BY geom <-> p LIMIT 1
$$;
"""


def _derivation(how: tuple[str, ...], row: str) -> tuple[str, str]:
    """(SQL expression giving the county of ``row`` — NEW in a trigger, the table in a backfill —,
    the columns whose change moves the row)."""
    if how == ("code",):
        return f"left({row}.code, 6)", "code"
    if how == ("staff",):
        return (f"coalesce((SELECT county_code FROM division WHERE id = {row}.division_id),"
                f" (SELECT county_code FROM grid WHERE id = {row}.grid_id), gridmap_county_at({row}.home))",
                "division_id, grid_id, home")
    if how[0] == "point":
        return f"gridmap_county_at({row}.{how[1]})", how[1]
    parent, fk = how
    return f"(SELECT county_code FROM {parent} WHERE {_PARENT_KEY[parent]} = {row}.{fk} LIMIT 1)", fk


def _function_sql(table: str, how: tuple[str, ...]) -> str:
    """The BEFORE trigger of one table: static SQL, so PL/pgSQL caches each lookup's plan."""
    expression, watched = _derivation(how, "NEW")
    body = f"NEW.county_code := {expression};"
    return f"""
CREATE FUNCTION gridmap_county_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A writer that set the county keeps it; an update that moves the row recomputes it.
    IF TG_OP = 'INSERT' AND NEW.county_code IS NOT NULL THEN
        RETURN NEW;
    END IF;
    {body}
    RETURN NEW;
END $$;
CREATE TRIGGER gridmap_county BEFORE INSERT OR UPDATE OF {watched} ON {table}
    FOR EACH ROW EXECUTE FUNCTION gridmap_county_{table}();
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    conn = op.get_bind()
    counties = conn.execute(text("SELECT DISTINCT left(code, 6) FROM division")).scalars().all()
    op.execute(COUNTY_AT_SQL)
    for table, how in DERIVED.items():  # parents before children: each backfill reads its parent's
        if len(counties) == 1:
            op.execute(f"ALTER TABLE {table} ADD COLUMN county_code varchar(6) NOT NULL DEFAULT '{counties[0]}'")
            op.execute(f"ALTER TABLE {table} ALTER COLUMN county_code DROP DEFAULT")
        else:
            op.execute(f"ALTER TABLE {table} ADD COLUMN county_code varchar(6)")
            if counties:
                op.execute(f"UPDATE {table} SET county_code = {_derivation(how, table)[0]}")
            op.execute(f"ALTER TABLE {table} ALTER COLUMN county_code SET NOT NULL")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_county_code_6_digits"
                   " CHECK (county_code ~ '^[0-9]{6}$')")
    op.execute("ALTER TABLE division ADD CONSTRAINT division_code_in_county CHECK (left(code, 6) = county_code)")
    for table, how in DERIVED.items():
        op.execute(_function_sql(table, how))
    for table, old, column in PER_COUNTY_UNIQUE:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {old}")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_county_{column}_key UNIQUE (county_code, {column})")
        op.execute(f"CREATE INDEX ix_{table}_{column} ON {table} ({column})")
    for name, table, spec in INDEXES:
        method, columns = spec.split(" ", 1)
        op.execute(f"CREATE INDEX {name} ON {table} USING {method} {columns}")


def downgrade() -> None:
    for name, _table, _spec in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    for table, old, column in PER_COUNTY_UNIQUE:
        op.execute(f"DROP INDEX IF EXISTS ix_{table}_{column}")
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_county_{column}_key")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {old} UNIQUE ({column})")  # fails if codes repeat
    for table in DERIVED:
        op.execute(f"DROP TRIGGER IF EXISTS gridmap_county ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS gridmap_county_{table}()")
        op.execute(f"ALTER TABLE {table} DROP COLUMN county_code")
    op.execute("DROP FUNCTION IF EXISTS gridmap_county_at(geometry)")
    # btree_gist stays: other objects may use it, and it costs nothing.
