-- A token the API refused or blocked (1000, 1001, WhatsApp 131048): no campaign sends with it
-- until the operator clears the stop. Tokens are kept as fingerprints, never in clear.
CREATE TABLE token_stops (
    fingerprint TEXT PRIMARY KEY,
    reason      TEXT NOT NULL,
    at          TEXT NOT NULL
);
