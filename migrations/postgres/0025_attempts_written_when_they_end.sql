-- An attempt's row is written once, when the attempt ends (its outcome, or `uncertain` when its
-- sender died), no longer inserted by the claim and updated by the outcome: half the writes of
-- attempts on the send path. While a message is `sending`, its attempt's id and start are on
-- the message (`attempt_id`, `attempt_started_at`), written by the claim's one update of it.
-- PostgreSQL draws attempt ids from the attempts' identity sequence (SQLite, which has none,
-- from a counter table of its own). An attempt in flight at this migration keeps the row its
-- claim made, which its end updates.
ALTER TABLE messages ADD COLUMN attempt_started_at BIGINT;
-- Rows are no longer updated in place by their outcome (migration 0024): new pages are packed.
ALTER TABLE attempts SET (fillfactor = 100);
