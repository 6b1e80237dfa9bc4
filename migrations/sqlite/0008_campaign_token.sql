-- The fingerprint of the token a campaign was last sent with (never the token itself).
ALTER TABLE campaigns ADD COLUMN token_fingerprint TEXT;
