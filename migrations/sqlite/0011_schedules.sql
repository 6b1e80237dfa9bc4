-- Scheduled campaigns: each firing of a schedule is a batch of its campaign.
CREATE TABLE schedules (
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
    updated_at   TEXT NOT NULL
);

CREATE TABLE batches (
    id           INTEGER PRIMARY KEY,
    campaign_id  INTEGER NOT NULL REFERENCES campaigns (id),
    -- The run it is for (unix ms): one batch per run, whoever fires it.
    slot         INTEGER NOT NULL,
    -- 'loading', 'loaded', or 'skipped' (runs missed beyond the grace; slot is the first).
    state        TEXT NOT NULL,
    reason       TEXT,
    load_summary TEXT,
    fired_at     INTEGER NOT NULL,
    UNIQUE (campaign_id, slot)
);

ALTER TABLE messages ADD COLUMN batch_id INTEGER;
-- Who the message is for across batches: the dedupe key without its batch.
ALTER TABLE messages ADD COLUMN recipient_key TEXT;
ALTER TABLE messages ADD COLUMN queued_ms INTEGER;
-- When a message not sent yet expires (unix ms): from max_age and expires_at when queued.
ALTER TABLE messages ADD COLUMN expires_ms INTEGER;
-- The recipient's zone (IANA name), for a campaign with a send window.
ALTER TABLE messages ADD COLUMN tz TEXT;
CREATE INDEX messages_expiry ON messages (expires_ms) WHERE state = 'queued' AND expires_ms IS NOT NULL;
CREATE INDEX messages_recipient ON messages (campaign_id, recipient_key);
CREATE INDEX messages_batch ON messages (batch_id) WHERE batch_id IS NOT NULL;

-- The campaign file's timing (JSON): schedule, expiry, dedupe window.
ALTER TABLE campaigns ADD COLUMN timing TEXT;

-- The most distinct recipients a token may start per rolling 24 hours (WhatsApp's messaging
-- tiers), set by a campaign file's daily_limit or the worker's --daily-limit.
CREATE TABLE token_caps (
    token        TEXT PRIMARY KEY,
    daily_limit  INTEGER NOT NULL,
    updated_at   TEXT NOT NULL
);
-- Who a token started, and when the current 24 hours began for them.
CREATE TABLE token_contacts (
    token     TEXT NOT NULL,
    phone     TEXT NOT NULL,
    first_ms  INTEGER NOT NULL,
    PRIMARY KEY (token, phone)
);
CREATE INDEX token_contacts_window ON token_contacts (token, first_ms);
