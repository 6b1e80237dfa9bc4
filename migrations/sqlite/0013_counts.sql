-- Messages by campaign, state and ack, kept as they change, so that `status`, `list` and
-- `/metrics` read a few rows instead of scanning `messages`. `ack_key` is the ack code, or
-- -100 for none. A load adds its queued rows itself (one statement per load: a trigger per
-- inserted row costs a third more load time); every change of state or ack, and every
-- deletion, is counted here by triggers.
CREATE TABLE message_counts (
    campaign_id INTEGER NOT NULL,
    state TEXT NOT NULL,
    ack_key INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, state, ack_key)
);

INSERT INTO message_counts (campaign_id, state, ack_key, n)
SELECT campaign_id, state, COALESCE(ack, -100), COUNT(*) FROM messages
GROUP BY campaign_id, state, COALESCE(ack, -100);

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
