-- PostgreSQL: the same schema as migrations/sqlite/0009_token_leases.sql (BIGINT for SQLite's
-- INTEGER, identity columns for its rowids, BOOLEAN for its 0/1 flags).
-- The token lease: one process at a time sends on an API token (by fingerprint), so that any mix
-- of runs and workers on one database keeps the token's limits. `fence` grows with every new
-- holder; claims check owner and fence in their transaction.
CREATE TABLE token_leases (
    fingerprint TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    role        TEXT NOT NULL,
    campaign_id BIGINT,
    until_ms    BIGINT NOT NULL,
    fence       BIGINT NOT NULL
);
-- A campaign's share of its token against other campaigns sending on it at once (1 to 10), and
-- the options a worker sends it with (JSON: max_attempts), as the run that queued it set them.
ALTER TABLE campaigns ADD COLUMN priority BIGINT NOT NULL DEFAULT 1;
ALTER TABLE campaigns ADD COLUMN send_options TEXT;
