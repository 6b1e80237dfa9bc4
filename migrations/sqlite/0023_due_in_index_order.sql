-- Nothing on SQLite: PostgreSQL's claim index gains `id`, so that the due read's ORDER BY
-- next_attempt_at, id comes from the index rather than a sort. Every SQLite index ends with the
-- rowid (`id`) already.
SELECT 1;
