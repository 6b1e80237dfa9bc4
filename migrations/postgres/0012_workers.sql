-- The workers sharing this database, each seen at its every tick: how many there are decides
-- each one's share of the tokens.
CREATE TABLE workers (
    owner TEXT PRIMARY KEY,
    seen_ms BIGINT NOT NULL
);
