"""live: NOTIFY on new and changed events and responder positions, for the live stream

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02

The open map hears of a new report or a responder's move within a second (issue 15, "Live"). The
writes come from every server process, from imports and from the CLI, so the application cannot be
the one to announce them: PostgreSQL does, with NOTIFY from triggers, and every server process
LISTENs on one connection (geo/live/listener.py). NOTIFY is transactional: a notification is
delivered at commit, in commit order, and never for a write that was rolled back, so the stream never
shows an event the database does not hold.

Statement-level triggers with transition tables, not one NOTIFY per row: the demo's 14,000 events,
an import of 100,000 households' worth of staff or the demo's position refresh are one statement
each, and become a handful of notifications of up to 500 ids (a payload must stay under 8,000
bytes: ``{"k":"event","s":12,"ids":[…]}`` of 500 ten-digit ids is about 5,500). The payload holds
ids only, never a name, phone or text: the listener reads the rows itself, once per notification
for all its subscribers, and each subscriber gets only what its territory and permissions allow.

``s`` comes from the sequence ``live_seq``: the same number for a notification in every process, so
a browser that reconnects to another worker can still say where it left off (Last-Event-ID).

Updates are announced only when something the stream shows (or a worklist sorts by) changed:
an event's status, category, place, deadline, assignee, escalation or duplicate link; a staff
member's position, position time, availability or role. A touch of ``updated_at`` alone, or a label
recomputation, stays quiet.
"""
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

CHANNEL = "gridmap_live"
CHUNK = 500

_UP = f"""
CREATE SEQUENCE live_seq;

CREATE FUNCTION gridmap_live_send(kind text, ids bigint[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    n int := coalesce(array_length(ids, 1), 0);
    i int := 1;
BEGIN
    WHILE i <= n LOOP
        PERFORM pg_notify('{CHANNEL}', json_build_object(
            'k', kind, 's', nextval('live_seq'), 'ids', ids[i:i + {CHUNK} - 1])::text);
        i := i + {CHUNK};
    END LOOP;
END $$;

CREATE FUNCTION gridmap_live_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM gridmap_live_send('event', (SELECT array_agg(id ORDER BY id) FROM live_new));
    ELSE
        PERFORM gridmap_live_send('event', (
            SELECT array_agg(n.id ORDER BY n.id) FROM live_new n JOIN live_old o ON o.id = n.id
             WHERE (n.status, n.category, n.geom, n.due_at, n.assignee_kind, n.assignee_staff_id,
                    n.assignee_division_id, n.assignee_department, n.escalated_to, n.duplicate_of)
                   IS DISTINCT FROM
                   (o.status, o.category, o.geom, o.due_at, o.assignee_kind, o.assignee_staff_id,
                    o.assignee_division_id, o.assignee_department, o.escalated_to, o.duplicate_of)));
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION gridmap_live_staff() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM gridmap_live_send('responder', (
            SELECT array_agg(id ORDER BY id) FROM live_new WHERE position IS NOT NULL));
    ELSE
        PERFORM gridmap_live_send('responder', (
            SELECT array_agg(n.id ORDER BY n.id) FROM live_new n JOIN live_old o ON o.id = n.id
             WHERE (n.position, n.position_at, n.availability, n.role)
                   IS DISTINCT FROM (o.position, o.position_at, o.availability, o.role)));
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER live_event_insert AFTER INSERT ON event REFERENCING NEW TABLE AS live_new
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_live_event();
CREATE TRIGGER live_event_update AFTER UPDATE ON event REFERENCING OLD TABLE AS live_old NEW TABLE AS live_new
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_live_event();
CREATE TRIGGER live_staff_insert AFTER INSERT ON staff REFERENCING NEW TABLE AS live_new
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_live_staff();
CREATE TRIGGER live_staff_update AFTER UPDATE ON staff REFERENCING OLD TABLE AS live_old NEW TABLE AS live_new
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_live_staff();

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gridmap_app') THEN
        EXECUTE 'GRANT USAGE, SELECT ON SEQUENCE live_seq TO gridmap_app';
    END IF;
END $$;
"""

_DOWN = """
DROP TRIGGER IF EXISTS live_staff_update ON staff;
DROP TRIGGER IF EXISTS live_staff_insert ON staff;
DROP TRIGGER IF EXISTS live_event_update ON event;
DROP TRIGGER IF EXISTS live_event_insert ON event;
DROP FUNCTION IF EXISTS gridmap_live_staff();
DROP FUNCTION IF EXISTS gridmap_live_event();
DROP FUNCTION IF EXISTS gridmap_live_send(text, bigint[]);
DROP SEQUENCE IF EXISTS live_seq;
"""


def upgrade() -> None:
    op.execute(_UP)


def downgrade() -> None:
    op.execute(_DOWN)
