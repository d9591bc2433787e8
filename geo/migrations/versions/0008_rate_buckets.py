"""rate buckets: token-bucket rate limits shared by every server process

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

One row per bucket (geo/access/ratelimit.py): the tokens left at ``at``, when the
bucket will be full again (``full_at``, so refilled rows can be pruned without
knowing each limit's rate) and whether the last hit was allowed. UNLOGGED: it
is hot, tiny and disposable; after a crash PostgreSQL empties it, which only
forgets who was over their limit. No index on full_at: every hit rewrites it, and
without one the updates stay HOT; the occasional prune scans a table of at most
a few thousand live rows. The application role reads and writes it.
"""
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE UNLOGGED TABLE rate_bucket (
        key text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 300),
        tokens double precision NOT NULL CHECK (tokens >= 0),
        at timestamptz NOT NULL,
        full_at timestamptz NOT NULL,
        allowed boolean NOT NULL
    )""")
    op.execute("""
    DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gridmap_app') THEN
            EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON rate_bucket TO gridmap_app';
        END IF;
    END $$;""")


def downgrade() -> None:
    op.execute("DROP TABLE rate_bucket")
