-- Campaigns, their messages (frozen payloads), attempts and events, the suppression list,
-- the template cache, and rejected source rows.

CREATE TABLE campaigns (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    -- Identifies "the same source and definition" so a second run resumes this campaign.
    fingerprint TEXT NOT NULL,
    channel     TEXT NOT NULL,
    bot_id      INTEGER NOT NULL,
    definition  TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'loading',
    state_reason TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX campaigns_fingerprint ON campaigns (fingerprint);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    campaign_id     INTEGER NOT NULL REFERENCES campaigns (id),
    line            INTEGER NOT NULL,
    phone           TEXT NOT NULL,
    dedupe_key      TEXT NOT NULL,
    -- The request body without token: a retry or resume sends exactly this.
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'queued',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    attempt_id      INTEGER,
    mid             TEXT,
    uid             TEXT,
    ack             INTEGER,
    error_code      INTEGER,
    error           TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (campaign_id, dedupe_key)
);
CREATE INDEX messages_claim ON messages (campaign_id, state, next_attempt_at);
CREATE INDEX messages_mid ON messages (mid);

CREATE TABLE attempts (
    id          INTEGER PRIMARY KEY,
    message_id  INTEGER NOT NULL REFERENCES messages (id),
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    outcome     TEXT,
    detail      TEXT
);
CREATE INDEX attempts_message ON attempts (message_id);

CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    message_id  INTEGER NOT NULL REFERENCES messages (id),
    at          TEXT NOT NULL,
    source      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    ack         INTEGER,
    detail      TEXT
);
CREATE INDEX events_message ON events (message_id);

CREATE TABLE rejects (
    campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
    line        INTEGER NOT NULL,
    field       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    PRIMARY KEY (campaign_id, line)
);

CREATE TABLE suppressions (
    phone      TEXT PRIMARY KEY,
    reason     TEXT NOT NULL,
    source     TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE templates (
    bot_id     INTEGER NOT NULL,
    name       TEXT NOT NULL,
    language   TEXT NOT NULL,
    body       TEXT NOT NULL,
    fetched_at TEXT NOT NULL,
    PRIMARY KEY (bot_id, name, language)
);
