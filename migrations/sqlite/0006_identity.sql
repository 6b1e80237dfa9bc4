-- A campaign is known by its name; `definition` now holds its settings (no source location, no
-- credentials). A campaign started with --new skips recipients that an earlier campaign of the
-- same name already reached (unless --include-reached).
ALTER TABLE campaigns ADD COLUMN skip_reached INTEGER NOT NULL DEFAULT 0;
CREATE INDEX campaigns_name ON campaigns (name, id);
