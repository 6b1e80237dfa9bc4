-- Nothing on SQLite: PostgreSQL's messages lose their foreign key to campaigns (a row trigger
-- per message inserted, a third of a load's server time there), checked instead once per load
-- chunk by `insert_messages`. SQLite cannot drop a key without rebuilding the table, and its
-- check costs 5-10% of a load (`scripts/sqlite_floor.sh`), so it keeps it.
SELECT 1;
