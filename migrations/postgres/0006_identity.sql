-- PostgreSQL: the same schema as migrations/sqlite/0006_identity.sql (BIGINT for SQLite's
-- INTEGER, identity columns for its rowids, BOOLEAN for its 0/1 flags).
-- A campaign is known by its name; `definition` now holds its settings (no source location, no
-- credentials). A campaign started with --new skips recipients that an earlier campaign of the
-- same name already reached (unless --include-reached).
ALTER TABLE campaigns ADD COLUMN skip_reached BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX campaigns_name ON campaigns (name, id);
