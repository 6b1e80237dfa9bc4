-- Listening: what recipients write to us, the keyword lists that read it, and the
-- conversations due to be read (after an ack 10, and the SMS reply sweep).

-- One row per client message (its mid), whatever brought it; `dt_ms` is when the client sent
-- it (the API's `dt`), and (uid, dt_ms) is the per-user cursor. `campaign_id` is the campaign
-- whose message to that user was the last sent before it, if any.
CREATE TABLE inbound (
    mid         TEXT PRIMARY KEY,
    uid         TEXT NOT NULL,
    phone       TEXT,
    text        TEXT NOT NULL,
    dt_ms       BIGINT NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('event', 'websocket', 'reply', 'sweep')),
    verdict     TEXT NOT NULL CHECK (verdict IN ('opt-out', 'opt-in', 'help', 'possible-opt-out', 'other')),
    campaign_id BIGINT REFERENCES campaigns (id),
    heard_at    BIGINT NOT NULL
);
CREATE INDEX inbound_uid ON inbound (uid, dt_ms);
CREATE INDEX inbound_campaign ON inbound (campaign_id, verdict) WHERE campaign_id IS NOT NULL;

-- A message's user, for finding which campaign a reply answers. Only sent messages have one,
-- so a load writes no entry here.
CREATE INDEX messages_uid ON messages (uid, sent_at) WHERE uid IS NOT NULL;

-- The keyword lists, normalised (`listening::keywords::normalise`), shared by every worker.
CREATE TABLE keywords (
    word TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('out', 'in', 'help'))
);
INSERT INTO keywords (word, kind) VALUES
    ('stop', 'out'), ('stopall', 'out'), ('stop all', 'out'), ('unsubscribe', 'out'),
    ('cancel', 'out'), ('end', 'out'), ('quit', 'out'), ('revoke', 'out'), ('optout', 'out'),
    ('opt out', 'out'), ('opt-out', 'out'), ('remove', 'out'), ('arret', 'out'),
    ('arrete', 'out'), ('arrett', 'out'), ('td', 'out'),
    ('start', 'in'), ('unstop', 'in'),
    ('help', 'help'), ('info', 'help'), ('aide', 'help');

-- A user's conversation to read with GetConversation, for a campaign (whose token reads it):
-- once after an ack 10, or on the SMS sweep's widening schedule until `until_ms`. Client
-- messages sent after `since_ms` are heard.
CREATE TABLE conversation_reads (
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    uid         TEXT NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('reply', 'sweep')),
    since_ms    BIGINT NOT NULL,
    due_at      BIGINT NOT NULL,
    reads       BIGINT NOT NULL DEFAULT 0,
    until_ms    BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, uid)
);
CREATE INDEX conversation_reads_due ON conversation_reads (campaign_id, due_at);

-- The events' suppressions name the event, so that onUserEnable lifts only what
-- onUserDisable set.
UPDATE suppressions SET source = 'onUserDisable' WHERE source = 'event' AND reason LIKE '%onUserDisable%';
UPDATE suppressions SET source = 'onUserDelete' WHERE source = 'event' AND reason LIKE '%onUserDelete%';
