-- A message's campaign is checked once per load chunk, not once per row. The foreign key ran
-- PostgreSQL's row trigger for every message inserted (a lookup of the campaign and a
-- FOR KEY SHARE lock of its row): a third of the server's time in a load (1M rows made by
-- INSERT ... SELECT: 9.6-10.0 s with it, 6.5-6.7 s without). The store inserts messages in
-- one place, `insert_messages`, whose transaction first reads the campaign's row FOR KEY
-- SHARE (the lock the key took, once) and fails when there is none; and no statement deletes
-- a campaign. SQLite keeps its key (a table cannot drop one; there it costs 5-10%).
ALTER TABLE messages DROP CONSTRAINT messages_campaign_id_fkey;
