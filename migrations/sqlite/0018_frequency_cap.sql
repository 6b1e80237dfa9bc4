-- A campaign's frequency cap counts what the store sent to a number: the messages' sends by
-- number and time (only sent messages have an entry, so a load writes none), and the messages
-- a capped campaign's claim has in flight, marked, so that two claims at once count each other.
CREATE INDEX messages_phone_sent ON messages (phone, sent_at) WHERE sent_at IS NOT NULL;
CREATE TABLE frequency_marks (
    message_id INTEGER PRIMARY KEY REFERENCES messages (id),
    phone      TEXT NOT NULL,
    at_ms      INTEGER NOT NULL
);
CREATE INDEX frequency_marks_phone ON frequency_marks (phone);
CREATE INDEX frequency_marks_at ON frequency_marks (at_ms);
