-- PostgreSQL: the same schema as migrations/sqlite/0007_operator_control.sql (BIGINT for SQLite's
-- INTEGER, identity columns for its rowids, BOOLEAN for its 0/1 flags).
-- What the operator said about a campaign from another terminal: 'paused' or 'cancelled'
-- (NULL: nothing). Claims check it in their transaction; a run sending the campaign stops.
ALTER TABLE campaigns ADD COLUMN control TEXT;
