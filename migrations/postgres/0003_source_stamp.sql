-- PostgreSQL: the same schema as migrations/sqlite/0003_source_stamp.sql (BIGINT for SQLite's
-- INTEGER, identity columns for its rowids, BOOLEAN for its 0/1 flags).
-- What the last complete load read (CSV size and modification time) and what it found, so a
-- resumed run of an unchanged file starts sending at once instead of checking every row again.
ALTER TABLE campaigns ADD COLUMN source_stamp TEXT;
ALTER TABLE campaigns ADD COLUMN load_summary TEXT;
