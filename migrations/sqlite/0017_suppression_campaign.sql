-- The campaign a recipient's opt-out (keyword) or block (onUserDisable) answers: the last one
-- sent to that user before it. A campaign's opt-outs and blocks are counted by it, to pause a
-- campaign whose audience is turning away before Meta pauses its template.
ALTER TABLE suppressions ADD COLUMN campaign_id INTEGER REFERENCES campaigns (id);
CREATE INDEX suppressions_campaign ON suppressions (campaign_id) WHERE campaign_id IS NOT NULL;
