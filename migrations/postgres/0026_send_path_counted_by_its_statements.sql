-- Nothing on PostgreSQL: its counts' trigger runs once per statement, over the statement's
-- changed rows (migration 0013). SQLite's ran once per row, and the send path's statements
-- now count what they move themselves there.
SELECT 1;
