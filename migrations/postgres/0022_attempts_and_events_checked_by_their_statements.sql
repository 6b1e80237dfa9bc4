-- An attempt's and an event's message are checked by the statements that write them, not by
-- foreign keys. Each key ran PostgreSQL's row trigger for every attempt started and every ack
-- kept (a lookup of the message and a FOR KEY SHARE lock of a row the same transaction has
-- just locked FOR UPDATE). The claim makes its attempts with INSERT ... SELECT from the
-- messages it locked; `record_ack` keeps an event only after it read the message FOR UPDATE
-- (an unknown one is `Unknown`, nothing written); no statement deletes a message. One worker on
-- PostgreSQL sent 8-21% faster without them (`scripts/bench_workers.sh`, BENCHMARKS.md).
ALTER TABLE attempts DROP CONSTRAINT IF EXISTS attempts_message_id_fkey;
ALTER TABLE events DROP CONSTRAINT IF EXISTS events_message_id_fkey;
