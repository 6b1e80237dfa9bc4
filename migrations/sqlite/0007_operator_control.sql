-- What the operator said about a campaign from another terminal: 'paused' or 'cancelled'
-- (NULL: nothing). Claims check it in their transaction; a run sending the campaign stops.
ALTER TABLE campaigns ADD COLUMN control TEXT;
