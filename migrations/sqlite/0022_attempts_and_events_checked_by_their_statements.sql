-- Nothing on SQLite: PostgreSQL's attempts and events lose their foreign keys to messages (a
-- row trigger each), checked instead by the statements that write them. SQLite cannot drop a
-- key without rebuilding the table, and its check is a lookup by rowid.
SELECT 1;
