-- Delivery tracking: when a message was accepted and delivered, when we last heard an ack
-- (callback or poll), and the poll schedule. Times are unix milliseconds.
ALTER TABLE messages ADD COLUMN sent_at INTEGER;
ALTER TABLE messages ADD COLUMN delivered_at INTEGER;
ALTER TABLE messages ADD COLUMN last_ack_at INTEGER;
ALTER TABLE messages ADD COLUMN polls INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN next_poll_at INTEGER;
CREATE INDEX messages_poll ON messages (campaign_id, next_poll_at);
ALTER TABLE events ADD COLUMN at_ms INTEGER;

-- Per-installation settings, such as the secret that callbacks must carry.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
