-- no-transaction
-- Times as integer unix milliseconds (UTC) everywhere, and CHECK constraints on every column
-- that holds a state, control, role or attempt outcome (the lists are src/queue/states.rs's;
-- a test compares them). SQLite cannot change a column's type or add a CHECK, so each table is
-- rebuilt: foreign keys are off for the rebuild (they cannot be switched inside a transaction),
-- the rebuild is one transaction, and it can run twice (a time already in ms is kept as it is).
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
DROP TABLE IF EXISTS new_campaigns;
CREATE TABLE new_campaigns (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    -- Identifies "the same source and definition" so a second run resumes this campaign.
    fingerprint TEXT NOT NULL,
    channel     TEXT NOT NULL,
    bot_id      INTEGER NOT NULL,
    definition  TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'loading' CHECK (state IN ('loading', 'queued', 'running', 'sent', 'finished', 'deferred', 'paused', 'stopped', 'interrupted', 'cancelled')),
    state_reason TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    source_stamp TEXT,
    load_summary TEXT,
    skip_reached INTEGER NOT NULL DEFAULT 0,
    control     TEXT CHECK (control IN ('paused', 'cancelled')),
    token_fingerprint TEXT,
    priority    INTEGER NOT NULL DEFAULT 1,
    send_options TEXT,
    price       TEXT,
    timing      TEXT
);
INSERT INTO new_campaigns (id, name, fingerprint, channel, bot_id, definition, state, state_reason, created_at, updated_at, lease_owner, lease_until, source_stamp, load_summary, skip_reached, control, token_fingerprint, priority, send_options, price, timing)
SELECT id, name, fingerprint, channel, bot_id, definition, state, state_reason, CASE WHEN typeof(created_at) = 'text' THEN CAST(round((julianday(created_at) - 2440587.5) * 86400000.0) AS INTEGER) ELSE created_at END, CASE WHEN typeof(updated_at) = 'text' THEN CAST(round((julianday(updated_at) - 2440587.5) * 86400000.0) AS INTEGER) ELSE updated_at END, lease_owner, lease_until, source_stamp, load_summary, skip_reached, control, token_fingerprint, priority, send_options, price, timing
FROM campaigns;
DROP TABLE campaigns;
ALTER TABLE new_campaigns RENAME TO campaigns;
CREATE INDEX campaigns_fingerprint ON campaigns (fingerprint);
CREATE INDEX campaigns_name ON campaigns (name, id);
DROP TABLE IF EXISTS new_messages;
CREATE TABLE new_messages (
    id              INTEGER PRIMARY KEY,
    campaign_id     INTEGER NOT NULL REFERENCES campaigns (id),
    line            INTEGER NOT NULL,
    phone           TEXT NOT NULL,
    dedupe_key      TEXT NOT NULL,
    -- The request body without token: a retry or resume sends exactly this.
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sending', 'sent', 'delivered', 'read', 'replied', 'failed', 'uncertain', 'expired', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    attempt_id      INTEGER,
    mid             TEXT,
    uid             TEXT,
    ack             INTEGER,
    error_code      INTEGER,
    error           TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    delivered_at    INTEGER,
    last_ack_at     INTEGER,
    polls           INTEGER NOT NULL DEFAULT 0,
    next_poll_at    INTEGER,
    batch_id        INTEGER,
    recipient_key   TEXT,
    queued_ms       INTEGER,
    expires_ms      INTEGER,
    tz              TEXT,
    UNIQUE (campaign_id, dedupe_key)
);
INSERT INTO new_messages (id, campaign_id, line, phone, dedupe_key, payload, state, attempts, next_attempt_at, attempt_id, mid, uid, ack, error_code, error, created_at, updated_at, sent_at, delivered_at, last_ack_at, polls, next_poll_at, batch_id, recipient_key, queued_ms, expires_ms, tz)
SELECT id, campaign_id, line, phone, dedupe_key, payload, state, attempts, next_attempt_at, attempt_id, mid, uid, ack, error_code, error, CASE WHEN typeof(created_at) = 'text' THEN CAST(round((julianday(created_at) - 2440587.5) * 86400000.0) AS INTEGER) ELSE created_at END, CASE WHEN typeof(updated_at) = 'text' THEN CAST(round((julianday(updated_at) - 2440587.5) * 86400000.0) AS INTEGER) ELSE updated_at END, sent_at, delivered_at, last_ack_at, polls, next_poll_at, batch_id, recipient_key, queued_ms, expires_ms, tz
FROM messages;
DROP TABLE messages;
ALTER TABLE new_messages RENAME TO messages;
CREATE INDEX messages_claim ON messages (campaign_id, state, next_attempt_at);
CREATE INDEX messages_mid ON messages (mid);
CREATE INDEX messages_poll ON messages (campaign_id, next_poll_at);
CREATE INDEX messages_expiry ON messages (expires_ms) WHERE state = 'queued' AND expires_ms IS NOT NULL;
CREATE INDEX messages_recipient ON messages (campaign_id, recipient_key);
CREATE INDEX messages_batch ON messages (batch_id) WHERE batch_id IS NOT NULL;
DROP TABLE IF EXISTS new_attempts;
CREATE TABLE new_attempts (
    id          INTEGER PRIMARY KEY,
    message_id  INTEGER NOT NULL REFERENCES messages (id),
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    -- The message's state the attempt left it in (NULL while it is in flight).
    outcome     TEXT CHECK (outcome IN ('sent', 'queued', 'failed', 'uncertain')),
    detail      TEXT
);
INSERT INTO new_attempts (id, message_id, started_at, finished_at, outcome, detail)
SELECT id, message_id, CASE WHEN typeof(started_at) = 'text' THEN CAST(round((julianday(started_at) - 2440587.5) * 86400000.0) AS INTEGER) ELSE started_at END, CASE WHEN typeof(finished_at) = 'text' THEN CAST(round((julianday(finished_at) - 2440587.5) * 86400000.0) AS INTEGER) ELSE finished_at END, outcome, detail
FROM attempts;
DROP TABLE attempts;
ALTER TABLE new_attempts RENAME TO attempts;
CREATE INDEX attempts_message ON attempts (message_id);
DROP TABLE IF EXISTS new_events;
CREATE TABLE new_events (
    id          INTEGER PRIMARY KEY,
    message_id  INTEGER NOT NULL REFERENCES messages (id),
    -- When it was recorded; at_ms is when it happened, as heard.
    at          INTEGER NOT NULL,
    source      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    ack         INTEGER,
    detail      TEXT,
    at_ms       INTEGER
);
INSERT INTO new_events (id, message_id, at, source, kind, ack, detail, at_ms)
SELECT id, message_id, CASE WHEN typeof(at) = 'text' THEN CAST(round((julianday(at) - 2440587.5) * 86400000.0) AS INTEGER) ELSE at END, source, kind, ack, detail, at_ms
FROM events;
DROP TABLE events;
ALTER TABLE new_events RENAME TO events;
CREATE INDEX events_message ON events (message_id);
DROP TABLE IF EXISTS new_suppressions;
CREATE TABLE new_suppressions (
    phone      TEXT PRIMARY KEY,
    reason     TEXT NOT NULL,
    source     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
INSERT INTO new_suppressions (phone, reason, source, created_at)
SELECT phone, reason, source, CASE WHEN typeof(created_at) = 'text' THEN CAST(round((julianday(created_at) - 2440587.5) * 86400000.0) AS INTEGER) ELSE created_at END
FROM suppressions;
DROP TABLE suppressions;
ALTER TABLE new_suppressions RENAME TO suppressions;
DROP TABLE IF EXISTS new_templates;
CREATE TABLE new_templates (
    bot_id     INTEGER NOT NULL,
    name       TEXT NOT NULL,
    language   TEXT NOT NULL,
    body       TEXT NOT NULL,
    fetched_at INTEGER NOT NULL,
    PRIMARY KEY (bot_id, name, language)
);
INSERT INTO new_templates (bot_id, name, language, body, fetched_at)
SELECT bot_id, name, language, body, CASE WHEN typeof(fetched_at) = 'text' THEN CAST(round((julianday(fetched_at) - 2440587.5) * 86400000.0) AS INTEGER) ELSE fetched_at END
FROM templates;
DROP TABLE templates;
ALTER TABLE new_templates RENAME TO templates;
DROP TABLE IF EXISTS new_token_stops;
CREATE TABLE new_token_stops (
    fingerprint TEXT PRIMARY KEY,
    reason      TEXT NOT NULL,
    at          INTEGER NOT NULL
);
INSERT INTO new_token_stops (fingerprint, reason, at)
SELECT fingerprint, reason, CASE WHEN typeof(at) = 'text' THEN CAST(round((julianday(at) - 2440587.5) * 86400000.0) AS INTEGER) ELSE at END
FROM token_stops;
DROP TABLE token_stops;
ALTER TABLE new_token_stops RENAME TO token_stops;
DROP TABLE IF EXISTS new_token_leases;
CREATE TABLE new_token_leases (
    fingerprint TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('worker', 'run')),
    campaign_id INTEGER,
    until_ms    INTEGER NOT NULL,
    fence       INTEGER NOT NULL
);
INSERT INTO new_token_leases (fingerprint, owner, role, campaign_id, until_ms, fence)
SELECT fingerprint, owner, role, campaign_id, until_ms, fence
FROM token_leases;
DROP TABLE token_leases;
ALTER TABLE new_token_leases RENAME TO token_leases;
DROP TABLE IF EXISTS new_schedules;
CREATE TABLE new_schedules (
    campaign_id  INTEGER PRIMARY KEY REFERENCES campaigns (id),
    -- The campaign file, read again at each firing (it holds the source's credentials).
    file         TEXT NOT NULL,
    cron         TEXT NOT NULL,
    timezone     TEXT NOT NULL,
    grace_ms     INTEGER NOT NULL,
    -- The token it sends with (fingerprint): the worker holding it fires the schedule.
    token        TEXT NOT NULL,
    -- The next run to fire (unix ms); moved on in the transaction that fires or skips.
    next_run_at  INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
INSERT INTO new_schedules (campaign_id, file, cron, timezone, grace_ms, token, next_run_at, updated_at)
SELECT campaign_id, file, cron, timezone, grace_ms, token, next_run_at, CASE WHEN typeof(updated_at) = 'text' THEN CAST(round((julianday(updated_at) - 2440587.5) * 86400000.0) AS INTEGER) ELSE updated_at END
FROM schedules;
DROP TABLE schedules;
ALTER TABLE new_schedules RENAME TO schedules;
DROP TABLE IF EXISTS new_batches;
CREATE TABLE new_batches (
    id           INTEGER PRIMARY KEY,
    campaign_id  INTEGER NOT NULL REFERENCES campaigns (id),
    -- The run it is for (unix ms): one batch per run, whoever fires it.
    slot         INTEGER NOT NULL,
    -- 'skipped': runs missed beyond the grace (slot is the first).
    state        TEXT NOT NULL CHECK (state IN ('loading', 'loaded', 'skipped')),
    reason       TEXT,
    load_summary TEXT,
    fired_at     INTEGER NOT NULL,
    UNIQUE (campaign_id, slot)
);
INSERT INTO new_batches (id, campaign_id, slot, state, reason, load_summary, fired_at)
SELECT id, campaign_id, slot, state, reason, load_summary, fired_at
FROM batches;
DROP TABLE batches;
ALTER TABLE new_batches RENAME TO batches;
DROP TABLE IF EXISTS new_token_caps;
CREATE TABLE new_token_caps (
    token        TEXT PRIMARY KEY,
    daily_limit  INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
INSERT INTO new_token_caps (token, daily_limit, updated_at)
SELECT token, daily_limit, CASE WHEN typeof(updated_at) = 'text' THEN CAST(round((julianday(updated_at) - 2440587.5) * 86400000.0) AS INTEGER) ELSE updated_at END
FROM token_caps;
DROP TABLE token_caps;
ALTER TABLE new_token_caps RENAME TO token_caps;
CREATE TRIGGER message_counts_update AFTER UPDATE OF state, ack ON messages
WHEN old.state IS NOT new.state OR old.ack IS NOT new.ack
BEGIN
    INSERT INTO message_counts (campaign_id, state, ack_key, n)
    VALUES (old.campaign_id, old.state, COALESCE(old.ack, -100), -1)
    ON CONFLICT (campaign_id, state, ack_key) DO UPDATE SET n = n - 1;
    INSERT INTO message_counts (campaign_id, state, ack_key, n)
    VALUES (new.campaign_id, new.state, COALESCE(new.ack, -100), 1)
    ON CONFLICT (campaign_id, state, ack_key) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER message_counts_delete AFTER DELETE ON messages
BEGIN
    INSERT INTO message_counts (campaign_id, state, ack_key, n)
    VALUES (old.campaign_id, old.state, COALESCE(old.ack, -100), -1)
    ON CONFLICT (campaign_id, state, ack_key) DO UPDATE SET n = n - 1;
END;

COMMIT;
PRAGMA foreign_keys = ON;
