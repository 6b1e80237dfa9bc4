-- PostgreSQL: the same schema as migrations/sqlite/0010_price.sql (BIGINT for SQLite's
-- INTEGER, identity columns for its rowids, BOOLEAN for its 0/1 flags).
-- The price per message or SMS segment from the campaign file (JSON), for reports. Not a
-- setting: a new tariff is the same campaign.
ALTER TABLE campaigns ADD COLUMN price TEXT;
