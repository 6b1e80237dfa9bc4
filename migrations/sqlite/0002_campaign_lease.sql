-- The process sending a campaign holds a lease, renewed while it runs, so a second process
-- does not send the same campaign at the same time.
ALTER TABLE campaigns ADD COLUMN lease_owner TEXT;
ALTER TABLE campaigns ADD COLUMN lease_until INTEGER;
