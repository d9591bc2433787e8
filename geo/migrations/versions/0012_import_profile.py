"""import profiles: saved, named field maps for importing a county's files

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-01

A county's files come from the same few offices again and again, each with its own column names
(网格名称 here, 网格名 there). An import profile stores the field map once, by name and kind
(importers/files/profiles.py), so ``gridmap import grids FILE --profile 自然资源局`` needs no --map.
The mapping is gridmap field -> the file's column, as JSON; a name is unique within its kind.
The application role reads and writes it (the API saves profiles for planners).
"""
from alembic import op

revision = '0012'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE import_profile (
        id serial PRIMARY KEY,
        name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
        kind text NOT NULL CHECK (kind IN ('divisions', 'grids', 'households', 'cameras', 'staff', 'residents')),
        mapping jsonb NOT NULL CHECK (jsonb_typeof(mapping) = 'object'),
        author text,
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (kind, name)
    )""")
    op.execute("""
    DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gridmap_app') THEN
            EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON import_profile TO gridmap_app';
            EXECUTE 'GRANT USAGE ON SEQUENCE import_profile_id_seq TO gridmap_app';
        END IF;
    END $$;""")


def downgrade() -> None:
    op.execute("DROP TABLE import_profile")
