-- PostgreSQL: the same schema as migrations/sqlite/0004_token_stops.sql (BIGINT for SQLite's
-- INTEGER, identity columns for its rowids, BOOLEAN for its 0/1 flags).
-- A token the API refused or blocked (1000, 1001, WhatsApp 131048): no campaign sends with it
-- until the operator clears the stop. Tokens are kept as fingerprints, never in clear.
CREATE TABLE token_stops (
    fingerprint TEXT PRIMARY KEY,
    reason      TEXT NOT NULL,
    at          TEXT NOT NULL
);
