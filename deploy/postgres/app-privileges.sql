-- Run as the database owner (the role that runs migrations), once, before migrating.
-- The app (web, worker, beat) then connects as zerotouch_app: it can read and write rows but
-- owns no table, so it cannot disable the audit log's append-only trigger, alter or truncate
-- tables, or skip triggers with session_replication_role (superusers only).
GRANT USAGE ON SCHEMA public TO zerotouch_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO zerotouch_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO zerotouch_app;
