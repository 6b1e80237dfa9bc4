-- PostgreSQL: the same schema as migrations/sqlite/0008_campaign_token.sql (BIGINT for SQLite's
-- INTEGER, identity columns for its rowids, BOOLEAN for its 0/1 flags).
-- The fingerprint of the token a campaign was last sent with (never the token itself).
ALTER TABLE campaigns ADD COLUMN token_fingerprint TEXT;
