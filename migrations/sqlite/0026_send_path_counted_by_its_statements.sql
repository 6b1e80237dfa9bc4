-- The send path's two transitions are counted by their statements, set-based, instead of by
-- this trigger row by row (two upserts of message_counts per message, about a fifth of what
-- SQLite spent on a message sent): a claim (the only statement that gives a message a new
-- attempt id) and an attempt's end (the only statements that move a message out of `sending`:
-- its outcome, and a run finding it interrupted). Every other change of state or ack is
-- counted here as before. A statement that gives a new attempt id or moves a message out of
-- `sending` must count what it moved (src/queue/counts.rs, `count_moved`); the contract tests
-- compare the counts with a scan after every scenario.
DROP TRIGGER message_counts_update;
CREATE TRIGGER message_counts_update AFTER UPDATE OF state, ack ON messages
WHEN (old.state IS NOT new.state OR old.ack IS NOT new.ack)
    AND old.attempt_id IS new.attempt_id
    AND NOT (old.state = 'sending' AND new.state <> 'sending')
BEGIN
    INSERT INTO message_counts (campaign_id, state, ack_key, n)
    VALUES (old.campaign_id, old.state, COALESCE(old.ack, -100), -1)
    ON CONFLICT (campaign_id, state, ack_key) DO UPDATE SET n = n - 1;
    INSERT INTO message_counts (campaign_id, state, ack_key, n)
    VALUES (new.campaign_id, new.state, COALESCE(new.ack, -100), 1)
    ON CONFLICT (campaign_id, state, ack_key) DO UPDATE SET n = n + 1;
END;
