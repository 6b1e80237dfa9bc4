-- Messages by campaign, state and ack, kept as they change, so that `status`, `list` and
-- `/metrics` read a few rows instead of scanning `messages`. `ack_key` is the ack code, or
-- -100 for none. A load adds its queued rows itself (one statement per load); every change
-- of state or ack, and every deletion, is counted here by statement triggers.
--
-- Several workers change the same campaign's messages at once: one row per key, updated by
-- each of them, would make their transactions wait for each other. So each statement appends
-- its deltas (no key, no conflict), a reader sums them, and the store folds them into one row
-- per key now and then (`Store::fold_counts`: a DELETE ... RETURNING whose rows another
-- folder deleted first are skipped, so two folds at once count nothing twice).
CREATE TABLE message_counts (
    campaign_id BIGINT NOT NULL,
    state TEXT NOT NULL,
    ack_key BIGINT NOT NULL,
    n BIGINT NOT NULL
);
CREATE INDEX message_counts_campaign ON message_counts (campaign_id);

INSERT INTO message_counts (campaign_id, state, ack_key, n)
SELECT campaign_id, state, COALESCE(ack, -100), COUNT(*) FROM messages
GROUP BY campaign_id, state, COALESCE(ack, -100);

CREATE FUNCTION message_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO message_counts (campaign_id, state, ack_key, n)
    SELECT campaign_id, state, ack_key, SUM(d) FROM (
        SELECT campaign_id, state, COALESCE(ack, -100) AS ack_key, -1 AS d FROM old_rows
        UNION ALL
        SELECT campaign_id, state, COALESCE(ack, -100), 1 FROM new_rows
    ) changed
    GROUP BY campaign_id, state, ack_key
    HAVING SUM(d) <> 0;
    RETURN NULL;
END $$;

CREATE FUNCTION message_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO message_counts (campaign_id, state, ack_key, n)
    SELECT campaign_id, state, COALESCE(ack, -100), -COUNT(*) FROM old_rows
    GROUP BY campaign_id, state, COALESCE(ack, -100);
    RETURN NULL;
END $$;

CREATE TRIGGER message_counts_update AFTER UPDATE ON messages
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION message_counts_update();

CREATE TRIGGER message_counts_delete AFTER DELETE ON messages
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION message_counts_delete();
