-- The server's own role (owns nothing, cannot bypass row-level security); see README.
CREATE ROLE gridmap_app LOGIN PASSWORD 'gridmap_app' NOBYPASSRLS;
GRANT gridmap_app TO gridmap;
ALTER ROLE gridmap_app SET jit = off;
ALTER ROLE gridmap_app SET max_parallel_workers_per_gather = 0;
