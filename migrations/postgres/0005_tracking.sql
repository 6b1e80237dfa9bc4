-- PostgreSQL: the same schema as migrations/sqlite/0005_tracking.sql (BIGINT for SQLite's
-- INTEGER, identity columns for its rowids, BOOLEAN for its 0/1 flags).
-- Delivery tracking: when a message was accepted and delivered, when we last heard an ack
-- (callback or poll), and the poll schedule. Times are unix milliseconds.
ALTER TABLE messages ADD COLUMN sent_at BIGINT;
ALTER TABLE messages ADD COLUMN delivered_at BIGINT;
ALTER TABLE messages ADD COLUMN last_ack_at BIGINT;
ALTER TABLE messages ADD COLUMN polls BIGINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN next_poll_at BIGINT;
CREATE INDEX messages_poll ON messages (campaign_id, next_poll_at);
ALTER TABLE events ADD COLUMN at_ms BIGINT;

-- Per-installation settings, such as the secret that callbacks must carry.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
