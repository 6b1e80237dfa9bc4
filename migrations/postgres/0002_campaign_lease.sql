-- PostgreSQL: the same schema as migrations/sqlite/0002_campaign_lease.sql (BIGINT for SQLite's
-- INTEGER, identity columns for its rowids, BOOLEAN for its 0/1 flags).
-- The process sending a campaign holds a lease, renewed while it runs, so a second process
-- does not send the same campaign at the same time.
ALTER TABLE campaigns ADD COLUMN lease_owner TEXT;
ALTER TABLE campaigns ADD COLUMN lease_until BIGINT;
