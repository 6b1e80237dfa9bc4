-- The price per message or SMS segment from the campaign file (JSON), for reports. Not a
-- setting: a new tariff is the same campaign.
ALTER TABLE campaigns ADD COLUMN price TEXT;
