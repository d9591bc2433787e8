"""visits and patrols: household visits 入户走访, patrol tracks 巡查 and check-ins 打卡

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02

- visit: one household visit by a staff member (the worker's log of their daily job). The worker's
  position and its accuracy are the worker's personal data (行踪轨迹): kept for
  GRIDMAP_POSITION_RETENTION_DAYS like position history, then set to NULL by the purge
  (``gridmap positions purge``); the visit itself, its distance to the household in metres and the
  ``far`` flag stay, as the work record. ``far`` is a flag, never a refusal: a worker may log from the
  door of a building whose register point is 300 m off. ``grid_id`` is the household's comprehensive
  grid when the visit was logged, so "per grid" reads need no join through membership.
  Unique (staff_id, household_id, at): a phone retrying the same visit stores it once.
- Indexes: (household_id, at DESC) answers "last visit per household" with one index probe per
  household; (grid_id, at DESC) the grid's visits; the unique (staff_id, household_id, at) a worker's;
  (at) WHERE position IS
  NOT NULL the purge's scan of what still holds a position.
- patrol: staff, grid, started/ended, length in metres (on the spheroid, kept after the purge).
- patrol_point: the track as points with times; unique (patrol_id, at), so a batch re-sent after a
  lost answer is stored once. Deleted by the purge past retention.
- patrol_checkin: a check-in 打卡 (point, time, optional household or place, note); its position is
  set to NULL by the purge like a visit's. Unique (patrol_id, at) for retries.
- created_by: the account that wrote the row, without a foreign key (accounts are deleted and recreated
  by the demo; a key would make every account deletion scan these tables; the audit log holds the account).
  Every other reference has an index, so deleting a county's households, staff or grids stays fast.
- county_code on each (docs/scale.md): written by the code from the household or the grid.
"""
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TYPE visit_kind AS ENUM ('routine', 'care', 'verify', 'mediation', 'other')")
    op.execute("""
    CREATE TABLE visit (
        id bigserial PRIMARY KEY,
        county_code varchar(6) NOT NULL CHECK (county_code ~ '^[0-9]{6}$'),
        household_id integer NOT NULL REFERENCES household(id) ON DELETE CASCADE,
        staff_id integer NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
        grid_id integer REFERENCES grid(id) ON DELETE SET NULL,
        at timestamptz NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        kind visit_kind NOT NULL DEFAULT 'routine',
        note text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
        position geometry(Point, 4326),
        accuracy_m double precision CHECK (accuracy_m IS NULL OR accuracy_m >= 0),
        distance_m double precision CHECK (distance_m IS NULL OR distance_m >= 0),
        far boolean NOT NULL DEFAULT false,
        created_by integer
    )""")
    op.execute("CREATE UNIQUE INDEX ix_visit_staff_household_at ON visit (staff_id, household_id, at)")
    op.execute("CREATE INDEX ix_visit_household_at ON visit (household_id, at DESC)")
    op.execute("CREATE INDEX ix_visit_grid_at ON visit (grid_id, at DESC)")
    op.execute("CREATE INDEX ix_visit_positioned_at ON visit (at) WHERE position IS NOT NULL")
    op.execute("""
    CREATE TABLE patrol (
        id bigserial PRIMARY KEY,
        county_code varchar(6) NOT NULL CHECK (county_code ~ '^[0-9]{6}$'),
        staff_id integer NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
        grid_id integer REFERENCES grid(id) ON DELETE SET NULL,
        started_at timestamptz NOT NULL,
        ended_at timestamptz,
        length_m double precision,
        created_by integer,
        CHECK (ended_at IS NULL OR ended_at >= started_at)
    )""")
    op.execute("CREATE INDEX ix_patrol_staff_started ON patrol (staff_id, started_at)")
    op.execute("CREATE INDEX ix_patrol_grid_started ON patrol (grid_id, started_at)")
    op.execute("""
    CREATE TABLE patrol_point (
        id bigserial PRIMARY KEY,
        county_code varchar(6) NOT NULL CHECK (county_code ~ '^[0-9]{6}$'),
        patrol_id bigint NOT NULL REFERENCES patrol(id) ON DELETE CASCADE,
        at timestamptz NOT NULL,
        geom geometry(Point, 4326) NOT NULL,
        accuracy_m double precision CHECK (accuracy_m IS NULL OR accuracy_m >= 0)
    )""")
    op.execute("CREATE UNIQUE INDEX ix_patrol_point_patrol_at ON patrol_point (patrol_id, at)")
    op.execute("CREATE INDEX ix_patrol_point_at ON patrol_point (at)")
    op.execute("""
    CREATE TABLE patrol_checkin (
        id bigserial PRIMARY KEY,
        county_code varchar(6) NOT NULL CHECK (county_code ~ '^[0-9]{6}$'),
        patrol_id bigint NOT NULL REFERENCES patrol(id) ON DELETE CASCADE,
        at timestamptz NOT NULL,
        position geometry(Point, 4326),
        accuracy_m double precision CHECK (accuracy_m IS NULL OR accuracy_m >= 0),
        household_id integer REFERENCES household(id) ON DELETE SET NULL,
        place text CHECK (place IS NULL OR length(place) <= 100),
        note text NOT NULL DEFAULT '' CHECK (length(note) <= 500)
    )""")
    op.execute("CREATE UNIQUE INDEX ix_patrol_checkin_patrol_at ON patrol_checkin (patrol_id, at)")
    op.execute("CREATE INDEX ix_patrol_checkin_household ON patrol_checkin (household_id) WHERE household_id IS NOT NULL")
    op.execute("CREATE INDEX ix_patrol_checkin_positioned_at ON patrol_checkin (at) WHERE position IS NOT NULL")
    op.execute("""
    DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gridmap_app') THEN
            EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON visit, patrol, patrol_point, patrol_checkin TO gridmap_app';
            EXECUTE 'GRANT USAGE, SELECT ON SEQUENCE visit_id_seq, patrol_id_seq, patrol_point_id_seq,'
                    ' patrol_checkin_id_seq TO gridmap_app';
        END IF;
    END $$;""")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS patrol_checkin, patrol_point, patrol, visit")
    op.execute("DROP TYPE IF EXISTS visit_kind")
