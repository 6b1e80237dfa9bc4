-- An attempt's row is written once, when the attempt ends (its outcome, or `uncertain` when its
-- sender died), no longer inserted by the claim and updated by the outcome: half the writes of
-- attempts on the send path. While a message is `sending`, its attempt's id and start are on
-- the message (`attempt_id`, `attempt_started_at`), written by the claim's one update of it.
-- SQLite draws attempt ids from this counter (PostgreSQL from the attempts' identity
-- sequence): a claim reserves a range, so an attempt has its id before its row exists. It
-- starts above every attempt made before; an attempt in flight at this migration keeps the row
-- its claim made, which its end updates.
ALTER TABLE messages ADD COLUMN attempt_started_at INTEGER;
CREATE TABLE attempt_ids (next INTEGER NOT NULL);
INSERT INTO attempt_ids (next) SELECT COALESCE(MAX(id), 0) + 1 FROM attempts;
