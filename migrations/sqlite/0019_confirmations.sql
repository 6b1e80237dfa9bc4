-- The one confirmation text an opt-out may get (`campaign opt-out confirm TEXT`): sent by
-- SendTextMessage inside the 24-hour window the opt-out opened, through the token's gate, by
-- the worker holding the token of the campaign the opt-out answers. Once per opt-out (its mid),
-- never again after an answer that leaves it unknown whether it went.
CREATE TABLE confirmations (
    mid               TEXT PRIMARY KEY,
    uid               TEXT NOT NULL,
    token_fingerprint TEXT NOT NULL,
    text              TEXT NOT NULL,
    until_ms          INTEGER NOT NULL,
    state             TEXT NOT NULL DEFAULT 'due' CHECK (state IN ('due', 'sending', 'sent', 'failed', 'expired')),
    detail            TEXT,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX confirmations_due ON confirmations (token_fingerprint, state);
