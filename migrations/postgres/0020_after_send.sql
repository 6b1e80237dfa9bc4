-- Context after the send (`[after_send]`): a campaign's SetUserTag / SetUserData for each
-- recipient once their message is accepted or delivered. The campaign keeps when and which
-- tag (as JSON); each message keeps its rendered data (JSON, NULL when the campaign has no
-- after_send); a job is stored in the transaction of the outcome or ack that triggers it.
ALTER TABLE campaigns ADD COLUMN after_send TEXT;
ALTER TABLE campaigns ADD COLUMN after_send_when TEXT CHECK (after_send_when IN ('accepted', 'delivered'));
-- Why the campaign's context jobs stopped (a tag error, 3050-3053), while its sends go on.
ALTER TABLE campaigns ADD COLUMN context_stopped TEXT;
ALTER TABLE messages ADD COLUMN context TEXT;
CREATE TABLE context_jobs (
    message_id  BIGINT PRIMARY KEY,
    campaign_id BIGINT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    attempts    BIGINT NOT NULL DEFAULT 0,
    due_at      BIGINT NOT NULL,
    reason      TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX context_jobs_due ON context_jobs (due_at) WHERE state = 'pending';
CREATE INDEX context_jobs_campaign ON context_jobs (campaign_id, state);
